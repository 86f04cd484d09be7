"""The trace view of a failed run says where the chain failed first and links to its failure group."""

from __future__ import annotations

import pytest
from django.urls import reverse

from monitoring.models import StepKind
from tests.factories import make_agent
from tests.monitoring.factories import make_run

pytestmark = pytest.mark.django_db


def test_failed_run_shows_the_agent_that_failed_first(ops_client):
    orchestrator = make_agent("Support orchestrator", slug="support-orchestrator")
    refund = make_agent("Refund agent", slug="refund-agent", department=orchestrator.department)
    run = make_run(
        orchestrator, status="error", error_type="TimeoutError", fingerprint="f" * 40,
        steps=[
            {"kind": StepKind.AGENT, "span_id": "a" * 16, "parent_span_id": "", "status": "error",
             "error_type": "TimeoutError", "duration_ms": 900},
            {"kind": StepKind.AGENT, "span_id": "b" * 16, "parent_span_id": "a" * 16, "agent": refund,
             "status": "error", "error_type": "TimeoutError", "duration_ms": 500, "name": "invoke_agent refund"},
            {"kind": StepKind.TOOL, "span_id": "c" * 16, "parent_span_id": "b" * 16, "agent": refund,
             "status": "error", "error_type": "TimeoutError", "duration_ms": 300, "name": "execute_tool issue_refund",
             "tool_name": "issue_refund", "error_message": "payment gateway timeout"},
        ],
    )
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert 'data-origin-agent="refund-agent"' in html
    assert reverse("insights:failure_group", args=[run.fingerprint]) in html


def test_successful_run_has_no_failure_origin(ops_client):
    run = make_run(make_agent("Quiet agent", slug="quiet-agent"))
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert "Failed first in" not in html
