"""Waking and draining the inbox: one drain message per wake-up instead of one task per batch, every
waiting batch ingested (oldest first, in groups), no batch left without a drain to find it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.test import TestCase
from django.utils import timezone

from monitoring.ingest import services as ingest_services
from monitoring.ingest import tasks
from monitoring.intake import services as intake_services
from monitoring.models import InboxBatch, Step
from tests.monitoring.celery_helpers import purge_broker, thread_worker, wait_for
from tests.monitoring.otlp_builders import agent_trace, protobuf_body

pytestmark = pytest.mark.django_db


def body() -> bytes:
    return protobuf_body(agent_trace(start=timezone.now() - timedelta(minutes=1)))


def waiting(count: int, **fields) -> list[InboxBatch]:
    """``count`` pending batches received a second apart, oldest first."""
    start = timezone.now() - timedelta(minutes=5)
    return [InboxBatch.objects.create(kind="otlp_protobuf", payload=body(), span_count=3,
                                      received_at=start + timedelta(seconds=i), **fields) for i in range(count)]


def accept() -> InboxBatch:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return intake_services.accept_batch(InboxBatch.Kind.OTLP_PROTOBUF, body(), None, 3)


@pytest.fixture
def published(monkeypatch) -> list[str]:
    """Drain messages published (instead of sending them to the broker)."""
    sent: list[str] = []
    monkeypatch.setattr(intake_services.celery_app, "send_task",
                        lambda name, *a, **kw: sent.append("drain" if name == intake_services.DRAIN_TASK else name))
    return sent


def test_accepted_batches_publish_one_drain_until_a_drain_starts(published):
    accept(), accept(), accept()
    assert published == ["drain"]  # the queued drain will see all three
    result = ingest_services.drain_inbox()
    assert result.finished and result.spans == 9 and Step.objects.count() == 9
    assert set(InboxBatch.objects.values_list("status", flat=True)) == {"done"}
    accept()  # the drain started (and deleted the wake-up): a new batch needs a new drain
    assert published == ["drain", "drain"]


def test_a_drain_takes_every_waiting_batch_oldest_first_in_groups(published):
    batches = waiting(7)
    result = ingest_services.drain_inbox(group=3)
    assert (result.batches, result.spans, result.finished) == (3, 21, True)
    order = {b.pk: b.processed_at for b in InboxBatch.objects.all()}
    groups = [batches[0:3], batches[3:6], batches[6:7]]
    times = [{order[b.pk] for b in group} for group in groups]
    assert all(len(t) == 1 for t in times)  # each group was one transaction
    assert max(times[0]) < min(times[1]) < min(times[2])  # oldest first
    assert InboxBatch.objects.filter(attempts=1).count() == 3  # each lead's attempt counted, in its own commit
    assert published == []


def test_a_drain_leaves_batches_already_tried_to_the_sweeper(published):
    tried, fresh = waiting(2)
    InboxBatch.objects.filter(pk=tried.pk).update(attempts=1)  # its worker died mid-batch
    assert ingest_services.drain_inbox().batches == 1
    assert InboxBatch.objects.get(pk=tried.pk).status == "pending"  # retried alone by the sweeper's task
    assert InboxBatch.objects.get(pk=fresh.pk).status == "done"


def test_a_drain_stops_at_its_time_budget_and_wakes_another(published, settings):
    waiting(4)
    settings.INTAKE_DRAIN_SECONDS, settings.INTAKE_INGEST_GROUP = 0, 2
    result = tasks.drain_inbox.apply().get()
    assert (result["batches"], result["finished"]) == (1, False)
    assert InboxBatch.objects.filter(status="pending").count() == 2
    assert published == ["drain"]  # the task woke another drain for the rest
    assert ingest_services.drain_inbox(seconds=60, group=2).finished
    assert not InboxBatch.objects.filter(status="pending").exists()


def test_a_poison_batch_goes_to_dead_letters_and_the_drain_goes_on(published):
    good = waiting(1)[0]
    poison = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"\xff not protobuf",
                                       received_at=good.received_at - timedelta(seconds=1))
    later = waiting(1)[0]
    result = ingest_services.drain_inbox()
    assert result.finished and result.spans == 6
    assert InboxBatch.objects.get(pk=poison.pk).status == "dead"
    assert "PayloadError" in InboxBatch.objects.get(pk=poison.pk).error
    assert {InboxBatch.objects.get(pk=b.pk).status for b in (good, later)} == {"done"}


def test_a_database_error_hands_the_lead_to_its_own_task_and_the_drain_retries(monkeypatch, published):
    lead, other = waiting(2)
    queued = []
    monkeypatch.setattr(tasks, "enqueue", queued.append)
    real, calls = ingest_services._attempt, []

    def flaky(batch_id, *args, **kwargs):
        calls.append(batch_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(batch_id, *args, **kwargs)

    monkeypatch.setattr(ingest_services, "_attempt", flaky)
    result = tasks.drain_inbox.apply(retries=0)
    assert result.successful() and result.get()["spans"] == 3
    assert queued == [lead.pk]  # process_batch retries the lead with its own backoff
    assert InboxBatch.objects.get(pk=other.pk).status == "done"
    assert tasks.process_batch.apply(args=[lead.pk]).get() == "done"


def test_drain_task_acks_late_and_retries_only_database_errors():
    task = tasks.drain_inbox
    assert task.acks_late and task.reject_on_worker_lost
    assert set(task.autoretry_for) == {OperationalError, InterfaceError}


def test_a_broker_outage_clears_the_wake_up_so_the_next_batch_tries_again(monkeypatch):
    attempts = []

    def down(*args, **kwargs):
        attempts.append(1)
        raise ConnectionError("broker down")

    monkeypatch.setattr(intake_services.celery_app, "send_task", down)
    accept(), accept()
    assert len(attempts) == 2  # the failed publish did not leave a wake-up key behind
    assert InboxBatch.objects.filter(status="pending").count() == 2  # durable; the sweeper enqueues them


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_real_worker_drains_many_batches_from_one_broker_message():
    purge_broker()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    batches = [intake_services.accept_batch(InboxBatch.Kind.OTLP_PROTOBUF, body(), None, 3) for _ in range(12)]
    assert client.llen("default") == 1  # one wake-up, not twelve tasks
    with thread_worker(purge=False):
        wait_for(lambda: not InboxBatch.objects.filter(status="pending").exists(), what="the inbox to drain")
        late = intake_services.accept_batch(InboxBatch.Kind.OTLP_PROTOBUF, body(), None, 3)  # after the drain began
        wait_for(lambda: InboxBatch.objects.get(pk=late.pk).status == "done", what="the late batch")
    assert Step.objects.count() == 3 * (len(batches) + 1)
