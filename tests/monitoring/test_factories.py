"""The shared telemetry factories build rows that follow the ingest rules."""

from decimal import Decimal

import pytest

from monitoring.models import RunStatus, StepKind
from tests.factories import make_agent
from tests.monitoring.factories import make_escalation, make_run, make_score

pytestmark = pytest.mark.django_db


def test_make_run_sums_llm_steps_into_run_totals():
    agent = make_agent()
    run = make_run(agent, steps=[
        {"kind": StepKind.AGENT},
        {"kind": StepKind.LLM, "input_tokens": 100, "output_tokens": 20, "cost": "0.01"},
        {"kind": StepKind.LLM, "input_tokens": 50, "output_tokens": 5, "cost": "0.002"},
        {"kind": StepKind.TOOL, "tool_name": "lookup_order", "input_tokens": 999},
    ])
    run.refresh_from_db()
    assert (run.step_count, run.input_tokens, run.output_tokens, run.cost) == (4, 150, 25, Decimal("0.012"))


def test_make_run_without_steps_has_one_root_step_and_explicit_cost():
    run = make_run(make_agent(), status=RunStatus.ERROR, cost=Decimal("0.5"))
    assert run.steps.get().span_id == run.root_span_id
    assert run.cost == Decimal("0.5") and run.error_type == "Error"


def test_make_escalation_marks_the_run_escalated():
    run = make_run(make_agent())
    make_escalation(run, reason="policy_restriction")
    make_score(run, 0.3)
    run.refresh_from_db()
    assert run.has_escalation and run.escalations.get().reason == "policy_restriction"
