"""Factories for telemetry rows (runs, steps, scores, escalations) used by every monitoring-side test.

They write rows directly (no ingest pipeline), so tests of dashboards, rollups, handoffs or ROI can
build exactly the data they need. Run totals follow the ingest rules: tokens and cost sum the llm
steps when steps are given, otherwise the explicit ``cost``/``input_tokens``/``output_tokens`` win.

Example::

    run = make_run(agent, status="error", started_at=t0, duration_ms=1200, cost=Decimal("0.02"),
                   steps=[{"kind": "llm", "model": "gpt-4o", "input_tokens": 300, "output_tokens": 40},
                          {"kind": "tool", "tool_name": "issue_refund", "status": "error",
                           "error_type": "TimeoutError"}])
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone

from agentops.models import Agent
from monitoring.models import Escalation, Invocation, RollupCell, Run, RunStatus, Score, Step, StepKind
from monitoring.rollups import cells as rollups
from monitoring.rollups import insight_cells

_seq = itertools.count(1)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def _as_decimal(value: Decimal | str | float | int | None) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def make_run(
    agent: Agent,
    *,
    status: str = RunStatus.OK,
    started_at: datetime | None = None,
    duration_ms: float = 1000.0,
    cost: Decimal | str | float | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    steps: Iterable[dict[str, Any]] | None = None,
    quality_score: float | None = None,
    has_escalation: bool = False,
    error_type: str = "",
    fingerprint: str = "",
    invocation: bool = True,
    **fields: Any,
) -> Run:
    """Create a run and, when ``steps`` is given, its steps (see ``make_step`` for step keys).

    Without steps the run gets a single root agent step so trace views have something to draw;
    pass ``steps=[]`` for a run with no steps at all. The run also gets its top invocation, with the
    run's figures (``invocation=False``: none).
    """
    started_at = started_at or timezone.now() - timedelta(minutes=5)
    ended_at = started_at + timedelta(milliseconds=duration_ms)
    trace_id = fields.pop("trace_id", None) or new_trace_id()
    root_span_id = fields.pop("root_span_id", None) or new_span_id()
    if status == RunStatus.ERROR and not error_type:
        error_type = "Error"
    run = Run.objects.create(
        trace_id=trace_id,
        agent=agent,
        root_span_id=root_span_id,
        name=fields.pop("name", f"invoke_agent {agent.slug}"),
        started_at=started_at,
        ended_at=ended_at,
        duration_ms=duration_ms,
        status=status,
        error_type=error_type,
        model=fields.pop("model", agent.model or ""),
        quality_score=quality_score,
        has_escalation=has_escalation,
        fingerprint=fingerprint,
        **fields,
    )
    step_specs = list(steps) if steps is not None else None
    if step_specs is None:
        step_specs = [{"kind": StepKind.AGENT, "span_id": root_span_id, "parent_span_id": "", "status": status,
                       "error_type": error_type, "duration_ms": duration_ms, "started_at": started_at}]
    created = [_make_child_step(run, spec, index) for index, spec in enumerate(step_specs)]
    _apply_totals(run, created, cost=_as_decimal(cost), input_tokens=input_tokens, output_tokens=output_tokens)
    if invocation:
        make_top_invocation(run)
    return run


def make_top_invocation(run: Run) -> Invocation:
    """The run's top invocation with the run's own figures (and its failure fingerprint): a run of one
    agent, as most factory runs are (tests of nested invocations go through the ingest write path
    instead). Counted in the insight cells, as ingest would."""
    invocation = Invocation.objects.create(
        run=run, trace_id=run.trace_id, span_id=run.root_span_id or new_span_id(), agent_id=run.agent_id,
        name=run.name, started_at=run.started_at, ended_at=run.ended_at, duration_ms=run.duration_ms,
        status=run.status, error_type=run.error_type, model=run.model, prompt_version=run.prompt_version,
        prompt_id=run.prompt_id, step_count=run.step_count, input_tokens=run.input_tokens,
        output_tokens=run.output_tokens, cost=run.cost, total_input_tokens=run.input_tokens,
        total_output_tokens=run.output_tokens, total_cost=run.cost, quality_score=run.quality_score,
        escalations=int(run.has_escalation), fingerprint=run.fingerprint,
    )
    insight_cells.apply_invocations([], [insight_cells.invocation_tuple(invocation)])
    hour = {(run.agent_id, rollups.truncate(run.started_at, "h"))}
    if rollups._touches_settled(hour, timezone.now()):  # as ingest's rollup refresh does for settled hours
        rollups.bump_settled_generation()
    return invocation


def _make_child_step(run: Run, spec: dict[str, Any], index: int) -> Step:
    spec = dict(spec)
    spec.setdefault("started_at", run.started_at + timedelta(milliseconds=10 * index))
    if index > 0:
        spec.setdefault("parent_span_id", run.root_span_id)
    return make_step(run, **spec)


def _apply_totals(
    run: Run, steps: list[Step], *, cost: Decimal | None, input_tokens: int | None, output_tokens: int | None
) -> None:
    llm = [s for s in steps if s.kind == StepKind.LLM]
    run.step_count = len(steps)
    run.input_tokens = input_tokens if input_tokens is not None else sum(s.input_tokens for s in llm)
    run.output_tokens = output_tokens if output_tokens is not None else sum(s.output_tokens for s in llm)
    run.cost = cost if cost is not None else sum((Decimal(s.cost) for s in llm), Decimal("0"))
    if not run.model and llm:
        run.model = next((s.model for s in llm if s.model), "")
    run.save(update_fields=["step_count", "input_tokens", "output_tokens", "cost", "model"])


def make_step(
    run: Run,
    *,
    kind: str = StepKind.LLM,
    name: str | None = None,
    span_id: str | None = None,
    parent_span_id: str | None = None,
    agent: Agent | None = None,
    started_at: datetime | None = None,
    duration_ms: float = 200.0,
    status: str = RunStatus.OK,
    cost: Decimal | str | float | None = None,
    **fields: Any,
) -> Step:
    """Create one step of ``run``. Defaults: an llm call under the run's root span."""
    started_at = started_at or run.started_at
    fields.setdefault("operation", {"llm": "chat", "tool": "execute_tool", "agent": "invoke_agent",
                                     "retrieval": "retrieval"}.get(kind, ""))
    if kind == StepKind.LLM:
        fields.setdefault("model", run.model or "gpt-4o-mini")
    if status == RunStatus.ERROR:
        fields.setdefault("error_type", "Error")
    return Step.objects.create(
        run=run,
        span_id=span_id or new_span_id(),
        parent_span_id=run.root_span_id if parent_span_id is None else parent_span_id,
        agent=agent or run.agent,
        name=name or _default_step_name(kind, fields),
        kind=kind,
        started_at=started_at,
        ended_at=started_at + timedelta(milliseconds=duration_ms),
        duration_ms=duration_ms,
        status=status,
        cost=_as_decimal(cost) or Decimal("0"),
        **fields,
    )


