"""Rollup cells (minute/hour/day tiers) with mergeable latency sketches (live monitoring).

A cell aggregates the runs *started* in ``[bucket, bucket + tier)`` for one agent, or for the whole
fleet when ``agent`` is NULL. Cells are derived data: ``monitoring.rollups`` recomputes them from
runs (minute tier) or from the finer tier (hour, day), so they can always be rebuilt.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models


class Tier(models.TextChoices):
    MINUTE = "m", "Minute"
    HOUR = "h", "Hour"
    DAY = "d", "Day"


TIER_SPAN: dict[str, timedelta] = {
    Tier.MINUTE: timedelta(minutes=1),
    Tier.HOUR: timedelta(hours=1),
    Tier.DAY: timedelta(days=1),
}
# Advisory lock shared by every rollup refresh and held exclusively by a rebuild (monitoring.rollups.cells).
ROLLUP_LOCK = 0x524F4C4C  # "ROLL"
# PostgreSQL date_trunc() units of each tier.
TIER_TRUNC: dict[str, str] = {Tier.MINUTE: "minute", Tier.HOUR: "hour", Tier.DAY: "day"}


class RollupCell(models.Model):
    tier = models.CharField(max_length=1, choices=Tier.choices)
    bucket = models.DateTimeField(help_text="UTC start of the cell, truncated to the tier.")
    agent = models.ForeignKey("agentops.Agent", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="rollup_cells")
    runs = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    escalations = models.PositiveIntegerField(default=0, help_text="Runs with at least one escalation.")
    # Sums are exact decimals (not floats) so cells merged in any order are identical to a rebuild.
    quality_sum = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    quality_count = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    latency_sum_ms = models.DecimalField(max_digits=20, decimal_places=3, default=0)
    # {bucket key: run count}: see monitoring.sketch. Small: a few hundred keys at most.
    latency = models.JSONField(default=dict)
    # {error_type: run count} of failed runs.
    error_types = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # NULL agents (fleet cells) need their own unique index: NULLs never collide in a plain one.
            models.UniqueConstraint(fields=["tier", "agent", "bucket"], name="rollup_agent_cell_unique",
                                    condition=models.Q(agent__isnull=False)),
            models.UniqueConstraint(fields=["tier", "bucket"], name="rollup_fleet_cell_unique",
                                    condition=models.Q(agent__isnull=True)),
        ]
        indexes = [models.Index(fields=["tier", "bucket"], name="rollup_tier_bucket_idx")]

    def __str__(self) -> str:
        who = self.agent_id or "fleet"
        return f"{self.get_tier_display()} {self.bucket:%Y-%m-%d %H:%M} {who}: {self.runs} runs"
