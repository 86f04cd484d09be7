"""Telemetry intake services: accept (inbox), ingest (worker), feedback, dead letters, sweeping.

Durability: ``accept_batch`` commits the raw body before the sender hears 200/202 and enqueues the
Celery task on commit. ``ingest_batch`` processes one inbox row in one transaction, idempotently:
rows are keyed on OpenTelemetry ids (steps on (trace_id, span_id), runs on trace_id, scores on
(run, dedupe key), escalations on (trace_id, span_id)), and run aggregates are recomputed from *all*
stored steps of each touched trace, so batches may arrive in any order, twice, or be replayed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Avg, Q
from django.utils import timezone
from psycopg2.extras import execute_values

from agentops.models import Agent, ApiKey, ModelPrice, PromptVersion

from . import bulk, edges, native, otlp, rollups
from .fingerprint import fingerprint_run
from .models import Escalation, InboxBatch, Run, RunStatus, Score, Step, StepKind
from .normalize import NormalizedBatch, SpanRecord, normalize_spans
from .signals import escalations_recorded, runs_recorded

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
PREVIEW_CHARS = 500
PENDING_COUNT_CACHE_SECONDS = 1
# Set while a drain_inbox task is queued and not started (see wake_workers); expires in case the
# message is lost, so a later batch publishes a new one (the sweeper covers the time between).
WAKE_KEY = "intake:wake"
WAKE_SECONDS = 30
# Step columns needed to recompute a run; the big text/JSON columns stay in the database.


@dataclass(slots=True)
class StepRow:
    """The columns of a stored step that run aggregates and agent-map edges need (the big text/JSON
    columns stay in the database; plain tuples are several times cheaper to load than model
    instances). Rows built from a batch's own records (runs this transaction created) also carry
    ``error_message`` and ``events``, so that failure fingerprints need not read the steps back."""

    run_id: int
    span_id: str
    parent_span_id: str
    agent_id: int
    declared_agent: bool
    kind: str
    name: str
    tool_name: str
    model: str
    started_at: datetime
    ended_at: datetime
    duration_ms: float
    status: str
    error_type: str
    input_tokens: int
    output_tokens: int
    cost: Decimal
    error_message: str | None = None
    events: list | None = None


STEP_ROW_FIELDS = tuple(f for f in StepRow.__slots__ if f not in ("error_message", "events"))


class BatchRejected(ValueError):
    """A whole native-API request is unusable (400)."""


# ---------------------------------------------------------------------------------------------
# Accepting (web process)
# ---------------------------------------------------------------------------------------------


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


def enqueue(batch_id: int) -> None:
    """Hand one batch to Celery (sweeper, replays). A broker outage is not the sender's problem: the
    sweeper retries."""
    from .tasks import process_batch

    try:
        process_batch.apply_async(args=[batch_id])
    except Exception:  # noqa: BLE001 - any broker failure; the row is durable and swept later
        logger.warning("could not enqueue inbox batch %s; the sweeper will pick it up", batch_id, exc_info=True)


def wake_workers() -> None:
    """After a batch is committed: make sure a worker will look at the inbox. Publishes a
    ``drain_inbox`` task unless one is already queued and has not started yet (``WAKE_KEY``, set here
    with SET NX; a drain deletes it before its first look at the inbox, so a batch committed before
    this call is seen by that drain). One message per drain instead of one per batch: a drain ingests
    every waiting batch, in groups, and a message per batch mostly found its batch already done
    (≈ 2 ms of Celery work each, 20 µs per span). A broker or cache outage is not the sender's
    problem: the sweeper enqueues pending batches it finds."""
    from .tasks import drain_inbox

    try:
        if not cache.add(WAKE_KEY, 1, WAKE_SECONDS):
            return  # a drain is queued and will see this batch
    except Exception:  # noqa: BLE001 - cache down: publish anyway
        logger.warning("could not check the wake-up key; publishing a drain", exc_info=True)
    try:
        drain_inbox.apply_async()
    except Exception:  # noqa: BLE001 - any broker failure; the row is durable and swept later
        logger.warning("could not wake a worker; the sweeper will pick the inbox up", exc_info=True)
        forget_wake_up()


def forget_wake_up() -> None:
    """Let the next accepted batch publish a drain (the queued one is gone, or a drain started)."""
    try:
        cache.delete(WAKE_KEY)
    except Exception:  # noqa: BLE001 - cache down: wake_workers publishes anyway
        logger.warning("could not delete the wake-up key", exc_info=True)


# ---------------------------------------------------------------------------------------------
# Decoding a stored batch
# ---------------------------------------------------------------------------------------------


def normalize_batch(batch: InboxBatch) -> NormalizedBatch:
    """Same decision the intake view made: decode, then normalize against the receive time."""
    payload = bytes(batch.payload)
    if batch.compressed:
        payload = otlp.gunzip_capped(payload, settings.INTAKE_MAX_DECOMPRESSED_BYTES)
    allowed = restricted_agent(batch.api_key)
    cap = settings.INTAKE_TEXT_CAP_BYTES
    if batch.kind == InboxBatch.Kind.NATIVE_RUNS:
        spans = native.decode_runs(payload).spans
    else:
        content_type = otlp.JSON if batch.kind == InboxBatch.Kind.OTLP_JSON else otlp.PROTOBUF
        spans = otlp.decode(payload, content_type)
    return normalize_spans(spans, now=batch.received_at, text_cap=cap, allowed_agent=allowed)


# ---------------------------------------------------------------------------------------------
# Ingesting (worker)
# ---------------------------------------------------------------------------------------------


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
    except DatabaseError:
        raise  # transient (connection lost, deadlock, serialization): the task retries with backoff
    except _GroupFailed as failed:
        # Each batch of the group alone: the poison one goes to the dead letters now, the others are
        # stored, instead of the poison batch sinking group after group until it leads one itself.
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
    except DatabaseError:
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
        _relax_commit()
        try:
            records = [record for batch in batches for record in normalize_batch(batch).records]
            # Marked done first (it commits or rolls back with the rest): write_records ends with the
            # rollup cells, whose locks other workers wait for, so only the commit should follow them.
            InboxBatch.objects.filter(pk__in=[b.pk for b in batches]).update(
                status=InboxBatch.Status.DONE, processed_at=timezone.now(), error=""
            )
            run_ids = write_records(records)
        except DatabaseError:
            raise
        except Exception as exc:
            if len(batches) > 1:
                raise _GroupFailed([b.pk for b in batches]) from exc
            raise
        return IngestResult("done", tuple(run_ids), len(records))


def _relax_commit() -> None:
    """Do not wait for this transaction's WAL flush at commit (``synchronous_commit = off``, this
    transaction only). Safe because ingest is idempotent and atomic: a database crash can lose only
    the last few hundred milliseconds of *processing*, never an accepted batch (the inbox row was
    committed synchronously by the intake view), and a lost transaction loses its ``done`` mark
    with it, so the sweeper processes the batch again. Atomicity and ordering of commits are kept."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


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


