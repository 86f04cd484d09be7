"""Data derived at ingest: failure-group notes (by fingerprint) and agent-map traffic edges."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

# The reviewers' root-cause taxonomy (DESIGN.md, handoff tickets), so a group marked here and a
# ticket resolved in handoffs speak the same words. handoffs is above monitoring, so it is repeated.
ROOT_CAUSES: tuple[tuple[str, str], ...] = (
    ("missing_knowledge", "Missing knowledge"),
    ("tool_failure", "Tool failure"),
    ("policy_restriction", "Policy restriction"),
    ("unsupported_request", "Unsupported request"),
    ("model_error", "Model error"),
    ("guardrail_block", "Guardrail block"),
    ("customer_request", "Customer request"),
    ("other", "Other"),
)


class FailureGroup(models.Model):
    """An operator's notes on one failure fingerprint.

    Groups themselves are computed from ``Run.fingerprint`` on read; this row only exists once someone
    marks a group. Keyed by fingerprint, so the root cause, note and owner apply to every run with
    that fingerprint, including runs that arrive after the group was marked.
    """

    fingerprint = models.CharField(max_length=40, unique=True)
    root_cause = models.CharField(max_length=32, choices=ROOT_CAUSES, blank=True)
    note = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_failure_groups"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"failure group {self.fingerprint[:10]}"


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
                            db_constraint=False)  # edge_unique_per_run leads with it
    started_at = models.DateTimeField()  # the run's start, so a range filter needs no join
    department = models.ForeignKey("agentops.Department", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", db_index=False)  # the source agent's department at ingest
    # (no index of its own: edge_dept_time_idx leads with it)
    source = models.ForeignKey("agentops.Agent", on_delete=models.CASCADE, related_name="outgoing_edges")
    target_kind = models.CharField(max_length=8, choices=EdgeKind.choices)
    target_agent = models.ForeignKey("agentops.Agent", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="incoming_edges")
    target_name = models.CharField(max_length=255)  # agent slug, tool name or HUMAN_QUEUE
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    total_ms = models.FloatField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "source", "target_kind", "target_name", "started_at"],
                                    name="edge_unique_per_run"),
        ]
        indexes = [
            models.Index(fields=["started_at"], name="edge_time_idx"),
            models.Index(fields=["department", "started_at"], name="edge_dept_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} -> {self.target_kind}:{self.target_name}"
