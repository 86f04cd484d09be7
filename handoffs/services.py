"""Every write to tickets: opening them from telemetry, claims and leases, transitions, housekeeping.

Rules that hold here (and are tested against real Postgres):
- A claim is one conditional UPDATE (``status='open' AND version=v``) whose row count is checked;
  claim-next picks its row with ``FOR UPDATE SKIP LOCKED``. Two reviewers never hold one ticket.
- A reviewer's claims are serialised by locking their user row, so capacity cannot be overrun by
  concurrent requests from the same reviewer.
- Every transition takes the version the actor saw; a mismatch raises ``TicketConflict`` (nothing is
  written) so the page can show the fresh state instead of silently overwriting someone's work.
- Handle time sums the intervals a reviewer actively held the ticket (claimed, not pending); the SLA
  resolve clock stops while pending and its deadline moves by the paused clock time."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from agentops.permissions import REVIEWERS, has_role
from agentops.scoping import scope_q
from handoffs.calculations import clock_seconds_between, due_at
from handoffs.models import (
    HELD_STATUSES,
    EventKind,
    Outcome,
    Queue,
    RootCause,
    Ticket,
    TicketEvent,
    TicketStatus,
    work_order,
)

logger = logging.getLogger(__name__)


User = get_user_model()


class HandoffError(Exception):
    """A request that cannot be carried out; the message is shown to the user as is."""


class TicketConflict(HandoffError):
    """The ticket changed since the actor loaded it (or someone else holds it)."""


class CapacityExceeded(HandoffError):
    pass


def _log(ticket: Ticket, kind: str, actor, from_status: str, *, at: datetime | None = None, note: str = "",
         data: dict | None = None) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket, kind=kind, actor=actor, at=at or timezone.now(), from_status=from_status,
        to_status=ticket.status, note=note, data=data or {},
    )


def _lock(ticket_id: int, version: int) -> Ticket:
    """The ticket locked FOR UPDATE; raises TicketConflict when ``version`` is stale. Needs a transaction."""
    try:
        ticket = Ticket.objects.select_for_update(of=("self",)).select_related("queue").get(pk=ticket_id)
    except Ticket.DoesNotExist:
        raise HandoffError("This ticket does not exist.") from None
    if ticket.version != version:
        raise TicketConflict(
            "This ticket changed since you opened it (someone else acted on it). Here is its current state; "
            "review it and try again."
        )
    return ticket


def _require_holder(ticket: Ticket, user) -> None:
    if ticket.assignee_id != user.pk or ticket.status not in HELD_STATUSES:
        raise HandoffError("Only the reviewer who holds this ticket can do that. Claim it first.")


def _stop_handling(ticket: Ticket, end: datetime) -> None:
    """Close the current handled interval (if one is running) into handle_seconds."""
    if ticket.status == TicketStatus.CLAIMED and ticket.claimed_at is not None:
        ticket.handle_seconds += max((end - ticket.claimed_at).total_seconds(), 0.0)
    ticket.claimed_at = None
    ticket.lease_expires_at = None


def _start_handling(ticket: Ticket, user, now: datetime) -> None:
    ticket.status = TicketStatus.CLAIMED
    ticket.assignee = user
    ticket.claimed_at = now
    ticket.last_activity_at = now
    ticket.lease_expires_at = now + timedelta(minutes=ticket.queue.lease_minutes)
    if ticket.first_claimed_at is None:
        ticket.first_claimed_at = now


def _end_pause(ticket: Ticket, now: datetime) -> None:
    """Add the pending spell to paused time and move the resolve deadline by it."""
    if ticket.paused_at is not None:
        hours = ticket.queue.business_hours
        ticket.paused_seconds += max(clock_seconds_between(ticket.paused_at, now, hours), 0.0)
        ticket.resolve_due_at = due_at(ticket.created_at, ticket.resolve_minutes, ticket.paused_seconds, hours)
    ticket.paused_at = None
    ticket.pending_until = None


def _save(ticket: Ticket) -> None:
    ticket.version += 1
    ticket.save()


def _check_capacity(user, queue: Queue, exclude_ticket: int | None = None) -> None:
    """Precondition: the user's row is locked (serialises this reviewer's concurrent claims)."""
    held = Ticket.objects.filter(assignee=user, queue=queue, status__in=HELD_STATUSES)
    if exclude_ticket is not None:
        held = held.exclude(pk=exclude_ticket)
    if held.count() >= queue.reviewer_capacity:
        raise CapacityExceeded(
            f"{user.get_username()} already holds {queue.reviewer_capacity} tickets in {queue.name}, the most "
            "one reviewer may hold there. Resolve or release one first."
        )


def _lock_user(user) -> None:
    User.objects.select_for_update().filter(pk=user.pk).first()


def claim_ticket(ticket_id: int, user, version: int, now: datetime | None = None) -> Ticket:
    """Claim an open ticket: one conditional UPDATE whose row count decides the single winner."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = Ticket.objects.select_related("queue").filter(pk=ticket_id).first()
        if ticket is None:
            raise HandoffError("This ticket does not exist.")
        _lock_user(user)
        _check_capacity(user, ticket.queue)
        won = Ticket.objects.filter(pk=ticket_id, status=TicketStatus.OPEN, version=version).update(
            status=TicketStatus.CLAIMED, assignee=user, claimed_at=now, last_activity_at=now,
            lease_expires_at=now + timedelta(minutes=ticket.queue.lease_minutes),
            first_claimed_at=Coalesce(F("first_claimed_at"), now), version=F("version") + 1,
        )
        if won != 1:
            raise TicketConflict(_claim_lost_message(ticket_id))
        ticket.refresh_from_db()
        _log(ticket, EventKind.CLAIMED, user, TicketStatus.OPEN, at=now)
    return ticket


