"""Operations' writes on many tickets at once (reassign, cancel, change priority) and the single
priority change they share with the ticket page. Each ticket is fenced by the version the actor saw
and written in its own transaction, exactly like a single action (``handoffs.services``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .calculations import due_at
from .models import EventKind, Priority, Ticket
from .services import HandoffError, _lock, _log, _save, cancel_ticket, reassign_ticket


def set_priority(ticket_id: int, actor, version: int, priority: int, note: str = "",
                 now: datetime | None = None) -> Ticket:
    """Operations changes an active ticket's priority; its SLA deadlines follow the queue's targets
    for the new priority, counted from the handoff (plus paused time). A reopened ticket keeps its
    resolve deadline (that clock restarted at the reopen)."""
    now = now or timezone.now()
    if priority not in Priority.values:
        raise HandoffError("Choose a priority.")
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        if not ticket.is_active:
            raise HandoffError("Only open, claimed or pending tickets can change priority.")
        if ticket.priority == priority:
            raise HandoffError(f"Ticket #{ticket.pk} already has priority {ticket.get_priority_display()}.")
        before = ticket.get_priority_display()
        ticket.priority = priority
        claim, resolve = ticket.queue.sla_minutes(priority)
        hours = ticket.queue.business_hours
        ticket.claim_due_at = due_at(ticket.created_at, claim, 0, hours)
        if not ticket.reopen_count:
            ticket.resolve_due_at = due_at(ticket.created_at, resolve, ticket.paused_seconds, hours)
        _save(ticket)
        _log(ticket, EventKind.PRIORITY, actor, ticket.status, at=now, note=note,
             data={"from": before, "to": ticket.get_priority_display()})
    return ticket


BULK_ACTIONS = ("reassign", "cancel", "priority")


@dataclass
class BulkResult:
    done: list[int]
    skipped: list[tuple[int, str]]  # (ticket id, why), e.g. changed since the list was loaded


def bulk_apply(actor, action: str, items: Iterable[tuple[int, int]], *, to_user=None, priority: int | None = None,
               note: str = "") -> BulkResult:
    """Apply one operations action to many tickets, each with the version the actor saw: every ticket
    is fenced and written on its own (its own transaction), exactly as the single action would be, so
    a ticket that changed meanwhile is skipped with the reason and the others go through."""
    if action not in BULK_ACTIONS:
        raise HandoffError(f"Unknown bulk action {action!r}.")
    result = BulkResult(done=[], skipped=[])
    for ticket_id, version in items:
        try:
            if action == "reassign":
                reassign_ticket(ticket_id, actor, version, to_user, note)
            elif action == "cancel":
                cancel_ticket(ticket_id, actor, version, note)
            else:
                set_priority(ticket_id, actor, version, priority, note)
        except HandoffError as exc:
            result.skipped.append((ticket_id, str(exc)))
        else:
            result.done.append(ticket_id)
    return result