def drain_inbox(*, seconds: float | None = None, group: int | None = None) -> DrainResult:
    """Ingest waiting batches, oldest first and in groups, until none is left untried or ``seconds``
    (``INTAKE_DRAIN_SECONDS``) have passed; then, if stopped early, wake another drain.

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
        except DatabaseError:
            enqueue(batch_id)  # retried on its own with backoff, not left for the sweeper
            raise
        if time.monotonic() >= deadline:
            wake_workers()
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


def write_records(records: list[SpanRecord]) -> list[int]:
    """Store normalized spans and everything derived from them; returns the touched run ids.

    Runs of traces seen for the first time are computed from the batch's own records and inserted
    complete, in one write; runs stored before are locked, get the new steps, and are recomputed
    from everything stored (one UPDATE).

    Precondition: inside a transaction (the batch's). Used by the worker and by the demo seeder.
    """
    if not records:
        return []
    inherit_agent_keys(records)
    agents = resolve_agents(records)
    runs_by_trace, new = _create_or_lock_runs(records, agents)
    created = new.rows.keys()
    _insert_steps(records, runs_by_trace, agents, new.agent_of, new_traces=created)
    _insert_scores(records, runs_by_trace)
    escalation_ids = _insert_escalations(records, runs_by_trace, agents, new.agent_of)
    existing = [run for trace_id, run in runs_by_trace.items() if trace_id not in created]
    # Where runs stored earlier were counted, before this batch can move them (a late root span
    # starts a run earlier; inheritance can hand it to another agent): their old cells need a refresh.
    previous = [(run.agent_id, run.started_at) for run in existing]
    loaded = recompute_runs(existing, [r for r in records if r.trace_id not in created])
    created_ids = frozenset(runs_by_trace[t].pk for t in created)
    for trace_id, rows in new.rows.items():  # the new runs' rows, as computed for their insert
        run = runs_by_trace[trace_id]
        loaded.started_at[run.pk] = run.started_at
        loaded.steps[run.pk] = rows
        loaded.escalations[run.pk] = [edges.Escalated(agent_id) for agent_id in new.escalations.get(trace_id, [])]
    run_ids = sorted(r.pk for r in runs_by_trace.values())
    # The edges of these runs come from the rows just computed.
    edges.refresh_for_runs(run_ids, known=dataclasses.replace(loaded, created=created_ids))
    runs_recorded.send(sender=Run, run_ids=run_ids)
    if escalation_ids:
        escalations_recorded.send(sender=Escalation, escalation_ids=escalation_ids)
    # Rollups last: their cells (an agent's minute, the fleet's) are shared with every concurrent
    # ingest transaction, and their row and advisory locks are held until commit. Taken last, the
    # other worker waits for a commit, not for the rest of this batch.
    rollups.refresh_for_runs(run_ids, previous=previous, new_ids=created_ids)  # new: counted in no cell yet
    return run_ids


def inherit_agent_keys(records: list[SpanRecord]) -> None:
    """Spans that name no agent take their nearest declaring ancestor's, looked up in the batch and
    then among stored steps, before any agent is resolved: a service.name fallback agent is only
    registered when no ancestor is known yet (recompute_runs fixes those later)."""
    by_key = {(r.trace_id, r.span_id): r for r in records}
    undeclared = [r for r in records if not r.declared_agent and r.parent_span_id]
    if not undeclared:
        return
    outside = {(r.trace_id, r.parent_span_id) for r in undeclared} - by_key.keys()
    stored: dict[tuple[str, str], tuple[str, str]] = {}
    if outside:
        keys = Q()
        for trace_id, span_id in outside:
            keys |= Q(trace_id=trace_id, span_id=span_id)
        for trace_id, span_id, slug, name in Step.objects.filter(keys).values_list(
            "trace_id", "span_id", "agent__slug", "agent__name"
        ):
            stored[(trace_id, span_id)] = (slug, name)
    for record in undeclared:
        found = _declared_ancestor(record, by_key, stored)
        if found is not None:
            record.agent_key, record.agent_name = found


def _declared_ancestor(
    record: SpanRecord, by_key: dict[tuple[str, str], SpanRecord], stored: dict[tuple[str, str], tuple[str, str]]
) -> tuple[str, str] | None:
    parent_key, hops = (record.trace_id, record.parent_span_id), 0
    while hops <= len(by_key):
        parent = by_key.get(parent_key)
        if parent is None:
            return stored.get(parent_key)
        if parent.declared_agent:
            return parent.agent_key, parent.agent_name
        if not parent.parent_span_id:
            return None
        parent_key, hops = (parent.trace_id, parent.parent_span_id), hops + 1
    return None


def resolve_agents(records: Iterable[SpanRecord]) -> dict[str, int]:
    """slug -> agent id, registering unknown agents as "discovered" for an operator to adopt."""
    names: dict[str, str] = {}
    for record in records:
        names.setdefault(record.agent_key, record.agent_name)
    known = dict(Agent.objects.filter(slug__in=names).values_list("slug", "id"))
    missing = [Agent(slug=slug, name=names[slug][:120], discovered=True) for slug in names if slug not in known]
    if missing:
        Agent.objects.bulk_create(missing, ignore_conflicts=True)  # a concurrent batch may win the race
        known = dict(Agent.objects.filter(slug__in=names).values_list("slug", "id"))
    return known


@dataclass
class NewRuns:
    """Runs this transaction created (traces seen for the first time), computed from the records."""

    rows: dict[str, list[StepRow]]  # trace id -> the run's steps (every one is in this batch)
    escalations: dict[str, list[int]]  # trace id -> agent ids of its escalations
    agent_of: dict[tuple[str, str], int]  # (trace id, span id) -> the step's agent after inheritance
    runs: list[Run]  # as computed, in trace id order (those another transaction created first included)


def _create_or_lock_runs(records: list[SpanRecord], agents: dict[str, int]) -> tuple[dict[str, Run], NewRuns]:
    """Lock the runs of traces stored before, and insert the runs of new traces complete.

    Locks go in trace id order, so two workers never deadlock on stored runs. A new trace's run is
    computed from the records (until this transaction commits no one else can store a step of it, so
    all its steps are here) and inserted with every column in one write, instead of a placeholder
    that a recompute then rewrites (an UPDATE that touched every index of the run). A trace that
    another transaction created meanwhile (the insert conflicts) is locked and recomputed like a
    stored one. Returns every touched run by trace id (sorted) and the runs created."""
    traces = sorted({r.trace_id for r in records})
    runs = _lock_stored(traces)
    new = _compute_new_runs(records, [t for t in traces if t not in runs], agents)
    if new.rows:
        columns = tuple(f.attname for f in Run._meta.concrete_fields)
        inserted = {trace_id for (trace_id,) in _insert_ignoring_conflicts(
            Run, columns, [tuple(getattr(run, c) for c in columns) for run in new.runs], returning="trace_id"
        )}
        for run in new.runs:
            if run.trace_id in inserted:
                run._state.adding, run._state.db = False, connection.alias  # as if loaded: it is stored now
                runs[run.trace_id] = run
        raced = sorted(run.trace_id for run in new.runs if run.trace_id not in inserted)
        if raced:
            for trace_id in raced:
                del new.rows[trace_id]
                new.escalations.pop(trace_id, None)
            new.agent_of = {key: agent for key, agent in new.agent_of.items() if key[0] in new.rows}
            runs.update(_lock_stored(raced))
    return dict(sorted(runs.items())), new


def _lock_stored(traces: list[str]) -> dict[str, Run]:
    """The stored runs of ``traces``, locked (FOR UPDATE) in trace id order."""
    return {run.trace_id: run for run in Run.objects.select_for_update().filter(trace_id__in=traces).order_by("trace_id")}


def _compute_new_runs(records: list[SpanRecord], traces: list[str], agents: dict[str, int]) -> NewRuns:
    """Runs for ``traces`` (not stored yet), with ids drawn from the run sequence, computed from the
    records exactly as ``recompute_runs`` would from the stored rows."""
    wanted = set(traces)
    result = NewRuns(rows={}, escalations={}, agent_of={}, runs=[])
    if not wanted:
        return result
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('monitoring_run', 'id')) FROM generate_series(1, %s)",
                       [len(traces)])
        ids = dict(zip(traces, (pk for (pk,) in cursor.fetchall()), strict=True))
    prices = _prices(records)
    seen: set[tuple[str, str]] = set()
    rows: dict[str, list[StepRow]] = defaultdict(list)
    scores: dict[str, dict[str, float | None]] = defaultdict(dict)
    escalated: dict[str, list[str]] = defaultdict(list)
    for r in records:
        key = (r.trace_id, r.span_id)
        if r.trace_id not in wanted or key in seen:
            continue  # a span sent twice is stored once: its first occurrence (as the step insert does)
        seen.add(key)
        rows[r.trace_id].append(StepRow(
            ids[r.trace_id], r.span_id, r.parent_span_id, agents[r.agent_key], r.declared_agent, r.kind, r.name,
            r.tool_name, r.model, r.started_at, r.ended_at, float(r.duration_ms), r.status, r.error_type,
            int(r.input_tokens), int(r.output_tokens), step_cost(r, prices), r.error_message, r.events,
        ))
        for score in r.scores:
            scores[r.trace_id].setdefault(score.dedupe_key, score.value)  # first wins, as the score insert
        if r.escalation is not None:
            escalated[r.trace_id].append(r.span_id)
    # Run(*values) takes Django's positional fast path: with keyword arguments each instance resolves
    # every field's default, which cost more than computing the run.
    fields = Run._meta.concrete_fields
    defaults = [f.get_default() for f in fields]
    slots = {f.attname: index for index, f in enumerate(fields)}
    defaults[slots["ingested_at"]] = timezone.now()
    for trace_id in traces:
        steps = rows[trace_id]
        _inherit_agents(steps)
        values = defaults.copy()
        values[slots["id"]], values[slots["trace_id"]] = ids[trace_id], trace_id
        run = Run(*values)
        _aggregate(run, steps)
        quality = [v for v in scores.get(trace_id, {}).values() if v is not None and 0 <= v <= 1]
        run.quality_score = math.fsum(quality) / len(quality) if quality else None
        run.has_escalation = trace_id in escalated
        by_span = {step.span_id: step for step in steps}
        result.rows[trace_id] = steps
        result.escalations[trace_id] = [by_span[span_id].agent_id for span_id in escalated.get(trace_id, [])]
        result.agent_of.update(((trace_id, step.span_id), step.agent_id) for step in steps)
        result.runs.append(run)
    _text_hints(result.runs, [r for r in records if r.trace_id in wanted])
    _link_prompts(result.runs)
    _fingerprint(result.runs, {run.pk: result.rows[run.trace_id] for run in result.runs},
                 with_text={run.pk for run in result.runs})
    return result


def _prices(records: list[SpanRecord]) -> dict[str, list[ModelPrice]]:
    models = {r.model for r in records if r.cost is None and r.model and r.kind == StepKind.LLM}
    prices: dict[str, list[ModelPrice]] = defaultdict(list)
    for price in ModelPrice.objects.filter(model_name__in=models).order_by("model_name", "-effective_from"):
        prices[price.model_name].append(price)
    return prices


def step_cost(record: SpanRecord, prices: dict[str, list[ModelPrice]]) -> Decimal:
    """Sent cost, else tokens x the price in force at the span's start; 0 when the model is unpriced."""
    if record.cost is not None:
        return record.cost
    for price in prices.get(record.model, ()):  # newest first
        if price.effective_from <= record.started_at:
            return price.cost(record.input_tokens, record.output_tokens).quantize(Decimal("0.000001"))
    return Decimal("0")


STEP_COLUMNS = (
    "run_id", "trace_id", "span_id", "parent_span_id", "agent_id", "declared_agent", "name", "kind", "operation",
    "model", "tool_name", "started_at", "ended_at", "duration_ms", "status", "error_type", "error_message",
    "input_tokens", "output_tokens", "cost", "input", "output", "attributes", "events",
)


def _insert_steps(
    records: list[SpanRecord], runs: dict[str, Run], agents: dict[str, int],
    agent_of: dict[tuple[str, str], int] | None = None, *, new_traces: Collection[str] = (),
) -> None:
    """COPY the steps into the step table. Several times cheaper than INSERT ... VALUES, whose
    parameters psycopg2 quotes one by one and Postgres parses as one huge statement. The lines are
    built here rather than by ``bulk.field``: ids, kinds and statuses need no escaping.

    Steps of ``new_traces`` (whose runs this transaction inserted) go straight into the table: no
    step of such a trace can be stored, or be written by another transaction before this one
    commits (it would first have to insert the run, and waits on ours). The others go through a
    staging table that skips spans stored before (``bulk.insert_lines_ignoring_conflicts``).

    A span sent twice in the same records is stored once (its first occurrence). ``agent_of``: the
    agent of steps of new runs, after inheritance within the run (``_compute_new_runs``)."""
    prices = _prices(records)
    agent_of = agent_of or {}
    esc, as_json = bulk.text, bulk.json_field
    lines, direct = [], []
    seen: set[tuple[str, str]] = set()
    for r in records:
        key = (r.trace_id, r.span_id)
        if key in seen:
            continue
        seen.add(key)
        run_id, cost = runs[r.trace_id].pk, step_cost(r, prices)
        agent_id = agent_of.get(key) or agents[r.agent_key]
        # Ids are validated hex and kind/status our own constants: no COPY escaping needed.
        (direct if r.trace_id in new_traces else lines).append("\t".join((
            str(run_id), r.trace_id, r.span_id, r.parent_span_id, str(agent_id),
            "t" if r.declared_agent else "f", esc(r.name), r.kind, esc(r.operation), esc(r.model),
            esc(r.tool_name), r.started_at.isoformat(), r.ended_at.isoformat(), repr(float(r.duration_ms)),
            r.status, esc(r.error_type), esc(r.error_message), str(int(r.input_tokens)),
            str(int(r.output_tokens)), str(cost), esc(r.input), esc(r.output),
            as_json(r.attributes), as_json(r.events),
        )))
    if direct:
        with connection.cursor() as cursor:
            bulk.copy_lines(cursor.cursor, Step._meta.db_table, STEP_COLUMNS, direct)
    _insert_ignoring_conflicts(Step, STEP_COLUMNS, lines=lines)


def _insert_scores(records: list[SpanRecord], runs: dict[str, Run]) -> None:
    columns = ("run_id", "span_id", "name", "value", "label", "comment", "source", "dedupe_key")
    _insert_ignoring_conflicts(Score, columns, [
        (runs[r.trace_id].pk, r.span_id, s.name, s.value, s.label, s.comment, Score.Source.EVALUATION, s.dedupe_key)
        for r in records
        for s in r.scores
    ])


def _insert_ignoring_conflicts(
    model: type[models.Model], columns: tuple[str, ...], rows: list[tuple] = (), returning: str = "", *,
    lines: list[str] | None = None,
) -> list[tuple]:
    """``bulk_create(..., ignore_conflicts=True)`` without model instances: ``rows`` give ``columns``
    (or ``lines``, already COPY-formatted); every other column (but the primary key) gets its
    field's default, evaluated once per call, as bulk_create would. Rows are COPYed through a staging
    table (``bulk``), then one INSERT ... SELECT ... ON CONFLICT DO NOTHING. With ``returning``
    (column names), returns those columns of the rows actually inserted."""
    lines = [bulk.line(row) for row in rows] if lines is None else lines
    if not lines:
        return []
    rest = [f for f in model._meta.concrete_fields if not f.primary_key and f.column not in columns]
    constants = [(f.column, _base_type(f), f.get_db_prep_save(f.get_default(), connection)) for f in rest]
    # savepoint=False: only makes sure of a transaction (the staging table empties at each commit).
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        return bulk.insert_lines_ignoring_conflicts(
            cursor.cursor, model._meta.db_table, columns, lines, constants=constants, returning=returning
        )


def _base_type(field: models.Field) -> str:
    """The column's SQL type without its length or precision (for a constant's cast)."""
    return re.sub(r"\(.*\)", "", field.db_type(connection))


def _insert_escalations(
    records: list[SpanRecord], runs: dict[str, Run], agents: dict[str, int],
    agent_of: dict[tuple[str, str], int] | None = None,
) -> list[int]:
    agent_of = agent_of or {}
    columns = ("run_id", "agent_id", "trace_id", "span_id", "reason", "summary", "priority", "occurred_at")
    rows = [
        (runs[r.trace_id].pk, agent_of.get((r.trace_id, r.span_id)) or agents[r.agent_key], r.trace_id, r.span_id,
         r.escalation.reason, r.escalation.summary, r.escalation.priority, r.escalation.occurred_at)
        for r in records
        if r.escalation is not None
    ]
    if not rows:
        return []
    _insert_ignoring_conflicts(Escalation, columns, rows)
    # Every escalation of these spans, also those stored by an earlier delivery (hooks are idempotent).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id FROM monitoring_escalation e JOIN unnest(%s::text[], %s::text[]) AS k(trace_id, span_id)"
            " ON e.trace_id = k.trace_id AND e.span_id = k.span_id ORDER BY e.id",
            [[row[2] for row in rows], [row[3] for row in rows]],
        )
        return [escalation_id for (escalation_id,) in cursor.fetchall()]