def _claim_lost_message(ticket_id: int) -> str:
    current = Ticket.objects.select_related("assignee").filter(pk=ticket_id).first()
    if current is not None and current.status in HELD_STATUSES and current.assignee is not None:
        who = current.assignee.get_full_name() or current.assignee.get_username()
        return f"Ticket #{ticket_id} was already claimed by {who}. Pick another ticket."
    if current is not None and current.status != TicketStatus.OPEN:
        return f"Ticket #{ticket_id} is {current.get_status_display().lower()} and can no longer be claimed."
    return f"Ticket #{ticket_id} changed since you loaded the page. Here is its current state; try again."


def claim_next(user, queue: Queue, now: datetime | None = None) -> Ticket | None:
    """Hand ``user`` the most urgent open ticket of ``queue`` in work order (``models.work_order``:
    priority, then the SLA deadline that applies, then age).

    ``SKIP LOCKED`` lets concurrent callers each take a different row instead of queueing behind
    the same one; None when nothing is open (or every open ticket is being claimed right now). A
    user limited to departments gets only their agents' tickets (agentops.scoping).
    """
    now = now or timezone.now()
    with transaction.atomic():
        _lock_user(user)
        _check_capacity(user, queue)
        ticket = (
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("queue")
            .filter(queue=queue, status=TicketStatus.OPEN)
            .filter(scope_q(user))
            .order_by(*work_order())
            .first()
        )
        if ticket is None:
            return None
        _start_handling(ticket, user, now)
        _save(ticket)
        _log(ticket, EventKind.CLAIMED, user, TicketStatus.OPEN, at=now, data={"via": "claim next"})
    return ticket


def _let_go(ticket: Ticket, status: str, kind: str, actor, now: datetime, note: str) -> None:
    """Nobody holds the ticket any more (released or cancelled): stop its clocks, record who did it.
    Precondition: the ticket row is locked (``_lock``)."""
    before = ticket.status
    _end_pause(ticket, now)
    _stop_handling(ticket, now)
    ticket.status, ticket.assignee = status, None
    _save(ticket)
    _log(ticket, kind, actor, before, at=now, note=note)


def release_ticket(ticket_id: int, user, version: int, note: str = "", now: datetime | None = None) -> Ticket:
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        _require_holder(ticket, user)
        _let_go(ticket, TicketStatus.OPEN, EventKind.RELEASED, user, now, note)
    return ticket


def renew_lease(ticket_id: int, user, version: int, now: datetime | None = None) -> Ticket:
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        _require_holder(ticket, user)
        if ticket.status != TicketStatus.CLAIMED:
            raise HandoffError("Only a claimed (not pending) ticket has a lease to renew.")
        ticket.last_activity_at = now
        ticket.lease_expires_at = now + timedelta(minutes=ticket.queue.lease_minutes)
        _save(ticket)
        _log(ticket, EventKind.LEASE_RENEWED, user, ticket.status, at=now,
             data={"until": ticket.lease_expires_at.isoformat()})
    return ticket


