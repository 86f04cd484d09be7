"""The ledger is append-only (service, model guard and database trigger); budgets are upserted."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from roi.models import AppendOnlyError, AssumptionKind, AssumptionRow, Budget
from roi.services import set_budget
from tests.factories import make_agent, make_department
from tests.roi.factories import assume

pytestmark = pytest.mark.django_db


def test_a_change_appends_a_row_that_points_at_the_value_it_replaces(finance_user):
    dept = make_department()
    first = assume(finance_user, AssumptionKind.HOURLY_COST, "40", department=dept, currency="USD", frm=date(2026, 1, 1))
    second = assume(finance_user, AssumptionKind.HOURLY_COST, "44", department=dept, currency="USD",
                    frm=date(2026, 4, 1), reason="pay review")
    assert second.previous == first
    assert (second.previous.value_base, second.value_base, second.reason) == (Decimal("40"), Decimal("44"), "pay review")
    assert second.changed_by == finance_user
    assert AssumptionRow.objects.count() == 2


def test_a_backdated_row_supersedes_the_row_in_force_on_its_date(finance_user):
    agent = make_agent()
    jan = assume(finance_user, AssumptionKind.BASELINE_MINUTES, "6", agent=agent, frm=date(2026, 1, 1))
    assume(finance_user, AssumptionKind.BASELINE_MINUTES, "8", agent=agent, frm=date(2026, 6, 1))
    march = assume(finance_user, AssumptionKind.BASELINE_MINUTES, "7", agent=agent, frm=date(2026, 3, 1))
    assert march.previous == jan


def test_a_reason_is_required(finance_user):
    with pytest.raises(ValidationError, match="reason"):
        assume(finance_user, AssumptionKind.RECAPTURE, "0.7", reason="  ")


def test_scope_must_fit_the_kind(finance_user):
    with pytest.raises(ValidationError, match="per department"):
        assume(finance_user, AssumptionKind.HOURLY_COST, "40", agent=make_agent(), currency="USD")


def test_low_base_high_must_be_ordered(finance_user):
    with pytest.raises(ValidationError, match="low ≤ base ≤ high"):
        assume(finance_user, AssumptionKind.RECAPTURE, "0.7", low="0.8")


def test_a_stored_row_cannot_be_saved_again(finance_user):
    row = assume(finance_user, AssumptionKind.RECAPTURE, "0.7")
    row.value_base = Decimal("0.9")
    with pytest.raises(AppendOnlyError):
        row.save()


def test_a_stored_row_cannot_be_deleted_through_the_model(finance_user):
    row = assume(finance_user, AssumptionKind.RECAPTURE, "0.7")
    with pytest.raises(AppendOnlyError):
        row.delete()


def test_the_database_refuses_updates_that_bypass_the_model(finance_user):
    assume(finance_user, AssumptionKind.RECAPTURE, "0.7")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AssumptionRow.objects.update(value_base=Decimal("0.9"))


def test_the_database_refuses_deletes(finance_user):
    row = assume(finance_user, AssumptionKind.RECAPTURE, "0.7")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM roi_assumptionrow WHERE id = %s", [row.id])


def test_setting_a_budget_twice_replaces_it(finance_user):
    dept = make_department()
    set_budget(month=date(2026, 3, 17), amount=Decimal("100"), department=dept, set_by=finance_user)
    budget = set_budget(month=date(2026, 3, 1), amount=Decimal("250"), department=dept, set_by=finance_user)
    assert Budget.objects.get() == budget
    assert (budget.month, budget.amount) == (date(2026, 3, 1), Decimal("250"))


def test_a_budget_needs_exactly_one_scope(finance_user):
    with pytest.raises(ValidationError, match="exactly one"):
        set_budget(month=date(2026, 3, 1), amount=Decimal("1"), set_by=finance_user)
