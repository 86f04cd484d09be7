"""ROI ledger: effective-dated, append-only assumptions and monthly budgets.

Assumptions are never edited in place. A change appends a new row that points at the row it
supersedes (``previous``), with who, when and a required reason. Three guards keep it that way:
``services.record_assumption`` is the only writer, ``AssumptionRow.save``/``delete`` refuse to
touch a stored row, and a PostgreSQL trigger (migration 0002) rejects UPDATE and DELETE outright.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from agentops.models import Agent, Department

# Run costs arrive in USD (telemetry contract), so the report is computed in USD; any other
# currency in the ledger is converted with an exchange-rate assumption in force on the day.
REPORT_CURRENCY = "USD"


class AssumptionKind(models.TextChoices):
    HOURLY_COST = "hourly_cost", "Loaded hourly labour cost"
    BASELINE_MINUTES = "baseline_minutes", "Baseline human minutes per task"
    OTHER_COST = "other_cost", "Other monthly cost"
    ONE_OFF_COST = "one_off_cost", "One-off implementation cost"
    RECAPTURE = "recapture", "Recapture factor"
    FX_RATE = "fx_rate", "Exchange rate to USD"


# Which scope each kind takes: "department", "agent", "agent_or_department", "company_or_department",
# "currency". Validation and the ledger page both read this table.
KIND_SCOPE: dict[str, str] = {
    AssumptionKind.HOURLY_COST: "department",
    AssumptionKind.BASELINE_MINUTES: "agent",
    AssumptionKind.OTHER_COST: "agent_or_department",
    AssumptionKind.ONE_OFF_COST: "agent_or_department",
    AssumptionKind.RECAPTURE: "company_or_department",
    AssumptionKind.FX_RATE: "currency",
}
MONEY_KINDS = frozenset({AssumptionKind.HOURLY_COST, AssumptionKind.OTHER_COST, AssumptionKind.ONE_OFF_COST})


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a stored assumption row."""


