"""Receivers of monitoring.signals: escalations and failed runs become handoff tickets.

Both run inside the ingest batch's transaction, so tickets commit (or roll back) with the batch.
They are idempotent: a replayed batch re-sends the same ids and the unique constraints on
Ticket.escalation / Ticket.run (rule tickets) make the second delivery a no-op.
"""

from __future__ import annotations

from django.dispatch import receiver

from monitoring.signals import escalations_recorded, runs_recorded, telemetry_expiring

from . import context, services


@receiver(escalations_recorded, dispatch_uid="handoffs.open_tickets_for_escalations")
def on_escalations_recorded(sender, escalation_ids: list[int], **kwargs) -> None:
    context.snapshot(services.open_tickets_for_escalations(escalation_ids))


@receiver(runs_recorded, dispatch_uid="handoffs.open_tickets_for_runs")
def on_runs_recorded(sender, run_ids: list[int], **kwargs) -> None:
    context.snapshot(services.open_tickets_for_runs(run_ids))


@receiver(telemetry_expiring, dispatch_uid="handoffs.keep_expiring_context")
def on_telemetry_expiring(sender, before, **kwargs):
    """Tickets keep what their agent knew; their run and escalation references are cleared once the
    rows are dropped (the returned callable, see monitoring.signals)."""
    return context.keep_expiring(before)
