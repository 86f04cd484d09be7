"""Insights pages: roles, empty states, bad input, hand-computed numbers, actions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from agentops.models import PromptVersion
from insights.models import FailureGroup
from monitoring.ingest import edges
from tests.factories import make_agent, make_department, make_prompt
from tests.handoffs.factories import make_root_cause
from tests.monitoring.factories import make_escalation, make_run

pytestmark = pytest.mark.django_db
FP = "f" * 40


def ago(**kw):
    return timezone.now() - timedelta(**kw)


# --- access and empty states ---------------------------------------------------------------------

@pytest.mark.parametrize("url_name", ["insights:root_causes", "insights:agent_map"])
def test_pages_show_an_empty_state_without_data(ops_client, url_name):
    response = ops_client.get(reverse(url_name))
    assert response.status_code == 200
    assert b'class="empty"' in response.content


def test_compare_page_empty_state(ops_client):
    agent = make_agent("Solo")
    response = ops_client.get(reverse("insights:compare", args=[agent.slug]))
    assert response.status_code == 200
    assert b"has no runs between these dates" in response.content


@pytest.mark.parametrize("url_name", ["insights:root_causes", "insights:agent_map"])
def test_pages_are_for_operations_only(reviewer_client, url_name):
    assert reviewer_client.get(reverse(url_name)).status_code == 403


@pytest.mark.parametrize(("url_name", "query"), [
    ("insights:root_causes", "days=5"),
    ("insights:root_causes", "range=5d"),
    ("insights:root_causes", "range=custom&from=yesterday"),
    ("insights:root_causes", "agent=no-such-agent"),
    ("insights:agent_map", "department=abc"),
    ("insights:agent_map", "sort=drop_table"),
])
def test_bad_filters_give_a_400_with_a_message(ops_client, url_name, query):
    response = ops_client.get(f"{reverse(url_name)}?{query}")
    assert response.status_code == 400
    assert b'class="form-error"' in response.content


def test_htmx_request_renders_only_the_results_partial(ops_client):
    response = ops_client.get(reverse("insights:root_causes"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content and b'id="rc-results"' in response.content


# --- root causes and drill-down ------------------------------------------------------------------

def test_root_causes_lists_groups_and_links_to_drill_down(ops_client):
    agent = make_agent("Billing")
    for _ in range(3):
        make_run(agent, status="error", fingerprint=FP, started_at=ago(hours=2))
    response = ops_client.get(reverse("insights:root_causes"))
    assert response.status_code == 200
    assert reverse("insights:failure_group", args=[FP]).encode() in response.content
    assert response.context["groups"][0].runs == 3


def test_root_causes_page_query_count_is_bounded(ops_client, django_assert_max_num_queries):
    for i in range(4):
        agent = make_agent()
        for j in range(3):
            make_run(agent, status="error", fingerprint=f"{i}{j}".ljust(40, "0"), started_at=ago(hours=1))
    # Runs stored without signature records: the first page describes them from the runs and records
    # them (one statement), the next reads the records.
    with django_assert_max_num_queries(21):
        assert ops_client.get(reverse("insights:root_causes")).status_code == 200
    with django_assert_max_num_queries(18):
        assert ops_client.get(reverse("insights:root_causes")).status_code == 200


def test_pareto_of_reviewer_root_causes(ops_client):
    from handoffs.models import Ticket
    from tests.handoffs.factories import make_root_cause, make_ticket

    tool, knowledge = make_root_cause("Tool failure"), make_root_cause("Missing knowledge")
    for cause in (tool, tool, tool, knowledge):
        ticket = make_ticket()
        Ticket.objects.filter(pk=ticket.pk).update(status="resolved", resolved_at=ago(hours=1), root_cause=cause,
                                                    outcome="corrected_agent_answer")
    pareto = ops_client.get(reverse("insights:root_causes")).context["pareto"]
    assert [(r["name"], r["n"], r["cumulative_pct"]) for r in pareto] == [
        ("Tool failure", 3, 75.0), ("Missing knowledge", 1, 100.0)]


def test_failure_group_page_shows_runs_and_origin(ops_client):
    agent = make_agent("Billing")
    run = make_run(agent, status="error", fingerprint=FP, started_at=ago(hours=1), steps=[
        {"kind": "agent", "parent_span_id": ""},
        {"kind": "tool", "tool_name": "refund", "status": "error", "error_type": "TimeoutError"},
    ])
    response = ops_client.get(reverse("insights:failure_group", args=[FP]))
    assert response.status_code == 200
    assert run.trace_id[:16].encode() in response.content
    assert b'data-origin-agent="billing"' in response.content


@pytest.mark.parametrize("fingerprint", ["not-a-fingerprint", "0" * 40])
def test_unknown_or_malformed_fingerprint_is_404(ops_client, fingerprint):
    assert ops_client.get(reverse("insights:failure_group", args=[fingerprint])).status_code == 404


def test_marking_a_group_saves_and_redirects(ops_client, ops_user):
    make_run(make_agent(), status="error", fingerprint=FP, started_at=ago(hours=1))
    cause = make_root_cause("Tool failure")
    url = reverse("insights:failure_group_mark", args=[FP])
    response = ops_client.post(url, {"root_cause": cause.pk, "owner": ops_user.pk, "note": "CRM timeouts"})
    assert response.status_code == 302
    group = FailureGroup.objects.get(fingerprint=FP)
    assert (group.root_cause, group.owner, group.updated_by) == (cause, ops_user, ops_user)
    page = ops_client.get(reverse("insights:failure_group", args=[FP]))
    assert b'id="group-root-cause">Tool failure<' in page.content
    assert b"Tool failure" in ops_client.get(reverse("insights:root_causes")).content


def test_mark_form_offers_the_reviewers_active_taxonomy(ops_client):
    make_run(make_agent(), status="error", fingerprint=FP, started_at=ago(hours=1))
    make_root_cause("Data quality")
    make_root_cause("Old cause", is_active=False)
    form = ops_client.get(reverse("insights:failure_group", args=[FP])).context["mark_form"]
    assert [c.name for c in form.fields["root_cause"].queryset] == ["Data quality"]


def test_marking_with_a_retired_root_cause_is_a_form_error(ops_client):
    make_run(make_agent(), status="error", fingerprint=FP, started_at=ago(hours=1))
    retired = make_root_cause("Old cause", is_active=False)
    response = ops_client.post(reverse("insights:failure_group_mark", args=[FP]), {"root_cause": retired.pk})
    assert response.status_code == 400
    assert "root_cause" in response.context["mark_form"].errors
    assert not FailureGroup.objects.exists()


def test_a_group_keeps_its_root_cause_after_the_cause_is_retired(ops_client, ops_user):
    make_run(make_agent(), status="error", fingerprint=FP, started_at=ago(hours=1))
    cause = make_root_cause("Tool failure")
    FailureGroup.objects.create(fingerprint=FP, root_cause=cause)
    cause.is_active = False
    cause.save()
    form = ops_client.get(reverse("insights:failure_group", args=[FP])).context["mark_form"]
    assert list(form.fields["root_cause"].queryset) == [cause]
    response = ops_client.post(reverse("insights:failure_group_mark", args=[FP]),
                               {"root_cause": cause.pk, "note": "still this"})
    assert response.status_code == 302
    assert FailureGroup.objects.get(fingerprint=FP).note == "still this"


def test_marking_with_nothing_is_a_form_error(ops_client):
    make_run(make_agent(), status="error", fingerprint=FP, started_at=ago(hours=1))
    response = ops_client.post(reverse("insights:failure_group_mark", args=[FP]), {"root_cause": "", "note": " "})
    assert response.status_code == 400
    assert b"Give a root cause, an owner or a note." in response.content
    assert not FailureGroup.objects.exists()


def test_draft_from_group_redirects_to_the_new_prompt_version(ops_client):
    agent = make_agent("Billing")
    make_prompt(agent, is_active=True)
    make_run(agent, status="error", fingerprint=FP, started_at=ago(hours=1))
    response = ops_client.post(reverse("insights:prompt_draft_from_group", args=[FP]), {"agent": agent.slug})
    draft = PromptVersion.objects.get(agent=agent, version=2)
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:prompt_detail", args=[agent.slug, 2])
    assert not draft.is_active and draft.draft_cases.count() == 1


def test_draft_from_ticket_with_corrected_answer(ops_client):
    from handoffs.models import Ticket
    from tests.handoffs.factories import make_ticket

    agent = make_agent("Billing")
    run = make_run(agent, status="error", fingerprint=FP, started_at=ago(hours=1))
    ticket = make_ticket(run=run, agent=agent)
    Ticket.objects.filter(pk=ticket.pk).update(corrected_answer="Refunds over 100 EUR need a manager.")
    response = ops_client.post(reverse("insights:prompt_draft_from_ticket", args=[ticket.pk]))
    assert response.status_code == 302
    case = PromptVersion.objects.get(agent=agent).draft_cases.get()
    assert (case.ticket_id, case.run_id, case.note) == (ticket.pk, run.pk, "Refunds over 100 EUR need a manager.")


def test_draft_from_ticket_without_corrected_answer_is_refused(ops_client):
    from tests.handoffs.factories import make_ticket

    ticket = make_ticket()
    response = ops_client.post(reverse("insights:prompt_draft_from_ticket", args=[ticket.pk]))
    assert response.status_code == 400
    assert b"no corrected answer" in response.content


# --- compare -------------------------------------------------------------------------------------

@pytest.fixture
def two_versions():
    """v1: 40 runs, 24 ok, durations 10..400 ms, quality .6/.8; v2: 40 runs, 34 ok, quality .85/.95."""
    agent = make_agent("Support")
    v1, v2 = make_prompt(agent), make_prompt(agent, is_active=True)
    for i in range(40):
        make_run(agent, prompt=v1, status="ok" if i < 24 else "error", duration_ms=10.0 * (i + 1),
                 quality_score=0.6 if i % 2 else 0.8, cost=Decimal("0.01"), has_escalation=i >= 36,
                 started_at=ago(days=3, minutes=i))
        make_run(agent, prompt=v2, status="ok" if i < 34 else "error", duration_ms=100.0,
                 quality_score=0.85 if i % 2 else 0.95, cost=Decimal("0.02"), started_at=ago(days=1, minutes=i))
    return agent, v1, v2


def test_compare_numbers_match_hand_computed_values(ops_client, two_versions):
    agent, v1, _v2 = two_versions
    response = ops_client.get(reverse("insights:compare", args=[agent.slug]))
    assert response.status_code == 200
    first, second = response.context["versions"]
    assert (first.label, first.runs, first.success_pct, first.escalation_pct) == ("v1", 40, 60.0, 10.0)
    assert first.quality_mean == pytest.approx(0.7)
    # From the version cells' sketches: an order statistic of 10, 20, ... 400 within 1 %.
    assert first.p50_ms == pytest.approx(200.0, rel=0.01)
    assert first.p95_ms == pytest.approx(380.0, rel=0.01)
    assert first.cost_per_run == Decimal("0.010000")
    assert (second.label, second.success_pct, second.cost_per_run) == ("v2", 85.0, Decimal("0.020000"))
    comparison = response.context["comparison"]
    assert comparison.success_points == pytest.approx(25.0)
    assert comparison.success.significant  # 60% vs 85% of 40: pooled .725, z = 2.504
    assert comparison.success.p_value == pytest.approx(0.0123, abs=5e-4)
    assert comparison.quality.significant
    assert b"B is higher, unlikely to be chance" in response.content


def test_compare_two_picked_versions(ops_client, two_versions):
    agent, v1, v2 = two_versions
    response = ops_client.get(reverse("insights:compare", args=[agent.slug]), {"a": f"pv{v2.id}", "b": f"pv{v1.id}"})
    assert [v.label for v in response.context["versions"]] == ["v2", "v1"]
    assert response.context["comparison"].success_points == pytest.approx(-25.0)


def test_compare_page_points_at_a_running_rollout(ops_client, two_versions):
    from agentops import services

    agent, v1, v2 = two_versions
    services.start_rollout(v1, 30)  # v2 is active; v1 is tried again on 30 % of traffic
    response = ops_client.get(reverse("insights:compare", args=[agent.slug]))
    html = response.content.decode()
    # the same rollout banner as on the registry pages, with the link to compare its two arms
    assert 'id="rollout"' in html and 'id="compare-rollout"' in html and "serves <strong>30 %</strong>" in html
    assert reverse("registry:rollout_rollback", args=[agent.slug]) in html
    assert f"a=pv{v2.id}&amp;b=pv{v1.id}" in html
    linked = ops_client.get(reverse("insights:compare", args=[agent.slug]), {"a": f"pv{v2.id}", "b": f"pv{v1.id}"})
    assert linked.status_code == 200 and [v.label for v in linked.context["versions"]] == ["v2", "v1"]


def test_compare_page_waits_for_runs_of_a_new_candidate(ops_client, two_versions):
    from agentops import services

    agent, _v1, _v2 = two_versions
    services.start_rollout(make_prompt(agent), 10)
    html = ops_client.get(reverse("insights:compare", args=[agent.slug])).content.decode()
    assert "serves <strong>10 %</strong>" in html and "Both arms of the rollout need runs in this range" in html


def test_compare_says_too_few_samples(ops_client):
    agent = make_agent("Tiny")
    v1, v2 = make_prompt(agent), make_prompt(agent)
    for prompt in (v1, v2):
        for i in range(5):
            make_run(agent, prompt=prompt, status="ok" if i else "error", started_at=ago(hours=i + 1))
    response = ops_client.get(reverse("insights:compare", args=[agent.slug]))
    assert response.content.count(b"too few samples to tell") == 2


def test_compare_rejects_an_unknown_version(ops_client, two_versions):
    agent, v1, _v2 = two_versions
    response = ops_client.get(reverse("insights:compare", args=[agent.slug]), {"a": "pv999999", "b": f"pv{v1.id}"})
    assert response.status_code == 400
    assert b"has no runs in the chosen range" in response.content


def test_compare_unknown_agent_is_404(ops_client):
    assert ops_client.get(reverse("insights:compare", args=["nobody-here"])).status_code == 404


# --- agent map -----------------------------------------------------------------------------------

@pytest.fixture
def traffic():
    sales, ops = make_department("Sales"), make_department("Ops")
    triage = make_agent("Triage", department=sales)
    billing = make_agent("Billing", department=ops)
    run = make_run(triage, status="error", started_at=ago(hours=1), root_span_id="r0", steps=[
        {"kind": "agent", "span_id": "r0", "parent_span_id": ""},
        {"kind": "tool", "span_id": "t1", "tool_name": "kb.search", "duration_ms": 120},
        {"kind": "agent", "span_id": "b0", "agent": billing, "status": "error"},
        {"kind": "tool", "span_id": "b1", "parent_span_id": "b0", "agent": billing, "tool_name": "refund",
         "status": "error"},
    ])
    make_escalation(run, agent=billing, span_id="b0")
    edges.refresh_for_runs([run.id])
    return sales, ops


def test_agent_map_lists_the_edges(ops_client, traffic):
    response = ops_client.get(reverse("insights:agent_map"))
    rows = {(e.source.slug, e.target_kind, e.target_name): e for e in response.context["edges"]}
    assert set(rows) == {("triage", "tool", "kb.search"), ("triage", "agent", "billing"),
                         ("billing", "tool", "refund"), ("billing", "human", "human review")}
    assert rows[("billing", "tool", "refund")].failure_rate == 1.0
    assert rows[("triage", "tool", "kb.search")].p95_ms == pytest.approx(120.0, rel=0.01)  # a sketch: within 1 %
    assert b'id="map-chart"' in response.content


def test_agent_map_filters_by_department(ops_client, traffic):
    _sales, ops = traffic
    response = ops_client.get(reverse("insights:agent_map"), {"department": ops.pk})
    assert {e.source.slug for e in response.context["edges"]} == {"billing"}


def test_agent_map_sorts_the_table(ops_client, traffic):
    response = ops_client.get(reverse("insights:agent_map"), {"sort": "target", "dir": "asc"})
    assert [e.target_label for e in response.context["edges"]] == ["Billing", "human review", "kb.search", "refund"]


def test_a_rollout_starts_from_the_comparison_of_a_version_that_is_not_active(ops_client, two_versions):
    agent, v1, v2 = two_versions  # v2 is active
    html = ops_client.get(reverse("insights:compare", args=[agent.slug]),
                          {"a": f"pv{v2.id}", "b": f"pv{v1.id}"}).content.decode()
    assert 'id="compare-rollout-start"' in html
    assert reverse("registry:prompt_rollout", args=[agent.slug, v1.version]) in html
    ops_client.post(reverse("registry:prompt_rollout", args=[agent.slug, v1.version]), {"share": "20"})
    dashboard = ops_client.get(reverse("monitoring:agent_dashboard", args=[agent.slug])).content.decode()
    assert 'id="rollout"' in dashboard and "serves <strong>20 %</strong>" in dashboard


@pytest.mark.parametrize(("query", "label"), [
    ("", "last 7 days"),  # the insights pages' default
    ("range=24h", "last 24 h"),
    ("days=30", "last 30 days"),  # an old link
    ("days=90", "last 90 days"),
])
def test_root_causes_take_the_shared_time_range_and_old_days_links(ops_client, query, label):
    response = ops_client.get(f"{reverse('insights:root_causes')}?{query}")
    assert response.status_code == 200
    assert label in response.content.decode()
    assert 'name="range"' in response.content.decode() and 'name="from"' in response.content.decode()


def test_root_causes_custom_range(ops_client):
    response = ops_client.get(reverse("insights:root_causes"),
                              {"range": "custom", "from": "2026-01-01T00:00", "to": "2026-01-03T00:00"})
    assert response.status_code == 200
    assert "2026-01-01" in response.content.decode()
