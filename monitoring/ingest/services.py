"""Ingest (worker): claim inbox rows, drain, dead letters, sweep, prune.

``ingest_batch`` processes one inbox row (grouped with others never tried) in one transaction,
idempotently: rows are keyed on OpenTelemetry ids and run aggregates are recomputed from every stored
step of each touched trace, so batches may arrive in any order, twice, or be replayed. A poison batch
goes to the dead letters alone; transient database errors are retried by the task.

One rule decides, for the ORM and the COPY path alike (``is_transient``): a lost or refused connection,
a serialisation failure or a deadlock is transient (retried with backoff, the batch stays pending);
any other error, including a database ``DataError`` or ``IntegrityError`` caused by the batch's data,
makes the batch poison: it is isolated from its group at once and dead-lettered with its real error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg2
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.ingest import transaction_settings
from monitoring.ingest.models import Run
from monitoring.ingest.write import write_records
from monitoring.intake import native, otlp
from monitoring.intake.models import InboxBatch
from monitoring.intake.normalize import NormalizedBatch, normalize_spans
from monitoring.intake.services import forget_wake_up, restricted_agent

logger = logging.getLogger(__name__)


MAX_ATTEMPTS = 5

# Transient: the database was unreachable or chose to abort this transaction (serialisation failure
# and deadlock are OperationalError subclasses in psycopg2, and Django wraps them as OperationalError).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, psycopg2.OperationalError, psycopg2.InterfaceError)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)




def normalize_batch(batch: InboxBatch) -> NormalizedBatch:
    """Same decision the intake view made: decode, then normalize against the receive time."""
    payload = bytes(batch.payload)
    if batch.compressed:
        payload = otlp.gunzip_capped(payload, settings.INTAKE_MAX_DECOMPRESSED_BYTES)
    # The restriction recorded at intake; older rows fall back to their key's (a deleted key: none).
    allowed = batch.restricted_to or restricted_agent(batch.api_key)
    cap = settings.INTAKE_TEXT_CAP_BYTES
    if batch.kind == InboxBatch.Kind.NATIVE_RUNS:
        spans = native.decode_runs(payload).spans
    else:
        content_type = otlp.JSON if batch.kind == InboxBatch.Kind.OTLP_JSON else otlp.PROTOBUF
        spans = otlp.decode(payload, content_type)
    return normalize_spans(spans, now=batch.received_at, text_cap=cap, allowed_agent=allowed)


def _without_foreign_traces(batch: InboxBatch, records: list) -> tuple[list, str]:
    """A key restricted to one agent may not add spans to a run stored for another agent (which
    could move the run to its agent, change its root and status, and let it post feedback on it):
    those spans are dropped, and the batch keeps a note saying so. Returns (kept records, note)."""
    allowed = batch.restricted_to or restricted_agent(batch.api_key)
    if not allowed or not records:
        return records, ""
    foreign = set(
        Run.objects.filter(trace_id__in={r.trace_id for r in records})
        .exclude(agent__slug=allowed).values_list("trace_id", flat=True)
    )
    if not foreign:
        return records, ""
    kept = [r for r in records if r.trace_id not in foreign]
    refused = len(records) - len(kept)
    return kept, (f"{refused} span(s) refused: trace(s) {', '.join(sorted(foreign)[:5])} belong to another "
                  f"agent's stored run, and this key may only send for {allowed!r}")


@dataclass(frozen=True)
class IngestResult:
    status: str  # "done", "skipped" (already done or being processed elsewhere), "dead"
    run_ids: tuple[int, ...] = ()
    stored_spans: int = 0


def ingest_batch(batch_id: int, *, group: int | None = None) -> IngestResult:
    """Process one inbox row, on its first attempt together with up to ``group - 1`` other waiting
    rows never tried before: one transaction then amortises the per-transaction work (run recompute,
    rollups, hooks) over many batches. Transient database errors propagate (the task retries them);
    any other failure is retried with the batch alone, and then moves it to the dead-letter list."""
    attempt = _count_attempt(batch_id)
    if not attempt:
        return IngestResult("skipped")
    return _attempt(batch_id, attempt, group)


class _GroupFailed(Exception):
    """A failure other than a database error while ingesting ``batch_ids`` in one transaction (the
    error is the ``__cause__``); ``batch_ids[0]`` is the batch the attempt was for."""

    def __init__(self, batch_ids: list[int]):
        super().__init__(batch_ids)
        self.batch_ids = batch_ids


def _attempt(batch_id: int, attempt: int, group: int | None = None, *, oldest_first: bool = False) -> IngestResult:
    group = settings.INTAKE_INGEST_GROUP if group is None else group
    try:
        return _ingest(batch_id, group if attempt == 1 else 1, oldest_first=oldest_first)
    except TRANSIENT_ERRORS:
        raise  # transient (connection lost, deadlock, serialization): the task retries with backoff
    except _GroupFailed as failed:
        # Each batch of the group alone: the poison one goes to the dead letters now, the others are
        # stored, instead of the poison batch sinking group after group until it leads one itself.
        # The members' tries count too (the lead's was counted when it was taken).
        for member in failed.batch_ids[1:]:
            _count_attempt(member)
        results = [ingest_batch_alone(member, failed.__cause__) for member in failed.batch_ids]
        return IngestResult(results[0].status, tuple(run_id for r in results for run_id in r.run_ids),
                            sum(r.stored_spans for r in results))
    except Exception as exc:  # noqa: BLE001 - a poison batch must not block the queue
        if group > 1 and attempt == 1:
            return ingest_batch_alone(batch_id, exc)
        logger.exception("inbox batch %s failed; moved to dead letters", batch_id)
        mark_dead(batch_id, f"{type(exc).__name__}: {exc}")
        return IngestResult("dead")


def ingest_batch_alone(batch_id: int, group_error: Exception) -> IngestResult:
    """After a grouped attempt failed: find out whether this batch is the poison one."""
    logger.warning("grouped ingest with batch %s failed (%s); retrying it alone", batch_id, group_error)
    try:
        return _ingest(batch_id, 1)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001
        logger.exception("inbox batch %s failed; moved to dead letters", batch_id)
        mark_dead(batch_id, f"{type(exc).__name__}: {exc}")
        return IngestResult("dead")


def _ingest(batch_id: int, group: int, *, oldest_first: bool = False) -> IngestResult:
    with transaction.atomic():
        batches = _claim(batch_id, group, oldest_first=oldest_first)
        if not batches:
            return IngestResult("skipped")
        transaction_settings.relax_commit()
        transaction_settings.keyed_plans()
        try:
            records, notes = [], {}
            for batch in batches:
                kept, note = _without_foreign_traces(batch, normalize_batch(batch).records)
                records.extend(kept)
                if note:
                    notes[batch.pk] = note
            # Marked done first (it commits or rolls back with the rest): write_records ends with the
            # rollup cells, whose locks other workers wait for, so only the commit should follow them.
            InboxBatch.objects.filter(pk__in=[b.pk for b in batches]).update(
                status=InboxBatch.Status.DONE, processed_at=timezone.now(), error=""
            )
            for batch_id_with_note, note in notes.items():
                InboxBatch.objects.filter(pk=batch_id_with_note).update(error=note)
            run_ids = write_records(records)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            if len(batches) > 1:
                raise _GroupFailed([b.pk for b in batches]) from exc
            raise
        return IngestResult("done", tuple(run_ids), len(records))


def _claim(batch_id: int, group: int, *, oldest_first: bool = False) -> list[InboxBatch]:
    """Lock ``batch_id`` and, when grouping, other untried pending rows, newest first unless
    ``oldest_first`` (a drain, which serves the inbox in order).

    Newest, for a task of one batch (sweeper, replay): the oldest pending rows may be the ones whose
    own tasks are next in the queue, and another worker would take those tasks at once and wait on
    this transaction's row locks only to find the batches done.

    The batch itself is waited for, not skipped when locked: another worker's grouping query can hold
    a row lock on it without processing it (Postgres keeps the lock of a row whose WHERE recheck
    failed until that transaction ends), and skipping would strand the batch until the sweeper.
    Waiting cannot deadlock: this transaction holds nothing yet. Grouped rows are SKIP LOCKED."""
    rows = InboxBatch.objects.select_related("api_key__agent")
    batch = rows.select_for_update(of=("self",)).filter(pk=batch_id, status=InboxBatch.Status.PENDING).first()
    if batch is None:
        return []
    others = []
    if group > 1:
        others = list(
            rows.select_for_update(skip_locked=True, of=("self",))
            .filter(status=InboxBatch.Status.PENDING, attempts=0).exclude(pk=batch_id)
            .order_by("received_at" if oldest_first else "-received_at")[: group - 1]
        )
    return [batch, *others]


def _count_attempt(batch_id: int) -> int:
    """Count the attempt in its own commit, so a worker killed mid-batch still leaves a trace of it.
    Returns the attempt number, 0 when the batch is no longer pending."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE monitoring_inboxbatch SET attempts = attempts + 1 WHERE id = %s AND status = %s RETURNING attempts",
            [batch_id, InboxBatch.Status.PENDING],
        )
        row = cursor.fetchone()
    return row[0] if row else 0


