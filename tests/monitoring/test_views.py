"""Monitoring pages: content, filters, htmx partials, bad input and query counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agentops import services
from agentops.models import PromptEvent, PromptVersion
from monitoring import timerange
from monitoring.dashboards import queries
from monitoring.models import Run
from monitoring.rollups import cells as rollups
from tests.factories import make_agent, make_department
from tests.monitoring.factories import make_escalation, make_run, make_score

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _runs(agent, n: int, **kw) -> list[Run]:
    now = timezone.now()
    runs = [make_run(agent, started_at=now - timedelta(minutes=5 + i), **kw) for i in range(n)]
    rollups.refresh_for_runs([r.id for r in runs])
    return runs


# -- overview ------------------------------------------------------------------------------------


def test_overview_without_telemetry_explains_how_to_send_some(ops_client):
    response = ops_client.get(reverse("monitoring:overview"))
    assert response.status_code == 200
    assert b"No telemetry yet" in response.content
    assert b"/v1/traces" in response.content
    assert b"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in response.content


def test_overview_tile_shows_agent_volume_and_slo_status(ops_client):
    agent = make_agent("Billing Bot", slo_p95_latency_ms=500)
    _runs(agent, 4, duration_ms=2000)  # p95 far above the 500 ms target
    response = ops_client.get(reverse("monitoring:overview"))
    html = response.content.decode()
    assert 'data-agent="billing-bot"' in html
    assert '<span class="tile-runs">4</span>' in html
    assert "slo-breached" in html


def test_overview_filters_by_department(ops_client):
    sales, support = make_department("Sales"), make_department("Support")
    _runs(make_agent("Sales Agent", department=sales), 1)
    _runs(make_agent("Support Agent", department=support), 1)
    html = ops_client.get(reverse("monitoring:overview"), {"department": support.pk}).content.decode()
    assert "support-agent" in html
    assert "sales-agent" not in html


def test_overview_htmx_refresh_returns_only_the_tiles_with_filters_kept(ops_client):
    _runs(make_agent("Refresh Agent"), 2)
    response = ops_client.get(reverse("monitoring:overview"), {"range": "1h", "sort": "runs"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="tiles"')
    assert "range=1h" in html and "sort=runs" in html  # the next poll asks for the same view
    assert "<html" not in html


@pytest.mark.parametrize("params, message", [
    ({"range": "2y"}, "Unknown time range"),
    ({"range": "custom", "from": "not-a-date"}, "is not a date and time"),
    ({"range": "custom", "from": "2026-03-02T10:00", "to": "2026-03-01T10:00"}, "must start before it ends"),
    ({"department": "abc"}, "must be a number"),
])
def test_overview_rejects_a_bad_range_with_a_clear_message(ops_client, params, message):
    response = ops_client.get(reverse("monitoring:overview"), params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_overview_query_count_does_not_grow_with_agents(ops_client):
    def queries_for_overview() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert ops_client.get(reverse("monitoring:overview"), {"range": "24h"}).status_code == 200
        return len(captured.captured_queries)

    _runs(make_agent("Fleet Agent 0"), 2)
    ops_client.get(reverse("monitoring:overview"), {"range": "24h"})  # warm: session, caches
    one = queries_for_overview()
    for i in range(1, 9):
        _runs(make_agent(f"Fleet Agent {i}"), 2)
    ops_client.get(reverse("monitoring:overview"), {"range": "24h"})  # new cells: the settled cache is refilled
    assert queries_for_overview() == one
    assert one <= 16  # session, roles, preferences, scope, tiles, cells, alerts, navigation badges


def test_overview_is_for_operations_only(reviewer_client):
    assert reviewer_client.get(reverse("monitoring:overview")).status_code == 403


# -- agent dashboard -----------------------------------------------------------------------------


def test_agent_dashboard_draws_charts_with_targets_and_prompt_markers(ops_client):
    agent = make_agent("Chart Agent")
    old = PromptVersion.objects.create(agent=agent, version=3, text="v3", created_at=timezone.now() - timedelta(days=40))
    PromptVersion.objects.create(agent=agent, version=4, text="v4", created_at=timezone.now() - timedelta(hours=1))
    services.activate_prompt_version(old)  # written 40 days ago, active from now on
    _runs(agent, 3)
    html = ops_client.get(reverse("monitoring:agent_dashboard", args=[agent.slug])).content.decode()
    for chart in ("chart-volume", "chart-latency", "chart-quality", "chart-cost"):
        assert f'data-plotly="{chart}"' in html
    assert "p95 target" in html
    assert '"v3 active"' in html  # marked when it became active
    assert '"v4' not in html  # a draft written in the range, never served, is not a change


def test_prompt_markers_come_from_the_prompt_history_in_the_range(ops_client):
    agent = make_agent("Rollout Agent")
    v1 = PromptVersion.objects.create(agent=agent, version=1, text="v1", created_at=timezone.now() - timedelta(days=90))
    v2 = PromptVersion.objects.create(agent=agent, version=2, text="v2", created_at=timezone.now() - timedelta(days=60))
    services.activate_prompt_version(v1)
    PromptEvent.objects.filter(agent=agent).update(at=timezone.now() - timedelta(days=45))  # before the range
    services.start_rollout(v2, 30)
    changes = queries.prompt_changes(agent, timerange.parse_range({"range": "7d"}))
    assert [(e.kind, e.version, e.share) for e in changes] == [("rollout_started", 2, 30)]


def test_agent_dashboard_lists_recent_failures_and_escalations(ops_client):
    agent = make_agent("Failing Agent")
    failed = make_run(agent, status="error", error_type="ToolTimeout", started_at=timezone.now() - timedelta(minutes=3))
    make_escalation(failed, reason="refund_over_limit")
    rollups.refresh_for_runs([failed.id])
    html = ops_client.get(reverse("monitoring:agent_dashboard", args=[agent.slug])).content.decode()
    assert "ToolTimeout" in html
    assert "refund_over_limit" in html


def test_agent_dashboard_htmx_returns_the_charts_partial_for_the_new_range(ops_client):
    agent = make_agent("Range Agent")
    _runs(agent, 2)
    html = ops_client.get(reverse("monitoring:agent_dashboard", args=[agent.slug]), {"range": "30d"},
                          **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="charts"')
    assert "per day" in html


def test_agent_dashboard_query_count_is_bounded(ops_client, django_assert_max_num_queries):
    agent = make_agent("Counted Agent")
    _runs(agent, 5)
    # + the by-caller breakdown (its statement, and one for the callers' names) and the latest invocations
    with django_assert_max_num_queries(17):
        assert ops_client.get(reverse("monitoring:agent_dashboard", args=[agent.slug])).status_code == 200


def test_agent_dashboard_unknown_agent_is_404(ops_client):
    assert ops_client.get(reverse("monitoring:agent_dashboard", args=["nope"])).status_code == 404


def test_agent_dashboard_bad_range_is_400_with_message(ops_client):
    agent = make_agent("Range Error Agent")
    response = ops_client.get(reverse("monitoring:agent_dashboard", args=[agent.slug]), {"range": "custom"})
    assert response.status_code == 400
    assert "is not a date and time" in response.content.decode()


# -- run explorer ----------------------------------------------------------------------------------


def test_run_explorer_filters_by_status_and_min_latency(ops_client):
    agent = make_agent("Explorer Agent")
    slow_error = make_run(agent, status="error", duration_ms=9000)
    make_run(agent, status="error", duration_ms=100)
    make_run(agent, status="ok", duration_ms=9000)
    response = ops_client.get(reverse("monitoring:runs"), {"status": "error", "min_latency_ms": "5000"})
    assert [r.trace_id for r in response.context["runs"]] == [slow_error.trace_id]
    assert slow_error.trace_id in response.content.decode()


def test_run_explorer_counts_the_matching_runs_up_to_a_cap(ops_client, monkeypatch):
    agent = make_agent("Counted Agent")
    for _ in range(4):
        make_run(agent, status="error")
    make_run(agent)
    response = ops_client.get(reverse("monitoring:runs"), {"status": "error"})
    assert response.context["match_count_label"] == "4" and "4 runs match" in response.content.decode()
    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    monkeypatch.setattr(queries.count_runs_capped, "__defaults__", (3,))
    response = ops_client.get(reverse("monitoring:runs"), {"status": "error"})
    assert response.context["match_count_label"] == "3+"  # at most cap + 1 runs read, never the whole range


def test_run_explorer_keyset_pages_cover_every_run_once(ops_client, settings):

    agent = make_agent("Paged Agent")
    start = timezone.now() - timedelta(minutes=30)
    # Equal timestamps on purpose: the id tiebreak must keep pages disjoint.
    runs = [make_run(agent, started_at=start if i % 2 else start + timedelta(seconds=i)) for i in range(7)]
    queries_page_size = queries.PAGE_SIZE
    queries.PAGE_SIZE = 3
    try:
        seen, url = [], reverse("monitoring:runs") + "?agent=paged-agent"
        while url:
            response = ops_client.get(url)
            seen += [r.trace_id for r in response.context["runs"]]
            nxt = response.context["next_url"]
            url = reverse("monitoring:runs") + nxt if nxt else None
    finally:
        queries.PAGE_SIZE = queries_page_size
    assert sorted(seen) == sorted(r.trace_id for r in runs)


def test_run_explorer_rejects_a_forged_cursor(ops_client):
    response = ops_client.get(reverse("monitoring:runs"), {"after": "!!garbage!!"})
    assert response.status_code == 400
    assert "not valid any more" in response.content.decode()


def test_run_explorer_rejects_a_negative_cost(ops_client):
    response = ops_client.get(reverse("monitoring:runs"), {"min_cost": "-1"})
    assert response.status_code == 400
    assert "Min cost (USD)" in response.content.decode()


def test_csv_export_has_the_filtered_runs(ops_client):
    agent = make_agent("Csv Agent")
    escalated = make_run(agent, has_escalation=True, cost=Decimal("0.25"))
    make_run(agent)
    response = ops_client.get(reverse("monitoring:runs_export"), {"has_escalation": "yes"})
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("trace_id,agent,started_at")
    assert len(lines) == 2 and escalated.trace_id in lines[1] and "0.250000" in lines[1]


def test_run_explorer_query_count_is_bounded(ops_client, django_assert_max_num_queries):
    agent = make_agent("Many Runs Agent")
    for _ in range(20):
        make_run(agent)
    with django_assert_max_num_queries(9):  # the page, and the capped count of matching runs
        ops_client.get(reverse("monitoring:runs"))


# -- trace view ------------------------------------------------------------------------------------


def test_trace_view_draws_the_waterfall_with_scores_and_escalation(ops_client):
    agent = make_agent("Trace Agent")
    run = make_run(agent, steps=[
        {"kind": "agent", "name": "invoke_agent trace-agent", "duration_ms": 1500},
        {"kind": "llm", "name": "chat gpt-4o", "input_tokens": 120, "output_tokens": 30, "duration_ms": 700},
        {"kind": "tool", "tool_name": "lookup_order", "status": "error", "error_type": "NotFound", "duration_ms": 90},
    ])
    make_score(run, 0.42, name="helpfulness")
    make_escalation(run, reason="missing_knowledge", summary="Order not found")
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert html.count('class="wf-row') == 3
    assert "lookup_order" in html and "NotFound" in html
    assert "helpfulness" in html and "Order not found" in html


def test_trace_view_marks_recorded_words_as_verbatim(ops_client):
    """What the customer, the agent or an escalation said is shown as recorded: an order number in it
    is not a figure the page formats (the every-page check skips ``verbatim`` text, and flagged this
    whenever the demo's first trace was a refund)."""
    from tests.visible_numbers import bare_numbers

    agent = make_agent("Refund Agent")
    run = make_run(agent, steps=[{"kind": "llm", "name": "chat gpt-4o", "duration_ms": 700,
                                  "input": '[{"role": "user", "content": "Refund order 54754, please."}]',
                                  "output": "Refund 54754 is on its way."}])
    Run.objects.filter(pk=run.pk).update(input_preview="I want a refund for order 54754.",
                                          output_preview="Refund 54754 is on its way.")
    make_escalation(run, reason="refund over 5000", summary="Order 54754 is over the limit")
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert "order 54754" in html and "Order 54754 is over the limit" in html
    assert bare_numbers(html) == []


def test_trace_view_shows_links_registered_by_higher_apps(ops_client):
    from agentops import extensions

    run = make_run(make_agent("Linked Agent"))

    def provider(r):
        return [extensions.Link("Ticket", f"/handoffs/tickets/for/{r.trace_id}/")]

    extensions.register(extensions.TRACE_LINKS, provider)
    try:
        html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    finally:
        extensions.unregister(extensions.TRACE_LINKS, provider)
    assert f"/handoffs/tickets/for/{run.trace_id}/" in html


def test_trace_past_retention_shows_a_clear_page(ops_client):
    response = ops_client.get(reverse("monitoring:run_detail", args=["0" * 32]))
    assert response.status_code == 200
    assert "This trace is not stored" in response.content.decode() and "kept for" in response.content.decode()
