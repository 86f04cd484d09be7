"""Ticket transitions: claims, leases, versions, capacity, pending clock, handle time, event log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from handoffs import routing, services
from handoffs.models import EventKind, Outcome, Ticket, TicketStatus
from handoffs.services import CapacityExceeded, HandoffError, TicketConflict
from tests.handoffs.factories import make_queue, make_root_cause, make_ticket

pytestmark = pytest.mark.django_db

# Tickets are created 'now' by the factories; actions happen just after, on explicit clocks.
T0 = timezone.now().replace(microsecond=0) + timedelta(minutes=1)


@pytest.fixture
def queue():
    return make_queue("Support", is_default=True, lease_minutes=15, reviewer_capacity=2)


@pytest.fixture
def cause():
    return make_root_cause("Missing knowledge")


def _claimed(ticket, user, at=T0):
    return services.claim_ticket(ticket.pk, user, ticket.version, now=at)


def test_claim_assigns_starts_lease_and_bumps_version(queue, reviewer):
    t = make_ticket(queue)
    claimed = _claimed(t, reviewer)
    assert (claimed.status, claimed.assignee, claimed.version) == (TicketStatus.CLAIMED, reviewer, t.version + 1)
    assert claimed.lease_expires_at == T0 + timedelta(minutes=15)
    assert claimed.first_claimed_at == T0


def test_second_claim_fails_naming_the_holder(queue, reviewer, reviewer2):
    t = make_ticket(queue)
    _claimed(t, reviewer)
    with pytest.raises(TicketConflict, match="already claimed by Rita"):
        services.claim_ticket(t.pk, reviewer2, t.version)


def test_stale_version_write_is_rejected_without_change(queue, reviewer):
    t = make_ticket(queue)
    fresh = _claimed(t, reviewer)
    with pytest.raises(TicketConflict, match="changed since you opened it"):
        services.add_note(t.pk, reviewer, t.version, "stale page")
    assert Ticket.objects.get(pk=t.pk).version == fresh.version


def test_capacity_limits_claims_per_reviewer(queue, reviewer):
    tickets = [make_ticket(queue) for _ in range(3)]
    for t in tickets[:2]:
        _claimed(t, reviewer)
    with pytest.raises(CapacityExceeded, match="most one reviewer may hold"):
        _claimed(tickets[2], reviewer)


def test_claim_next_takes_earliest_due_then_priority(queue, reviewer):
    later = make_ticket(queue)
    urgent = make_ticket(queue, priority="urgent")
    Ticket.objects.filter(pk=later.pk).update(claim_due_at=urgent.claim_due_at + timedelta(minutes=5))
    Ticket.objects.filter(pk=urgent.pk).update(claim_due_at=urgent.claim_due_at)
    assert services.claim_next(reviewer, queue).pk == urgent.pk


def test_claim_next_returns_none_on_empty_queue(queue, reviewer):
    assert services.claim_next(reviewer, queue) is None


def test_only_the_holder_can_resolve(queue, reviewer, reviewer2, cause):
    t = _claimed(make_ticket(queue), reviewer)
    with pytest.raises(HandoffError, match="Only the reviewer who holds"):
        services.resolve_ticket(t.pk, reviewer2, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause)


def test_resolve_requires_outcome_and_root_cause(queue, reviewer, cause):
    t = _claimed(make_ticket(queue), reviewer)
    with pytest.raises(HandoffError, match="outcome"):
        services.resolve_ticket(t.pk, reviewer, t.version, outcome="", root_cause=cause)
    with pytest.raises(HandoffError, match="root cause"):
        services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=None)


def test_corrected_answer_outcome_requires_text(queue, reviewer, cause):
    t = _claimed(make_ticket(queue), reviewer)
    with pytest.raises(HandoffError, match="corrected text"):
        services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.CORRECTED_AGENT_ANSWER, root_cause=cause)


def test_handle_time_sums_claimed_intervals_not_wall_time(queue, reviewer, reviewer2, cause):
    t = _claimed(make_ticket(queue), reviewer, T0)
    t = services.release_ticket(t.pk, reviewer, t.version, now=T0 + timedelta(minutes=4))
    # An hour in the queue does not count.
    t = services.claim_ticket(t.pk, reviewer2, t.version, now=T0 + timedelta(minutes=64))
    t = services.resolve_ticket(t.pk, reviewer2, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause,
                                now=T0 + timedelta(minutes=70))
    assert t.handle_seconds == 10 * 60
    assert t.resolved_at == T0 + timedelta(minutes=70)


def test_pending_pauses_sla_and_handle_clock(queue, reviewer, cause):
    t = _claimed(make_ticket(queue), reviewer, T0)
    due_before = t.resolve_due_at
    t = services.set_pending(t.pk, reviewer, t.version, until=T0 + timedelta(hours=2), now=T0 + timedelta(minutes=5))
    t = services.resume_ticket(t.pk, reviewer, t.version, now=T0 + timedelta(minutes=65))
    assert t.paused_seconds == 3600
    assert t.resolve_due_at == due_before + timedelta(hours=1)
    t = services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.NO_ACTION_NEEDED, root_cause=cause,
                                now=T0 + timedelta(minutes=70))
    assert t.handle_seconds == 10 * 60


def test_pending_needs_a_future_wake_up_time(queue, reviewer):
    t = _claimed(make_ticket(queue), reviewer, T0)
    with pytest.raises(HandoffError, match="future"):
        services.set_pending(t.pk, reviewer, t.version, until=T0, now=T0)


def test_wake_task_returns_due_pending_tickets_to_their_holder(queue, reviewer):
    t = _claimed(make_ticket(queue), reviewer, T0)
    services.set_pending(t.pk, reviewer, t.version, until=T0 + timedelta(minutes=30), now=T0)
    assert services.wake_pending_tickets(now=T0 + timedelta(minutes=29)) == 0
    assert services.wake_pending_tickets(now=T0 + timedelta(minutes=31)) == 1
    t.refresh_from_db()
    assert (t.status, t.assignee) == (TicketStatus.CLAIMED, reviewer)
    assert t.events.filter(kind=EventKind.WOKE, actor__isnull=True).exists()


def test_expired_lease_returns_ticket_to_queue_counting_until_last_activity(queue, reviewer):
    t = _claimed(make_ticket(queue), reviewer, T0)
    services.add_note(t.pk, reviewer, t.version, "looking", now=T0 + timedelta(minutes=3))  # renews the lease
    assert services.expire_leases(now=T0 + timedelta(minutes=17)) == 0
    assert services.expire_leases(now=T0 + timedelta(minutes=19)) == 1
    t.refresh_from_db()
    assert (t.status, t.assignee, t.handle_seconds) == (TicketStatus.OPEN, None, 180)
    assert t.events.get(kind=EventKind.LEASE_EXPIRED).data == {"reviewer": "rita"}


def test_reopen_within_window_counts_and_clears_resolution(queue, reviewer, ops_user, cause):
    t = _claimed(make_ticket(queue), reviewer, T0)
    t = services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause, now=T0)
    t = services.reopen_ticket(t.pk, ops_user, t.version, note="customer wrote back", now=T0 + timedelta(days=2))
    assert (t.status, t.reopen_count, t.outcome, t.resolved_at) == (TicketStatus.OPEN, 1, "", None)


def test_reopen_after_window_is_refused(queue, reviewer, cause):
    t = _claimed(make_ticket(queue), reviewer, T0)
    t = services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause, now=T0)
    with pytest.raises(HandoffError, match="within 7 days"):
        services.reopen_ticket(t.pk, reviewer, t.version, now=T0 + timedelta(days=8))


def test_close_task_closes_resolved_tickets_after_reopen_window(queue, reviewer, cause):
    t = _claimed(make_ticket(queue), reviewer, T0)
    services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause, now=T0)
    assert services.close_resolved_tickets(now=T0 + timedelta(days=6)) == 0
    assert services.close_resolved_tickets(now=T0 + timedelta(days=8)) == 1
    assert Ticket.objects.get(pk=t.pk).status == TicketStatus.CLOSED


def test_reassign_moves_claim_to_other_reviewer(queue, reviewer, reviewer2, ops_user):
    t = _claimed(make_ticket(queue), reviewer, T0)
    t = services.reassign_ticket(t.pk, ops_user, t.version, to_user=reviewer2, now=T0 + timedelta(minutes=2))
    assert (t.status, t.assignee, t.handle_seconds) == (TicketStatus.CLAIMED, reviewer2, 120)
    assert t.events.get(kind=EventKind.REASSIGNED).data == {"from": "rita", "to": "ravi"}


def test_reassign_to_non_reviewer_is_refused(queue, reviewer, finance_user, ops_user):
    t = _claimed(make_ticket(queue), reviewer)
    with pytest.raises(HandoffError, match="not a reviewer"):
        services.reassign_ticket(t.pk, ops_user, t.version, to_user=finance_user)


def test_every_transition_lands_in_the_event_log(queue, reviewer, cause):
    t = make_ticket(queue)
    start = max(T0, t.created_at + timedelta(seconds=1))  # after the handoff, however long the suite has run
    t = _claimed(t, reviewer, start)
    t = services.add_note(t.pk, reviewer, t.version, "called customer", now=start + timedelta(minutes=1))
    t = services.resolve_ticket(t.pk, reviewer, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause,
                                now=start + timedelta(minutes=2))
    kinds = list(t.events.order_by("at", "id").values_list("kind", "to_status"))
    assert kinds[1:] == [("claimed", "claimed"), ("note", "claimed"), ("resolved", "resolved")]
    assert kinds[0] == ("created", "open")


def test_events_are_append_only(queue):
    event = make_ticket(queue).events.get()
    event.note = "rewritten"
    with pytest.raises(Exception, match="append-only"):
        event.save()
    with pytest.raises(Exception, match="append-only"):
        event.delete()


def test_cancel_by_operations_ends_the_clock(queue, reviewer, ops_user):
    t = _claimed(make_ticket(queue), reviewer, T0)
    t = services.cancel_ticket(t.pk, ops_user, t.version, note="spam", now=T0 + timedelta(minutes=1))
    assert (t.status, t.assignee, t.handle_seconds) == (TicketStatus.CANCELLED, None, 60)


def test_reroute_moves_unclaimed_tickets_with_new_deadlines_and_logs_it(reviewer):
    from tests.factories import make_agent

    agent = make_agent("IT bot")
    fallback = make_queue("Fallback", is_default=True, sla_claim_minutes=30)
    waiting, held = make_ticket(fallback, agent=agent), make_ticket(fallback, agent=agent)
    services.claim_ticket(held.pk, reviewer, held.version)
    it = make_queue("IT", agents=[agent], sla_claim_minutes=5, position=1)

    assert routing.reroute_unclaimed_tickets(fallback) == 1
    waiting.refresh_from_db()
    assert waiting.queue == it
    assert waiting.claim_due_at == waiting.created_at + timedelta(minutes=5)
    assert waiting.events.get(kind=EventKind.REASSIGNED).data == {"from_queue": "Fallback", "to_queue": "IT"}
    assert Ticket.objects.get(pk=held.pk).queue == fallback


def test_database_refuses_to_update_events(queue):
    from django.db import DatabaseError, transaction

    event = make_ticket(queue).events.get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        type(event).objects.filter(pk=event.pk).update(note="rewritten")
