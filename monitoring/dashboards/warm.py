"""Keeping the dashboards' settled summaries cached for the default views.

The overview and the agent page read settled hour and day cells from a cache keyed by the settled
range and the settled generation (docs/metrics.md, "Settled cells and the page cache"). When an hour
or day boundary moves that range, or late data replaces the generation, the first poll pays for
parsing every settled cell again (a few hundred milliseconds at 30 days). Beat runs
``warm_default_ranges`` every minute: it fills the entries the overview (all active agents, and the
fleet) and each agent's page read for the default ranges, only those missing, so a warm cache costs
a few Redis lookups.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from monitoring import timerange
from monitoring.dashboards.queries import overview_agents
from monitoring.rollups.queries import warm_summaries

DEFAULT_RANGES = ("24h", "7d", "30d")


def warm_default_ranges(now: datetime | None = None) -> int:
    """Fill the missing settled entries of the default ranges; returns how many were filled."""
    now = now or timezone.now()
    agent_ids = list(overview_agents().values_list("id", flat=True))
    filled = 0
    for key in DEFAULT_RANGES:
        time_range = timerange.parse_range({"range": key}, now=now)
        for who in (agent_ids, None, *([agent_id] for agent_id in agent_ids)):
            filled += warm_summaries(time_range, who, now=now)
    return filled
