"""Run aggregates recomputed from stored steps (late spans, moved agents), prompt links, fingerprints."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Avg, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from psycopg2.extras import execute_values

from agentops.models import PromptVersion
from monitoring.ingest import edges
from monitoring.ingest.fingerprint import failure_signature
from monitoring.ingest.models import Escalation, Run, RunStatus, Score, Step, StepKind
from monitoring.intake.normalize import PROMPT_VERSION_KEY, SpanRecord

BIGINT_MAX = 2**63 - 1
RUN_COST_MAX = Decimal("99999999.999999")  # Run.cost and Step.cost: numeric(14, 6)

PREVIEW_CHARS = 500


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
    prompt_version: str = ""  # agentops.prompt.version of the span (invocations take their agent's)


STEP_ROW_FIELDS = tuple(f for f in StepRow.__slots__ if f not in ("error_message", "events", "prompt_version"))
# Stored steps keep the prompt version in their attributes only.
_STEP_PROMPT = Coalesce(KT(f"attributes__{PROMPT_VERSION_KEY}"), Value(""), output_field=TextField())


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
    # Saturating sums: a trace of many capped spans stays within its columns (bigint, numeric(14, 6)).
    run.input_tokens = min(sum(s.input_tokens for s in llm), BIGINT_MAX)
    run.output_tokens = min(sum(s.output_tokens for s in llm), BIGINT_MAX)
    run.cost = min(sum((Decimal(s.cost) for s in llm), Decimal("0")), RUN_COST_MAX)


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
    for *values, prompt_version in Step.objects.filter(run_id__in=run_ids).values_list(*STEP_ROW_FIELDS, _STEP_PROMPT):
        row = StepRow(*values, prompt_version=prompt_version)
        steps_by_run[row.run_id].append(row)
    moved = [s for steps in steps_by_run.values() for s in _inherit_agents(steps)]
    if moved:
        _move_agents(moved)
    quality = _quality(run_ids)
    escalations: dict[int, list[edges.Escalated]] = defaultdict(list)
    for run_id, agent_id, span_id in Escalation.objects.filter(run_id__in=run_ids).values_list(
        "run_id", "agent_id", "span_id"
    ):
        escalations[run_id].append(edges.Escalated(agent_id, span_id))
    scores: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for run_id, span_id, value in Score.objects.filter(run_id__in=run_ids, value__gte=0, value__lte=1).values_list(
        "run_id", "span_id", "value"
    ):
        scores[run_id].append((span_id, value))
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
        scores={pk: scores.get(pk, []) for pk in run_ids},
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
            run.fingerprint, run.failure_signature = "", None
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
        # Kept on the instance for ingest to record what the fingerprint stands for (insight_cells).
        run.failure_signature = failure_signature(run, steps_by_run.get(run.pk, []))
        run.fingerprint = run.failure_signature.fingerprint if run.failure_signature is not None else ""
