"""Lifecycle test data: day-tier rollup cells written directly (the criteria read cells, never runs)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from monitoring.models import RollupCell, Tier
from monitoring.rollups import sketch

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def day_cell(agent, day: date, *, runs: int = 100, errors: int = 0, quality: float | None = 0.9,
             cost_per_run: str = "0.01", latency_ms: float = 1000.0) -> RollupCell:
    """A day cell: ``runs`` runs all taking ``latency_ms``, ``errors`` failures, mean quality, cost."""
    return RollupCell.objects.create(
        tier=Tier.DAY, bucket=datetime.combine(day, time.min, tzinfo=UTC), agent=agent, runs=runs, errors=errors,
        quality_sum=Decimal(str(quality)) * runs if quality is not None else 0,
        quality_count=runs if quality is not None else 0, cost=Decimal(cost_per_run) * runs,
        latency=sketch.from_values([latency_ms] * runs) if runs else {},
    )


def healthy_days(agent, days: int, *, today: date = TODAY, include_today: bool = True, **kw) -> None:
    """``days`` complete days before today meeting every SLO of make_agent's defaults (and today's cell)."""
    for i in range(1, days + 1):
        day_cell(agent, today - timedelta(days=i), **kw)
    if include_today:
        day_cell(agent, today, **kw)
