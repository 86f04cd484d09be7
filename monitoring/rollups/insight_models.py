"""Rollup cells of the insight pages (root causes, failure-group drill-down, prompt-version compare,
agent map), in hour and day tiers, and the readable signature of each failure fingerprint.

Like ``RollupCell`` these are derived data, kept when retention drops the raw partitions (hour cells
for ``cells.HOUR_RETENTION``, day cells for ever) and rebuilt from raw rows by ``rollups.rebuild``.
Ingest keeps them current by adding each touched run's new rows and subtracting the rows they
replace (``monitoring.rollups.insight_cells``); every figure is a sum, so that is exact.

``prompt_id`` is a plain id (no database constraint, nothing done on delete): a key column, so a
deleted prompt version must not rewrite cells into duplicates; readers fall back to the raw label.
"""

from __future__ import annotations

from django.db import models

from monitoring.rollups.models import Tier


class VersionCell(models.Model):
    """Invocations of one agent on one of its prompt versions (and model), by one caller, started in the
    bucket: prompt-version compare sums them per version, the agent page per caller."""

    tier = models.CharField(max_length=1, choices=Tier.choices)
    bucket = models.DateTimeField(help_text="UTC start of the cell, truncated to the tier.")
    agent = models.ForeignKey("agentops.Agent", on_delete=models.CASCADE, related_name="+", db_index=False)
    prompt_id = models.BigIntegerField(null=True, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=120, blank=True)
    # Who invoked the agent (the calling invocation's agent; NULL: called directly, at the top of a
    # trace): the agent page's by-caller breakdown sums these cells. A plain id, like ``prompt_id``.
    caller_agent_id = models.BigIntegerField(null=True, blank=True)
    runs = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    escalations = models.IntegerField(default=0, help_text="Invocations that raised at least one escalation.")
    quality_sum = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    quality_sumsq = models.DecimalField(max_digits=24, decimal_places=12, default=0)
    quality_count = models.IntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    input_tokens = models.BigIntegerField(default=0)  # the invocations' own tokens
    output_tokens = models.BigIntegerField(default=0)
    latency = models.JSONField(default=dict)  # sketch of invocation durations (monitoring.rollups.sketch)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["tier", "agent", "bucket", "prompt_id", "prompt_version", "model", "caller_agent_id"],
            name="version_cell_unique", nulls_distinct=False)]

    def __str__(self) -> str:
        return f"{self.tier} {self.bucket:%Y-%m-%d %H:%M} agent {self.agent_id} {self.prompt_version}: {self.runs}"


class FailureCell(models.Model):
    """Runs of one failure fingerprint started in the bucket, by the failing invocation: its agent,
    that agent's prompt version and the model."""

    tier = models.CharField(max_length=1, choices=Tier.choices)
    bucket = models.DateTimeField()
    fingerprint = models.CharField(max_length=40)
    agent = models.ForeignKey("agentops.Agent", on_delete=models.CASCADE, related_name="+", db_index=False)
    prompt_id = models.BigIntegerField(null=True, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=120, blank=True)
    runs = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    escalations = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["tier", "bucket", "fingerprint", "agent", "prompt_id", "prompt_version", "model"],
            name="failure_cell_unique", nulls_distinct=False)]
        indexes = [
            models.Index(fields=["fingerprint", "tier", "bucket"], name="failure_cell_fp_idx"),
            models.Index(fields=["agent", "tier", "bucket"], name="failure_cell_agent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.bucket:%Y-%m-%d %H:%M} {self.fingerprint[:10]} agent {self.agent_id}: {self.runs}"


class EdgeCell(models.Model):
    """Agent-map traffic on one edge (source agent -> agent, tool or human queue) of runs started in
    the bucket. ``rows`` counts the (run, edge) rows summed, and ``latency`` sketches their mean call
    latency (the map's p95)."""

    tier = models.CharField(max_length=1, choices=Tier.choices)
    bucket = models.DateTimeField()
    source = models.ForeignKey("agentops.Agent", on_delete=models.CASCADE, related_name="+", db_index=False)
    target_kind = models.CharField(max_length=8)
    target_name = models.CharField(max_length=255)
    target_agent = models.ForeignKey("agentops.Agent", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="+", db_index=False)
    department_id = models.BigIntegerField(null=True, blank=True)  # the source's department at ingest
    rows = models.IntegerField(default=0)
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    total_ms = models.DecimalField(max_digits=20, decimal_places=3, default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    latency = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["tier", "bucket", "source", "target_kind", "target_name", "target_agent", "department_id"],
            name="edge_cell_unique", nulls_distinct=False)]

    def __str__(self) -> str:
        return f"{self.tier} {self.bucket:%Y-%m-%d %H:%M} {self.source_id} -> {self.target_name}: {self.calls}"


class FailureSignatureRecord(models.Model):
    """What a failure fingerprint stands for (monitoring.ingest.fingerprint.FailureSignature), stored
    when ingest first sees it, so pages describe a group without reading its runs (which retention
    drops)."""

    fingerprint = models.CharField(max_length=40, primary_key=True)
    agent = models.ForeignKey("agentops.Agent", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", db_index=False)
    kind = models.CharField(max_length=20, blank=True)
    step_name = models.CharField(max_length=255, blank=True)
    tool_name = models.CharField(max_length=255, blank=True)
    error_type = models.CharField(max_length=255, blank=True)
    message = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"signature {self.fingerprint[:10]}: {self.kind} {self.error_type}"