# ---------------------------------------------------------------------------------------------
# Run aggregates, recomputed from every stored step of the trace
# ---------------------------------------------------------------------------------------------


def _inherit_agents(steps: list[StepRow]) -> list[StepRow]:
    """Give each step without its own agent the agent of its nearest declaring ancestor.
    Returns the steps whose agent changed."""
    by_span = {s.span_id: s for s in steps}
    changed = []
    for step in steps:
        if step.declared_agent:
            continue
        parent, hops = by_span.get(step.parent_span_id), 0
        while parent is not None and not parent.declared_agent and hops < len(steps):
            parent, hops = by_span.get(parent.parent_span_id), hops + 1
        if parent is not None and parent.declared_agent and parent.agent_id != step.agent_id:
            step.agent_id = parent.agent_id
            changed.append(step)
    return changed


def _root(steps: list[StepRow]) -> StepRow | None:
    roots = [s for s in steps if not s.parent_span_id]
    return min(roots, key=lambda s: (s.started_at, s.span_id)) if roots else None


def _aggregate(run: Run, steps: list[StepRow]) -> None:
    """Set the run's fields from its steps. Deterministic in the set of steps, whatever their order."""
    ordered = sorted(steps, key=lambda s: (s.started_at, s.span_id))
    root = _root(ordered)
    llm = [s for s in ordered if s.kind == StepKind.LLM]
    errored = [s for s in ordered if s.status == RunStatus.ERROR]
    lead = root or next((s for s in ordered if s.declared_agent), ordered[0])
    run.agent_id = lead.agent_id
    run.root_span_id = root.span_id if root else ""
    run.started_at = min(s.started_at for s in ordered)
    run.ended_at = max(s.ended_at for s in ordered)
    run.duration_ms = (run.ended_at - run.started_at).total_seconds() * 1000
    if root is not None:
        run.status = root.status
    else:
        run.status = RunStatus.ERROR if errored else RunStatus.OK
    if run.status == RunStatus.ERROR:
        run.error_type = (root.error_type if root and root.error_type else "") or next(
            (s.error_type for s in errored if s.error_type), "Error"
        )
    else:
        run.error_type = ""
    run.model = (root.model if root and root.model else "") or next((s.model for s in llm if s.model), "")
    run.step_count = len(ordered)
    run.input_tokens = sum(s.input_tokens for s in llm)
    run.output_tokens = sum(s.output_tokens for s in llm)
    run.cost = sum((Decimal(s.cost) for s in llm), Decimal("0"))


