"""Read-only selectors over agent invocations for the agent page and the trace view: the breakdown of
an agent's invocations by caller, its latest (failed) invocations, and a trace's invocation tree.

The by-caller breakdown reads the invocation table, restricted to the range on its partition column
(``started_at``) through ``invocation_agent_time_idx`` (agent, started_at, including the columns it
sums, so it is an index-only scan): one statement whose cost
grows with the agent's invocations in the range, never with the table. Latency percentiles come from
the same log-bucket sketch as the rollups, built in PostgreSQL (no ``percentile_cont`` on a page).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from psycopg2 import sql

from agentops.models import Agent
from monitoring.ingest.models import Invocation, Run
from monitoring.rollups import sketch
from monitoring.sqlbuild import compose
from monitoring.timerange import TimeRange


@dataclass
class CallerRow:
    """The agent's invocations in the range from one caller (``caller`` None: called directly)."""

    caller: Agent | None
    invocations: int
    errors: int
    escalated: int  # invocations that raised at least one escalation
    escalations: int
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


# One pass over the agent's invocations in the range: per (caller, latency bucket) first, so the
# sketch and the sums come out of the same scan. The bucket is grouped as an integer (NULL: the zero
# bucket), which hashes and sorts far faster than its text key; ``_bucket_key`` names it after.
_BY_CALLER = compose("""
SELECT caller, sum(n), sum(errors), sum(escalated), sum(escalations), sum(cost), sum(input_tokens),
       sum(output_tokens), array_agg(bucket), array_agg(n)
FROM (
    SELECT caller_agent_id AS caller,
           CASE WHEN duration_ms > {zero} THEN ceil(ln(duration_ms) / {log_gamma})::bigint END AS bucket,
           count(*) AS n, count(*) FILTER (WHERE status = 'error') AS errors,
           count(*) FILTER (WHERE escalations > 0) AS escalated, sum(escalations) AS escalations, sum(cost) AS cost,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
    FROM monitoring_invocation
    WHERE agent_id = %s AND started_at >= %s AND started_at < %s
    GROUP BY 1, 2
) per_bucket
GROUP BY caller
""", zero=sql.Literal(sketch.MIN_VALUE), log_gamma=sql.Literal(sketch.LOG_GAMMA))


def _bucket_key(bucket: int | None) -> str:
    """The sketch key of a bucket number (``monitoring.rollups.sketch.bucket_key``)."""
    return sketch.ZERO_KEY if bucket is None else str(bucket)


def by_caller(agent: Agent, time_range: TimeRange) -> list[CallerRow]:
    """The agent's invocations started in the range, per caller, busiest first (two queries)."""
    with connection.cursor() as cursor:
        cursor.execute(_BY_CALLER, [agent.pk, time_range.start, time_range.end])
        found = cursor.fetchall()
    callers = Agent.objects.in_bulk([row[0] for row in found if row[0] is not None])
    rows = [
        CallerRow(callers.get(caller) if caller is not None else None, int(n), int(errors), int(escalated),
                  int(escalations), Decimal(cost or 0), int(inp or 0), int(out or 0),
                  {_bucket_key(k): int(v) for k, v in zip(keys, counts, strict=True)})
        for caller, n, errors, escalated, escalations, cost, inp, out, keys, counts in found
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
