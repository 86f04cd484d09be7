"""Demo alert rules (live monitoring). Idempotent: rules are matched by name.

``monitoring.seed`` (the telemetry history seeder) or ``seed_demo`` calls ``seed(stdout)`` after
the registry and telemetry seeds; without agents it adds only the fleet rule.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from agentops.models import Agent
from monitoring.alerts.models import AlertMetric, AlertRule


def _rules_for(agent: Agent) -> list[dict]:
    """The rules an operations team sets first for an agent: its SLO targets, watched over short
    windows, plus a fast error-budget burn (14.4x over an hour spends 2 % of a 30-day budget)."""
    rules = []
    if agent.slo_p95_latency_ms:
        rules.append({"name": f"{agent.name}: p95 over target", "metric": AlertMetric.P95_LATENCY,
                      "threshold": Decimal(agent.slo_p95_latency_ms), "window_minutes": 15})
    if agent.slo_min_success_rate is not None and agent.slo_min_success_rate < 100:
        rules.append({"name": f"{agent.name}: success below SLO", "metric": AlertMetric.SUCCESS_RATE,
                      "threshold": agent.slo_min_success_rate, "window_minutes": 30, "min_runs": 10})
        rules.append({"name": f"{agent.name}: fast error-budget burn", "metric": AlertMetric.BURN_RATE,
                      "threshold": Decimal("14.4"), "window_minutes": 60})
    if agent.slo_min_quality is not None:
        rules.append({"name": f"{agent.name}: quality below floor", "metric": AlertMetric.QUALITY,
                      "threshold": agent.slo_min_quality, "window_minutes": 30, "min_runs": 10})
    return rules


def seed(stdout: TextIO) -> None:
    created = 0
    _, made = AlertRule.objects.get_or_create(
        name="Fleet: escalation rate above 15 %",
        defaults={"metric": AlertMetric.ESCALATION_RATE, "threshold": Decimal("15"), "window_minutes": 30,
                  "min_runs": 20},
    )
    created += made
    for agent in Agent.objects.exclude(lifecycle_stage="retired").filter(discovered=False).order_by("name"):
        for spec in _rules_for(agent):
            _, made = AlertRule.objects.get_or_create(name=spec.pop("name"), defaults={"agent": agent, **spec})
            created += made
    stdout.write(f"monitoring: {created} alert rules added")
