"""Accepting telemetry (web process): the durable inbox and back-pressure.

Durability: ``accept_batch`` commits the raw body before the sender hears 200 and wakes a worker once
the row is committed. The drain task belongs to ``monitoring.ingest.tasks``; it is published by its
registered name (the queue contract, ``DRAIN_TASK``), so the intake imports nothing above it."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from agentops.celery import app as celery_app
from agentops.models import ApiKey
from monitoring.intake.models import InboxBatch

PENDING_COUNT_CACHE_SECONDS = 1

logger = logging.getLogger(__name__)

_pending_seen: list[float] = [0.0, -1.0]  # (count, monotonic time read) in this process


def inbox_is_full() -> bool:
    """Back-pressure: too many unprocessed batches. The count is shared through the cache for a
    second, and each process keeps what it read for that second too (no cache call per request)."""
    count, read_at = _pending_seen
    now = time.monotonic()
    if read_at < 0 or now - read_at >= PENDING_COUNT_CACHE_SECONDS:
        count = cache.get("intake:pending")
        if count is None:
            count = InboxBatch.objects.filter(status=InboxBatch.Status.PENDING).count()
            cache.set("intake:pending", count, PENDING_COUNT_CACHE_SECONDS)
        _pending_seen[:] = [count, now]
    return count >= settings.INTAKE_MAX_PENDING_BATCHES


def forget_pending_count() -> None:
    """Make the next back-pressure check count the inbox again (tests, after changing the limit)."""
    cache.delete("intake:pending")
    _pending_seen[:] = [0.0, -1.0]


def restricted_agent(key: ApiKey | None) -> str | None:
    return key.agent.slug if key is not None and key.agent_id else None


def accept_batch(
    kind: str, payload: bytes, api_key: ApiKey | None, span_count: int, *, compressed: bool = False
) -> InboxBatch:
    """Store the body durably and enqueue its processing once the row is committed. ``compressed``:
    ``payload`` is the gzip body as sent (already checked to decompress within the size cap), kept as
    it came: about a sixth of the decompressed size, and Postgres need not compress it again."""
    with transaction.atomic():
        batch = InboxBatch.objects.create(
            kind=kind, payload=payload, compressed=compressed, api_key=api_key, span_count=span_count,
            enqueued_at=timezone.now(),
        )
        transaction.on_commit(wake_workers)
    return batch


# Set while a drain_inbox task is queued and not started (see ``wake_workers``); expires
# in case the message is lost, so a later batch publishes a new one (the sweeper covers the time between).
WAKE_KEY = "intake:wake"
WAKE_SECONDS = 30


def forget_wake_up() -> None:
    """Let the next accepted batch publish a drain (the queued one is gone, or a drain started)."""
    try:
        cache.delete(WAKE_KEY)
    except Exception:  # noqa: BLE001 - cache down: wake_workers publishes anyway
        logger.warning("could not delete the wake-up key", exc_info=True)


DRAIN_TASK = "monitoring.tasks.drain_inbox"


def wake_workers() -> None:
    """After a batch is committed: make sure a worker will look at the inbox. Publishes a
    ``drain_inbox`` task unless one is already queued and has not started yet (``WAKE_KEY``, set here
    with SET NX; a drain deletes it before its first look at the inbox, so a batch committed before
    this call is seen by that drain). One message per drain instead of one per batch: a drain ingests
    every waiting batch, in groups, and a message per batch mostly found its batch already done (Celery
    work and a broker round trip each, for nothing). A broker or cache outage is not the sender's
    problem: the sweeper enqueues pending batches it finds."""
    try:
        if not cache.add(WAKE_KEY, 1, WAKE_SECONDS):
            return  # a drain is queued and will see this batch
    except Exception:  # noqa: BLE001 - cache down: publish anyway
        logger.warning("could not check the wake-up key; publishing a drain", exc_info=True)
    try:
        celery_app.send_task(DRAIN_TASK)
    except Exception:  # noqa: BLE001 - any broker failure; the row is durable and swept later
        logger.warning("could not wake a worker; the sweeper will pick the inbox up", exc_info=True)
        forget_wake_up()
