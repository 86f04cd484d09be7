"""The write path: normalized spans -> runs, steps, scores, escalations, edges and rollup cells."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from agentops.models import Agent, ModelPrice
from monitoring.ingest import bulk, edges, invocations, outbox
from monitoring.ingest.models import Escalation, Run, Score, Step, StepKind
from monitoring.ingest.recompute import (
    StepRow,
    _aggregate,
    _fingerprint,
    _inherit_agents,
    _link_prompts,
    _text_hints,
    recompute_runs,
)
from monitoring.intake.normalize import MAX_SPAN_COST, SpanRecord
from monitoring.rollups import cells as rollups
from monitoring.rollups import insight_cells


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
        loaded.escalations[run.pk] = new.escalations.get(trace_id, [])
        loaded.scores[run.pk] = new.scores.get(trace_id, [])
    run_ids = sorted(r.pk for r in runs_by_trace.values())
    # Each agent's own runs inside these traces, replaced wholesale for the runs stored before.
    left = invocations.refresh_for_runs({run.pk: run.trace_id for run in runs_by_trace.values()}, loaded,
                                        replace=[run.pk for run in existing], failures=failures_of(runs_by_trace.values()))
    insight_cells.record_signatures(getattr(run, "failure_signature", None) for run in runs_by_trace.values())
    # The edges of these runs come from the rows just computed.
    edges.refresh_for_runs(run_ids, known=dataclasses.replace(loaded, created=created_ids))
    # Announced to higher apps (handoff tickets) after this transaction commits, never inside it.
    outbox.announce(run_ids=run_ids, escalation_ids=escalation_ids)
    # Rollups last: their cells (an agent's minute, the fleet's) are shared with every concurrent
    # ingest transaction, and their row and advisory locks are held until commit. Taken last, the
    # other worker waits for a commit, not for the rest of this batch.
    stored = runs_by_trace.values()
    rollups.refresh_for_runs(run_ids, previous=previous, new_ids=created_ids,  # new: counted in no cell yet
                             previous_invocations=left,
                             window=(min(run.started_at for run in stored), max(run.ended_at for run in stored)))
    return run_ids


def failures_of(runs: Iterable[Run]) -> dict[int, tuple[str, bool]]:
    """Run id -> (failure fingerprint, failed with an error) of runs that failed or escalated."""
    return {run.pk: (run.fingerprint, run.status == "error") for run in runs if run.fingerprint}


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
        # Steps are found by their run (step_run_idx): the traces' runs first.
        traces = dict(Run.objects.filter(trace_id__in={t for t, _ in outside}, started_at__range=_trace_window(records))
                      .values_list("id", "trace_id"))
        for run_id, span_id, slug, name in Step.objects.filter(
            run_id__in=traces, span_id__in={s for _, s in outside}
        ).values_list("run_id", "span_id", "agent__slug", "agent__name"):
            if (traces[run_id], span_id) in outside:
                stored[(traces[run_id], span_id)] = (slug, name)
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
    escalations: dict[str, list[edges.Escalated]]  # trace id -> its escalations (agent, span)
    scores: dict[str, list[tuple[str, float]]]  # trace id -> (span id, value on 0..1) of its evaluations
    agent_of: dict[tuple[str, str], int]  # (trace id, span id) -> the step's agent after inheritance
    runs: list[Run]  # as computed, in trace id order


def _create_or_lock_runs(records: list[SpanRecord], agents: dict[str, int]) -> tuple[dict[str, Run], NewRuns]:
    """Lock the runs of traces stored before, and insert the runs of new traces complete.

    The traces are locked first (``_lock_traces``, in one global order, so two workers never
    deadlock), then their stored runs are read: no other transaction can create or change a run of
    these traces until this one commits. A new trace's run is computed from the records (all its
    steps are here) and inserted with every column in one COPY, instead of a placeholder that a
    recompute then rewrites (an UPDATE that touched every index of the run). Returns every touched
    run by trace id (sorted) and the runs created."""
    traces = sorted({r.trace_id for r in records})
    _lock_traces(traces)
    runs = _lock_stored(traces, _trace_window(records))
    new = _compute_new_runs(records, [t for t in traces if t not in runs], agents)
    if new.rows:
        columns = tuple(f.attname for f in Run._meta.concrete_fields)
        with connection.cursor() as cursor:
            bulk.copy_rows(cursor.cursor, Run._meta.db_table, columns,
                           [tuple(getattr(run, c) for c in columns) for run in new.runs])
        for run in new.runs:
            run._state.adding, run._state.db = False, connection.alias  # as if loaded: it is stored now
            runs[run.trace_id] = run
    return dict(sorted(runs.items())), new


# Key space of the per-trace advisory locks (the two-key form: apart from the rollups' one-key locks).
_TRACE_LOCK = 0x54524143  # "TRAC"


def _lock_traces(traces: list[str]) -> None:
    """Serialise transactions writing the same traces. The run table is partitioned by start, so a
    unique index cannot enforce one run per trace id (it would have to include started_at); the lock,
    held until commit and taken in one global order, makes "look up, else insert" safe instead."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT hashtext(t) AS k FROM unnest(%s::text[]) t"
            " ORDER BY k) keys",
            [_TRACE_LOCK, traces],
        )


def _trace_window(records: list[SpanRecord]) -> tuple[datetime, datetime]:
    """Where a stored run of these traces can start: within TELEMETRY_TRACE_WINDOW_HOURS of the
    records' spans. Bounds the lookup to a few day partitions instead of all of them; a span arriving
    more than the window away from its trace's stored run starts a new run of the same trace id."""
    window = timedelta(hours=settings.TELEMETRY_TRACE_WINDOW_HOURS)
    return min(r.started_at for r in records) - window, max(r.started_at for r in records) + window


