"""The agent page and trace view read agent invocations: the by-caller breakdown, the latest and failed
invocations (a sub-agent that only ever works under an orchestrator has them too) and the invocation
tree. Telemetry goes through the real ingest write path (normalise, write, rollups)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse, reverse_lazy
from django.utils import timezone

from monitoring import timerange
from monitoring.dashboards import invocations
from monitoring.ingest import write as ingest_write
from monitoring.intake.normalize import normalize_spans
from monitoring.models import Run
from tests.factories import make_agent, make_price
from tests.monitoring.otlp_builders import agent_trace, orchestrated_trace

pytestmark = pytest.mark.django_db


def last(key: str = "24h") -> timerange.TimeRange:
    """The range as a page asks for it now (a range made at import would end before the test's data)."""
    return timerange.parse_range({"range": key})


def write(spans) -> None:
    with transaction.atomic():
        ingest_write.write_records(normalize_spans(spans, now=timezone.now()).records)


@pytest.fixture
def agents():
    make_price("gpt-4o", inp="2.50", out="10.00")
    return {slug: make_agent(name, slug=slug) for slug, name in [
        ("support-orchestrator", "Support Orchestrator"), ("refund-agent", "Refund Agent"),
        ("kb-search-agent", "KB Search Agent")]}


@pytest.fixture
def traffic(agents):
    """Two orchestrated traces (the refund agent fails in both, the KB agent escalates), one direct
    call of the refund agent, and an orchestrated trace three days ago (outside the 24 h range)."""
    now = timezone.now()
    write(orchestrated_trace(start=now - timedelta(minutes=20)))
    write(orchestrated_trace(start=now - timedelta(minutes=10)))
    write(agent_trace("refund-agent", start=now - timedelta(minutes=5)))
    write(orchestrated_trace(start=now - timedelta(days=3)))
    return agents


def test_a_sub_agent_called_directly_and_by_an_orchestrator_is_broken_down_by_caller(traffic):
    rows = invocations.by_caller(traffic["refund-agent"], last())
    assert [r.label for r in rows] == ["via Support Orchestrator", "direct"]
    via, direct = rows
    assert (via.invocations, via.errors, via.success_rate) == (2, 2, 0.0)
    assert (direct.invocations, direct.errors, direct.success_rate) == (1, 0, 100.0)
    assert (via.input_tokens, via.output_tokens, via.tokens) == (1600, 300, 1900)  # 800 + 150 each, its own
    assert via.cost == Decimal("0.007000") and via.cost_per_invocation == Decimal("0.003500")
    assert direct.tokens == 1200
    # Slow only when the orchestrator calls it: 1200 ms there, 900 ms direct (sketch error <= 1 %).
    assert via.p95 == pytest.approx(1200, rel=0.01) and via.p50 == pytest.approx(1200, rel=0.01)
    assert direct.p95 == pytest.approx(900, rel=0.01)
    assert (via.escalated, via.escalation_rate) == (0, 0.0)


def test_a_sub_agent_only_ever_called_by_an_orchestrator_has_its_own_breakdown(traffic):
    [row] = invocations.by_caller(traffic["kb-search-agent"], last())
    assert (row.label, row.caller.slug, row.invocations, row.errors) == (
        "via Support Orchestrator", "support-orchestrator", 2, 0)
    assert (row.escalated, row.escalation_rate) == (2, 100.0)
    assert (row.input_tokens, row.output_tokens) == (600, 100)
    assert row.p95 == pytest.approx(400, rel=0.01)


def test_the_breakdown_is_bounded_by_the_range(traffic):
    week = last("7d")
    assert sum(r.invocations for r in invocations.by_caller(traffic["kb-search-agent"], week)) == 3
    # Whole hour cells: a day that ended two hours ago holds none of the last half hour's calls.
    before = timezone.now() - timedelta(hours=2)
    earlier = timerange.TimeRange("custom", before - timedelta(days=1), before)
    assert invocations.by_caller(traffic["kb-search-agent"], earlier) == []


def test_the_breakdown_reads_cells_not_invocations_in_a_bounded_number_of_queries(traffic):
    with CaptureQueriesContext(connection) as captured:
        rows = invocations.by_caller(traffic["refund-agent"], last("30d"))
    assert len(captured) <= 3  # settled cells (or their cache), recent cells, the callers' names
    assert not any("monitoring_invocation" in q["sql"] for q in captured.captured_queries)
    assert sum(r.invocations for r in rows) == 4  # the three days old orchestrated trace too


def test_the_breakdown_equals_the_raw_invocations_after_late_spans_and_a_rebuild(traffic):
    from monitoring.rollups import cells as rollups

    def raw(agent):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT caller_agent_id, count(*), count(*) FILTER (WHERE status = 'error'), sum(cost),"
                " sum(input_tokens), sum(output_tokens) FROM monitoring_invocation WHERE agent_id = %s"
                " GROUP BY 1", [agent.pk])
            return sorted(cursor.fetchall(), key=repr)

    def shown(agent):
        return sorted(((r.caller.pk if r.caller else None, r.invocations, r.errors, r.cost, r.input_tokens,
                        r.output_tokens) for r in invocations.by_caller(agent, last("7d"))), key=repr)

    for slug in ("refund-agent", "kb-search-agent", "support-orchestrator"):
        assert shown(traffic[slug]) == raw(traffic[slug])
    rollups.rebuild(timezone.now() - timedelta(days=8), timezone.now())
    for slug in ("refund-agent", "kb-search-agent", "support-orchestrator"):
        assert shown(traffic[slug]) == raw(traffic[slug])