class AssumptionRow(models.Model):
    """One value of one assumption series, in force from ``effective_from`` (a UTC day) on.

    A series is (kind, agent, department, currency for exchange rates). On a given day the row in
    force is the one with the latest ``effective_from`` not after that day; among rows with the
    same ``effective_from`` the later recorded one wins (a correction).
    """

    kind = models.CharField(max_length=20, choices=AssumptionKind.choices)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Money kinds: the currency of the value. Exchange rates: the currency converted to USD.
    currency = models.CharField(max_length=3, blank=True)
    value_low = models.DecimalField(max_digits=16, decimal_places=6)
    value_base = models.DecimalField(max_digits=16, decimal_places=6)
    value_high = models.DecimalField(max_digits=16, decimal_places=6)
    effective_from = models.DateField()
    reason = models.TextField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    # The row in force on ``effective_from`` before this one was recorded: its values are the "old value".
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="successors")

    class Meta:
        ordering = ["kind", "agent_id", "department_id", "currency", "-effective_from", "-id"]
        indexes = [models.Index(fields=["kind", "effective_from"], name="roi_assumption_kind_from")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value_low__lte=models.F("value_base"), value_base__lte=models.F("value_high")),
                name="roi_assumption_low_base_high_ordered",
            ),
            models.CheckConstraint(condition=models.Q(value_low__gte=0), name="roi_assumption_non_negative"),
            models.CheckConstraint(
                condition=~models.Q(reason=""), name="roi_assumption_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.scope_label}: {self.value_base} from {self.effective_from}"

    def save(self, *args, **kwargs) -> None:
        # The trigger would refuse too; failing here gives a clear Python error first.
        if self.pk is not None:
            raise AppendOnlyError("Assumption rows are append-only: record a new row instead of editing.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Assumption rows are append-only and cannot be deleted.")

    def clean(self) -> None:
        validate_scope(self.kind, self.agent_id, self.department_id, self.currency)

    @property
    def scope_label(self) -> str:
        if self.kind == AssumptionKind.FX_RATE:
            return f"{self.currency} → {REPORT_CURRENCY}"
        if self.agent_id:
            return self.agent.name
        if self.department_id:
            return self.department.name
        return "Whole company"

    @property
    def series_key(self) -> tuple:
        return (self.kind, self.agent_id, self.department_id, self.currency if self.kind == AssumptionKind.FX_RATE else "")

    @property
    def is_range(self) -> bool:
        return self.value_low != self.value_base or self.value_high != self.value_base


def validate_scope(kind: str, agent_id: int | None, department_id: int | None, currency: str) -> None:
    """Raise ValidationError unless the scope and currency fit the kind (see KIND_SCOPE)."""
    scope = KIND_SCOPE.get(kind)
    errors: dict[str, str] = {}
    if scope == "department" and (not department_id or agent_id):
        errors["department"] = "This assumption is set per department: choose a department and no agent."
    elif scope == "agent" and (not agent_id or department_id):
        errors["agent"] = "This assumption is set per agent: choose an agent and no department."
    elif scope == "agent_or_department" and bool(agent_id) == bool(department_id):
        errors["agent"] = "Choose either an agent or a department (exactly one)."
    elif scope == "company_or_department" and agent_id:
        errors["agent"] = "This assumption applies to a department or the whole company, not to an agent."
    elif scope == "currency" and (agent_id or department_id):
        errors["agent"] = "An exchange rate applies to the whole company."
    if kind in MONEY_KINDS and len(currency or "") != 3:
        errors["currency"] = "Money needs a three-letter currency code."
    if kind == AssumptionKind.FX_RATE and (len(currency or "") != 3 or currency == REPORT_CURRENCY):
        errors["currency"] = f"Give the three-letter currency converted to {REPORT_CURRENCY} (not {REPORT_CURRENCY})."
    if errors:
        raise ValidationError(errors)


class Budget(models.Model):
    """A monthly spend budget for an agent or a department (exactly one); set by finance."""

    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    month = models.DateField(help_text="First day of the month.")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default=REPORT_CURRENCY)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-month", "agent_id", "department_id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(agent__isnull=False, department__isnull=True)
                           | models.Q(agent__isnull=True, department__isnull=False)),
                name="roi_budget_one_scope",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="roi_budget_non_negative"),
            models.CheckConstraint(condition=models.Q(month__day=1), name="roi_budget_first_of_month"),
            models.UniqueConstraint(fields=["agent", "month"], condition=models.Q(agent__isnull=False),
                                    name="roi_budget_unique_agent_month"),
            models.UniqueConstraint(fields=["department", "month"], condition=models.Q(department__isnull=False),
                                    name="roi_budget_unique_department_month"),
        ]

    def __str__(self) -> str:
        scope = self.agent or self.department
        return f"Budget {scope} {self.month:%Y-%m}: {self.amount} {self.currency}"

    @property
    def scope_label(self) -> str:
        return self.agent.name if self.agent_id else self.department.name


class ArchivedRunDay(models.Model):
    """One agent's run figures for one UTC day, kept after the runs themselves were dropped by
    telemetry retention (``roi.archive``). Written only by ``archive_expiring``."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    runs = models.PositiveIntegerField(default=0)
    automated = models.PositiveIntegerField(default=0)
    handoffs = models.PositiveIntegerField(default=0)
    ai_cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "day"], name="roi_archived_run_day_unique")]
        indexes = [models.Index(fields=["day"], name="roi_archived_run_day_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.day}: {self.runs} runs"


def month_start(day: date) -> date:
    return day.replace(day=1)



class PeriodClose(models.Model):
    """A month finance has closed: its whole-company figures as reported at the close, kept so a later
    restatement (an assumption change effective inside the month) can show before and after."""

    month = models.DateField(unique=True)  # the first day of the month
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(default=timezone.now)
    figures = models.JSONField(default=dict)  # column key -> total as text (roi.tables.COLUMNS)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%B %Y} (closed)"


class Restatement(models.Model):
    """An assumption change recorded after ``close`` whose effective date falls inside (or before) the
    closed month: the month's figures are restated, with the reason finance gave."""

    close = models.ForeignKey(PeriodClose, on_delete=models.PROTECT, related_name="restatements")
    assumption = models.ForeignKey(AssumptionRow, on_delete=models.PROTECT, related_name="restatements")
    reason = models.TextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recorded_at", "id"]
        constraints = [models.CheckConstraint(condition=~models.Q(reason=""), name="roi_restatement_reason_required")]

    def __str__(self) -> str:
        return f"{self.close} restated by assumption row {self.assumption_id}"
