"""Prompt version comparison: per-version statistics of one agent and two versions compared."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Avg, Count, Min, Q, StdDev, Sum

from agentops import stats
from agentops.dbfunctions import PercentileCont
from agentops.models import Agent, PromptVersion
from insights.queries import describe_signature, prompt_key, prompt_label, signatures_for
from monitoring.models import Run, RunStatus

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
    """Run metrics per prompt version of one agent over [start, end), oldest version first.

    Reads runs directly (agent + time index): a per-agent page, acceptable until rollups carry the
    prompt version. Latency percentiles are exact (percentile_cont) over the agent's runs in range.
    """
    runs = Run.objects.filter(agent=agent, started_at__gte=start, started_at__lt=end)
    rows = list(runs.values("prompt_id", "prompt_version").annotate(
        n=Count("id"), ok=Count("id", filter=Q(status=RunStatus.OK)),
        esc=Count("id", filter=Q(has_escalation=True)),
        q_mean=Avg("quality_score"), q_sd=StdDev("quality_score", sample=True), q_n=Count("quality_score"),
        p50=PercentileCont("duration_ms", 0.5), p95=PercentileCont("duration_ms", 0.95),
        cost=Sum("cost"), first=Min("started_at"),
    ))
    prompts = PromptVersion.objects.in_bulk({r["prompt_id"] for r in rows if r["prompt_id"]})
    result = [
        VersionStats(
            key=prompt_key(r["prompt_id"], r["prompt_version"]),
            label=prompt_label(r["prompt_id"], r["prompt_version"], prompts),
            prompt=prompts.get(r["prompt_id"]), runs=r["n"], successes=r["ok"], escalations=r["esc"],
            quality_mean=r["q_mean"], quality_sd=_finite(r["q_sd"]), quality_n=r["q_n"],
            p50_ms=r["p50"], p95_ms=r["p95"], cost_total=r["cost"] or Decimal(0), first_seen=r["first"],
        )
        for r in rows
    ]
    _attach_top_groups(result, runs)
    return sorted(result, key=lambda v: (v.prompt.version if v.prompt else -1, v.first_seen or end))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _attach_top_groups(result: list[VersionStats], runs) -> None:
    counts = list(runs.exclude(fingerprint="").values("prompt_id", "prompt_version", "fingerprint")
                  .annotate(n=Count("id")).order_by("-n", "fingerprint"))
    by_key: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for c in counts:
        group = by_key[prompt_key(c["prompt_id"], c["prompt_version"])]
        if len(group) < TOP_GROUPS_PER_VERSION:
            group.append((c["fingerprint"], c["n"]))
    fps = sorted({fp for groups in by_key.values() for fp, _n in groups})
    signatures = signatures_for(fps)
    agents = Agent.objects.in_bulk({s.agent_id for s in signatures.values() if s is not None})
    for v in result:
        v.top_groups = [(fp, n, describe_signature(signatures.get(fp), agents)) for fp, n in by_key.get(v.key, [])]


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