def test_failures_of_a_sub_agent_come_from_its_invocations_with_their_caller(traffic):
    failed = invocations.recent_invocations(traffic["refund-agent"], last(), failed=True)
    assert [(i.status, i.error_type, i.caller_agent.slug) for i in failed] == [
        ("error", "TimeoutError", "support-orchestrator")] * 2
    assert failed[0].started_at > failed[1].started_at  # newest first
    assert not Run.objects.filter(agent=traffic["refund-agent"], status="error").exists()  # no run of its own failed
    assert invocations.recent_invocations(traffic["kb-search-agent"], last(), failed=True) == []
    assert len(invocations.recent_invocations(traffic["kb-search-agent"], last())) == 2


def test_the_invocation_tree_nests_each_agent_under_its_caller(traffic):
    run = Run.objects.filter(agent=traffic["support-orchestrator"]).order_by("-started_at").first()
    tree = invocations.invocation_tree(run)
    assert [(r.invocation.agent.slug, r.depth, r.children) for r in tree] == [
        ("support-orchestrator", 0, 2), ("refund-agent", 1, 0), ("kb-search-agent", 1, 0)]
    top, refund, kb = (r.invocation for r in tree)
    assert (top.input_tokens, top.total_input_tokens, top.total_output_tokens) == (300, 1400, 260)
    assert (refund.caller_agent.slug, refund.status, refund.prompt_version) == ("support-orchestrator", "error", "2")
    assert (kb.escalations, kb.quality_score) == (1, 0.4)


# -- pages ---------------------------------------------------------------------------------------


def test_the_dashboard_of_a_sub_agent_only_called_by_an_orchestrator_shows_its_own_figures(ops_client, traffic):
    html = ops_client.get(reverse("monitoring:agent_dashboard", args=["kb-search-agent"])).content.decode()
    assert '<div class="stat" id="agent-runs">2</div>' in html  # its own runs, from the rollups
    table = html.split('id="caller-table"')[1].split("</table>")[0]
    assert "via <a href=\"/monitoring/agents/support-orchestrator/?range=24h\">Support Orchestrator</a>" in table
    assert "100.0 %" in table or "100 %" in table  # success and escalated shares
    latest = html.split('id="latest-table"')[1].split("</table>")[0]
    assert latest.count("via Support Orchestrator") == 2 and "escalated" in latest


def test_the_dashboard_lists_a_sub_agents_failures_linking_to_the_trace(ops_client, traffic):
    html = ops_client.get(reverse("monitoring:agent_dashboard", args=["refund-agent"])).content.decode()
    failures = html.split('id="failure-table"')[1].split("</table>")[0]
    assert failures.count("TimeoutError") == 2 and failures.count("via Support Orchestrator") == 2
    run = Run.objects.filter(agent=traffic["support-orchestrator"]).order_by("-started_at").first()
    span = run.invocations.get(agent=traffic["refund-agent"]).span_id
    assert f'href="/monitoring/runs/{run.trace_id}/#inv-{span}"' in failures


def test_an_agent_without_runs_in_the_range_says_so(ops_client, agents):
    html = ops_client.get(reverse("monitoring:agent_dashboard", args=["refund-agent"])).content.decode()
    assert 'id="no-callers"' in html and "No failed runs in this range." in html