def _text_hints(runs: list[Run], records: list[SpanRecord]) -> None:
    """Name, session, prompt version and previews come from the root span, else the first span that
    carries them. Only spans in this batch carry text, so a value is set once and then kept."""
    by_run = {r.trace_id: r for r in runs}
    for record in sorted(records, key=lambda r: (bool(r.parent_span_id), r.started_at, r.span_id)):
        run = by_run[record.trace_id]
        is_root = not record.parent_span_id
        if is_root or not run.name:
            run.name = record.name
        if record.session_id and (is_root or not run.session_id):
            run.session_id = record.session_id
        if record.prompt_version and (is_root or not run.prompt_version):
            run.prompt_version = record.prompt_version
        if is_root:
            run.input_preview = record.input[:PREVIEW_CHARS]
            run.output_preview = record.output[:PREVIEW_CHARS]


def _link_prompts(runs: list[Run]) -> None:
    wanted = {(r.agent_id, int(r.prompt_version)) for r in runs if r.prompt_version.isdigit()}
    if not wanted:
        return
    agent_ids = {a for a, _ in wanted}
    versions = {v for _, v in wanted}
    found = {
        (p.agent_id, p.version): p.pk
        for p in PromptVersion.objects.filter(agent_id__in=agent_ids, version__in=versions).only("id", "agent_id", "version")
    }
    for run in runs:
        if run.prompt_version.isdigit():
            run.prompt_id = found.get((run.agent_id, int(run.prompt_version)))


