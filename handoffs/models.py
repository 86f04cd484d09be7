"""Handoff queues, tickets and their append-only event log.

A ticket is a unit of human work opened from a monitoring escalation (or a failed / low-quality run
when a queue's rules ask for it). States: open -> claimed -> (pending) -> resolved -> closed, with
release or lease expiry back to open, reopen within the queue's window, and cancel.

Every write goes through ``handoffs.services``; the ``version`` column is the optimistic lock that
every form carries. All timestamps are UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from agentops.models import Agent

from .calculations import BusinessHours


class Priority(models.IntegerChoices):
    URGENT = 1, "Urgent"
    HIGH = 2, "High"
    NORMAL = 3, "Normal"
    LOW = 4, "Low"


# Escalation.priority is free text from telemetry; these spellings map onto our scale.
ESCALATION_PRIORITY_WORDS: dict[str, int] = {
    "urgent": Priority.URGENT, "critical": Priority.URGENT, "p1": Priority.URGENT,
    "high": Priority.HIGH, "p2": Priority.HIGH,
    "normal": Priority.NORMAL, "medium": Priority.NORMAL, "p3": Priority.NORMAL,
    "low": Priority.LOW, "p4": Priority.LOW,
}


def default_business_days() -> list[int]:
    return [0, 1, 2, 3, 4]  # Monday..Friday (datetime.weekday())


class RootCause(models.Model):
    """One entry of the root-cause taxonomy that operations curates; resolve requires one."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=100)
    # Retired causes stay on old tickets but are no longer offered.
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Queue(models.Model):
    """A work queue: routing rules (agents, reasons, run rules), SLA policy, lease and capacity."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    # Routing: queues are tried in ``position`` order; empty agents/reasons mean "any".
    position = models.PositiveSmallIntegerField(default=100)
    is_default = models.BooleanField(
        default=False, help_text="Receives escalations no other queue matches. At most one queue."
    )
    agents = models.ManyToManyField(Agent, blank=True, related_name="handoff_queues")
    reasons = ArrayField(
        models.CharField(max_length=255), default=list, blank=True,
        help_text="Escalation reasons this queue takes (case-insensitive). Empty: any reason.",
    )
    open_on_run_failure = models.BooleanField(default=False, help_text="Open a ticket when a run fails.")
    open_on_low_quality = models.BooleanField(
        default=False, help_text="Open a ticket when a run's quality is below the agent's minimum."
    )
    # Priority rules: escalation priority words map onto Priority; these override per reason.
    default_priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    rule_priority = models.PositiveSmallIntegerField(
        "priority of rule tickets (failed / low quality runs)", choices=Priority.choices, default=Priority.NORMAL
    )
    reason_priorities = models.JSONField(
        default=dict, blank=True, help_text='Per-reason priority, e.g. {"refund over limit": 1}.'
    )
    # SLA policy, measured on the queue's clock (business hours when set, else 24/7).
    sla_claim_minutes = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    sla_resolve_minutes = models.PositiveIntegerField(default=240, validators=[MinValueValidator(1)])
    # Per-priority SLA targets override the two above: {"1": [claim, resolve], ...} in minutes.
    sla_by_priority = models.JSONField(
        "SLA by priority", default=dict, blank=True,
        help_text="Per priority: claim and resolve minutes; priorities not listed use the queue's SLA.",
    )
    business_timezone = models.CharField(max_length=64, default="UTC")
    business_start = models.TimeField(null=True, blank=True, help_text="Blank: the SLA clock runs 24/7.")
    business_end = models.TimeField(null=True, blank=True)
    business_days = ArrayField(models.PositiveSmallIntegerField(), default=default_business_days, blank=True)
    lease_minutes = models.PositiveIntegerField(default=15, validators=[MinValueValidator(1), MaxValueValidator(480)])
    reviewer_capacity = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="Most tickets one reviewer may hold in this queue."
    )
    reopen_days = models.PositiveIntegerField(default=7, help_text="Resolved tickets can be reopened this long.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="queue_one_default"),
            models.CheckConstraint(
                condition=models.Q(business_start__isnull=True, business_end__isnull=True)
                | models.Q(business_start__lt=models.F("business_end")),
                name="queue_business_hours_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("handoffs:queue", args=[self.slug])

    def clean(self) -> None:
        if (self.business_start is None) != (self.business_end is None):
            raise ValidationError("Set both business hours start and end, or neither.")
        if self.business_start and self.business_end and self.business_start >= self.business_end:
            raise ValidationError("Business hours must end after they start.")

    @property
    def business_hours(self) -> BusinessHours | None:
        if self.business_start is None or self.business_end is None:
            return None
        return BusinessHours(
            tz=self.business_timezone, start=self.business_start, end=self.business_end,
            weekdays=tuple(self.business_days or ()),
        )

    def sla_minutes(self, priority: int) -> tuple[int, int]:
        """(claim, resolve) minutes for a ticket of ``priority``: its own target, else the queue's."""
        pair = (self.sla_by_priority or {}).get(str(int(priority)))
        if pair:
            return int(pair[0]), int(pair[1])
        return self.sla_claim_minutes, self.sla_resolve_minutes

    def takes_reason(self, reason: str) -> bool:
        return not self.reasons or reason.strip().lower() in {r.lower() for r in self.reasons}

    def priority_for(self, reason: str, escalation_priority: str) -> int:
        """The ticket priority for an escalation: the more urgent of the reason rule and the sender's word."""
        candidates = [ESCALATION_PRIORITY_WORDS.get(escalation_priority.strip().lower(), self.default_priority)]
        by_reason = {k.lower(): v for k, v in (self.reason_priorities or {}).items()}
        if reason.strip().lower() in by_reason:
            candidates.append(int(by_reason[reason.strip().lower()]))
        return min(candidates)


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