def test_the_trace_view_shows_the_invocation_tree_above_the_waterfall(ops_client, traffic):
    run = Run.objects.filter(agent=traffic["support-orchestrator"]).order_by("-started_at").first()
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert html.index('id="invocation-tree"') < html.index('id="waterfall"')
    tree = html.split('id="invocation-tree"')[1].split("</table>")[0]
    for slug, name in [("support-orchestrator", "Support Orchestrator"), ("refund-agent", "Refund Agent"),
                       ("kb-search-agent", "KB Search Agent")]:
        assert f'<a href="/monitoring/agents/{slug}/">{name}</a>' in tree
    assert tree.index("Support Orchestrator") < tree.index("Refund Agent") < tree.index("KB Search Agent")
    assert 'data-depth="1"' in tree and "(level 2)" in tree
    assert "TimeoutError" in tree and "v3" in tree and "v2" in tree
    assert "1,400 in · 260 out" in tree  # the orchestrator's inclusive tokens
    assert "800 in · 150 out" in tree  # the refund agent's own



# -- an agent's runs page -----------------------------------------------------------------------


def agent_runs(client, slug: str, **params):
    return client.get(reverse("monitoring:agent_runs", args=[slug]), {"range": "24h", **params})


def table_of(html: str) -> str:
    return html.split('id="agent-runs-table"')[1].split("</table>")[0]


def test_a_sub_agents_runs_page_lists_every_invocation_with_its_caller_and_own_figures(ops_client, traffic):
    response = agent_runs(ops_client, "refund-agent")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<p class="muted small" id="match-count">3 runs match</p>' in html  # two via the orchestrator, one direct
    rows = table_of(html).split("<tr>")[2:]
    assert len(rows) == 3
    assert "direct" in rows[0] and "ok" in rows[0]  # newest first: the direct call five minutes ago
    for row in rows[1:]:
        assert "via <a href=\"/monitoring/agents/support-orchestrator/?range=24h\">Support Orchestrator</a>" in row
        assert "TimeoutError" in row and "950" in row and "$0.0035" in row and "v2" in row  # its own 800 + 150 tokens
    run = Run.objects.filter(agent=traffic["support-orchestrator"]).order_by("-started_at").first()
    span = run.invocations.get(agent=traffic["refund-agent"]).span_id
    assert f'href="/monitoring/runs/{run.trace_id}/#inv-{span}"' in rows[1]
    # The run explorer holds only the traces it started, and says where the others are.
    explorer = ops_client.get(reverse("monitoring:runs"), {"agent": "refund-agent", "range": "24h"}).content.decode()
    assert "1 run match" in explorer and 'href="/monitoring/agents/refund-agent/runs/?range=24h"' in explorer


def test_an_agent_only_ever_called_by_an_orchestrator_has_its_runs_on_its_page(ops_client, traffic):
    html = agent_runs(ops_client, "kb-search-agent").content.decode()
    assert "2 runs match" in html
    table = table_of(html)
    assert table.count("via <a") == 2 and table.count("escalated") == 2 and table.count("0.40") == 2
    assert Run.objects.filter(agent=traffic["kb-search-agent"]).count() == 0


@pytest.mark.parametrize(("params", "expected"), [
    ({"caller": "direct"}, 1),
    ({"caller": "support-orchestrator"}, 2),
    ({"status": "error"}, 2),
    ({"status": "ok"}, 1),
    ({"error_type": "TimeoutError"}, 2),
    ({"prompt_version": "2"}, 3),
    ({"prompt_version": "7"}, 0),
    ({"min_latency_ms": "1000"}, 2),  # 1,200 ms via the orchestrator, 900 ms direct
    ({"escalated": "no"}, 3),
    ({"escalated": "yes"}, 0),
    ({"range": "7d"}, 4),  # the orchestrated trace of three days ago too
])
def test_the_runs_page_filters_the_agents_invocations(ops_client, traffic, params, expected):
    html = agent_runs(ops_client, "refund-agent", **params).content.decode()
    if expected:
        assert f'id="match-count">{expected} run{"s" if expected != 1 else ""} match' in html
        assert table_of(html).count("<tr>") == expected + 1
    else:
        assert 'id="no-agent-runs"' in html


