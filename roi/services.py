"""ROI writes: appending to the assumptions ledger and setting budgets. Each owns its transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from agentops.models import Agent, Department

from .calculations import add_months
from .models import (
    KIND_SCOPE,
    AssumptionKind,
    AssumptionRow,
    Budget,
    PeriodClose,
    Restatement,
    validate_scope,
)


@dataclass(frozen=True)
class AssumptionChange:
    kind: str
    value_base: Decimal
    effective_from: date
    reason: str
    agent: Agent | None = None
    department: Department | None = None
    currency: str = ""
    value_low: Decimal | None = None  # None: same as base (a certain figure)
    value_high: Decimal | None = None


def _series_lock(kind: str, agent_id: int | None, department_id: int | None, currency: str) -> None:
    """Serialise appends to one series so ``previous`` always names the row then in force."""
    digest = hashlib.blake2b(f"roi:{kind}:{agent_id}:{department_id}:{currency}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def row_in_force(kind: str, day: date, *, agent_id: int | None, department_id: int | None,
                 currency: str) -> AssumptionRow | None:
    rows = AssumptionRow.objects.filter(kind=kind, agent_id=agent_id, department_id=department_id,
                                        effective_from__lte=day)
    if kind == AssumptionKind.FX_RATE:
        rows = rows.filter(currency=currency)
    return rows.order_by("-effective_from", "-id").first()


def closed_months_from(day: date) -> list[PeriodClose]:
    """Closed months a change effective from ``day`` reaches: the month of ``day`` and every later one."""
    return list(PeriodClose.objects.filter(month__gte=day.replace(day=1)).order_by("month"))


def record_assumption(change: AssumptionChange, changed_by, *, changed_at: datetime | None = None,
                      restatement_reason: str = "") -> AssumptionRow:
    """Append a row to the ledger; the row previously in force on that day becomes ``previous``.

    Nothing is edited: a correction of a past figure is a new row with the same ``effective_from``
    (the later recorded row wins), so every earlier value stays readable with who changed it and why.
    ``changed_at`` defaults to now; pass it only when importing a historical ledger (the demo seed).
    A change effective inside a closed month restates it (and every later closed month): that needs
    ``restatement_reason``, and a ``Restatement`` row per month records it.
    Raises ValidationError for a bad scope, currency, range or an empty reason.
    """
    low = change.value_base if change.value_low is None else change.value_low
    high = change.value_base if change.value_high is None else change.value_high
    agent_id = change.agent.pk if change.agent else None
    department_id = change.department.pk if change.department else None
    currency = (change.currency or "").upper()
    _validate(change, low, high, agent_id, department_id, currency)
    with transaction.atomic():
        _series_lock(change.kind, agent_id, department_id, currency)
        closed = closed_months_from(change.effective_from)
        if closed and not restatement_reason.strip():
            months = ", ".join(f"{c.month:%B %Y}" for c in closed)
            raise ValidationError({"restatement_reason": (
                f"This change is effective inside closed periods ({months}): their reported figures will be "
                "restated. Give the reason for the restatement."
            )})
        previous = row_in_force(change.kind, change.effective_from, agent_id=agent_id,
                                department_id=department_id, currency=currency)
        row = AssumptionRow.objects.create(
            kind=change.kind, agent_id=agent_id, department_id=department_id, currency=currency,
            value_low=low, value_base=change.value_base, value_high=high,
            effective_from=change.effective_from, reason=change.reason.strip(),
            changed_by=changed_by, changed_at=changed_at or timezone.now(), previous=previous,
        )
        Restatement.objects.bulk_create([
            Restatement(close=c, assumption=row, reason=restatement_reason.strip(), recorded_by=changed_by,
                        recorded_at=row.changed_at)
            for c in closed
        ])
        return row


def close_month(month: date, closed_by, figures: dict[str, str], today: date) -> PeriodClose:
    """Close a finished month with its figures as reported now (whole-company totals)."""
    month = month.replace(day=1)
    if add_months(month, 1) > today:
        raise ValidationError("Only a month that has ended can be closed.")
    with transaction.atomic():
        if PeriodClose.objects.select_for_update().filter(month=month).exists():
            raise ValidationError(f"{month:%B %Y} is already closed.")
        return PeriodClose.objects.create(month=month, closed_by=closed_by, figures=figures)


def _validate(change: AssumptionChange, low: Decimal, high: Decimal, agent_id: int | None,
              department_id: int | None, currency: str) -> None:
    if change.kind not in KIND_SCOPE:
        raise ValidationError({"kind": "Unknown assumption kind."})
    validate_scope(change.kind, agent_id, department_id, currency)
    if not change.reason.strip():
        raise ValidationError({"reason": "Say why the figure changes: the reason is part of the audit trail."})
    if low < 0:
        raise ValidationError({"value_low": "Figures cannot be negative."})
    if not low <= change.value_base <= high:
        raise ValidationError({"value_base": "Low, base and high must be in order: low ≤ base ≤ high."})
    if change.kind == AssumptionKind.RECAPTURE and high > 1:
        raise ValidationError({"value_high": "A recapture factor is a share between 0 and 1."})
    if change.kind == AssumptionKind.FX_RATE and change.value_base <= 0:
        raise ValidationError({"value_base": "An exchange rate must be positive."})


def set_budget(*, month: date, amount: Decimal, set_by, agent: Agent | None = None,
               department: Department | None = None, currency: str = "USD") -> Budget:
    """Create or replace the budget of one agent or department for one month."""
    if bool(agent) == bool(department):
        raise ValidationError({"agent": "Choose either an agent or a department (exactly one)."})
    if amount < 0:
        raise ValidationError({"amount": "A budget cannot be negative."})
    month = month.replace(day=1)
    with transaction.atomic():
        budget, _ = Budget.objects.update_or_create(
            agent=agent, department=department, month=month,
            defaults={"amount": amount, "currency": currency.upper(), "set_by": set_by, "updated_at": timezone.now()},
        )
    return budget
