"""The demo seed fills every ticket state and is idempotent."""

from __future__ import annotations

import io

import pytest

from agentops.models import Agent
from demo.handoffs import seed
from demo.registry import seed_registry
from handoffs.models import Queue, RootCause, Ticket, TicketEvent, TicketStatus
from handoffs.routing import FALLBACK_QUEUE_SLUG
from tests.handoffs.factories import make_escalation, record_escalations

pytestmark = pytest.mark.django_db


def test_seed_creates_tickets_in_every_state_and_second_run_adds_nothing():
    seed_registry(io.StringIO())
    # monitoring's seed ingests escalations before any queue exists: they land in the fallback queue
    early = make_escalation(agent=Agent.objects.get(slug="it-helpdesk-agent"), reason="vpn failure")
    unlisted = make_escalation(agent=Agent.objects.get(slug="contract-reviewer"), reason="low_confidence")
    record_escalations(early, unlisted)
    seed(io.StringIO())
    assert not Queue.objects.filter(slug=FALLBACK_QUEUE_SLUG).exists()
    assert Ticket.objects.get(escalation=early).queue.slug == "it"
    assert Ticket.objects.get(escalation=unlisted).queue.slug == "support-escalations"
    assert Queue.objects.get(is_default=True).slug == "support-escalations"
    counts = (Queue.objects.count(), RootCause.objects.count(), Ticket.objects.count(), TicketEvent.objects.count())
    statuses = set(Ticket.objects.values_list("status", flat=True))
    assert {TicketStatus.OPEN, TicketStatus.CLAIMED, TicketStatus.PENDING, TicketStatus.RESOLVED,
            TicketStatus.CLOSED} <= statuses
    assert Ticket.objects.filter(reopen_count__gt=0).exists()
    assert Ticket.objects.filter(events__kind="lease_expired").exists()

    seed(io.StringIO())
    assert (Queue.objects.count(), RootCause.objects.count(), Ticket.objects.count(),
            TicketEvent.objects.count()) == counts
