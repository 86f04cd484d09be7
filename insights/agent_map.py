"""The agent map: traffic between agents, tools and the human queue over a range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agentops.models import Agent
from agentops.scoping import scope_agents
from monitoring.ingest.derived_models import EdgeKind
from monitoring.rollups import insight_queries as insight_cells
from monitoring.rollups import sketch

OTHER_DEPARTMENT = "an agent of another department"  # a scoped user's view of a cross-department call


@dataclass
class EdgeRow:
    source: Agent
    target_kind: str
    target_name: str
    target_agent: Agent | None
    calls: int
    errors: int
    total_ms: float
    p95_ms: float | None
    cost: Decimal

    @property
    def target_label(self) -> str:
        if self.target_agent is not None:
            return self.target_agent.name
        return self.target_name

    @property
    def failure_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def failure_rate_pct(self) -> float:
        return 100 * self.failure_rate

    @property
    def kind_label(self) -> str:
        return EdgeKind(self.target_kind).label

    @property
    def cost_per_call(self) -> Decimal:
        return (self.cost / self.calls).quantize(Decimal("0.000001")) if self.calls else Decimal(0)

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


EDGE_SORTS = {
    "source": lambda e: e.source.name.lower(),
    "target": lambda e: e.target_label.lower(),
    "kind": lambda e: e.target_kind,
    "calls": lambda e: e.calls,
    "failure_rate": lambda e: e.failure_rate,
    "p95": lambda e: e.p95_ms or 0.0,
    "cost_per_call": lambda e: e.cost_per_call,
}


def interaction_edges(start: datetime, end: datetime, department_id: int | None = None,
                      sort: str = "calls", descending: bool = True, user=None) -> list[EdgeRow]:
    """Edges summed over [start, end), optionally for agents of one department (two queries). For a
    ``user`` limited to departments: edges from their agents only, and a call into another
    department's agent is shown without that agent's name.

    Read from the edge cells (``monitoring.rollups.insight_queries``) in whole hour or day cells of
    the range. p95 latency is taken over runs of the per-run mean call latency on the edge (from the
    cells' sketches, within 1 %): exact per run when a run calls an edge once (the common case).
    """
    rows = insight_cells.edge_totals(start, end, department_id)
    agents = scope_agents(Agent.objects.all(), user).in_bulk(
        {r.source_id for r in rows} | {r.target_agent_id for r in rows} - {None})
    result = [
        EdgeRow(source=agents[r.source_id], target_kind=r.target_kind,
                target_name=r.target_name if r.target_agent_id is None or r.target_agent_id in agents
                else OTHER_DEPARTMENT,
                target_agent=agents.get(r.target_agent_id), calls=r.calls, errors=r.errors, total_ms=r.total_ms,
                p95_ms=None if r.target_kind == EdgeKind.HUMAN or not r.latency
                else sketch.quantiles(r.latency, (0.95,))[0],
                cost=r.cost)
        for r in rows if r.source_id in agents and r.calls
    ]
    key = EDGE_SORTS.get(sort, EDGE_SORTS["calls"])
    return sorted(result, key=key, reverse=descending)
