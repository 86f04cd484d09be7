"""Beat tasks are registered under the names the schedule uses and run their service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from agentops.celery import app
from handoffs import services, tasks
from handoffs.models import Ticket, TicketStatus
from tests.handoffs.factories import make_queue, make_ticket

pytestmark = pytest.mark.django_db


def test_scheduled_handoff_tasks_are_registered():
    names = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].startswith("handoffs.")}
    assert names == {"handoffs.tasks.expire_leases", "handoffs.tasks.wake_pending_tickets",
                     "handoffs.tasks.close_resolved_tickets"}
    assert names <= set(app.tasks)


def test_expire_leases_task_returns_stale_claims(reviewer):
    t = make_ticket(make_queue("Support", is_default=True))
    services.claim_ticket(t.pk, reviewer, t.version, now=timezone.now() - timedelta(minutes=30))
    assert tasks.expire_leases.apply().get() == 1
    assert Ticket.objects.get(pk=t.pk).status == TicketStatus.OPEN


def test_wake_task_wakes_due_pending_tickets(reviewer):
    t = make_ticket(make_queue("Support", is_default=True))
    past = timezone.now() - timedelta(hours=2)
    t = services.claim_ticket(t.pk, reviewer, t.version, now=past)
    services.set_pending(t.pk, reviewer, t.version, until=past + timedelta(hours=1), now=past)
    assert tasks.wake_pending_tickets.apply().get() == 1