def _quality(run_ids: list[int]) -> dict[int, float]:
    """Mean score per run over values on the 0..1 scale (evaluations and feedback alike)."""
    rows = (
        Score.objects.filter(run_id__in=run_ids, value__gte=0, value__lte=1)
        .values("run_id").annotate(mean=Avg("value")).values_list("run_id", "mean")
    )
    return dict(rows)


# Run columns recomputed by ingest, with their SQL types for the VALUES list.
RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("agent_id", "bigint"), ("root_span_id", "text"), ("name", "text"), ("session_id", "text"),
    ("started_at", "timestamptz"), ("ended_at", "timestamptz"), ("duration_ms", "float8"), ("status", "text"),
    ("error_type", "text"), ("model", "text"), ("prompt_version", "text"), ("prompt_id", "bigint"),
    ("step_count", "integer"), ("input_tokens", "bigint"), ("output_tokens", "bigint"), ("cost", "numeric"),
    ("quality_score", "float8"), ("has_escalation", "boolean"), ("fingerprint", "text"), ("input_preview", "text"),
    ("output_preview", "text"),
)
# Built from the constant column list above only (no user input), hence the S608 exemption.
_SET_LIST = ", ".join(f"{name} = v.{name}" for name, _ in RUN_COLUMNS)
_VALUE_NAMES = ", ".join(name for name, _ in RUN_COLUMNS)
_RUN_ARRAYS = ", ".join(f"%s::{sql_type}[]" for _, sql_type in RUN_COLUMNS)
_RUN_UPDATE_SQL = (
    f"UPDATE monitoring_run AS r SET {_SET_LIST}"  # noqa: S608
    f" FROM unnest(%s::bigint[], {_RUN_ARRAYS}) AS v(id, {_VALUE_NAMES}) WHERE r.id = v.id"
)


