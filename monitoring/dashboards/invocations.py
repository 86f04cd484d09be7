"""Read-only selectors over agent invocations for the agent page, its runs page and the trace view:
the breakdown of an agent's invocations by caller, its latest (failed) invocations, its invocations
filtered (the runs page), and a trace's invocation tree.

The by-caller breakdown reads the version cells, which count each agent's invocations per caller in
hour and day cells (``monitoring.rollups.insight_queries.caller_totals``): its cost grows with the
range's cells, not with the agent's traffic. Latency percentiles come from the cells' merged sketches.
The latest and failed invocations are LIMITed reads of the range's newest rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import QuerySet

from agentops.models import Agent
from monitoring.dashboards.forms import DIRECT
from monitoring.ingest.models import Invocation, Run
from monitoring.rollups import insight_queries, sketch
from monitoring.timerange import TimeRange


@dataclass
class CallerRow:
    """The agent's invocations in the range from one caller (``caller`` None: called directly)."""

    caller: Agent | None
    invocations: int
    errors: int
    escalated: int  # invocations that raised at least one escalation
    cost: Decimal
    input_tokens: int
    output_tokens: int
    latency: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"via {self.caller.name}" if self.caller is not None else "direct"

    @property
    def success_rate(self) -> float | None:
        return 100.0 * (self.invocations - self.errors) / self.invocations if self.invocations else None

    @property
    def escalation_rate(self) -> float | None:
        return 100.0 * self.escalated / self.invocations if self.invocations else None

    @property
    def cost_per_invocation(self) -> Decimal | None:
        return (self.cost / self.invocations).quantize(Decimal("0.000001")) if self.invocations else None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def p50(self) -> float | None:
        return sketch.quantiles(self.latency, (0.5,))[0]

    @property
    def p95(self) -> float | None:
        return sketch.quantiles(self.latency, (0.95,))[0]


def by_caller(agent: Agent, time_range: TimeRange) -> list[CallerRow]:
    """The agent's invocations started in the range, per caller, busiest first: read from the version
    cells, which count invocations per caller (``insight_queries.caller_totals``), so the cost grows
    with the range's cells, never with the agent's invocations."""
    found = insight_queries.caller_totals(time_range.start, time_range.end, agent.pk)
    callers = Agent.objects.in_bulk([t.caller_id for t in found if t.caller_id is not None])
    rows = [
        CallerRow(callers.get(t.caller_id) if t.caller_id is not None else None, t.runs, t.errors, t.escalated,
                  t.cost, t.input_tokens, t.output_tokens, t.latency)
        for t in found if t.caller_id is None or t.caller_id in callers
    ]
    rows.sort(key=lambda r: (-r.invocations, r.caller is not None, r.label.lower()))
    return rows


def recent_invocations(agent: Agent, time_range: TimeRange, *, failed: bool = False,
                       limit: int = 10) -> list[Invocation]:
    """The agent's latest invocations started in the range (only failed ones with ``failed``), each
    with its caller; root or nested, so an agent that only works under an orchestrator has them too."""
    rows = Invocation.objects.filter(agent=agent, started_at__gte=time_range.start, started_at__lt=time_range.end)
    if failed:
        rows = rows.filter(status="error")
    return list(rows.select_related("caller_agent").order_by("-started_at", "-id")[:limit])


def filter_invocations(agent: Agent, filters: dict, time_range: TimeRange) -> QuerySet[Invocation]:
    """The agent's invocations started in the range (root or nested: its runs, as its tile counts
    them) matching an ``AgentRunFilterForm``'s cleaned filters, newest first. Read along the
    (agent, start) index of the range's day partitions; the caller choice is a slug or "direct"."""
    rows = Invocation.objects.filter(agent=agent, started_at__gte=time_range.start, started_at__lt=time_range.end)
    caller = filters.get("caller")
    if caller == DIRECT:
        rows = rows.filter(caller_agent__isnull=True)
    elif caller:
        # By id, not through a join on the slug: the planner then knows how many rows the caller has
        # (a join hid it: 85 rows expected for 6,668, and a sort of the whole range instead of the index order).
        caller_id = Agent.objects.filter(slug=caller).values_list("pk", flat=True).first()
        rows = rows.filter(caller_agent_id=caller_id) if caller_id is not None else rows.none()
    for name in ("status", "error_type", "prompt_version"):
        if filters.get(name):
            rows = rows.filter(**{name: filters[name]})
    if filters.get("min_latency_ms") is not None:
        rows = rows.filter(duration_ms__gte=filters["min_latency_ms"])
    if filters.get("escalated") == "yes":
        rows = rows.filter(escalations__gt=0)
    elif filters.get("escalated") == "no":
        rows = rows.filter(escalations=0)
    return rows.select_related("caller_agent").order_by("-started_at", "-id")


@dataclass
class TreeRow:
    invocation: Invocation
    depth: int
    children: int  # invocations it made directly


def invocation_tree(run: Run) -> list[TreeRow]:
    """The run's invocations in tree order (a caller before the invocations it made, siblings by
    start), each with its nesting depth. An invocation whose caller is not stored is a root."""
    invocations = list(Invocation.objects.filter(run_id=run.pk).select_related("agent", "caller_agent", "prompt")
                       .order_by("started_at", "span_id"))
    spans = {i.span_id for i in invocations}
    children: dict[str, list[Invocation]] = defaultdict(list)
    roots = []
    for invocation in invocations:
        parent = invocation.parent_span_id
        (children[parent] if parent in spans and parent != invocation.span_id else roots).append(invocation)
    rows: list[TreeRow] = []
    seen: set[str] = set()

    def visit(invocation: Invocation, depth: int) -> None:
        if invocation.span_id in seen:  # a malformed trace could loop
            return
        seen.add(invocation.span_id)
        rows.append(TreeRow(invocation, depth, len(children.get(invocation.span_id, []))))
        for child in children.get(invocation.span_id, []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return rows