@dataclass(frozen=True)
class DrainResult:
    batches: int  # lead batches taken (each with its group)
    spans: int
    finished: bool  # found the inbox empty (else stopped at its time budget and woke another drain)


def drain_inbox(
    *, seconds: float | None = None, group: int | None = None, requeue: Callable[[int], None] | None = None
) -> DrainResult:
    """Ingest waiting batches, oldest first and in groups, until none is left untried or ``seconds``
    (``INTAKE_DRAIN_SECONDS``) have passed; the caller wakes another drain when it stopped early
    (``finished`` false). On a database error the lead batch is handed to ``requeue`` (retried alone
    with backoff, not left for the sweeper) and the error propagates.

    The wake-up key is deleted *before* the first look at the inbox: a batch committed later
    publishes a new drain (which another worker process picks up, so two drains share a backlog),
    and one committed earlier is found by this one. No batch is left without a drain to find it.
    Each lead batch has its attempt counted in its own commit as ``ingest_batch`` does, and goes
    through the same grouping, poison and dead-letter rules; batches that were tried and not
    finished (a killed worker) are left to the sweeper, which retries them one by one."""
    budget = settings.INTAKE_DRAIN_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + budget
    forget_wake_up()
    leads = spans = 0
    while True:
        batch_id = _take_untried()
        if batch_id is None:
            return DrainResult(leads, spans, True)
        leads += 1
        try:
            spans += _attempt(batch_id, 1, group, oldest_first=True).stored_spans
        except TRANSIENT_ERRORS:
            if requeue is not None:
                requeue(batch_id)
            raise
        if time.monotonic() >= deadline:
            return DrainResult(leads, spans, False)


