"""The announcement outbox: receivers of stored telemetry run after commit, durably, and a failing
receiver leaves the telemetry stored and its announcement retried, then failed with its error."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from handoffs.models import Ticket
from monitoring import announcements
from monitoring.ingest import outbox
from monitoring.ingest import services as ingest_services
from monitoring.ingest import tasks as ingest_tasks
from monitoring.intake.normalize import EventInput
from monitoring.models import Announcement, Escalation, InboxBatch, Run, Step
from tests.handoffs.factories import make_queue
from tests.monitoring.otlp_builders import T0, agent_trace, ns, protobuf_body

pytestmark = pytest.mark.django_db
BROKEN = "test.broken_receiver"


@pytest.fixture
def broken_receiver():
    calls = []

    def receive(ids: list[int]) -> None:
        calls.append(ids)
        raise RuntimeError("tickets service is down")

    announcements.register(announcements.ESCALATIONS_RECORDED, BROKEN, receive)
    yield calls
    announcements.unregister(announcements.ESCALATIONS_RECORDED, BROKEN)


def ingest_escalating_trace() -> InboxBatch:
    spans = agent_trace(start=T0)
    spans[0].events.append(EventInput("agentops.escalation", ns(T0), {"agentops.escalation.reason": "refund"}))
    batch = InboxBatch.objects.create(kind=InboxBatch.Kind.OTLP_PROTOBUF, payload=protobuf_body(spans),
                                      received_at=T0 + timedelta(minutes=1))
    assert ingest_services.ingest_batch(batch.pk).status == "done"
    return batch


def test_ingest_only_writes_the_announcement_and_delivery_opens_the_ticket():
    make_queue("Support", is_default=True)
    ingest_escalating_trace()
    (row,) = Announcement.objects.all()
    assert row.escalation_ids == list(Escalation.objects.values_list("id", flat=True))
    assert row.run_ids == list(Run.objects.values_list("id", flat=True))
    assert not Ticket.objects.exists()  # not inside the ingest transaction
    result = outbox.deliver_due()
    assert (result.delivered, result.retrying, result.failed, result.finished) == (1, 0, 0, True)
    assert Ticket.objects.get().escalation_id == row.escalation_ids[0]
    assert not Announcement.objects.exists()


def test_a_failing_receiver_leaves_the_telemetry_stored_and_the_announcement_retried(broken_receiver):
    make_queue("Support", is_default=True)
    batch = ingest_escalating_trace()
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        assert outbox.deliver_due().retrying == 1
    batch.refresh_from_db()
    assert batch.status == InboxBatch.Status.DONE and Step.objects.count() == 3  # telemetry stays
    assert Ticket.objects.count() == 1  # the other receivers ran; the broken one rolled back alone
    row = Announcement.objects.get()
    assert (row.status, row.attempts) == (Announcement.Status.PENDING, 1)
    assert row.error == f"{BROKEN}: RuntimeError: tickets service is down"
    assert row.next_attempt_at == now + outbox.RETRY_BASE
    with time_machine.travel(now + timedelta(seconds=29), tick=False):
        assert outbox.deliver_due().retrying == 0  # not due yet
    for attempt in range(2, outbox.MAX_DELIVERY_ATTEMPTS + 1):
        now += outbox.retry_delay(attempt - 1)
        with time_machine.travel(now, tick=False):
            ingest_tasks.deliver_announcements()  # what the beat runs every 30 s
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Announcement.Status.FAILED, outbox.MAX_DELIVERY_ATTEMPTS)
    assert len(broken_receiver) == outbox.MAX_DELIVERY_ATTEMPTS and Ticket.objects.count() == 1


def test_failed_announcements_are_shown_with_their_error_and_can_be_retried(ops_client, broken_receiver):
    row = Announcement.objects.create(escalation_ids=[1], status=Announcement.Status.FAILED, attempts=5,
                                      error=f"{BROKEN}: RuntimeError: tickets service is down")
    page = ops_client.get(reverse("monitoring:dead_letters"))
    assert b"Undelivered announcements" in page.content
    assert b"RuntimeError: tickets service is down" in page.content
    response = ops_client.post(reverse("monitoring:retry_announcements"), follow=True)
    assert b"1 announcement will be delivered again." in response.content
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Announcement.Status.PENDING, 0)
    announcements.unregister(announcements.ESCALATIONS_RECORDED, BROKEN)  # fixed
    assert outbox.deliver_due().delivered == 1 and not Announcement.objects.exists()


def test_dead_letters_page_shows_no_announcement_section_when_none_failed(ops_client):
    Announcement.objects.create(run_ids=[1])  # pending: on its way, not an operator's business
    assert b"Undelivered announcements" not in ops_client.get(reverse("monitoring:dead_letters")).content


def test_an_empty_batch_announces_nothing():
    assert outbox.announce(run_ids=[], escalation_ids=[]) is None
    assert not Announcement.objects.exists()
