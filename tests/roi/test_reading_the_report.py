"""What a finance reader needs to read the report right: ROI % "not meaningful" over a tiny cost
base, the current period flagged "to date", and closed months restated with before and after."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from roi import services
from roi.calculations import Range, RoiRow
from roi.models import AssumptionKind, PeriodClose, Restatement
from roi.tables import NOT_MEANINGFUL, roi_not_meaningful
from tests.factories import make_agent, make_department
from tests.roi.factories import assume, make_run, standard_ledger

pytestmark = pytest.mark.django_db

MARCH = {"period": "month", "month": "2026-03", "grouping": "agent"}


def _row(cost: str, value: str, months: str = "1") -> RoiRow:
    return RoiRow(key=("agent", 1), label="A", ai_cost=Decimal(cost), value=Range(Decimal(value), Decimal(value),
                  Decimal(value)), period_months=Decimal(months))


def test_roi_is_not_meaningful_under_ten_dollars_a_month_of_cost():
    assert "under 10.00 USD" in roi_not_meaningful(_row("0.62", "900"))
    assert "under 30.00 USD" in roi_not_meaningful(_row("12", "900", months="3"))


def test_roi_is_not_meaningful_when_cost_is_under_one_percent_of_value():
    assert "1 % of the value" in roi_not_meaningful(_row("50", "6000"))
    assert roi_not_meaningful(_row("50", "4000")) is None
    assert roi_not_meaningful(_row("0", "4000")) is None  # no cost: ROI is simply blank


@pytest.fixture
def march(finance_user):
    dept = make_department("Support")
    cheap, costly = make_agent("Cheap", department=dept), make_agent("Costly", department=dept)
    standard_ledger(finance_user, dept, cheap, costly)
    assume(finance_user, AssumptionKind.OTHER_COST, "300", agent=costly, currency="USD")
    for day in range(2, 22):
        make_run(cheap, datetime(2026, 3, day, 9, tzinfo=UTC), cost="0.03")
        make_run(costly, datetime(2026, 3, day, 9, tzinfo=UTC), cost="0.50")
    return cheap, costly


@time_machine.travel(datetime(2026, 4, 10, tzinfo=UTC), tick=False)
def test_report_leads_with_net_benefit_and_explains_a_meaningless_roi(finance_client, march):
    response = finance_client.get(reverse("roi:report"), MARCH)
    table = response.context["table"]
    assert [c.key for c in table.columns[:3]] == ["label", "net_benefit", "roi_percent"]
    rows = {row[0].text: row for row in table.rows}
    assert rows["Cheap"][2].text == NOT_MEANINGFUL and "under 10.00 USD" in rows["Cheap"][2].note
    assert rows["Costly"][2].text != NOT_MEANINGFUL
    page = response.content.decode()
    assert "ROI % not meaningful" in page and "Allocated costs:" in page
    exported = finance_client.get(reverse("roi:export_csv"), MARCH).content.decode()
    assert any(line[:1] == ["Note"] and "Cheap: ROI % not meaningful" in line[1]
               for line in csv.reader(io.StringIO(exported)))


@time_machine.travel(datetime(2026, 3, 4, 12, tzinfo=UTC), tick=False)
def test_the_current_month_is_flagged_to_date_and_not_compared(finance_client, march):
    response = finance_client.get(reverse("roi:report"), MARCH)
    page = response.content.decode()
    assert response.context["to_date"] == "to date, 4 of 31 days"
    assert 'id="roi-to-date"' in page
    assert "is not over" in page
    assert "%</td>" not in page.split('class="roi-comparison"')[1].split("</table>")[0]  # no change column
    assert not response.context["can_close"]


@time_machine.travel(datetime(2026, 4, 10, tzinfo=UTC), tick=False)
def test_closing_a_month_then_restating_it(finance_client, finance_user, march):
    cheap, _costly = march
    response = finance_client.post(reverse("roi:close_period"), {"month": "2026-03"}, follow=True)
    assert "March 2026 is closed" in response.content.decode()
    closed = PeriodClose.objects.get()
    assert closed.figures["net_benefit"] == response.context["table"].total[1].text

    # A change effective inside the closed month needs a reason for the restatement.
    form = {"kind": AssumptionKind.BASELINE_MINUTES, "agent": cheap.pk, "value_base": "9",
            "effective_from": "2026-03-01", "reason": "time study redone"}
    refused = finance_client.post(reverse("roi:assumptions"), form)
    assert refused.status_code == 400
    assert "closed periods (March 2026)" in refused.content.decode()
    done = finance_client.post(reverse("roi:assumptions"), {**form, "restatement_reason": "baseline was wrong"},
                               follow=True)
    assert "Restated closed periods: March 2026." in done.content.decode()
    assert Restatement.objects.get().reason == "baseline was wrong"

    report = finance_client.get(reverse("roi:report"), MARCH)
    page = report.content.decode()
    assert "Restated:" in page and "baseline was wrong" in page
    before_after = {f["label"]: f for f in report.context["restated"]}
    assert before_after["Net benefit (USD)"]["changed"]
    assert before_after["Net benefit (USD)"]["before"] == closed.figures["net_benefit"]
    exported = finance_client.get(reverse("roi:export_csv"), MARCH).content.decode()
    assert "Restated: March 2026 was closed on 2026-04-10" in exported


@time_machine.travel(datetime(2026, 4, 10, tzinfo=UTC), tick=False)
def test_a_change_after_the_closed_months_needs_no_restatement(finance_user, march):
    cheap, _ = march
    services.close_month(date(2026, 3, 1), finance_user, {}, date(2026, 4, 10))
    row = assume(finance_user, AssumptionKind.BASELINE_MINUTES, "7", agent=cheap, frm=date(2026, 4, 1))
    assert not row.restatements.exists()
    with pytest.raises(ValidationError, match="restatement"):
        assume(finance_user, AssumptionKind.BASELINE_MINUTES, "8", agent=cheap, frm=date(2026, 2, 1))


def test_only_an_ended_month_can_be_closed_once(finance_user):
    with pytest.raises(ValidationError, match="ended"):
        services.close_month(date(2026, 4, 1), finance_user, {}, date(2026, 4, 10))
    services.close_month(date(2026, 3, 1), finance_user, {}, date(2026, 4, 10))
    with pytest.raises(ValidationError, match="already closed"):
        services.close_month(date(2026, 3, 1), finance_user, {}, date(2026, 4, 10))


def test_a_cost_decrease_is_coloured_as_good_news():
    from roi.views import delta_class

    assert delta_class(Decimal("90"), Decimal("100"), lower_is_better=True) == "delta-up"
    assert delta_class(Decimal("110"), Decimal("100"), lower_is_better=True) == "delta-down"
    assert delta_class(Decimal("110"), Decimal("100"), lower_is_better=False) == "delta-up"
    assert delta_class(None, Decimal("100"), lower_is_better=False) == "delta-flat"
