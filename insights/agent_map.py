"""The agent map: traffic between agents, tools and the human queue over a range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q, Sum

from agentops.dbfunctions import PercentileCont
from agentops.models import Agent
from agentops.scoping import scope_agents, scope_rows
from monitoring.ingest.derived_models import EdgeKind, InteractionEdge

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

    p95 latency is taken over runs of the per-run mean call latency on the edge: exact when a run
    calls an edge once (the common case), an approximation for repeated calls within a run.
    """
    edges = scope_rows(InteractionEdge.objects.filter(started_at__gte=start, started_at__lt=end), user,
                       "source__department_id")
    if department_id is not None:
        edges = edges.filter(department_id=department_id)
    per_run_mean = F("total_ms") / F("calls")
    rows = list(edges.values("source_id", "target_kind", "target_name", "target_agent_id").annotate(
        calls_sum=Sum("calls"), errors_sum=Sum("errors"), ms_sum=Sum("total_ms"), cost_sum=Sum("cost"),
        p95=PercentileCont(per_run_mean, 0.95, filter=~Q(target_kind=EdgeKind.HUMAN)),
    ))
    agents = scope_agents(Agent.objects.all(), user).in_bulk(
        {r["source_id"] for r in rows} | {r["target_agent_id"] for r in rows} - {None})
    result = [
        EdgeRow(source=agents[r["source_id"]], target_kind=r["target_kind"],
                target_name=r["target_name"] if r["target_agent_id"] is None or r["target_agent_id"] in agents
                else OTHER_DEPARTMENT,
                target_agent=agents.get(r["target_agent_id"]), calls=r["calls_sum"] or 0,
                errors=r["errors_sum"] or 0, total_ms=r["ms_sum"] or 0.0, p95_ms=r["p95"],
                cost=r["cost_sum"] or Decimal(0))
        for r in rows if r["source_id"] in agents
    ]
    key = EDGE_SORTS.get(sort, EDGE_SORTS["calls"])
    return sorted(result, key=key, reverse=descending)
