"""Operators' failure-group annotations and prompt-draft cases (which runs or tickets motivated a draft)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from handoffs.models import RootCause


class FailureGroup(models.Model):
    """An operator's annotation of one failure fingerprint: root cause, note and owner.

    Groups themselves are computed from ``Run.fingerprint`` on read; this row only exists once someone
    marks a group. Keyed by fingerprint, so the annotation applies to every run with that fingerprint,
    including runs that arrive after the group was marked. The root cause is an entry of the one
    taxonomy reviewers resolve tickets with (``handoffs.RootCause``); a cause in use cannot be deleted,
    only retired.
    """

    fingerprint = models.CharField(max_length=40, unique=True)
    root_cause = models.ForeignKey(RootCause, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="failure_groups")
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
