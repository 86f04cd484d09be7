"""Failure fingerprints: equal failures group together, different ones stay apart (pure, no DB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.ingest.fingerprint import (
    failure_signature,
    fingerprint_run,
    first_failed_step,
    normalise_message,
)
from monitoring.models import Run, Step

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _run(status: str = "error", escalated: bool = False, agent_id: int = 1, error_type: str = "") -> Run:
    return Run(trace_id="t", agent_id=agent_id, status=status, has_escalation=escalated, error_type=error_type,
               started_at=T0, ended_at=T0 + timedelta(seconds=5))


def _step(span: str, parent: str = "", *, kind: str = "tool", name: str = "call", tool: str = "",
          status: str = "ok", error_type: str = "", message: str = "", end: int = 1, agent_id: int = 1,
          events: list | None = None) -> Step:
    return Step(span_id=span, parent_span_id=parent, kind=kind, name=name, tool_name=tool,
                status=status, error_type=error_type, error_message=message, agent_id=agent_id,
                started_at=T0, ended_at=T0 + timedelta(seconds=end), events=events or [])


def _failing(tool: str = "crm.lookup", error_type: str = "TimeoutError", message: str = "timed out", agent_id=1):
    return [_step("a", kind="agent", name="invoke_agent", status="error", end=4, agent_id=agent_id),
            _step("b", "a", tool=tool, name=f"execute_tool {tool}", status="error", error_type=error_type,
                  message=message, end=2, agent_id=agent_id)]


SAME = [
    ("order ids", "Order ORD-88121 not found", "Order ORD-10 not found"),
    ("numbers", "timed out after 30s (attempt 3)", "timed out after 12s (attempt 1)"),
    ("uuids", "session 3f2b8a1c-9d4e-4f6a-8b7c-1d2e3f4a5b6c expired", "session 00000000-1111-2222-3333-444444444444 expired"),
    ("hex", "blob deadbeef42 missing", "blob 0a1b2c3d4e5f missing"),
    ("emails", "no account for jane.doe@example.com", "no account for bob+x@corp.co.uk"),
    ("quoted", "invalid value 'blue' for field", "invalid value 'green' for field"),
    ("urls", "GET https://api.x.com/v1/orders/77 failed", "GET http://api.x.com/v1/orders/1?a=b failed"),
    ("whitespace and case", "Rate  limit\nexceeded", "rate limit exceeded"),
]


@pytest.mark.parametrize(("label", "first", "second"), SAME, ids=[s[0] for s in SAME])
def test_messages_differing_only_in_case_specific_values_share_a_fingerprint(label, first, second):
    assert fingerprint_run(_run(), _failing(message=first)) == fingerprint_run(_run(), _failing(message=second))


DIFFERENT = [
    ("tool", dict(tool="crm.lookup"), dict(tool="billing.refund")),
    ("error type", dict(error_type="TimeoutError"), dict(error_type="PermissionError")),
    ("message", dict(message="rate limit exceeded"), dict(message="invalid api key")),
    ("agent", dict(agent_id=1), dict(agent_id=2)),
]


@pytest.mark.parametrize(("label", "first", "second"), DIFFERENT, ids=[d[0] for d in DIFFERENT])
def test_different_failures_get_different_fingerprints(label, first, second):
    assert fingerprint_run(_run(), _failing(**first)) != fingerprint_run(_run(), _failing(**second))


def test_good_run_has_no_fingerprint():
    assert fingerprint_run(_run(status="ok"), [_step("a")]) == ""


def test_fingerprint_is_a_sha1_hex_digest():
    fp = fingerprint_run(_run(), _failing())
    assert len(fp) == 40 and int(fp, 16) >= 0


def test_first_failed_step_is_the_earliest_ending_error_span():
    steps = [_step("root", kind="agent", status="error", end=9),
             _step("late", "root", status="error", end=7),
             _step("early", "root", status="error", end=3),
             _step("fine", "root", end=1)]
    assert first_failed_step(steps).span_id == "early"


def test_failure_in_a_sub_agent_is_attributed_to_that_agent():
    steps = [_step("a", kind="agent", status="error", end=9, agent_id=1),
             _step("b", "a", kind="agent", status="error", end=6, agent_id=2),
             _step("c", "b", tool="kb.search", status="error", error_type="IOError", end=4, agent_id=2)]
    assert failure_signature(_run(agent_id=1), steps).agent_id == 2


def test_escalated_run_without_error_is_fingerprinted_by_escalation_reason():
    def steps(reason):
        event = {"name": "agentops.escalation", "attributes": {"agentops.escalation.reason": reason}}
        return [_step("a", kind="agent", name="invoke_agent", events=[event])]

    refund = fingerprint_run(_run(status="ok", escalated=True), steps("refund over 500 EUR"))
    assert refund == fingerprint_run(_run(status="ok", escalated=True), steps("refund over 90 EUR"))
    assert refund != fingerprint_run(_run(status="ok", escalated=True), steps("customer asked for a human"))


def test_errored_run_without_error_steps_falls_back_to_run_error_type():
    sig = failure_signature(_run(error_type="Crash"), [_step("a")])
    assert (sig.kind, sig.error_type) == ("run", "Crash")


def test_normalise_message_keeps_words_and_replaces_values():
    assert normalise_message("Refund 42.50 for ORD-991 by ann@x.io") == "refund <n> for ord-<id> by <email>"