def _lock_stored(traces: list[str], window: tuple[datetime, datetime]) -> dict[str, Run]:
    """The stored runs of ``traces`` starting within ``window``, locked (FOR UPDATE) in trace id order."""
    runs = Run.objects.select_for_update().filter(trace_id__in=traces, started_at__range=window)
    return {run.trace_id: run for run in runs.order_by("trace_id")}


def _compute_new_runs(records: list[SpanRecord], traces: list[str], agents: dict[str, int]) -> NewRuns:
    """Runs for ``traces`` (not stored yet), with ids drawn from the run sequence, computed from the
    records exactly as ``recompute_runs`` would from the stored rows."""
    wanted = set(traces)
    result = NewRuns(rows={}, escalations={}, scores={}, agent_of={}, runs=[])
    if not wanted:
        return result
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('monitoring_run', 'id')) FROM generate_series(1, %s)",
                       [len(traces)])
        ids = dict(zip(traces, (pk for (pk,) in cursor.fetchall()), strict=True))
    prices = _prices(records)
    seen: set[tuple[str, str]] = set()
    rows: dict[str, list[StepRow]] = defaultdict(list)
    scores: dict[str, dict[str, tuple[str, float | None]]] = defaultdict(dict)
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
            r.prompt_version,
        ))
        for score in r.scores:
            scores[r.trace_id].setdefault(score.dedupe_key, (r.span_id, score.value))  # first wins, as the score insert
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
        quality = [(span, v) for span, v in scores.get(trace_id, {}).values() if v is not None and 0 <= v <= 1]
        run.quality_score = math.fsum(v for _, v in quality) / len(quality) if quality else None
        result.scores[trace_id] = quality
        run.has_escalation = trace_id in escalated
        by_span = {step.span_id: step for step in steps}
        result.rows[trace_id] = steps
        result.escalations[trace_id] = [edges.Escalated(by_span[span_id].agent_id, span_id)
                                        for span_id in escalated.get(trace_id, [])]
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
            cost = price.cost(record.input_tokens, record.output_tokens)
            return min(cost, MAX_SPAN_COST).quantize(Decimal("0.000001"))
    return Decimal("0")


STEP_COLUMNS = (
    "run_id", "span_id", "parent_span_id", "agent_id", "declared_agent", "name", "kind", "operation",
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
            str(run_id), r.span_id, r.parent_span_id, str(agent_id),
            "t" if r.declared_agent else "f", esc(r.name), r.kind, esc(r.operation), esc(r.model),
            esc(r.tool_name), r.started_at.isoformat(), r.ended_at.isoformat(), repr(float(r.duration_ms)),
            r.status, esc(r.error_type), esc(r.error_message), str(int(r.input_tokens)),
            str(int(r.output_tokens)), str(cost), esc(r.input), esc(r.output),
            as_json(r.attributes), as_json(r.events),
        )))
    if direct:
        with connection.cursor() as cursor:
            bulk.copy_lines(cursor.cursor, Step._meta.db_table, STEP_COLUMNS, direct)
    # A span is stored once per run: the step table has no unique index (see Step), and this
    # transaction holds the trace locks (_lock_traces), so no other one inserts these runs' steps.
    _insert_ignoring_conflicts(Step, STEP_COLUMNS, lines=lines, absent=("run_id", "started_at", "span_id"))


def _insert_scores(records: list[SpanRecord], runs: dict[str, Run]) -> None:
    columns = ("run_id", "span_id", "name", "value", "label", "comment", "source", "dedupe_key", "occurred_at")
    _insert_ignoring_conflicts(Score, columns, [
        (runs[r.trace_id].pk, r.span_id, s.name, s.value, s.label, s.comment, Score.Source.EVALUATION, s.dedupe_key,
         r.started_at)
        for r in records
        for s in r.scores
    ])


def _insert_ignoring_conflicts(
    model: type[models.Model], columns: tuple[str, ...], rows: list[tuple] = (), returning: tuple[str, ...] = (), *,
    lines: list[str] | None = None, absent: tuple[str, ...] = (),
) -> list[tuple]:
    """``bulk_create(..., ignore_conflicts=True)`` without model instances: ``rows`` give ``columns``
    (or ``lines``, already COPY-formatted); every other column (but the primary key) gets its
    field's default, evaluated once per call, as bulk_create would. Rows are COPYed through a staging
    table (``bulk``), then one INSERT ... SELECT ... ON CONFLICT DO NOTHING. With ``returning``
    (column names), returns those columns of the rows actually inserted. ``absent``: see
    ``bulk.insert_lines_ignoring_conflicts``."""
    lines = [bulk.line(row) for row in rows] if lines is None else lines
    if not lines:
        return []
    rest = [f for f in model._meta.concrete_fields if not f.primary_key and f.column not in columns]
    constants = [(f.column, _base_type(f), f.get_db_prep_save(f.get_default(), connection)) for f in rest]
    # savepoint=False: only makes sure of a transaction (the staging table empties at each commit).
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        return bulk.insert_lines_ignoring_conflicts(
            cursor.cursor, model._meta.db_table, columns, lines, constants=constants, returning=returning,
            absent=absent,
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
            " ON e.trace_id = k.trace_id AND e.span_id = k.span_id"
            " WHERE e.occurred_at >= %s AND e.occurred_at <= %s ORDER BY e.id",  # prunes to the batch's days
            [[row[2] for row in rows], [row[3] for row in rows], min(row[7] for row in rows),
             max(row[7] for row in rows)],
        )
        return [escalation_id for (escalation_id,) in cursor.fetchall()]
