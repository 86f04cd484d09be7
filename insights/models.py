"""Prompt-draft cases: which runs or tickets motivated a prompt version draft."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PromptDraftCase(models.Model):
    """A run or handoff ticket that motivated a prompt version draft (shown on the version's page).

    ``ticket_id`` is a plain id (the table predates this app, which sits above handoffs).
    """

    prompt_version = models.ForeignKey("agentops.PromptVersion", on_delete=models.CASCADE, related_name="draft_cases")
    run = models.ForeignKey("monitoring.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                            db_constraint=False)  # runs are partitioned (monitoring.storage.partitions)
    ticket_id = models.PositiveBigIntegerField(null=True, blank=True)
    fingerprint = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)  # e.g. the reviewer's corrected answer
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "monitoring_promptdraftcase"  # created by monitoring's migrations before this app existed
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(run__isnull=False) | models.Q(ticket_id__isnull=False), name="draft_case_has_source"
            ),
        ]

    def __str__(self) -> str:
        return f"case for {self.prompt_version_id}: run {self.run_id} ticket {self.ticket_id}"
