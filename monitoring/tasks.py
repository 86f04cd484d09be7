"""Celery tasks of the monitoring app. Each takes ids or small JSON and calls a service.

Intake: ``drain_inbox`` (woken by the intake view, one message per drain) ingests waiting inbox rows
until none is left; ``process_batch`` ingests one row (sweeper, replays); ``sweep_inbox`` (beat, every 30 s) re-enqueues rows
left unprocessed and dead-letters those that keep failing; ``prune_inbox`` (beat, hourly) deletes
processed rows past their retention.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services

# Ingest tasks: acknowledged after they ran (a killed worker's message is redelivered), retried with
# backoff on transient database errors only (other failures are the dead-letter rules' business).
INGEST_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": services.MAX_ATTEMPTS,
    "soft_time_limit": 120,
    "time_limit": 150,
}


@shared_task(name="monitoring.tasks.process_batch", **INGEST_TASK_OPTIONS)
def process_batch(batch_id: int) -> str:
    return services.ingest_batch(batch_id).status


@shared_task(name="monitoring.tasks.drain_inbox", **INGEST_TASK_OPTIONS)
def drain_inbox() -> dict[str, int]:
    result = services.drain_inbox()
    return {"batches": result.batches, "spans": result.spans, "finished": result.finished}


@shared_task(name="monitoring.tasks.sweep_inbox", expires=25, soft_time_limit=25, time_limit=30)
def sweep_inbox() -> dict[str, int]:
    result = services.sweep_inbox()
    return {"requeued": len(result.requeued), "dead": len(result.dead)}


@shared_task(name="monitoring.tasks.prune_inbox", expires=1800, soft_time_limit=600, time_limit=660)
def prune_inbox() -> dict[str, int]:
    return {"deleted": services.prune_inbox()}
