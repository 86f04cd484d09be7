"""Factories for handoff tests: telemetry rows as the ingest service would write them, queues,
root causes, and tickets opened through the real signal path."""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from handoffs.models import Queue, RootCause, Ticket
from monitoring.announcements import ESCALATIONS_RECORDED, RUNS_RECORDED
from monitoring.ingest.outbox import notify
from monitoring.models import Escalation, Run, Step
from tests.factories import make_agent
from tests.monitoring.factories import make_top_invocation

_seq = itertools.count(1)


def make_run(agent=None, *, status: str = "ok", quality: float | None = None, session_id: str = "",
             started_at: datetime | None = None, has_escalation: bool = False, **kw) -> Run:
    agent = agent or make_agent()
    started_at = started_at or timezone.now() - timedelta(minutes=5)
    run = Run.objects.create(
        trace_id=secrets.token_hex(16), agent=agent, root_span_id=secrets.token_hex(8), name="invoke_agent",
        session_id=session_id, started_at=started_at, ended_at=started_at + timedelta(seconds=3),
        duration_ms=3000, status=status, quality_score=quality, has_escalation=has_escalation,
        prompt_version=kw.pop("prompt_version", "3"), input_preview=kw.pop("input_preview", "Where is my refund?"),
        output_preview=kw.pop("output_preview", "Let me hand you to a colleague."), **kw,
    )
    make_top_invocation(run)
    return run


def make_step(run: Run, *, kind: str = "tool", name: str = "lookup_order", status: str = "ok",
              error_message: str = "", offset_s: float = 0.5, **kw) -> Step:
    start = run.started_at + timedelta(seconds=offset_s)
    return Step.objects.create(
        run=run, span_id=secrets.token_hex(8), parent_span_id=run.root_span_id,
        agent=run.agent, name=name, kind=kind, tool_name=name if kind == "tool" else "", started_at=start,
        ended_at=start + timedelta(milliseconds=200), duration_ms=200, status=status,
        error_type="ToolError" if status == "error" else "", error_message=error_message, **kw,
    )


def make_escalation(run: Run | None = None, *, reason: str = "refund over limit", priority: str = "",
                    summary: str = "Customer wants a refund above the agent's limit.", agent=None) -> Escalation:
    run = run or make_run(agent, has_escalation=True)
    return Escalation.objects.create(
        run=run, agent=run.agent, trace_id=run.trace_id, span_id=secrets.token_hex(8), reason=reason,
        summary=summary, priority=priority, occurred_at=run.ended_at,
    )


def record_escalations(*escalations: Escalation) -> None:
    """What the outbox delivers after a batch that stored these escalations committed."""
    assert not notify(ESCALATIONS_RECORDED, [e.pk for e in escalations])


def record_runs(*runs: Run) -> None:
    assert not notify(RUNS_RECORDED, [r.pk for r in runs])


def make_queue(name: str | None = None, **kw) -> Queue:
    n = next(_seq)
    name = name or f"Queue {n}"
    agents = kw.pop("agents", [])
    kw.setdefault("slug", name.lower().replace(" ", "-"))
    queue = Queue.objects.create(name=name, **kw)
    if agents:
        queue.agents.set(agents)
    return queue


def make_root_cause(name: str = "Missing knowledge", **kw) -> RootCause:
    kw.setdefault("slug", name.lower().replace(" ", "-"))
    return RootCause.objects.get_or_create(name=name, defaults=kw)[0]


def make_ticket(queue: Queue | None = None, **esc_kw) -> Ticket:
    """An open ticket created the real way: an escalation row plus the signal."""
    if queue is None:
        queue = Queue.objects.filter(is_default=True).first() or make_queue("Default", is_default=True)
    esc = make_escalation(**esc_kw)
    record_escalations(esc)
    return Ticket.objects.get(escalation=esc)