def _save_runs(runs: list[Run]) -> None:
    """One UPDATE ... FROM unnest(...) for all runs (an array per column): Django's bulk_update builds
    a CASE per column and row, which Postgres plans in time quadratic in the batch size."""
    if not runs:
        return
    rows = [(run.pk, *(getattr(run, name) for name, _ in RUN_COLUMNS)) for run in runs]
    with connection.cursor() as cursor:
        cursor.execute(_RUN_UPDATE_SQL, [list(column) for column in zip(*rows, strict=True)])


def recompute_runs(runs: list[Run], records: list[SpanRecord] = ()) -> edges.RunRows:
    """Recompute ``runs`` (locked by the caller) from all their stored steps, scores and escalations
    (``records``: this batch's spans of these runs, for the text hints only stored spans lack).
    Returns the rows used (after agent inheritance), for the agent-map edges."""
    run_ids = [r.pk for r in runs]
    if not runs:
        return edges.RunRows(started_at={}, steps={}, escalations={})
    steps_by_run: dict[int, list[StepRow]] = defaultdict(list)
    for values in Step.objects.filter(run_id__in=run_ids).values_list(*STEP_ROW_FIELDS):
        row = StepRow(*values)
        steps_by_run[row.run_id].append(row)
    moved = [s for steps in steps_by_run.values() for s in _inherit_agents(steps)]
    if moved:
        _move_agents(moved)
    quality = _quality(run_ids)
    escalations: dict[int, list[edges.Escalated]] = defaultdict(list)
    for run_id, agent_id in Escalation.objects.filter(run_id__in=run_ids).values_list("run_id", "agent_id"):
        escalations[run_id].append(edges.Escalated(agent_id))
    for run in runs:
        if steps_by_run.get(run.pk):
            _aggregate(run, steps_by_run[run.pk])
        run.quality_score = quality.get(run.pk)
        run.has_escalation = run.pk in escalations
    _text_hints(runs, list(records))
    _link_prompts(runs)
    _fingerprint(runs)
    _save_runs(runs)
    return edges.RunRows(
        started_at={run.pk: run.started_at for run in runs},
        steps={pk: steps_by_run.get(pk, []) for pk in run_ids},
        escalations={pk: escalations.get(pk, []) for pk in run_ids},
    )


