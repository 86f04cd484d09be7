"""Data derived at ingest: agent-map traffic edges (failure fingerprints live on ``Run``)."""

from __future__ import annotations

from django.db import models


class EdgeKind(models.TextChoices):
    AGENT = "agent", "Agent"
    TOOL = "tool", "Tool"
    HUMAN = "human", "Human queue"


HUMAN_QUEUE = "human review"


class InteractionEdge(models.Model):
    """Traffic on one edge within one run: ``source`` agent -> an agent, a tool or the human queue.

    One row per (run, source, target): ingest replaces a run's rows wholesale, so reprocessing a batch
    or receiving a trace in pieces never double counts. The map aggregates these rows over a range
    with the (started_at) / (department, started_at) indexes; rows are few per run (one per distinct
    edge, not per call), which keeps the scan small compared to steps.
    """

    run = models.ForeignKey("monitoring.Run", on_delete=models.CASCADE, related_name="edges", db_index=False,
                            db_constraint=False)  # edge_run_idx
    started_at = models.DateTimeField()  # the run's start, so a range filter needs no join
    department = models.ForeignKey("agentops.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", db_index=False)  # the source agent's department at ingest
    # (no index of its own: edge_dept_time_idx leads with it)
    source = models.ForeignKey("agentops.Agent", on_delete=models.CASCADE, related_name="outgoing_edges")
    target_kind = models.CharField(max_length=8, choices=EdgeKind.choices)
    target_agent = models.ForeignKey("agentops.Agent", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="incoming_edges", db_index=False)  # edge_target_agent_idx
    target_name = models.CharField(max_length=255)  # agent slug, tool name or HUMAN_QUEUE
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    total_ms = models.FloatField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    class Meta:
        # A run's edges are replaced together (under its trace lock), one per (source, target) by
        # construction: an index on run_id serves that, no unique key or primary key in the database.
        indexes = [
            models.Index(fields=["run"], name="edge_run_idx"),
            # Only agent targets (tool and human-queue edges have none).
            models.Index(fields=["target_agent"], name="edge_target_agent_idx",
                         condition=models.Q(target_agent__isnull=False)),
            models.Index(fields=["started_at"], name="edge_time_idx"),
            models.Index(fields=["department", "started_at"], name="edge_dept_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} -> {self.target_kind}:{self.target_name}"
