"""Receivers of monitoring's hooks: escalations and failed runs become handoff tickets; tickets keep
their context when telemetry expires.

Tickets are opened from monitoring.announcements, called after the telemetry is committed, each in
its own savepoint, so a failure here leaves the telemetry stored and the announcement is retried.
They are idempotent: a retried or replayed announcement re-sends the same ids and the unique
constraints on Ticket.escalation / Ticket.run (rule tickets) make the second delivery a no-op.
"""

from __future__ import annotations

from django.dispatch import receiver as signal_receiver

from monitoring.announcements import ESCALATIONS_RECORDED, RUNS_RECORDED, receiver
from monitoring.signals import telemetry_expiring

from . import context, routing


@receiver(ESCALATIONS_RECORDED, "handoffs.open_tickets_for_escalations")
def on_escalations_recorded(escalation_ids: list[int]) -> None:
    context.snapshot(routing.open_tickets_for_escalations(escalation_ids))


@receiver(RUNS_RECORDED, "handoffs.open_tickets_for_runs")
def on_runs_recorded(run_ids: list[int]) -> None:
    context.snapshot(routing.open_tickets_for_runs(run_ids))


# The receiver keeps its first name: deliveries recorded under it stay recognised.
@receiver(RUNS_RECORDED, "handoffs.reattribute_escalation_tickets")
def on_runs_completed(run_ids: list[int]) -> None:
    """A later piece of a trace can show which sub-agent raised an escalation that already has a ticket."""
    context.snapshot(routing.reattribute_tickets(run_ids))


@signal_receiver(telemetry_expiring, dispatch_uid="handoffs.keep_expiring_context")
def on_telemetry_expiring(sender, before, **kwargs):
    """Tickets keep what their agent knew; their run and escalation references are cleared once the
    rows are dropped (the returned callable, see monitoring.signals)."""
    return context.keep_expiring(before)
