"""Claims under real concurrency: separate connections, fired together through a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from django.db import connections

from agentops.models import ROLE_REVIEWERS
from handoffs import services
from handoffs.models import EventKind, Ticket, TicketStatus
from handoffs.services import HandoffError
from tests.handoffs.factories import make_queue, make_ticket

pytestmark = pytest.mark.django_db(transaction=True)

N = 20


def _reviewers(n: int) -> list[User]:
    # transactional_db flushes tables between tests, including the groups the roles migration made.
    group, _ = Group.objects.get_or_create(name=ROLE_REVIEWERS)
    users = User.objects.bulk_create([User(username=f"rev{i}") for i in range(n)])
    group.user_set.add(*users)
    return users


def _fire(n: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in n threads released at once; each thread uses (and closes) its own connection."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = work(i)
        except HandoffError as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_twenty_concurrent_claims_of_one_ticket_have_exactly_one_winner():
    queue = make_queue("Support", is_default=True)
    ticket = make_ticket(queue)
    users = _reviewers(N)

    results = _fire(N, lambda i: services.claim_ticket(ticket.pk, users[i], ticket.version))

    winners = [r for r in results if isinstance(r, Ticket)]
    assert len(winners) == 1
    assert all(isinstance(r, HandoffError) for r in results if r is not winners[0])
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee_id) == (TicketStatus.CLAIMED, winners[0].assignee_id)
    assert ticket.events.filter(kind=EventKind.CLAIMED).count() == 1


def test_twenty_concurrent_claim_next_calls_hand_out_each_of_ten_tickets_once():
    queue = make_queue("Support", is_default=True)
    tickets = [make_ticket(queue) for _ in range(10)]
    users = _reviewers(N)

    results = _fire(N, lambda i: services.claim_next(users[i], queue))

    handed = [r.pk for r in results if isinstance(r, Ticket)]
    assert sorted(handed) == sorted(t.pk for t in tickets)
    assert results.count(None) == N - 10
    assert Ticket.objects.filter(status=TicketStatus.CLAIMED).values("assignee").distinct().count() == 10
    assert Ticket.objects.filter(events__kind=EventKind.CLAIMED).count() == 10


def test_concurrent_claims_by_one_reviewer_respect_capacity():
    queue = make_queue("Support", is_default=True, reviewer_capacity=3)
    tickets = [make_ticket(queue) for _ in range(10)]
    (user,) = _reviewers(1)

    _fire(10, lambda i: services.claim_ticket(tickets[i].pk, user, tickets[i].version))

    assert Ticket.objects.filter(assignee=user, status=TicketStatus.CLAIMED).count() == 3