def _take_untried() -> int | None:
    """The oldest pending batch never tried and not locked by another worker, with its first attempt
    counted (own commit, like ``_count_attempt``); None when there is none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE monitoring_inboxbatch SET attempts = attempts + 1 WHERE id = ("
            " SELECT id FROM monitoring_inboxbatch WHERE status = %s AND attempts = 0"
            " ORDER BY received_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
            [InboxBatch.Status.PENDING],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def mark_dead(batch_id: int, error: str) -> None:
    InboxBatch.objects.filter(pk=batch_id).exclude(status=InboxBatch.Status.DONE).update(
        status=InboxBatch.Status.DEAD, error=error[:4000], processed_at=timezone.now()
    )


def replay_batch(batch_id: int) -> list[int]:
    """Make a dead batch pending again (the caller enqueues it). Safe: ingest is idempotent. Returns
    ``[batch_id]``, or ``[]`` if it was not dead."""
    return _requeue_dead(pk=batch_id)


def replay_all_dead() -> list[int]:
    """Make every dead batch pending again (after a fix); returns their ids for the caller to enqueue. Safe: ingest is
    idempotent, and a batch that fails again returns to the list with its new error."""
    return _requeue_dead()


def _requeue_dead(**filters) -> list[int]:
    """Dead batches matching ``filters`` become pending and untried; returns their ids, which the caller
    enqueues (``ingest.tasks.enqueue_after_commit``)."""
    with transaction.atomic():
        ids = list(InboxBatch.objects.select_for_update().filter(status=InboxBatch.Status.DEAD, **filters)
                   .order_by("received_at").values_list("id", flat=True))
        InboxBatch.objects.filter(pk__in=ids).update(
            status=InboxBatch.Status.PENDING, error="", attempts=0, processed_at=None, enqueued_at=timezone.now()
        )
    return ids


@dataclass(frozen=True)
class SweepResult:
    requeued: list[int]
    dead: list[int]


def sweep_inbox(*, older_than: timedelta = timedelta(minutes=2), limit: int = 500) -> SweepResult:
    """Pick pending batches not processed in time for re-enqueueing (the task enqueues ``requeued``) (killed worker, lost broker message) and give
    up on those that used all their attempts. Duplicated queue messages are harmless: a batch that is
    done or locked by a worker is skipped."""
    cutoff = timezone.now() - older_than
    stale = InboxBatch.objects.filter(status=InboxBatch.Status.PENDING).filter(
        Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, received_at__lt=cutoff)
    )
    exhausted = list(stale.filter(attempts__gte=MAX_ATTEMPTS).values_list("id", flat=True)[:limit])
    for batch_id in exhausted:
        mark_dead(batch_id, f"gave up after {MAX_ATTEMPTS} attempts (worker crashed or timed out each time)")
    requeue = list(stale.filter(attempts__lt=MAX_ATTEMPTS).order_by("received_at").values_list("id", flat=True)[:limit])
    if requeue:
        InboxBatch.objects.filter(pk__in=requeue).update(enqueued_at=timezone.now())
    return SweepResult(requeue, exhausted)


INBOX_PRUNE_CHUNK = 5_000


def prune_inbox(now: datetime | None = None, *, keep: timedelta | None = None) -> int:
    """Delete processed inbox batches older than ``keep`` (``INTAKE_DONE_RETENTION_HOURS``); returns
    how many. The inbox is a durable buffer, not an archive: once a batch is done its spans live in
    the step table, and the raw body is kept only for a while (to look at or replay by hand).
    Pending and dead batches are never deleted here. Deletes in chunks of ``INBOX_PRUNE_CHUNK``, each
    its own short statement, so intake inserts and worker claims are never held up for long."""
    now = now or timezone.now()
    keep = keep if keep is not None else timedelta(hours=settings.INTAKE_DONE_RETENTION_HOURS)
    cutoff, deleted = now - keep, 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                # received_at bounds the scan on inbox_status_idx (status, received_at): a batch processed
                # before the cutoff was received before it.
                "DELETE FROM monitoring_inboxbatch WHERE id IN (SELECT id FROM monitoring_inboxbatch"
                " WHERE status = %s AND received_at < %s AND processed_at < %s LIMIT %s)",
                [InboxBatch.Status.DONE, cutoff, cutoff, INBOX_PRUNE_CHUNK],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < INBOX_PRUNE_CHUNK:
                return deleted