# Tickets that still need a human (counted in queue depth).
ACTIVE_STATUSES = (TicketStatus.OPEN, TicketStatus.CLAIMED, TicketStatus.PENDING)
# Tickets a reviewer holds (counted against capacity and in the nav badge).
HELD_STATUSES = (TicketStatus.CLAIMED, TicketStatus.PENDING)


def work_order() -> list:
    """The order reviewers work open tickets in (claim-next, the queue page): most urgent priority
    first, then the earliest SLA deadline that applies now (the claim deadline until first claimed,
    then the resolve deadline), then the oldest handoff, then the id (a stable tie-break)."""
    due = models.Case(
        models.When(first_claimed_at__isnull=True, then=models.F("claim_due_at")),
        default=models.F("resolve_due_at"),
    )
    return ["priority", due.asc(nulls_last=True), "created_at", "id"]


class TicketSource(models.TextChoices):
    ESCALATION = "escalation", "Escalation"
    RUN_FAILED = "run_failed", "Run failed"
    LOW_QUALITY = "low_quality", "Low quality"


class Outcome(models.TextChoices):
    RESOLVED_BY_HUMAN = "resolved_by_human", "Resolved by human"
    APPROVED_AGENT_ANSWER = "approved_agent_answer", "Approved agent answer"
    CORRECTED_AGENT_ANSWER = "corrected_agent_answer", "Corrected agent answer"
    ACTION_TAKEN = "action_taken", "Action taken"
    NO_ACTION_NEEDED = "no_action_needed", "No action needed"
    DUPLICATE = "duplicate", "Duplicate"


