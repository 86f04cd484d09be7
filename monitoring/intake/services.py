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

from agentops import counters
from agentops.celery import app as celery_app
from agentops.models import ApiKey
from monitoring.intake.models import InboxBatch

PENDING_COUNT_CACHE_SECONDS = 1
PENDING_KEY = "intake:pending"

logger = logging.getLogger(__name__)

_pending_seen: list[float] = [0.0, -1.0]  # (count, monotonic time read) in this process


class QuotaExceeded(Exception):
    """A per-key limit refuses the request (429); the message names the limit and its setting."""


def _count_pending(limit: int, api_key_id: int | None = None) -> int:
    """Pending batches (of one key), counted up to ``limit`` + 1 only: a bounded index scan."""
    qs = InboxBatch.objects.filter(status=InboxBatch.Status.PENDING)
    if api_key_id is not None:
        qs = qs.filter(api_key_id=api_key_id)
    return qs.values("pk")[: limit + 1].count()


def pending_estimate() -> int:
    """The inbox's pending count for back-pressure, at most about a second old.

    Shared through the cache for a second (refreshed from a bounded Postgres count when it expires)
    and raised by every accepted batch (``_count_accepted``), so processes see each other's batches
    at once. A process keeps what it read for up to a second only while the count is below half the
    limit; nearer the limit it reads the shared count on every request. The overshoot is therefore
    bounded by the requests between their check and their commit (at most one per web thread), not
    by a burst's length. With Redis down the count comes from Postgres, at most once a second per
    process, and intake keeps accepting into the inbox (docs/operations.md, "Back-pressure")."""
    limit = settings.INTAKE_MAX_PENDING_BATCHES
    count, read_at = _pending_seen
    now = time.monotonic()
    if read_at >= 0 and now - read_at < PENDING_COUNT_CACHE_SECONDS and count < limit // 2:
        return int(count)
    try:
        shared = counters.get_expiring(PENDING_KEY)
        if shared is None:
            shared = _count_pending(limit)
            cache.set(PENDING_KEY, shared, PENDING_COUNT_CACHE_SECONDS)
        count = shared
    except Exception:  # noqa: BLE001 - Redis down: Postgres decides, at most once a second
        if read_at >= 0 and now - read_at < PENDING_COUNT_CACHE_SECONDS:
            return int(count)
        logger.warning("back-pressure: cache unavailable, counting the inbox in Postgres", exc_info=True)
        count = _count_pending(limit)
    _pending_seen[:] = [count, now]
    return int(count)


def inbox_is_full() -> bool:
    """Back-pressure: too many unprocessed batches (``INTAKE_MAX_PENDING_BATCHES``)."""
    return pending_estimate() >= settings.INTAKE_MAX_PENDING_BATCHES


def _count_accepted() -> None:
    """Raise the shared count if it is there (atomically: an expired count stays expired, for the next
    check to count the inbox again, and is never brought back without its expiry)."""
    _pending_seen[0] += 1
    try:
        counters.incr_existing(PENDING_KEY, expire_seconds=PENDING_COUNT_CACHE_SECONDS)
    except Exception:  # noqa: BLE001 - Redis down: this process's own count was raised above
        logger.debug("could not raise the shared pending count", exc_info=True)


def forget_pending_count() -> None:
    """Make the next back-pressure check count the inbox again (tests, after changing the limit)."""
    try:
        cache.delete(PENDING_KEY)
    except Exception:  # noqa: BLE001
        logger.warning("could not reset the shared pending count", exc_info=True)
    _pending_seen[:] = [0.0, -1.0]


def check_key_quotas(api_key: ApiKey | None, span_count: int) -> None:
    """Per-key limits, so one sender cannot starve the others: unprocessed batches of the key
    (``INTAKE_KEY_MAX_PENDING_BATCHES``) and spans per minute (``INTAKE_KEY_SPANS_PER_MINUTE``, a
    fixed one-minute window in Redis; not enforced while Redis is down). Raises QuotaExceeded."""
    if api_key is None:
        return
    pending_cap = settings.INTAKE_KEY_MAX_PENDING_BATCHES
    # A key's pending batches are some of the inbox's: while the whole inbox holds fewer than half the
    # key's cap (the estimate is at most a second old, the other half is the margin for that second),
    # the key cannot be at its cap, and the count in Postgres is skipped.
    if pending_cap and pending_estimate() >= pending_cap // 2 and _count_pending(pending_cap, api_key.pk) >= pending_cap:
        raise QuotaExceeded(f"this API key has {pending_cap} unprocessed batches, its limit "
                            "(INTAKE_KEY_MAX_PENDING_BATCHES): retry later")
    rate = settings.INTAKE_KEY_SPANS_PER_MINUTE
    if not rate or not span_count:
        return
    window = f"intake:rate:{api_key.pk}:{int(time.time() // 60)}"
    try:
        # One atomic step: a refused request does not use up the quota.
        added, _used = counters.take(window, span_count, limit=rate, expire_seconds=120)
    except Exception:  # noqa: BLE001 - Redis down: the rate limit is not enforced, the inbox still is
        logger.warning("per-key rate limit unavailable (cache down)", exc_info=True)
        return
    if not added:
        raise QuotaExceeded(f"this API key sent more than {rate} spans in the current minute, its limit "
                            "(INTAKE_KEY_SPANS_PER_MINUTE): retry in the next minute")


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
            enqueued_at=timezone.now(), restricted_to=restricted_agent(api_key) or "",
        )
        transaction.on_commit(wake_workers)
    _count_accepted()
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


# The worker is "behind" when a batch has waited longer than this (the sweeper runs every 30 s and
# retries batches not processed within 2 minutes).
WORKER_STALE_SECONDS = 300


def worker_health() -> dict:
    """For /healthz: pending batches and the age of the oldest. Read from Postgres, so it tells
    whether workers keep up even while Redis (their broker) is down."""
    limit = settings.INTAKE_MAX_PENDING_BATCHES
    oldest = (InboxBatch.objects.filter(status=InboxBatch.Status.PENDING).order_by("received_at")
              .values_list("received_at", flat=True).first())
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return {"status": "ok" if age <= WORKER_STALE_SECONDS else "behind", "pending": _count_pending(limit),
            "oldest_pending_seconds": round(age, 1)}