def set_pending(ticket_id: int, user, version: int, until: datetime, note: str = "",
                now: datetime | None = None) -> Ticket:
    """Park a claimed ticket until ``until`` (waiting on a customer, say): the SLA clock stops."""
    now = now or timezone.now()
    if until <= now:
        raise HandoffError("The wake-up time must be in the future.")
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        _require_holder(ticket, user)
        if ticket.status != TicketStatus.CLAIMED:
            raise HandoffError("Only a claimed ticket can be set pending.")
        _stop_handling(ticket, now)
        ticket.status, ticket.paused_at, ticket.pending_until = TicketStatus.PENDING, now, until
        _save(ticket)
        _log(ticket, EventKind.PENDING, user, TicketStatus.CLAIMED, at=now, note=note,
             data={"until": until.isoformat()})
    return ticket


def _wake(ticket: Ticket, actor, now: datetime) -> None:
    _end_pause(ticket, now)
    _start_handling(ticket, ticket.assignee, now)
    _save(ticket)
    _log(ticket, EventKind.WOKE, actor, TicketStatus.PENDING, at=now)


def resume_ticket(ticket_id: int, user, version: int, now: datetime | None = None) -> Ticket:
    """The holder picks a pending ticket up again before its wake-up time."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        _require_holder(ticket, user)
        if ticket.status != TicketStatus.PENDING:
            raise HandoffError("This ticket is not pending.")
        _wake(ticket, user, now)
    return ticket


def add_note(ticket_id: int, user, version: int, text: str, now: datetime | None = None) -> Ticket:
    now = now or timezone.now()
    if not text.strip():
        raise HandoffError("A note needs some text.")
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        if ticket.status == TicketStatus.CLAIMED and ticket.assignee_id == user.pk:
            ticket.last_activity_at = now  # working on the ticket renews the lease
            ticket.lease_expires_at = now + timedelta(minutes=ticket.queue.lease_minutes)
        _save(ticket)
        _log(ticket, EventKind.NOTE, user, ticket.status, at=now, note=text.strip())
    return ticket


def resolve_ticket(ticket_id: int, user, version: int, *, outcome: str, root_cause: RootCause | None,
                   corrected_answer: str = "", note: str = "", now: datetime | None = None) -> Ticket:
    now = now or timezone.now()
    if outcome not in Outcome.values:
        raise HandoffError("Choose an outcome.")
    if root_cause is None or not root_cause.is_active:
        raise HandoffError("Choose a root cause from the taxonomy.")
    if outcome == Outcome.CORRECTED_AGENT_ANSWER and not corrected_answer.strip():
        raise HandoffError("A corrected agent answer needs the corrected text.")
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        _require_holder(ticket, user)
        before = ticket.status
        _end_pause(ticket, now)
        _stop_handling(ticket, now)
        ticket.status = TicketStatus.RESOLVED
        ticket.resolved_at, ticket.resolved_by = now, user
        ticket.outcome, ticket.root_cause = outcome, root_cause
        ticket.corrected_answer, ticket.resolution_note = corrected_answer.strip(), note.strip()
        _save(ticket)
        _log(ticket, EventKind.RESOLVED, user, before, at=now, note=note.strip(),
             data={"outcome": outcome, "root_cause": root_cause.slug, "handle_seconds": round(ticket.handle_seconds)})
    return ticket


def reopen_ticket(ticket_id: int, user, version: int, note: str = "", now: datetime | None = None) -> Ticket:
    """Back to the queue within the queue's reopen window; a fresh resolve deadline starts now."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        if not ticket.can_reopen(now):
            raise HandoffError(
                f"Only resolved tickets can be reopened, within {ticket.queue.reopen_days} days of resolution."
            )
        before = ticket.status
        previous = {"outcome": ticket.outcome, "root_cause": ticket.root_cause.slug if ticket.root_cause else "",
                    "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else ""}
        ticket.status, ticket.assignee = TicketStatus.OPEN, None
        ticket.resolved_at = ticket.resolved_by = ticket.root_cause = ticket.closed_at = None
        ticket.outcome = ""
        ticket.reopen_count += 1
        ticket.resolve_due_at = due_at(now, ticket.resolve_minutes, 0, ticket.queue.business_hours)
        _save(ticket)
        _log(ticket, EventKind.REOPENED, user, before, at=now, note=note, data=previous)
    return ticket


def reassign_ticket(ticket_id: int, actor, version: int, to_user=None, note: str = "",
                    now: datetime | None = None) -> Ticket:
    """Operations hands an active ticket to another reviewer, or back to the queue (``to_user`` None)."""
    now = now or timezone.now()
    if to_user is not None and not has_role(to_user, REVIEWERS):
        raise HandoffError(f"{to_user.get_username()} is not a reviewer.")
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        if not ticket.is_active:
            raise HandoffError("Only open, claimed or pending tickets can be reassigned.")
        if to_user is not None and to_user.pk == ticket.assignee_id:
            raise HandoffError("The ticket is already assigned to that reviewer.")
        before, previous = ticket.status, ticket.assignee
        if to_user is not None:
            _lock_user(to_user)
            _check_capacity(to_user, ticket.queue, exclude_ticket=ticket.pk)
        _stop_handling(ticket, now)
        if to_user is None:
            _end_pause(ticket, now)
            ticket.status, ticket.assignee = TicketStatus.OPEN, None
        elif before == TicketStatus.PENDING:
            ticket.assignee = to_user  # stays parked; the new holder takes it when it wakes
        else:
            _start_handling(ticket, to_user, now)
        _save(ticket)
        _log(ticket, EventKind.REASSIGNED, actor, before, at=now, note=note, data={
            "from": previous.get_username() if previous else "",
            "to": to_user.get_username() if to_user else "",
        })
    return ticket


def cancel_ticket(ticket_id: int, actor, version: int, note: str = "", now: datetime | None = None) -> Ticket:
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket_id, version)
        if not ticket.is_active:
            raise HandoffError("Only open, claimed or pending tickets can be cancelled.")
        _let_go(ticket, TicketStatus.CANCELLED, EventKind.CANCELLED, actor, now, note)
    return ticket


