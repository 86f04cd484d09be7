"""Operations' bulk actions: each ticket fenced by the version the actor saw, like a single action."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handoffs import bulk, services
from handoffs.models import EventKind, Priority, Ticket, TicketStatus
from tests.handoffs.factories import make_queue, make_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    return make_queue("Support", is_default=True, sla_by_priority={"1": [5, 60]})


def test_bulk_cancel_skips_the_ticket_that_changed_and_cancels_the_others(queue, ops_user, reviewer):
    a, b, c = make_ticket(queue), make_ticket(queue), make_ticket(queue)
    seen = [(t.pk, t.version) for t in (a, b, c)]
    services.claim_ticket(b.pk, reviewer, b.version)  # b changes after the list was shown
    result = bulk.bulk_apply(ops_user, "cancel", seen, note="duplicates of an outage")
    assert result.done == [a.pk, c.pk]
    assert [pk for pk, _why in result.skipped] == [b.pk]
    assert "changed since you opened it" in result.skipped[0][1]
    statuses = dict(Ticket.objects.values_list("pk", "status"))
    assert statuses == {a.pk: TicketStatus.CANCELLED, b.pk: TicketStatus.CLAIMED, c.pk: TicketStatus.CANCELLED}


def test_bulk_reassign_gives_tickets_to_a_reviewer(queue, ops_user, reviewer):
    a, b = make_ticket(queue), make_ticket(queue)
    result = bulk.bulk_apply(ops_user, "reassign", [(a.pk, a.version), (b.pk, b.version)], to_user=reviewer)
    assert result.done == [a.pk, b.pk] and not result.skipped
    assert set(Ticket.objects.values_list("assignee__username", flat=True)) == {"rita"}


def test_priority_change_moves_the_deadlines_and_logs_it(queue, ops_user):
    t = make_ticket(queue)
    bulk.set_priority(t.pk, ops_user, t.version, Priority.URGENT, "customer is a bank")
    t.refresh_from_db()
    assert t.priority == Priority.URGENT
    assert t.claim_due_at - t.created_at == timedelta(minutes=5)
    assert t.resolve_due_at - t.created_at == timedelta(minutes=60)
    event = t.events.get(kind=EventKind.PRIORITY)
    assert event.data == {"from": "Normal", "to": "Urgent"} and event.actor == ops_user


def test_priority_change_with_a_stale_version_writes_nothing(queue, ops_user):
    t = make_ticket(queue)
    with pytest.raises(services.TicketConflict):
        bulk.set_priority(t.pk, ops_user, t.version + 1, Priority.URGENT)
    assert Ticket.objects.get(pk=t.pk).priority == Priority.NORMAL
