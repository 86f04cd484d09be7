"""Where a failed run failed first (monitoring.dashboards.failure_origin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.dashboards import failure_origin as failure_origin_queries
from tests.factories import make_agent
from tests.monitoring.factories import make_run

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_failure_origin_names_the_agent_that_failed_first():
    triage, billing = make_agent("Triage"), make_agent("Billing")
    t0 = NOW - timedelta(hours=1)
    run = make_run(triage, status="error", started_at=t0, root_span_id="r0", steps=[
        {"kind": "agent", "span_id": "r0", "parent_span_id": "", "status": "error", "duration_ms": 900},
        {"kind": "agent", "span_id": "b0", "agent": billing, "status": "error", "duration_ms": 600},
        {"kind": "tool", "span_id": "b1", "parent_span_id": "b0", "agent": billing, "tool_name": "refund",
         "status": "error", "error_type": "PermissionError", "duration_ms": 100},
    ])
    origin = failure_origin_queries.failure_origin(run.id)
    assert origin.agent == billing
    assert origin.step.span_id == "b1"
    assert [a.slug for a in origin.chain] == ["triage", "billing"]


@pytest.mark.django_db
def test_failure_origin_of_a_good_run_is_none():
    assert failure_origin_queries.failure_origin(make_run(make_agent()).id) is None