def _move_agents(moved: list[StepRow]) -> None:
    """Store inherited agents on steps, and on their escalations (an escalation belongs to its span's
    agent). One statement each, whatever the number of steps."""
    rows = [(s.run_id, s.span_id, s.agent_id) for s in moved]
    with connection.cursor() as cursor:
        execute_values(
            cursor.cursor,
            "UPDATE monitoring_step AS s SET agent_id = v.agent_id FROM (VALUES %s) AS v(run_id, span_id, agent_id)"
            " WHERE s.run_id = v.run_id AND s.span_id = v.span_id",
            rows, template="(%s::bigint, %s, %s::bigint)", page_size=500,
        )
        execute_values(
            cursor.cursor,
            "UPDATE monitoring_escalation AS e SET agent_id = v.agent_id FROM (VALUES %s) AS v(run_id, span_id, agent_id)"
            " WHERE e.run_id = v.run_id AND e.span_id = v.span_id AND e.agent_id <> v.agent_id",
            [(s.run_id, s.span_id, s.agent_id) for s in moved], template="(%s::bigint, %s, %s::bigint)", page_size=500,
        )


def _fingerprint(
    runs: list[Run], rows: dict[int, list[StepRow]] | None = None, with_text: set[int] = frozenset()
) -> None:
    """Failed or escalated runs get a failure fingerprint computed from their full steps: the rows
    of ``with_text`` runs carry every column the fingerprint reads (they come from this batch's
    records), the other runs' steps are read from the database."""
    flagged = [r for r in runs if r.status == RunStatus.ERROR or r.has_escalation]
    for run in runs:
        if not (run.status == RunStatus.ERROR or run.has_escalation):  # not flagged (no list scan: Model.__eq__ is slow)
            run.fingerprint = ""
    if not flagged:
        return
    steps_by_run: dict[int, list] = defaultdict(list)
    for run in flagged:
        if run.pk in with_text:
            steps_by_run[run.pk] = sorted(rows.get(run.pk, []), key=lambda s: (s.started_at, s.span_id))
    to_read = [r.pk for r in flagged if r.pk not in with_text]
    if to_read:
        # Full Step rows (the fingerprint contract), but the large text columns it never reads stay in
        # the database (deferred: loaded on access, should a future fingerprint need them).
        flagged_steps = Step.objects.filter(run_id__in=to_read).defer("input", "output", "attributes")
        for step in flagged_steps.order_by("started_at", "span_id"):
            steps_by_run[step.run_id].append(step)
    for run in flagged:
        run.fingerprint = fingerprint_run(run, steps_by_run.get(run.pk, []))[:40]


