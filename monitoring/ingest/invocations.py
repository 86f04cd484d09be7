"""Agent invocations derived from a run's steps: each agent's own run inside a trace.

Rule (docs/telemetry.md): a step starts an invocation when it is an ``agent`` step (invoke_agent),
when its parent is not among the run's steps (the root, or a span whose parent has not arrived), or
when its agent differs from its parent's. Every other step belongs to the invocation of its nearest
ancestor that starts one, so each step belongs to exactly one invocation and the own figures of a
run's invocations add up to the run's.

Pure: step rows in, invocation rows out, deterministic in the *set* of steps (never their order), so
a trace stored in pieces ends with the invocations of the whole trace. ``store`` replaces a run's rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from agentops.models import PromptVersion
from monitoring.ingest import bulk
from monitoring.ingest.edges import Escalated, RunRows
from monitoring.ingest.fingerprint import first_failed_step
from monitoring.ingest.models import Run
from monitoring.ingest.recompute import STEP_ROW_FIELDS, StepRow
from monitoring.rollups import cells as rollups
from monitoring.rollups import insight_cells

_ERROR, _LLM, _AGENT = "error", "llm", "agent"


@dataclass(slots=True)
class InvocationRow:
    run_id: int
    trace_id: str
    span_id: str
    parent_span_id: str
    agent_id: int
    caller_agent_id: int | None
    name: str
    started_at: datetime
    ended_at: datetime
    duration_ms: float
    status: str
    error_type: str
    model: str
    prompt_version: str
    prompt_id: int | None
    step_count: int
    input_tokens: int
    output_tokens: int
    cost: Decimal
    total_input_tokens: int
    total_output_tokens: int
    total_cost: Decimal
    quality_score: float | None
    escalations: int
    fingerprint: str = ""  # the run's failure fingerprint, on the invocation where the run failed


COLUMNS = tuple(InvocationRow.__slots__)


def _starts(step, parent) -> bool:
    return step.kind == _AGENT or parent is None or parent.agent_id != step.agent_id


def owners(steps: list) -> dict[str, str]:
    """span id -> span id of the invocation the step belongs to (a starting step owns itself)."""
    by_span = {s.span_id: s for s in steps}
    owner: dict[str, str] = {}
    for step in steps:
        path, current = [], step
        while current.span_id not in owner:
            parent = by_span.get(current.parent_span_id)
            if _starts(current, parent) or current.span_id in path:  # ``path`` guards a malformed cycle
                owner[current.span_id] = current.span_id
                break
            path.append(current.span_id)
            current = parent
        found = owner[current.span_id]
        for span_id in path:
            owner[span_id] = found
    return owner


def derive(
    run_id: int, trace_id: str, steps: list, scores: Iterable[tuple[str, float]] = (),
    escalation_spans: Iterable[str] = (), failure: tuple[str, bool] | None = None,
) -> list[InvocationRow]:
    """The invocations of one run. ``steps``: objects with StepRow's attributes (agents already
    inherited) and ``prompt_version``; ``scores``: (span id, value on 0..1), blank span id for
    feedback on the whole run (it goes to the top invocation); ``escalation_spans``: one span id per
    escalation; ``failure``: the run's fingerprint and whether the run failed with an error (else it
    escalated), which goes on the invocation where it failed (``failing_span``)."""
    if not steps:
        return []
    by_span = {s.span_id: s for s in steps}
    owner = owners(steps)
    own: dict[str, list] = defaultdict(list)
    for step in sorted(steps, key=lambda s: (s.started_at, s.span_id)):
        own[owner[step.span_id]].append(step)
    heads = sorted((by_span[span_id] for span_id in own), key=lambda s: (s.started_at, s.span_id))
    top = next((h for h in heads if not h.parent_span_id), heads[0])
    quality: dict[str, list[float]] = defaultdict(list)
    for span_id, value in scores:
        quality[owner.get(span_id, top.span_id) if span_id else top.span_id].append(value)
    escalated: dict[str, int] = defaultdict(int)
    for span_id in escalation_spans:
        escalated[owner.get(span_id, top.span_id)] += 1
    rows: dict[str, InvocationRow] = {}
    for head in heads:
        parent = by_span.get(head.parent_span_id)
        members = own[head.span_id]
        llm = [s for s in members if s.kind == _LLM]
        errored = [s for s in members if s.status == _ERROR]
        error_type = ""
        if head.status == _ERROR:
            error_type = head.error_type or next((s.error_type for s in errored if s.error_type), "Error")
        version = head.prompt_version or next((s.prompt_version for s in members if s.prompt_version), "")
        values = quality.get(head.span_id)
        inp, out = sum(s.input_tokens for s in llm), sum(s.output_tokens for s in llm)
        cost = sum((Decimal(s.cost) for s in llm), Decimal(0))
        rows[head.span_id] = InvocationRow(
            run_id, trace_id, head.span_id, owner[parent.span_id] if parent is not None else "",
            head.agent_id, parent.agent_id if parent is not None else None, head.name[:255],
            head.started_at, head.ended_at, float(head.duration_ms), head.status, error_type[:255],
            (head.model or next((s.model for s in llm if s.model), ""))[:120], (version or "")[:64], None,
            len(members), inp, out, cost, inp, out, cost,
            math.fsum(values) / len(values) if values else None, escalated.get(head.span_id, 0),
        )
    _add_nested_totals(rows)
    if failure is not None and failure[0]:
        escalation_spans = list(escalation_spans)
        span = failing_span(steps, failure[1], escalation_spans)
        rows[owner.get(span, top.span_id) if span else top.span_id].fingerprint = failure[0][:40]
    return list(rows.values())


def failing_span(steps: list, failed: bool, escalation_spans: list[str]) -> str:
    """The span a run's failure fingerprint describes (``fingerprint.failure_signature``): its first
    failed step when the run failed with an error, else its first escalating step; "" when there is
    none (the failure is then the top invocation's)."""
    if failed:
        step = first_failed_step(steps)
        return step.span_id if step is not None else ""
    escalating = set(escalation_spans)
    candidates = [s for s in steps if s.span_id in escalating]
    return min(candidates, key=lambda s: (s.started_at, s.span_id)).span_id if candidates else ""


def _add_nested_totals(rows: dict[str, InvocationRow]) -> None:
    """Inclusive figures: each invocation's own figures added to every calling invocation above it."""
    for row in rows.values():
        seen, current = {row.span_id}, rows.get(row.parent_span_id)
        while current is not None and current.span_id not in seen:
            seen.add(current.span_id)
            current.total_input_tokens += row.input_tokens
            current.total_output_tokens += row.output_tokens
            current.total_cost += row.cost
            current = rows.get(current.parent_span_id)


def link_prompts(rows: list[InvocationRow]) -> None:
    """Each invocation's prompt version is its own agent's (the version its spans carry)."""
    wanted = {(r.agent_id, int(r.prompt_version)) for r in rows if r.prompt_version.isdigit()}
    if not wanted:
        return
    found = {
        (agent_id, version): pk for pk, agent_id, version in PromptVersion.objects.filter(
            agent_id__in={a for a, _ in wanted}, version__in={v for _, v in wanted},
        ).values_list("id", "agent_id", "version")
    }
    for row in rows:
        if row.prompt_version.isdigit():
            row.prompt_id = found.get((row.agent_id, int(row.prompt_version)))


def store(rows: list[InvocationRow], replace_runs: list[int] = ()) -> list[tuple[int, datetime]]:
    """Replace the invocations of ``replace_runs`` (stored before) and insert ``rows``; the insight
    cells follow (the rows removed subtracted, those written added). Returns the (agent id, start)
    of the rows deleted, so rollups can recompute the cells they left.

    Precondition: the runs are locked by the caller (ingest holds their rows FOR UPDATE)."""
    removed: list[tuple] = []
    with connection.cursor() as cursor:
        if replace_runs:
            cursor.execute(_DELETE_SQL, [sorted(set(replace_runs))])
            removed = cursor.fetchall()
        if rows:
            bulk.copy_rows(cursor.cursor, "monitoring_invocation", COLUMNS,
                           [tuple(getattr(r, c) for c in COLUMNS) for r in rows])
    insight_cells.apply_invocations(removed, [insight_cells.invocation_tuple(r) for r in rows])
    return [(row[1], row[0]) for row in removed]


_DELETE_SQL = (
    "DELETE FROM monitoring_invocation WHERE run_id = ANY(%s) RETURNING started_at, agent_id, prompt_id, prompt_version,"
    " model, status, escalations > 0, quality_score, cost, duration_ms, fingerprint, caller_agent_id, input_tokens,"
    " output_tokens"
)


def refresh_for_runs(traces: dict[int, str], known: RunRows, replace: Iterable[int] = (),
                     failures: dict[int, tuple[str, bool]] | None = None) -> list[tuple[int, datetime]]:
    """Derive and store the invocations of the runs in ``traces`` (run id -> trace id) from ``known``
    (``edges.RunRows`` as ingest just computed them: steps after inheritance, escalations, scores).
    ``replace``: those runs that may have stored invocations. ``failures``: run id -> (its failure
    fingerprint, whether it failed with an error), as just computed. Returns the (agent id, start)
    of the rows replaced (for the rollup cells they leave)."""
    rows = []
    failures = failures or {}
    for run_id in sorted(traces):
        rows += derive(run_id, traces[run_id], known.steps.get(run_id, []), known.scores.get(run_id, ()),
                       [e.span_id for e in known.escalations.get(run_id, ())], failures.get(run_id))
    link_prompts(rows)
    return store(rows, list(replace))


def load_rows(run_ids: list[int]) -> RunRows:
    """What ``refresh_for_runs`` needs of stored runs, read from the database (three statements):
    their steps (as stored, agents inherited at ingest), escalations and 0..1 scores."""
    steps: dict[int, list] = {run_id: [] for run_id in run_ids}
    escalations: dict[int, list] = {run_id: [] for run_id in run_ids}
    scores: dict[int, list] = {run_id: [] for run_id in run_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(STEP_ROW_FIELDS)}, coalesce(attributes->>'agentops.prompt.version', '')"  # noqa: S608 (constant names)
            " FROM monitoring_step WHERE run_id = ANY(%s)", [run_ids],
        )
        for *values, prompt_version in cursor.fetchall():
            steps[values[0]].append(StepRow(*values, prompt_version=prompt_version))
        cursor.execute("SELECT run_id, agent_id, span_id FROM monitoring_escalation WHERE run_id = ANY(%s)", [run_ids])
        for run_id, agent_id, span_id in cursor.fetchall():
            escalations[run_id].append(Escalated(agent_id, span_id))
        cursor.execute("SELECT run_id, span_id, value FROM monitoring_score WHERE run_id = ANY(%s)"
                       " AND value >= 0 AND value <= 1", [run_ids])
        for run_id, span_id, value in cursor.fetchall():
            scores[run_id].append((span_id, value))
    return RunRows(started_at={}, steps=steps, escalations=escalations, scores=scores)


def rebuild_for_runs(run_ids: list[int]) -> int:
    """Derive the invocations of stored runs again from their stored steps (backfill, repairs) and
    recompute the rollup cells they touch. One transaction; locks the runs first, as ingest does.
    Returns the number of invocations written."""
    with transaction.atomic():
        locked = list(Run.objects.select_for_update().filter(pk__in=run_ids).order_by("pk")
                      .values_list("pk", "trace_id", "fingerprint", "status"))
        if not locked:
            return 0
        traces = {pk: trace_id for pk, trace_id, _fp, _status in locked}
        failures = {pk: (fp, status == "error") for pk, _trace, fp, status in locked}
        ids = sorted(traces)
        known = load_rows(ids)
        left = refresh_for_runs(traces, known, replace=ids, failures=failures)
        rollups.refresh_for_runs(ids, previous_invocations=left)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM monitoring_invocation WHERE run_id = ANY(%s)", [ids])
            return cursor.fetchone()[0]
