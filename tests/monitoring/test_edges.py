"""Interaction edges rebuilt from a generated multi-agent trace."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from monitoring.ingest import edges
from monitoring.ingest.derived_models import HUMAN_QUEUE, InteractionEdge
from tests.factories import make_agent
from tests.monitoring.factories import make_escalation, make_run

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def multi_agent_run(triage, billing):
    """triage (root) -> kb.search x2, -> billing sub-agent -> refund tool (fails) + llm; billing escalates."""
    run = make_run(triage, status="error", started_at=T0, root_span_id="r0", steps=[
        {"kind": "agent", "span_id": "r0", "parent_span_id": "", "duration_ms": 900},
        {"kind": "tool", "span_id": "t1", "tool_name": "kb.search", "duration_ms": 100},
        {"kind": "tool", "span_id": "t2", "tool_name": "kb.search", "duration_ms": 300},
        {"kind": "agent", "span_id": "b0", "agent": billing, "duration_ms": 500, "status": "error"},
        {"kind": "llm", "span_id": "b1", "parent_span_id": "b0", "agent": billing, "cost": "0.004"},
        {"kind": "tool", "span_id": "b2", "parent_span_id": "b0", "agent": billing, "tool_name": "refund",
         "status": "error", "duration_ms": 250, "cost": "0.001"},
    ])
    make_escalation(run, agent=billing, span_id="b0")
    return run


def edge_map() -> dict[tuple[str, str, str], InteractionEdge]:
    return {(e.source.slug, e.target_kind, e.target_name): e for e in InteractionEdge.objects.select_related("source")}


@pytest.fixture
def agents():
    return make_agent("Triage"), make_agent("Billing")


def test_edges_match_the_generated_trace(agents):
    triage, billing = agents
    run = multi_agent_run(triage, billing)
    edges.refresh_for_runs([run.id])
    found = edge_map()
    assert set(found) == {("triage", "tool", "kb.search"), ("triage", "agent", "billing"),
                          ("billing", "tool", "refund"), ("billing", "human", HUMAN_QUEUE)}
    kb = found[("triage", "tool", "kb.search")]
    assert (kb.calls, kb.errors, kb.total_ms) == (2, 0, 400.0)
    sub = found[("triage", "agent", "billing")]
    assert (sub.calls, sub.errors, sub.target_agent_id) == (1, 1, billing.id)
    assert sub.cost == Decimal("0.005")  # the whole billing subtree: llm + refund tool
    refund = found[("billing", "tool", "refund")]
    assert (refund.calls, refund.errors, refund.cost) == (1, 1, Decimal("0.001"))


def test_edges_carry_run_time_and_source_department(agents):
    triage, billing = agents
    run = multi_agent_run(triage, billing)
    edges.refresh_for_runs([run.id])
    edge = edge_map()[("billing", "tool", "refund")]
    assert edge.started_at == T0
    assert edge.department_id == billing.department_id


def test_refreshing_twice_does_not_double_count(agents):
    run = multi_agent_run(*agents)
    edges.refresh_for_runs([run.id])
    edges.refresh_for_runs([run.id, run.id])
    assert InteractionEdge.objects.count() == 4
    assert edge_map()[("triage", "tool", "kb.search")].calls == 2


def test_spans_arriving_later_are_added_on_refresh(agents):
    from tests.monitoring.factories import make_step

    triage, _billing = agents
    run = make_run(triage, started_at=T0, root_span_id="r0", steps=[
        {"kind": "agent", "span_id": "r0", "parent_span_id": ""},
        {"kind": "tool", "span_id": "t1", "tool_name": "kb.search"},
    ])
    edges.refresh_for_runs([run.id])
    make_step(run, kind="tool", span_id="t2", tool_name="kb.search")
    edges.refresh_for_runs([run.id])
    assert edge_map()[("triage", "tool", "kb.search")].calls == 2


def test_refresh_runs_a_constant_number_of_queries(agents, django_assert_max_num_queries):
    triage, billing = agents
    ids = [multi_agent_run(triage, billing).id for _ in range(5)]
    with django_assert_max_num_queries(11):  # 8, and the map's cells: lock, upsert, emptied cells
        edges.refresh_for_runs(ids)
    assert InteractionEdge.objects.count() == 20


def test_refresh_of_no_runs_is_a_no_op(django_assert_num_queries):
    with django_assert_num_queries(0):
        edges.refresh_for_runs([])