# ---------------------------------------------------------------------------------------------
# Feedback (native API), dead letters, sweeper
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackResult:
    score: Score
    created: bool


def record_feedback(
    trace_id: str, *, name: str, value: float | None, label: str = "", comment: str = "",
    feedback_id: str = "", api_key: ApiKey | None = None,
) -> FeedbackResult:
    """Store a feedback score on an existing run and refresh its quality. Idempotent on ``feedback_id``
    (or on the content when no id is given). Raises Run.DoesNotExist or PermissionError."""
    dedupe = "feedback:" + (feedback_id or hashlib.sha256(f"{name}|{value}|{label}|{comment}".encode()).hexdigest())
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("agent").get(trace_id=trace_id)
        allowed = restricted_agent(api_key)
        if allowed is not None and run.agent.slug != allowed:
            raise PermissionError(f"this key may only send feedback for agent {allowed!r}")
        score, created = Score.objects.get_or_create(
            run=run, dedupe_key=dedupe[:200],
            defaults={"name": name, "value": value, "label": label, "comment": comment, "source": Score.Source.FEEDBACK},
        )
        if created:
            recompute_runs([run])
            rollups.refresh_for_runs([run.pk])
            runs_recorded.send(sender=Run, run_ids=[run.pk])
    return FeedbackResult(score, created)


def replay_batch(batch_id: int) -> bool:
    """Put a dead batch back in the queue. Safe: ingest is idempotent. False if it was not dead."""
    return bool(_requeue_dead(pk=batch_id))


def replay_all_dead() -> int:
    """Put every dead batch back in the queue (after a fix); returns how many. Safe: ingest is
    idempotent, and a batch that fails again returns to the list with its new error."""
    return len(_requeue_dead())


def _requeue_dead(**filters) -> list[int]:
    """Dead batches matching ``filters`` become pending, untried, and are enqueued after commit."""
    with transaction.atomic():
        ids = list(InboxBatch.objects.select_for_update().filter(status=InboxBatch.Status.DEAD, **filters)
                   .order_by("received_at").values_list("id", flat=True))
        InboxBatch.objects.filter(pk__in=ids).update(
            status=InboxBatch.Status.PENDING, error="", attempts=0, processed_at=None, enqueued_at=timezone.now()
        )
        transaction.on_commit(lambda: [enqueue(batch_id) for batch_id in ids])
    return ids


@dataclass(frozen=True)
class SweepResult:
    requeued: list[int]
    dead: list[int]


def sweep_inbox(*, older_than: timedelta = timedelta(minutes=2), limit: int = 500) -> SweepResult:
    """Re-enqueue pending batches not processed in time (killed worker, lost broker message) and give
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
        for batch_id in requeue:
            enqueue(batch_id)
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


DEAD_LETTER_PAGE = 50


@dataclass(frozen=True)
class DeadLetters:
    batches: list[InboxBatch]  # one page, newest first
    total: int
    page: int  # 1-based
    pages: int

    @property
    def newer_page(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def older_page(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def dead_letters(page: object = 1) -> DeadLetters:
    """One page of the dead-letter list, newest first. ``page`` as given in a URL: anything that is
    not a page number shows the first page, a number past the end the last (as Paginator.get_page)."""
    dead = InboxBatch.objects.filter(status=InboxBatch.Status.DEAD)
    rows = dead.defer("payload").select_related("api_key").order_by("-received_at", "-id")
    current = Paginator(rows, DEAD_LETTER_PAGE).get_page(page)
    return DeadLetters(list(current.object_list), current.paginator.count, current.number, current.paginator.num_pages)

