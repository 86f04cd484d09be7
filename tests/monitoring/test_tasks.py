"""Celery tasks of the intake: options, retries on database errors, a real worker draining the inbox."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from monitoring.ingest import services as ingest_services
from monitoring.ingest import tasks
from monitoring.intake import services as intake_services
from monitoring.models import InboxBatch, Step
from tests.monitoring.celery_helpers import purge_broker, thread_worker, wait_for
from tests.monitoring.otlp_builders import agent_trace, protobuf_body


def recent_body() -> bytes:
    return protobuf_body(agent_trace(start=timezone.now() - timedelta(minutes=1)))


def test_process_batch_acks_late_and_retries_only_database_errors():
    task = tasks.process_batch
    assert task.acks_late and task.reject_on_worker_lost
    assert set(task.autoretry_for) == {OperationalError, InterfaceError}


@pytest.mark.django_db
def test_process_batch_retries_a_transient_database_error(monkeypatch):
    batch = InboxBatch.objects.create(kind="otlp_protobuf", payload=recent_body())
    calls = []
    real = ingest_services.ingest_batch

    def flaky(batch_id):
        calls.append(batch_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(batch_id)

    monkeypatch.setattr(ingest_services, "ingest_batch", flaky)
    result = tasks.process_batch.apply(args=[batch.pk], retries=0)
    assert result.get() == "done" and len(calls) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_accepted_batch_is_processed_by_a_real_worker():
    with thread_worker():
        batch = intake_services.accept_batch(InboxBatch.Kind.OTLP_PROTOBUF, recent_body(), None, 3)
        wait_for(lambda: InboxBatch.objects.get(pk=batch.pk).status == "done", what="the batch to be processed")
    assert Step.objects.count() == 3


@pytest.mark.django_db
def test_sweep_task_reports_counts():
    old = timezone.now() - timedelta(hours=1)
    InboxBatch.objects.create(kind="otlp_protobuf", payload=b"", enqueued_at=old, received_at=old)
    assert tasks.sweep_inbox.apply().get() == {"requeued": 1, "dead": 0}


@pytest.mark.django_db
def test_prune_inbox_deletes_only_processed_batches_past_their_retention(settings, monkeypatch):
    settings.INTAKE_DONE_RETENTION_HOURS = 72
    monkeypatch.setattr(ingest_services, "INBOX_PRUNE_CHUNK", 2)  # several chunks
    now = timezone.now()
    old, recent = now - timedelta(hours=80), now - timedelta(hours=10)

    def batch(status: str, received, processed=None) -> InboxBatch:
        return InboxBatch.objects.create(kind="otlp_protobuf", payload=b"x", status=status, received_at=received,
                                         processed_at=processed)

    expired = [batch("done", old, old + timedelta(seconds=i)) for i in range(5)]
    kept = [
        batch("done", recent, recent),  # within retention
        batch("done", old, now - timedelta(hours=1)),  # received long ago but processed recently (a backlog)
        batch("pending", old),  # never deleted: not processed yet
        batch("dead", old, old),  # never deleted: waits for a replay
    ]
    assert tasks.prune_inbox.apply().get() == {"deleted": len(expired)}
    assert set(InboxBatch.objects.values_list("pk", flat=True)) == {b.pk for b in kept}
    assert ingest_services.prune_inbox() == 0


def test_prune_inbox_runs_hourly_from_beat(settings):
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["monitoring.tasks.prune_inbox"] == 3600.0


@pytest.mark.django_db
def test_replay_dead_letters_command_processes_dead_batches_synchronously(capsys):
    batch = InboxBatch.objects.create(kind="otlp_protobuf", payload=recent_body(), status="dead", error="boom")
    call_command("replay_dead_letters", "--all", "--sync")
    batch.refresh_from_db()
    assert batch.status == "done" and Step.objects.count() == 3
    assert "replayed 1 batch(es)" in capsys.readouterr().out


def _queued_tasks(broker) -> list[str]:
    """Names of the tasks waiting on every queue of the test's broker database."""
    names = []
    for key in broker.keys("*"):
        if broker.type(key) == b"list":
            names += [json.loads(m)["headers"]["task"] for m in broker.lrange(key, 0, -1)]
    return names


@pytest.mark.django_db
def test_replay_dead_letters_sync_does_not_also_queue_the_batch(django_capture_on_commit_callbacks):
    """--sync processes here; a queued copy would be processed a second time by a worker."""
    purge_broker()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    batch = InboxBatch.objects.create(kind="otlp_protobuf", payload=recent_body(), status="dead", error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters", str(batch.pk), "--sync")
    assert "monitoring.tasks.process_batch" not in _queued_tasks(broker)
    batch.refresh_from_db()
    assert batch.status == "done"


@pytest.mark.django_db
def test_replay_dead_letters_without_sync_queues_the_batch(django_capture_on_commit_callbacks):
    purge_broker()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    batch = InboxBatch.objects.create(kind="otlp_protobuf", payload=recent_body(), status="dead", error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters", str(batch.pk))
    assert _queued_tasks(broker) == ["monitoring.tasks.process_batch"]
    batch.refresh_from_db()
    assert batch.status == "pending"
    purge_broker()


@pytest.mark.django_db
def test_replay_dead_letters_command_needs_ids_or_all():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--all"):
        call_command("replay_dead_letters")


def test_each_prefork_worker_process_freezes_startup_objects_and_collects_less_often():
    """Ingest churns through short-lived objects; full collections re-walked every object of the
    worker (Django, Celery) each time: frozen, they are never scanned again."""
    import gc

    from celery import signals

    from agentops.celery import WORKER_GC_THRESHOLDS

    thresholds = gc.get_threshold()
    try:
        signals.worker_process_init.send(sender=None)
        assert gc.get_threshold() == WORKER_GC_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # the loaded app, now out of the collector's way
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
