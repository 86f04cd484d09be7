"""The announcement outbox: telemetry is announced to higher apps after it is committed, durably.

``announce`` writes one ``Announcement`` row (the run and escalation ids) inside the ingest
transaction and, once that commits, wakes the delivery task. ``deliver_due`` (that task, and the beat
every 30 s for rows a dead process or a failed attempt left behind) hands each row to the receivers
of ``monitoring.announcements``, one row per transaction, each receiver in its own savepoint, and
deletes the row when all of them succeeded. A failure is logged, stored on the row and retried with
backoff; after ``MAX_DELIVERY_ATTEMPTS`` the row is kept as failed, with its error, until an operator
retries it (dead-letters page). The delivery task is published by its registered name
(``DELIVER_TASK``), so this module imports no task."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from agentops.celery import app as celery_app
from monitoring import announcements
from monitoring.ingest import transaction_settings
from monitoring.ingest.models import Announcement

logger = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=30)  # then 1, 2, 4 minutes: the beat looks every 30 s
DELIVERY_SECONDS = 20  # a delivery task stops after this long and wakes another
DELIVER_TASK = "monitoring.tasks.deliver_announcements"
# Set while a delivery task is queued and not started (as the intake's drain wake-up).
WAKE_KEY = "outbox:wake"
WAKE_SECONDS = 30


def announce(*, run_ids: Iterable[int] = (), escalation_ids: Iterable[int] = ()) -> Announcement | None:
    """Record ids for the receivers, in the caller's transaction; delivery is woken after commit.

    Precondition: inside the transaction that stored the telemetry (so the row commits, or rolls
    back, with it). Nothing is written when there are no ids."""
    runs, escalations = sorted(set(run_ids)), sorted(set(escalation_ids))
    if not runs and not escalations:
        return None
    row = Announcement.objects.create(run_ids=runs, escalation_ids=escalations)
    transaction.on_commit(wake_delivery)
    return row


def notify(topic: str, ids: list[int]) -> list[str]:
    """Call every receiver of ``topic`` with ``ids``, each in its own savepoint; returns the errors
    (``"<receiver>: <type>: <message>"``), empty when all succeeded."""
    errors: list[str] = []
    if not ids:
        return errors
    for name, receive in announcements.receivers(topic):
        try:
            with transaction.atomic():
                receive(list(ids))
        except Exception as exc:  # noqa: BLE001 - a receiver's failure is recorded and retried
            logger.exception("announcement receiver %s failed", name)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return errors


def retry_delay(attempts: int) -> timedelta:
    return RETRY_BASE * 2 ** (attempts - 1)


@dataclass(frozen=True)
class DeliveryResult:
    delivered: int
    retrying: int  # failed this time, tried again later
    failed: int  # failed for the last time (kept as failed)
    finished: bool  # no due row left (else stopped at its time budget)


def deliver_due(*, seconds: float | None = None) -> DeliveryResult:
    """Deliver due pending announcements, oldest first, until none is left or ``seconds`` passed.

    The wake-up key is deleted before the first look, so a row committed later wakes another task.
    Rows are locked with SKIP LOCKED: concurrent tasks share the backlog. A database error (lost
    connection) propagates with the row untouched: the beat tries again."""
    forget_wake_up()
    deadline = time.monotonic() + (DELIVERY_SECONDS if seconds is None else seconds)
    delivered = retrying = failed = 0
    while True:
        with transaction.atomic():
            row = (Announcement.objects.select_for_update(skip_locked=True)
                   .filter(status=Announcement.Status.PENDING, next_attempt_at__lte=timezone.now())
                   .order_by("next_attempt_at", "id").first())
            if row is None:
                return DeliveryResult(delivered, retrying, failed, True)
            transaction_settings.relax_commit()
            transaction_settings.keyed_plans()
            errors = [*notify(announcements.RUNS_RECORDED, row.run_ids),
                      *notify(announcements.ESCALATIONS_RECORDED, row.escalation_ids)]
            if not errors:
                row.delete()
                delivered += 1
            else:
                row.attempts += 1
                row.error = "\n".join(errors)[:4000]
                if row.attempts >= MAX_DELIVERY_ATTEMPTS:
                    row.status = Announcement.Status.FAILED
                    failed += 1
                else:
                    row.next_attempt_at = timezone.now() + retry_delay(row.attempts)
                    retrying += 1
                row.save(update_fields=["attempts", "error", "status", "next_attempt_at"])
        if time.monotonic() >= deadline:
            return DeliveryResult(delivered, retrying, failed, False)


def retry_failed() -> int:
    """Failed announcements become pending and due now, delivery woken after commit; returns how many."""
    count = Announcement.objects.filter(status=Announcement.Status.FAILED).update(
        status=Announcement.Status.PENDING, attempts=0, next_attempt_at=timezone.now())
    if count:
        transaction.on_commit(wake_delivery)
    return count


def forget_wake_up() -> None:
    try:
        cache.delete(WAKE_KEY)
    except Exception:  # noqa: BLE001 - cache down: wake_delivery publishes anyway
        logger.warning("could not delete the outbox wake-up key", exc_info=True)


def wake_delivery() -> None:
    """After an announcement committed: publish a delivery task unless one is queued and not started.
    A broker or cache outage loses nothing: the row is durable and the beat delivers it."""
    try:
        if not cache.add(WAKE_KEY, 1, WAKE_SECONDS):
            return
    except Exception:  # noqa: BLE001 - cache down: publish anyway
        logger.warning("could not check the outbox wake-up key; publishing a delivery", exc_info=True)
    try:
        celery_app.send_task(DELIVER_TASK)
    except Exception:  # noqa: BLE001 - any broker failure; the beat delivers the row later
        logger.warning("could not publish an announcement delivery; the beat will deliver it", exc_info=True)
        forget_wake_up()
