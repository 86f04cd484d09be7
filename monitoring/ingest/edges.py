"""Agent-to-agent / agent-to-tool / agent-to-queue traffic edges (insights: the agent map).

Contract used by monitoring.services (ingest): refresh_for_runs(run_ids) is called inside the
batch's transaction after rows are written; it must be idempotent like rollups.refresh_for_runs.

Design: edges are stored per run (``InteractionEdge``, unique on run + source + target) and summed
on read. Refreshing a run deletes its rows and rebuilds them from all of the run's stored steps, so
a replayed batch, or a trace whose spans arrive over several batches, always ends with exactly the
edges a rebuild from raw data gives. The cost is proportional to the batch (no shared cells to lock
and recompute), and a run has a handful of distinct edges, far fewer rows than its steps.

Edges, from the steps of one run:
- agent -> agent: a nested invocation (an ``agent`` step under another step, or a step whose agent
  differs from its parent's): one call from the parent step's agent, the same rule as
  ``monitoring.ingest.invocations``, so edge calls equal invocations by caller. Its cost is the cost
  of the whole invocation subtree; its latency the step's.
- agent -> tool: a ``tool`` step, from the step's agent, keyed by tool name.
- agent -> human queue: an escalation recorded on the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from monitoring.ingest import bulk
from monitoring.ingest.derived_models import HUMAN_QUEUE, EdgeKind
from monitoring.rollups import insight_cells


@dataclass
class EdgeTally:
    source_id: int
    target_kind: str
    target_name: str
    target_agent_id: int | None = None
    calls: int = 0
    errors: int = 0
    total_ms: float = 0.0
    cost: Decimal = field(default_factory=Decimal)

    def add(self, *, failed: bool, duration_ms: float, cost: Decimal) -> None:
        self.calls += 1
        self.errors += int(failed)
        self.total_ms += duration_ms
        self.cost += cost


def subtree_costs(steps: list) -> dict[str, Decimal]:
    """Cost of each step plus all its descendants (within the run), keyed by span id."""
    by_span = {s.span_id: s for s in steps}
    totals: dict[str, Decimal] = {s.span_id: Decimal(0) for s in steps}
    for step in steps:
        cost = Decimal(step.cost or 0)
        if not cost:
            continue
        current, seen = step, set()  # ``seen`` guards against a malformed parent cycle
        while current is not None and current.span_id not in seen:
            seen.add(current.span_id)
            totals[current.span_id] += cost
            current = by_span.get(current.parent_span_id)
    return totals


def edges_for_run(steps: Iterable, escalations: Iterable, agent_slugs: dict[int, str]) -> list[EdgeTally]:
    """The edges of one run from its steps and escalations. Pure: objects in, tallies out."""
    steps = list(steps)
    by_span = {s.span_id: s for s in steps}
    costs = subtree_costs(steps)
    tallies: dict[tuple[int, str, str], EdgeTally] = {}

    def tally(source_id: int, kind: str, name: str, target_agent_id: int | None = None) -> EdgeTally:
        key = (source_id, kind, name)
        if key not in tallies:
            tallies[key] = EdgeTally(source_id, kind, name, target_agent_id)
        return tallies[key]

    for step in steps:
        failed = step.status == "error"
        parent = by_span.get(step.parent_span_id)
        # A nested invocation (monitoring.ingest.invocations: an agent step, or a change of agent)
        # is one call from its parent span's agent, so the map and the invocations agree.
        if parent is not None and (step.kind == "agent" or parent.agent_id != step.agent_id):
            name = agent_slugs.get(step.agent_id, str(step.agent_id))
            tally(parent.agent_id, EdgeKind.AGENT, name, step.agent_id).add(
                failed=failed, duration_ms=step.duration_ms, cost=costs[step.span_id]
            )
        if step.kind == "tool":
            name = (step.tool_name or step.name)[:255]
            tally(step.agent_id, EdgeKind.TOOL, name).add(
                failed=failed, duration_ms=step.duration_ms, cost=Decimal(step.cost or 0)
            )
    for escalation in escalations:
        tally(escalation.agent_id, EdgeKind.HUMAN, HUMAN_QUEUE).add(failed=False, duration_ms=0.0, cost=Decimal(0))
    return list(tallies.values())


@dataclass(slots=True)
class EdgeStep:
    """The step columns edges need, loaded as plain rows (model instances cost more than the work)."""

    run_id: int
    span_id: str
    parent_span_id: str
    agent_id: int
    kind: str
    name: str
    tool_name: str
    status: str
    duration_ms: float
    cost: Decimal


_STEP_SQL = (
    "SELECT run_id, span_id, parent_span_id, agent_id, kind, name, tool_name, status, duration_ms, cost"
    " FROM monitoring_step WHERE run_id = ANY(%s)"
)
_EDGE_COLUMNS = ("run_id", "started_at", "department_id", "source_id", "target_kind", "target_agent_id",
                 "target_name", "calls", "errors", "total_ms", "cost")


@dataclass(frozen=True, slots=True)
class RunRows:
    """What a refresh reads, already in hand: each run's start, its steps (objects with EdgeStep's
    attributes) and escalations (objects with ``agent_id``), as currently stored."""

    started_at: dict[int, datetime]
    steps: dict[int, list]
    escalations: dict[int, list]
    created: frozenset[int] = frozenset()  # runs the current transaction created: no stored edges yet
    scores: dict[int, list] = field(default_factory=dict)  # (span id, value on 0..1) per run, for invocations


def refresh_for_runs(run_ids: list[int], known: RunRows | None = None) -> None:
    """Replace the stored edges of ``run_ids`` with edges rebuilt from their steps and escalations.

    ``known``: the runs' rows already in hand (ingest has just computed them); the caller vouches
    that they match the stored data. Without them, or when they do not cover every run, everything
    is read. Idempotent. Four reads, one delete and one insert, whatever the number of runs (one read
    with ``known``).
    """
    run_ids = sorted(set(run_ids))
    if not run_ids:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        if known is not None and all(run_id in known.started_at for run_id in run_ids):
            runs: dict[int, datetime] = {run_id: known.started_at[run_id] for run_id in run_ids}
            ids = run_ids
            steps_by_run: dict[int, list] = {run_id: known.steps.get(run_id, []) for run_id in ids}
            escalations_by_run: dict[int, list] = {run_id: known.escalations.get(run_id, []) for run_id in ids}
            stale = [run_id for run_id in ids if run_id not in known.created]
        else:
            cursor.execute("SELECT id, started_at FROM monitoring_run WHERE id = ANY(%s)", [run_ids])
            runs = dict(cursor.fetchall())
            ids = sorted(runs)
            steps_by_run = {run_id: [] for run_id in runs}
            cursor.execute(_STEP_SQL, [ids])
            for row in cursor.fetchall():
                steps_by_run[row[0]].append(EdgeStep(*row))
            escalations_by_run = {run_id: [] for run_id in runs}
            cursor.execute("SELECT run_id, agent_id FROM monitoring_escalation WHERE run_id = ANY(%s)", [ids])
            for run_id, agent_id in cursor.fetchall():
                escalations_by_run[run_id].append(Escalated(agent_id))
            stale = ids
        agent_ids = {s.agent_id for steps in steps_by_run.values() for s in steps}
        agent_ids |= {e.agent_id for escalations in escalations_by_run.values() for e in escalations}
        cursor.execute("SELECT id, slug, department_id FROM agentops_agent WHERE id = ANY(%s)", [sorted(agent_ids)])
        agents = {agent_id: (slug, department_id) for agent_id, slug, department_id in cursor.fetchall()}
        slugs = {agent_id: slug for agent_id, (slug, _department) in agents.items()}

        rows = []
        for run_id, started_at in runs.items():
            for t in edges_for_run(steps_by_run[run_id], escalations_by_run[run_id], slugs):
                source = agents.get(t.source_id)
                rows.append((
                    run_id, started_at, source[1] if source else None, t.source_id, t.target_kind,
                    t.target_agent_id, t.target_name, t.calls, t.errors, t.total_ms, t.cost,
                ))
        removed = []
        if stale:
            cursor.execute(
                "DELETE FROM monitoring_interactionedge WHERE run_id = ANY(%s) RETURNING started_at, source_id,"
                " target_kind, target_name, target_agent_id, department_id, calls, errors, total_ms, cost", [stale])
            removed = cursor.fetchall()
        bulk.copy_rows(cursor.cursor, "monitoring_interactionedge", _EDGE_COLUMNS, rows)
        # The map's cells follow: the removed rows subtracted, the new ones added (insight_cells).
        insight_cells.apply_edges(removed, [(r[1], r[3], r[4], r[6], r[5], r[2], *r[7:]) for r in rows])


@dataclass(frozen=True, slots=True)
class Escalated:
    agent_id: int
    span_id: str = ""