_SWEEP_BATCH = 200


def expire_leases(now: datetime | None = None) -> int:
    """Return claims whose lease ran out to the queue. Handle time counts up to the last activity,
    not to the expiry: an abandoned claim is not work."""
    now = now or timezone.now()
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("assignee")
            .filter(status=TicketStatus.CLAIMED, lease_expires_at__lte=now)
            .order_by("lease_expires_at")[:_SWEEP_BATCH]
        )
        events = []
        for ticket in tickets:
            holder = ticket.assignee
            _stop_handling(ticket, ticket.last_activity_at or now)
            ticket.status, ticket.assignee, ticket.version = TicketStatus.OPEN, None, ticket.version + 1
            events.append(TicketEvent(
                ticket=ticket, kind=EventKind.LEASE_EXPIRED, actor=None, at=now, from_status=TicketStatus.CLAIMED,
                to_status=TicketStatus.OPEN, data={"reviewer": holder.get_username() if holder else ""},
            ))
        Ticket.objects.bulk_update(
            tickets, ["status", "assignee", "version", "handle_seconds", "claimed_at", "lease_expires_at"]
        )
        TicketEvent.objects.bulk_create(events)
    if tickets:
        logger.info("returned %d expired claims to their queues", len(tickets))
    return len(tickets)


def wake_pending_tickets(now: datetime | None = None) -> int:
    """Pending tickets whose wake-up time has come go back to their holder as claimed (with a fresh
    lease: if the holder is away, the lease runs out and the ticket returns to the queue)."""
    now = now or timezone.now()
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("queue", "assignee")
            .filter(status=TicketStatus.PENDING, pending_until__lte=now)
            .order_by("pending_until")[:_SWEEP_BATCH]
        )
        for ticket in tickets:
            _wake(ticket, None, now)
    return len(tickets)


def close_resolved_tickets(now: datetime | None = None) -> int:
    """Resolved tickets past their queue's reopen window become closed (final)."""
    now = now or timezone.now()
    closed = 0
    with transaction.atomic():
        tickets = (
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("queue")
            .filter(status=TicketStatus.RESOLVED, resolved_at__isnull=False)
            .order_by("resolved_at")[: _SWEEP_BATCH * 5]
        )
        for ticket in tickets:
            if ticket.resolved_at + timedelta(days=ticket.queue.reopen_days) > now:
                continue
            ticket.status, ticket.closed_at = TicketStatus.CLOSED, now
            _save(ticket)
            _log(ticket, EventKind.CLOSED, None, TicketStatus.RESOLVED, at=now)
            closed += 1
    return closed
