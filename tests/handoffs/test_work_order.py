"""Claim-next and the queue page share one work order: priority, then the SLA deadline that applies
now, then age. SLA targets can differ per priority within a queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from handoffs import queries, services
from handoffs.models import Priority, Ticket
from tests.handoffs.factories import make_queue, make_ticket

pytestmark = pytest.mark.django_db


def _ticket(queue, priority: int, *, age_minutes: int, due_in_minutes: int) -> Ticket:
    now = timezone.now()
    t = make_ticket(queue)
    Ticket.objects.filter(pk=t.pk).update(
        priority=priority, created_at=now - timedelta(minutes=age_minutes),
        claim_due_at=now + timedelta(minutes=due_in_minutes),
    )
    return Ticket.objects.get(pk=t.pk)


def test_claim_next_takes_urgent_before_a_more_overdue_high_ticket(reviewer):
    queue = make_queue("Support", is_default=True)
    high = _ticket(queue, Priority.HIGH, age_minutes=300, due_in_minutes=-240)  # overdue for 4 h
    urgent = _ticket(queue, Priority.URGENT, age_minutes=20, due_in_minutes=-5)  # overdue for 5 min
    assert services.claim_next(reviewer, queue).pk == urgent.pk
    assert services.claim_next(reviewer, queue).pk == high.pk


def test_within_a_priority_the_earlier_sla_deadline_comes_first(reviewer):
    queue = make_queue("Support", is_default=True)
    later = _ticket(queue, Priority.NORMAL, age_minutes=60, due_in_minutes=30)
    sooner = _ticket(queue, Priority.NORMAL, age_minutes=10, due_in_minutes=5)
    assert [t.pk for t in queries.queue_tickets(queue, queries.TicketFilters()).tickets] == [sooner.pk, later.pk]
    assert services.claim_next(reviewer, queue).pk == sooner.pk


def test_with_equal_priority_and_deadline_the_oldest_comes_first(reviewer):
    queue = make_queue("Support", is_default=True)
    young = _ticket(queue, Priority.NORMAL, age_minutes=5, due_in_minutes=10)
    old = _ticket(queue, Priority.NORMAL, age_minutes=50, due_in_minutes=10)
    Ticket.objects.filter(pk=young.pk).update(claim_due_at=old.claim_due_at)
    assert services.claim_next(reviewer, queue).pk == old.pk


def test_a_released_ticket_is_ordered_by_its_resolve_deadline(reviewer, reviewer2):
    queue = make_queue("Support", is_default=True)
    released = _ticket(queue, Priority.NORMAL, age_minutes=30, due_in_minutes=-20)
    services.claim_ticket(released.pk, reviewer2, released.version)
    released = Ticket.objects.get(pk=released.pk)
    services.release_ticket(released.pk, reviewer2, released.version)
    Ticket.objects.filter(pk=released.pk).update(resolve_due_at=timezone.now() + timedelta(hours=3))
    fresh = _ticket(queue, Priority.NORMAL, age_minutes=1, due_in_minutes=20)
    # The claim deadline of the released ticket no longer applies: its resolve deadline (3 h) does.
    assert services.claim_next(reviewer, queue).pk == fresh.pk


def test_sla_targets_per_priority_set_the_deadlines():
    queue = make_queue("Support", is_default=True, sla_claim_minutes=30, sla_resolve_minutes=240,
                       sla_by_priority={"1": [5, 60]}, reason_priorities={"outage": 1})
    urgent = make_ticket(queue, reason="outage")
    normal = make_ticket(queue, reason="question")
    assert urgent.priority == Priority.URGENT
    assert urgent.claim_due_at - urgent.created_at == timedelta(minutes=5)
    assert urgent.resolve_due_at - urgent.created_at == timedelta(minutes=60)
    assert normal.claim_due_at - normal.created_at == timedelta(minutes=30)
    assert normal.resolve_due_at - normal.created_at == timedelta(minutes=240)
