"""Agent-to-agent / agent-to-tool / agent-to-queue traffic edges (insights: the agent map).

Contract used by monitoring.services (ingest): refresh_for_runs(run_ids) is called inside the
batch's transaction after rows are written; it must be idempotent like rollups.refresh_for_runs.

Design: edges are stored per run (``InteractionEdge``, unique on run + source + target) and summed
on read. Refreshing a run deletes its rows and rebuilds them from all of the run's stored steps, so
a replayed batch, or a trace whose spans arrive over several batches, always ends with exactly the
edges a rebuild from raw data gives. The cost is proportional to the batch (no shared cells to lock
and recompute), and a run has a handful of distinct edges, far fewer rows than its steps.

Edges, from the steps of one run:
- agent -> agent: an ``agent`` step whose parent step belongs to a different agent (a sub-agent
  invocation). Its cost is the cost of the whole invocation subtree; its latency the step's.
- agent -> tool: a ``tool`` step, from the step's agent, keyed by tool name.
- agent -> human queue: an escalation recorded on the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from agentops.models import Agent

from .insight_models import HUMAN_QUEUE, EdgeKind, InteractionEdge
from .models import Escalation, Run, Step


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
        if step.kind == "agent":
            parent = by_span.get(step.parent_span_id)
            if parent is None or parent.agent_id == step.agent_id:
                continue
            name = agent_slugs.get(step.agent_id, str(step.agent_id))
            tally(parent.agent_id, EdgeKind.AGENT, name, step.agent_id).add(
                failed=failed, duration_ms=step.duration_ms, cost=costs[step.span_id]
            )
        elif step.kind == "tool":
            name = (step.tool_name or step.name)[:255]
            tally(step.agent_id, EdgeKind.TOOL, name).add(
                failed=failed, duration_ms=step.duration_ms, cost=Decimal(step.cost or 0)
            )
    for escalation in escalations:
        tally(escalation.agent_id, EdgeKind.HUMAN, HUMAN_QUEUE).add(failed=False, duration_ms=0.0, cost=Decimal(0))
    return list(tallies.values())


_STEP_FIELDS = ("run_id", "span_id", "parent_span_id", "agent_id", "kind", "name", "tool_name", "status",
                "duration_ms", "cost")


def refresh_for_runs(run_ids: list[int]) -> None:
    """Replace the stored edges of ``run_ids`` with edges rebuilt from their steps and escalations.

    Idempotent. Four reads, one delete and one insert, whatever the number of runs.
    """
    run_ids = sorted(set(run_ids))
    if not run_ids:
        return
    runs: dict[int, datetime] = dict(Run.objects.filter(id__in=run_ids).values_list("id", "started_at"))
    steps_by_run: dict[int, list] = {run_id: [] for run_id in runs}
    for step in Step.objects.filter(run_id__in=runs).only(*_STEP_FIELDS):
        steps_by_run[step.run_id].append(step)
    escalations_by_run: dict[int, list] = {run_id: [] for run_id in runs}
    for escalation in Escalation.objects.filter(run_id__in=runs).only("run_id", "agent_id"):
        escalations_by_run[escalation.run_id].append(escalation)
    agent_ids = {s.agent_id for steps in steps_by_run.values() for s in steps}
    agent_ids |= {e.agent_id for escalations in escalations_by_run.values() for e in escalations}
    agents = {a.id: a for a in Agent.objects.filter(id__in=agent_ids).only("id", "slug", "department_id")}
    slugs = {agent_id: agent.slug for agent_id, agent in agents.items()}

    rows = []
    for run_id, started_at in runs.items():
        for t in edges_for_run(steps_by_run[run_id], escalations_by_run[run_id], slugs):
            source = agents.get(t.source_id)
            rows.append(InteractionEdge(
                run_id=run_id, started_at=started_at, department_id=source.department_id if source else None,
                source_id=t.source_id, target_kind=t.target_kind, target_agent_id=t.target_agent_id,
                target_name=t.target_name, calls=t.calls, errors=t.errors, total_ms=t.total_ms, cost=t.cost,
            ))
    with transaction.atomic():
        InteractionEdge.objects.filter(run_id__in=runs).delete()
        InteractionEdge.objects.bulk_create(rows, batch_size=1000)
