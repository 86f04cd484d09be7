"""Prompt version comparison: per-version statistics of one agent and two versions compared."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from agentops import stats
from agentops.models import Agent, PromptVersion
from insights.queries import describe_signature, prompt_key, prompt_label, signatures_for
from monitoring.rollups import insight_queries as insight_cells

TOP_GROUPS_PER_VERSION = 3


@dataclass
class VersionStats:
    key: str
    label: str
    prompt: PromptVersion | None
    runs: int
    successes: int
    escalations: int
    quality_mean: float | None
    quality_sd: float | None
    quality_n: int
    p50_ms: float | None
    p95_ms: float | None
    cost_total: Decimal
    first_seen: datetime | None = None
    top_groups: list[tuple[str, int, str]] = field(default_factory=list)  # (fingerprint, runs, description)

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.runs if self.runs else None

    @property
    def escalation_rate(self) -> float | None:
        return self.escalations / self.runs if self.runs else None

    @property
    def cost_per_run(self) -> Decimal | None:
        return (self.cost_total / self.runs).quantize(Decimal("0.000001")) if self.runs else None

    @property
    def success_interval(self) -> stats.Interval | None:
        return stats.wilson_interval(self.successes, self.runs)

    @property
    def success_pct(self) -> float | None:
        return 100 * self.successes / self.runs if self.runs else None

    @property
    def escalation_pct(self) -> float | None:
        return 100 * self.escalations / self.runs if self.runs else None

    @property
    def success_interval_pct(self) -> tuple[float, float] | None:
        ci = self.success_interval
        return (100 * ci.low, 100 * ci.high) if ci else None


def version_stats(agent: Agent, start: datetime, end: datetime) -> list[VersionStats]:
    """Invocation metrics per prompt version of one agent over [start, end), oldest version first.

    Read from the agent's version cells (``monitoring.rollups.insight_queries``): its own invocations,
    wherever it runs (a sub-agent's versions too), in whole hour or day cells of the range. Latency
    percentiles come from the merged sketches (within 1 %); the quality spread from the cells' sums
    of squares.
    """
    totals = insight_cells.version_totals(start, end, [agent.pk])
    prompts = PromptVersion.objects.in_bulk({t.prompt_id for t in totals if t.prompt_id})
    result = [
        VersionStats(
            key=prompt_key(t.prompt_id, t.prompt_version),
            label=prompt_label(t.prompt_id, t.prompt_version, prompts),
            prompt=prompts.get(t.prompt_id), runs=t.runs, successes=t.runs - t.errors, escalations=t.escalations,
            quality_mean=float(t.quality_sum) / t.quality_count if t.quality_count else None,
            quality_sd=_sample_sd(t.quality_sum, t.quality_sumsq, t.quality_count), quality_n=t.quality_count,
            p50_ms=t.quantile(0.5), p95_ms=t.quantile(0.95), cost_total=t.cost, first_seen=t.first_seen,
        )
        for t in totals
    ]
    _attach_top_groups(result, agent, start, end)
    return sorted(result, key=lambda v: (v.prompt.version if v.prompt else -1, v.first_seen or end))


def _sample_sd(total: Decimal, squares: Decimal, n: int) -> float | None:
    if n < 2:
        return None
    variance = (squares - total * total / n) / (n - 1)
    return _finite(math.sqrt(max(float(variance), 0.0)))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _attach_top_groups(result: list[VersionStats], agent: Agent, start: datetime, end: datetime) -> None:
    """Each version's largest failure groups: runs whose failing invocation was this agent's on it."""
    fps = [c.fingerprint for c in insight_cells.group_counts(start, end, agent_id=agent.pk)]
    by_key: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for fp, _agent, prompt_id, raw, _model, n in insight_cells.group_breakdown(start, end, fps, agent.pk) if fps else []:
        by_key[prompt_key(prompt_id, raw)][fp] += n
    top = {key: sorted(groups.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP_GROUPS_PER_VERSION]
           for key, groups in by_key.items()}
    signatures = signatures_for(sorted({fp for groups in top.values() for fp, _n in groups}), (start, end))
    agents = Agent.objects.in_bulk({s.agent_id for s in signatures.values() if s is not None})
    for v in result:
        v.top_groups = [(fp, n, describe_signature(signatures.get(fp), agents)) for fp, n in top.get(v.key, [])]


@dataclass(frozen=True)
class VersionComparison:
    a: VersionStats
    b: VersionStats
    success: stats.Comparison
    quality: stats.Comparison

    @property
    def success_points(self) -> float | None:
        return 100 * self.success.difference if self.success.difference is not None else None


def compare_versions(a: VersionStats, b: VersionStats) -> VersionComparison:
    return VersionComparison(
        a=a, b=b,
        success=stats.two_proportion_test(a.successes, a.runs, b.successes, b.runs),
        quality=stats.welch_t_test(a.quality_mean, a.quality_sd, a.quality_n, b.quality_mean, b.quality_sd,
                                   b.quality_n),
    )
