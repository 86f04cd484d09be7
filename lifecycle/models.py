"""Lifecycle tables: stage criteria (with overrides), the append-only stage history, pending
promotions awaiting a second approver, the settings row, and the watch's daily checks and flags."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from agentops.models import Agent, Department, LifecycleStage

from .criteria import FIELD_NAMES

GATED_CHOICES = [(s, label) for s, label in LifecycleStage.choices if s != LifecycleStage.RETIRED]


class StageCriteria(models.Model):
    """Criteria for entering ``stage``: the stage's own row (no department, no agent), or an override
    for a department or an agent. Every value is nullable: None means "inherit from the level above"
    (agent -> department -> stage row -> built-in default)."""

    stage = models.CharField(max_length=16, choices=GATED_CHOICES)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    check_runs = models.BooleanField("require minimum runs", null=True, blank=True)
    min_runs = models.PositiveIntegerField("minimum runs", null=True, blank=True)
    window_days = models.PositiveSmallIntegerField(
        "window (days)", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text="Runs, handoffs, reopens and ROI are measured over the last N days.")
    check_slo = models.BooleanField("require SLOs met", null=True, blank=True)
    slo_days_required = models.PositiveSmallIntegerField(
        "SLOs met on at least N days", null=True, blank=True, validators=[MinValueValidator(1)])
    slo_days_window = models.PositiveSmallIntegerField(
        "of the last M days", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(90)])
    check_handoff_rate = models.BooleanField("limit the handoff rate", null=True, blank=True)
    max_handoff_rate = models.DecimalField(
        "maximum handoff rate (%)", max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)])
    check_reopen_rate = models.BooleanField("limit the reopen rate", null=True, blank=True)
    max_reopen_rate = models.DecimalField(
        "maximum reopen rate (%)", max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)])
    check_alerts = models.BooleanField("require no open alerts", null=True, blank=True)
    check_experiment = models.BooleanField("require a passing experiment", null=True, blank=True)
    min_experiment_pass_rate = models.DecimalField(
        "minimum experiment pass rate (%)", max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Of the latest completed experiment of the active prompt version.")
    check_roi = models.BooleanField("require ROI or payback", null=True, blank=True)
    min_roi_percent = models.DecimalField("minimum ROI (%)", max_digits=8, decimal_places=2, null=True, blank=True)
    max_payback_months = models.DecimalField(
        "maximum payback (months)", max_digits=6, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0)])
    check_owner = models.BooleanField("require a named owner", null=True, blank=True)

    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(department__isnull=False, agent__isnull=False),
                                   name="lifecycle_criteria_one_scope"),
            models.UniqueConstraint(fields=["stage"], condition=models.Q(department__isnull=True, agent__isnull=True),
                                    name="lifecycle_criteria_stage_unique"),
            models.UniqueConstraint(fields=["stage", "department"], condition=models.Q(department__isnull=False),
                                    name="lifecycle_criteria_department_unique"),
            models.UniqueConstraint(fields=["stage", "agent"], condition=models.Q(agent__isnull=False),
                                    name="lifecycle_criteria_agent_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} criteria for {self.scope_label}"

    @property
    def scope_label(self) -> str:
        if self.agent_id:
            return self.agent.name
        if self.department_id:
            return self.department.name
        return "every agent"

    def values(self) -> dict:
        return {name: getattr(self, name) for name in FIELD_NAMES}


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a recorded stage event."""


class StageEvent(models.Model):
    """One stage change, recorded when it happens and never changed (a database trigger refuses
    UPDATE and DELETE). ``criteria`` is the snapshot of the gate's results at that moment."""

    class Kind(models.TextChoices):
        PROMOTION = "promotion", "Promotion"
        DEMOTION = "demotion", "Demotion"

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="stage_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    from_stage = models.CharField(max_length=16, choices=LifecycleStage.choices)
    to_stage = models.CharField(max_length=16, choices=LifecycleStage.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", help_text="The second approver, when one was required.")
    occurred_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    override = models.BooleanField(default=False, help_text="Promoted although criteria failed.")
    criteria = models.JSONField(default=dict)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["agent", "-occurred_at"], name="lifecycle_event_agent_idx")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(override=True, reason=""),
                                   name="lifecycle_event_override_needs_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.agent} {self.from_stage} -> {self.to_stage} at {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Stage events are append-only: record a new event instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Stage events are append-only and cannot be deleted.")


class PendingPromotion(models.Model):
    """A promotion requested while a second approver is required; at most one open per agent."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="pending_promotions")
    from_stage = models.CharField(max_length=16, choices=LifecycleStage.choices)
    to_stage = models.CharField(max_length=16, choices=LifecycleStage.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    override = models.BooleanField(default=False)
    criteria = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent"], condition=models.Q(status="pending"),
                                    name="lifecycle_one_pending_per_agent"),
        ]

    def __str__(self) -> str:
        return f"{self.agent}: {self.from_stage} -> {self.to_stage} ({self.status})"


class LifecycleSettings(models.Model):
    """One row (pk 1) of lifecycle-wide settings, edited by operations."""

    require_second_approver = models.BooleanField(
        default=False, help_text="A promotion waits until a different operations user approves it.")
    watch_days = models.PositiveSmallIntegerField(
        "flag after failing for N days", default=7, validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text="The watch flags an agent whose current stage's criteria failed on this many consecutive days.")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "lifecycle settings"

    def __str__(self) -> str:
        return "Lifecycle settings"

    @classmethod
    def load(cls) -> LifecycleSettings:
        return cls.objects.get_or_create(pk=1)[0]


class WatchCheck(models.Model):
    """The watch's verdict on one agent for one UTC day: did it meet its current stage's criteria?"""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    stage = models.CharField(max_length=16, choices=LifecycleStage.choices)
    passed = models.BooleanField()
    failing = models.JSONField(default=list, help_text="Keys of the criteria that failed.")
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["agent", "day"], name="lifecycle_watch_one_per_day")]

    def __str__(self) -> str:
        return f"{self.agent_id} on {self.day}: {'passed' if self.passed else 'failed'}"


# The key of the monitoring alert rule whose alerts the watch raises, one per flagged agent.
WATCH_ALERT_SOURCE = "lifecycle.watch"


class WatchFlag(models.Model):
    """Raised by the watch: the agent failed its stage's criteria for ``days`` days in a row; a demotion
    to ``suggested_stage`` is suggested. Resolved when it passes again, changes stage, or is dismissed."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="lifecycle_flags")
    stage = models.CharField(max_length=16, choices=LifecycleStage.choices)
    suggested_stage = models.CharField(max_length=16, choices=LifecycleStage.choices)
    failing_since = models.DateField()
    days = models.PositiveSmallIntegerField()
    failing = models.JSONField(default=list)
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent"], condition=models.Q(resolved_at__isnull=True),
                                    name="lifecycle_one_open_flag_per_agent"),
        ]

    def __str__(self) -> str:
        return f"{self.agent}: failing {self.stage} criteria since {self.failing_since}"

    @property
    def failing_labels(self) -> list[str]:
        from .criteria import CRITERION_LABELS

        return [CRITERION_LABELS.get(key, key).lower() for key in self.failing]