class Ticket(models.Model):
    """One handoff. ``handle_seconds`` sums the intervals a reviewer actively held it (not wall time)."""

    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="tickets")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="handoff_tickets")
    # Run/escalation survive telemetry retention as SET_NULL: the ticket is a business record. No
    # database constraint (runs and escalations are partitioned tables); retention clears them
    # (telemetry_expiring) after the ticket's context packet is snapshotted.
    run = models.ForeignKey(
        "monitoring.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="handoff_tickets",
        db_constraint=False,
    )
    escalation = models.ForeignKey(
        "monitoring.Escalation", null=True, blank=True, on_delete=models.SET_NULL, related_name="handoff_tickets",
        db_constraint=False,
    )
    source = models.CharField(max_length=12, choices=TicketSource.choices, default=TicketSource.ESCALATION)
    reason = models.CharField(max_length=255, blank=True)
    summary = models.TextField(blank=True)
    session_id = models.CharField(max_length=255, blank=True)
    # The agent invocation the ticket is about (its span in ``run``): for an escalation, the one that
    # raised it, whose agent and own prompt version ``agent`` and ``prompt_version`` are; for a rule
    # ticket, the run's top invocation. Blank when not known (the span is not stored).
    invocation_span_id = models.CharField(max_length=16, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)

    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.OPEN)
    version = models.PositiveIntegerField(default=1)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="handoff_tickets"
    )

    created_at = models.DateTimeField(default=timezone.now)  # the handoff: the SLA clocks start here
    first_claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)  # start of the current handled interval
    last_activity_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claim_due_at = models.DateTimeField()
    resolve_due_at = models.DateTimeField()
    pending_until = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.FloatField(default=0)  # on the queue's clock, summed over pending spells
    handle_seconds = models.FloatField(default=0)

    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=24, choices=Outcome.choices, blank=True)
    root_cause = models.ForeignKey(RootCause, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets")
    corrected_answer = models.TextField(blank=True)
    resolution_note = models.TextField(blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    # The context packet the ticket page shows (run status, conversation, steps, tools), kept for when
    # the run is past telemetry retention (handoffs.context).
    context = models.JSONField(default=dict, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Exactly one ticket per escalation, even when a batch is processed twice.
            models.UniqueConstraint(fields=["escalation"], name="ticket_one_per_escalation"),
            # Rule tickets (failed / low-quality runs): at most one per run.
            models.UniqueConstraint(
                fields=["run"], condition=models.Q(escalation__isnull=True), name="ticket_one_rule_ticket_per_run"
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["claimed", "pending"]) | models.Q(assignee__isnull=False),
                name="ticket_held_has_assignee",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["resolved", "closed"])
                | (~models.Q(outcome="") & models.Q(root_cause__isnull=False)),
                name="ticket_resolved_has_outcome",
            ),
        ]
        indexes = [
            # Work order of open tickets (claim-next, the queue page): priority, SLA due, age.
            models.Index(
                fields=["queue", "priority", "claim_due_at", "created_at", "id"], name="ticket_queue_work_idx",
                condition=models.Q(status="open"),
            ),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["status", "lease_expires_at"], name="ticket_lease_idx"),
            models.Index(fields=["status", "pending_until"], name="ticket_pending_idx"),
            models.Index(fields=["-created_at"], name="ticket_created_idx"),
            models.Index(fields=["agent", "-created_at"], name="ticket_agent_time_idx"),
            models.Index(fields=["session_id"], name="ticket_session_idx", condition=~models.Q(session_id="")),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reason or self.get_source_display()}"

    def get_absolute_url(self) -> str:
        return reverse("handoffs:ticket", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_held(self) -> bool:
        return self.status in HELD_STATUSES

    @property
    def sla_due_at(self) -> datetime | None:
        """The deadline that matters now: claiming while open, resolving while held; none when paused/done."""
        if self.status == TicketStatus.OPEN and self.first_claimed_at is None:
            return self.claim_due_at
        if self.status in (TicketStatus.OPEN, TicketStatus.CLAIMED):
            return self.resolve_due_at
        return None

    @property
    def resolve_minutes(self) -> int:
        return self.queue.sla_minutes(self.priority)[1]

    @property
    def met_resolve_sla(self) -> bool | None:
        if self.resolved_at is None:
            return None
        return self.resolved_at <= self.resolve_due_at

    def can_reopen(self, now: datetime | None = None) -> bool:
        if self.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED) or self.resolved_at is None:
            return False
        return (now or timezone.now()) - self.resolved_at <= timedelta(days=self.queue.reopen_days)


class EventKind(models.TextChoices):
    CREATED = "created", "Created"
    CLAIMED = "claimed", "Claimed"
    RELEASED = "released", "Released"
    LEASE_RENEWED = "lease_renewed", "Lease renewed"
    LEASE_EXPIRED = "lease_expired", "Lease expired"
    REASSIGNED = "reassigned", "Reassigned"
    PENDING = "pending", "Set pending"
    WOKE = "woke", "Woke up"
    NOTE = "note", "Note"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"
    PRIORITY = "priority", "Priority changed"


class TicketEvent(models.Model):
    """Append-only log of every transition and note, with who made it (null actor: the system)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["ticket", "at"], name="ticketevent_ticket_idx"),
            models.Index(fields=["kind", "at"], name="ticketevent_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on ticket {self.ticket_id}"

    def save(self, *args, **kwargs) -> None:
        # Append-only: an event, once written, is history and is never edited.
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValidationError("Ticket events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Ticket events are append-only.")


class SavedReply(models.Model):
    """A reply text operations curates for reviewers (a macro): inserted into a note or a resolution."""

    name = models.CharField(max_length=120, unique=True)
    body = models.TextField()
    queues = models.ManyToManyField(Queue, blank=True, related_name="saved_replies",
                                    help_text="Offered in these queues; none selected: in every queue.")
    position = models.PositiveSmallIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "saved replies"

    def __str__(self) -> str:
        return self.name