@pytest.mark.parametrize(("params", "message"), [
    ({"caller": "nobody"}, "Select a valid choice"),
    ({"min_latency_ms": "-5"}, "Min latency (ms)"),
    ({"status": "lost"}, "Select a valid choice"),
    ({"range": "custom", "from": "yesterday"}, ""),
    ({"after": "not-a-cursor"}, "That page link is not valid any more"),
])
def test_bad_filters_on_the_runs_page_are_a_400_that_names_the_problem(ops_client, traffic, params, message):
    response = agent_runs(ops_client, "refund-agent", **params)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="filter-error"' in html and message in html


def test_the_runs_page_pages_through_older_runs_with_a_cursor(ops_client, agents):
    now = timezone.now()
    for minute in range(53):
        write(agent_trace("refund-agent", start=now - timedelta(minutes=60 - minute)))
    first = agent_runs(ops_client, "refund-agent").content.decode()
    assert "53 runs match" in first and table_of(first).count("<tr>") == 51
    next_url = first.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
    second = ops_client.get(reverse("monitoring:agent_runs", args=["refund-agent"]) + next_url).content.decode()
    assert table_of(second).count("<tr>") == 4 and "End of the list." in second
    shown = set()
    for html in (first, second):
        shown.update(part.split('"')[0] for part in table_of(html).split('href="/monitoring/runs/')[1:])
    assert len(shown) == 53  # every run once, none twice


def test_the_runs_page_reads_a_bounded_number_of_statements(ops_client, traffic):
    with CaptureQueriesContext(connection) as captured:
        assert agent_runs(ops_client, "refund-agent").status_code == 200
    invocation_reads = [q for q in captured.captured_queries if "monitoring_invocation" in q["sql"]]
    assert len(invocation_reads) == 2  # the page and the capped count
    assert all('"monitoring_invocation"."agent_id" = ' in q["sql"] for q in invocation_reads)


def test_the_agent_page_links_to_all_its_runs(ops_client, traffic):
    html = ops_client.get(reverse("monitoring:agent_dashboard", args=["kb-search-agent"]), {"range": "7d"}).content.decode()
    assert 'id="all-agent-runs"' in html and 'href="/monitoring/agents/kb-search-agent/runs/?range=7d"' in html


def test_an_unknown_caller_matches_no_invocation_not_the_direct_ones(traffic):
    rows = invocations.filter_invocations(traffic["refund-agent"], {"caller": "nobody"}, last())
    assert list(rows) == []
    assert invocations.filter_invocations(traffic["refund-agent"], {"caller": "direct"}, last()).count() == 1


def test_an_agents_runs_export_as_filtered_with_own_and_total_cost(ops_client, traffic):
    html = agent_runs(ops_client, "refund-agent", status="error").content.decode()
    assert 'id="export-csv"' in html and "/monitoring/agents/refund-agent/runs/export.csv?" in html
    response = ops_client.get(reverse("monitoring:agent_runs_export", args=["refund-agent"]),
                              {"range": "24h", "status": "error"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert 'filename="runs-refund-agent-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2
    for row in rows:
        assert (row["agent"], row["caller"], row["status"], row["error_type"]) == (
            "refund-agent", "support-orchestrator", "error", "TimeoutError")
        assert (row["input_tokens"], row["output_tokens"], row["prompt_version"]) == ("800", "150", "2")
        assert row["cost"] == row["total_cost"] == "0.003500"  # it calls no other agent
    top = ops_client.get(reverse("monitoring:agent_runs_export", args=["support-orchestrator"]), {"range": "24h"})
    [first, *_] = list(csv.DictReader(io.StringIO(b"".join(top.streaming_content).decode())))
    assert first["caller"] == "" and float(first["total_cost"]) > float(first["cost"])  # with the agents it called


def test_an_agents_runs_export_refuses_bad_filters_and_other_departments(ops_client, traffic):
    response = ops_client.get(reverse("monitoring:agent_runs_export", args=["refund-agent"]), {"caller": "nobody"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert ops_client.get(reverse("monitoring:agent_runs_export", args=["no-such-agent"])).status_code == 404


@pytest.mark.parametrize(("url", "label"), [
    (reverse_lazy("monitoring:runs"), '<label for="id_agent">Agent</label>'),
    (reverse_lazy("monitoring:agent_runs", args=["refund-agent"]), '<label for="id_caller">Caller</label>'),
])
def test_filter_labels_read_like_the_time_range_ones_without_a_colon(ops_client, agents, url, label):
    html = ops_client.get(url).content.decode()
    assert '<label for="id_range">Time range</label>' in html and label in html
    assert '<label for="id_status">Status</label>' in html