def _default_step_name(kind: str, fields: dict[str, Any]) -> str:
    if kind == StepKind.TOOL:
        return f"execute_tool {fields.get('tool_name') or 'tool'}"
    if kind == StepKind.LLM:
        return f"chat {fields.get('model', '')}".strip()
    return f"{kind} {next(_seq)}"


def make_score(run: Run, value: float | None = 0.9, *, name: str = "relevance", label: str = "",
               source: str = Score.Source.EVALUATION, **fields: Any) -> Score:
    fields.setdefault("dedupe_key", f"factory:{next(_seq)}")
    return Score.objects.create(run=run, name=name, value=value, label=label, source=source, **fields)


def make_escalation(run: Run, *, reason: str = "missing_knowledge", priority: str = "normal",
                    summary: str = "Customer needs a human.", occurred_at: datetime | None = None,
                    **fields: Any) -> Escalation:
    """An escalation on ``run`` (marks the run as escalated, as ingest does)."""
    escalation = Escalation.objects.create(
        run=run,
        agent=fields.pop("agent", run.agent),
        trace_id=run.trace_id,
        span_id=fields.pop("span_id", run.root_span_id or new_span_id()),
        reason=reason,
        summary=summary,
        priority=priority,
        occurred_at=occurred_at or run.ended_at,
        **fields,
    )
    if not run.has_escalation:
        run.has_escalation = True
        run.save(update_fields=["has_escalation"])
    # The invocation of its span raised it (the top one when the span has none of its own).
    invocations = Invocation.objects.filter(run=run)
    raised = invocations.filter(span_id=escalation.span_id) or invocations.filter(parent_span_id="")[:1]
    Invocation.objects.filter(pk__in=[i.pk for i in raised]).update(escalations=models.F("escalations") + 1)
    return escalation


def rollup_cells() -> list[tuple]:
    """Every rollup cell's content, comparable across refreshes and with a rebuild (no ids, no
    timestamps of writing), in a stable order."""
    return sorted(
        RollupCell.objects.values_list(
            "tier", "bucket", "agent_id", "runs", "errors", "escalations", "quality_sum", "quality_count",
            "cost", "input_tokens", "output_tokens", "latency_sum_ms", "latency", "error_types",
        ),
        key=lambda row: (row[0], row[1], row[2] or 0),
    )
