"""Celery tasks of the monitoring app. Each takes ids or small JSON and calls a service.

Intake: ``drain_inbox`` (woken by the intake view, one message per drain) ingests waiting inbox rows
until none is left; ``process_batch`` ingests one row (sweeper, replays); ``sweep_inbox`` (beat, every 30 s) re-enqueues rows
left unprocessed and dead-letters those that keep failing; ``prune_inbox`` (beat, hourly) deletes
processed rows past their retention. ``deliver_announcements`` (woken after an ingest commit, and by
the beat every 30 s) hands committed telemetry to higher apps' receivers (monitoring.announcements).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError, transaction

from monitoring.ingest import outbox
from monitoring.ingest import services as ingest_services
from monitoring.intake.services import wake_workers

logger = logging.getLogger(__name__)

# Ingest tasks: acknowledged after they ran (a killed worker's message is redelivered), retried with
# backoff on transient database errors only (other failures are the dead-letter rules' business).
INGEST_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": ingest_services.MAX_ATTEMPTS,
    "soft_time_limit": 120,
    "time_limit": 150,
}


@shared_task(name="monitoring.tasks.process_batch", **INGEST_TASK_OPTIONS)
def process_batch(batch_id: int) -> str:
    return ingest_services.ingest_batch(batch_id).status


@shared_task(name="monitoring.tasks.drain_inbox", **INGEST_TASK_OPTIONS)
def drain_inbox() -> dict[str, int]:
    result = ingest_services.drain_inbox(requeue=enqueue)
    if not result.finished:
        wake_workers()  # stopped at its time budget: another drain takes the rest
    return {"batches": result.batches, "spans": result.spans, "finished": result.finished}


@shared_task(name="monitoring.tasks.sweep_inbox", expires=25, soft_time_limit=25, time_limit=30)
def sweep_inbox() -> dict[str, int]:
    result = ingest_services.sweep_inbox()
    for batch_id in result.requeued:
        enqueue(batch_id)
    return {"requeued": len(result.requeued), "dead": len(result.dead)}


@shared_task(name=outbox.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError, InterfaceError), retry_backoff=2, retry_backoff_max=60, max_retries=3,
             expires=120, soft_time_limit=60, time_limit=90)
def deliver_announcements() -> dict[str, int]:
    result = outbox.deliver_due()
    if not result.finished:
        outbox.wake_delivery()  # stopped at its time budget: another task takes the rest
    return {"delivered": result.delivered, "retrying": result.retrying, "failed": result.failed}


@shared_task(name="monitoring.tasks.prune_inbox", expires=1800, soft_time_limit=600, time_limit=660)
def prune_inbox() -> dict[str, int]:
    return {"deleted": ingest_services.prune_inbox()}



def enqueue(batch_id: int) -> None:
    """Hand one batch to Celery (sweeper, replays). A broker outage is not the sender's problem: the
    sweeper retries."""
    try:
        process_batch.apply_async(args=[batch_id])
    except Exception:  # noqa: BLE001 - any broker failure; the row is durable and swept later
        logger.warning("could not enqueue inbox batch %s; the sweeper will pick it up", batch_id, exc_info=True)


def enqueue_after_commit(batch_ids: list[int]) -> None:
    """Enqueue ``batch_ids`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: [enqueue(batch_id) for batch_id in batch_ids])


@worker_ready.connect
def drain_on_start(sender=None, **_kwargs) -> None:
    """A worker that (re)starts looks at the inbox at once: batches accepted while no worker ran, or
    whose wake-up message was lost with a killed worker, would otherwise wait for the sweeper."""
    try:
        drain_inbox.apply_async()
    except Exception:  # noqa: BLE001 - broker down: the sweeper covers it
        logger.warning("could not queue a drain at worker start", exc_info=True)
