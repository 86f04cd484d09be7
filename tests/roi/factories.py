"""ROI test data: ledger rows through the real service, finished tickets with handling times."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from decimal import Decimal

from handoffs.models import Outcome, Ticket, TicketStatus
from monitoring.models import Run
from roi.models import AssumptionKind, AssumptionRow
from roi.services import AssumptionChange, record_assumption
from tests.handoffs.factories import make_queue, make_root_cause
from tests.monitoring.factories import make_top_invocation


def assume(user, kind: str, base: str, *, frm: date = date(2020, 1, 1), low: str | None = None,
           high: str | None = None, reason: str = "test figure", **scope) -> AssumptionRow:
    change = AssumptionChange(
        kind=kind, value_base=Decimal(base), effective_from=frm, reason=reason,
        value_low=Decimal(low) if low else None, value_high=Decimal(high) if high else None, **scope,
    )
    return record_assumption(change, user)


def standard_ledger(user, department, *agents) -> None:
    """USD 60/h for the department, recapture 1, 6 baseline minutes per agent: 1 automated run = 6 USD."""
    assume(user, AssumptionKind.HOURLY_COST, "60", department=department, currency="USD")
    assume(user, AssumptionKind.RECAPTURE, "1")
    for agent in agents:
        assume(user, AssumptionKind.BASELINE_MINUTES, "6", agent=agent)


def make_run(agent, started_at: datetime, *, cost: str = "0.010000", status: str = "ok",
             has_escalation: bool = False) -> Run:
    run = Run.objects.create(
        trace_id=secrets.token_hex(16), agent=agent, started_at=started_at,
        ended_at=started_at + timedelta(seconds=2), duration_ms=2000, status=status,
        cost=Decimal(cost), has_escalation=has_escalation,
    )
    make_top_invocation(run)  # a run of one agent: its own cost is the run's
    return run


def make_finished_ticket(agent, resolved_at: datetime, handle_seconds: float, *, run: Run | None = None,
                         status: str = TicketStatus.CLOSED, reopen_count: int = 0) -> Ticket:
    created = resolved_at - timedelta(hours=1)
    return Ticket.objects.create(
        queue=make_queue(), agent=agent, run=run, status=status, created_at=created,
        claim_due_at=created + timedelta(minutes=30), resolve_due_at=created + timedelta(hours=4),
        handle_seconds=handle_seconds, resolved_at=resolved_at,
        closed_at=resolved_at if status == TicketStatus.CLOSED else None,
        outcome=Outcome.RESOLVED_BY_HUMAN, root_cause=make_root_cause(), reopen_count=reopen_count,
    )
