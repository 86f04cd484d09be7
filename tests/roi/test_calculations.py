"""Every ROI formula against hand-computed Decimal values (the same examples as docs/roi.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from roi.calculations import (
    AgentDay,
    AgentInfo,
    Assumption,
    Ledger,
    MissingExchangeRate,
    Range,
    RoiRow,
    compute_report,
    custom_period,
    handoff_cost,
    month_period,
    previous_period,
    prorated_monthly_cost,
    quarter_period,
    time_saved_value,
    trailing_months,
    year_earlier,
    year_period,
)
from roi.models import AssumptionKind as K

_ids = iter(range(1, 10_000))


def a(kind: str, base: str, *, low: str | None = None, high: str | None = None, frm: date = date(2020, 1, 1),
      agent: int | None = None, dept: int | None = None, cur: str = "") -> Assumption:
    return Assumption(id=next(_ids), kind=kind, low=D(low or base), base=D(base), high=D(high or base),
                      effective_from=frm, agent_id=agent, department_id=dept, currency=cur)


AGENTS = {
    1: AgentInfo(1, "Refund bot", "refund-bot", 10, "Support"),
    2: AgentInfo(2, "Triage bot", "triage-bot", 10, "Support"),
    3: AgentInfo(3, "Invoice bot", "invoice-bot", 20, "Billing"),
}
DEPARTMENTS = {10: "Support", 20: "Billing"}


def test_value_of_time_saved_is_runs_times_minutes_times_rate_times_recapture():
    value = time_saved_value(
        120, a(K.BASELINE_MINUTES, "6", low="4", high="8"), a(K.HOURLY_COST, "45", low="40", high="50", cur="USD"),
        a(K.RECAPTURE, "0.8", low="0.6", high="0.9"), None,
    )
    # 120 x 6/60 h = 12 h x 45 = 540 x 0.8 = 432; low 8 h x 40 x 0.6 = 192; high 16 h x 50 x 0.9 = 720
    assert value == Range(D("192.000000"), D("432.000000"), D("720.000000"))


def test_value_converts_the_hourly_cost_with_the_exchange_rate():
    value = time_saved_value(120, a(K.BASELINE_MINUTES, "6"), a(K.HOURLY_COST, "40", cur="EUR"),
                             a(K.RECAPTURE, "0.8"), a(K.FX_RATE, "1.10", cur="EUR"))
    # 12 h x 40 EUR x 1.10 = 528 USD x 0.8 = 422.4
    assert value.base == D("422.400000")


def test_value_rounds_once_half_even_to_the_micro_unit():
    value = time_saved_value(1, a(K.BASELINE_MINUTES, "7"), a(K.HOURLY_COST, "50", cur="USD"),
                             a(K.RECAPTURE, "1"), None)
    assert value.base == D("5.833333")  # 7 x 50 / 60 = 5.8333...


def test_value_is_zero_without_a_baseline():
    assert time_saved_value(50, None, a(K.HOURLY_COST, "45", cur="USD"), a(K.RECAPTURE, "1"), None) == Range()


def test_handoff_cost_is_handling_hours_times_the_hourly_cost():
    assert handoff_cost(D("5400"), a(K.HOURLY_COST, "45", cur="USD"), None) == D("67.500000")
    assert handoff_cost(D("100"), a(K.HOURLY_COST, "45", cur="USD"), None) == D("1.250000")


def test_a_whole_month_accrues_exactly_the_monthly_cost():
    ledger = Ledger([a(K.OTHER_COST, "300", agent=1, cur="USD")])
    assert prorated_monthly_cost(ledger, month_period(2026, 4), 1, None).base == D("300")


def test_a_monthly_cost_changed_mid_month_accrues_by_days_in_force():
    ledger = Ledger([a(K.OTHER_COST, "310", agent=1, cur="USD"),
                     a(K.OTHER_COST, "620", agent=1, cur="USD", frm=date(2026, 1, 17))])
    # January has 31 days: 310 x 16/31 + 620 x 15/31 = 160 + 300
    assert prorated_monthly_cost(ledger, month_period(2026, 1), 1, None).base == D("460.000000")


def test_later_recorded_row_with_the_same_date_corrects_the_earlier_one():
    first = a(K.BASELINE_MINUTES, "6", agent=1, frm=date(2026, 3, 1))
    fix = a(K.BASELINE_MINUTES, "5", agent=1, frm=date(2026, 3, 1))
    ledger = Ledger([fix, first])
    assert ledger.in_force(K.BASELINE_MINUTES, date(2026, 3, 9), agent_id=1) == fix
    assert ledger.in_force(K.BASELINE_MINUTES, date(2026, 2, 28), agent_id=1) is None


def test_recapture_falls_back_from_department_to_company():
    company, support = a(K.RECAPTURE, "0.7"), a(K.RECAPTURE, "0.9", dept=10)
    ledger = Ledger([company, support])
    assert ledger.recapture(10, date(2026, 1, 1)) == support
    assert ledger.recapture(20, date(2026, 1, 1)) == company


def _support_ledger(*extra: Assumption) -> Ledger:
    return Ledger([a(K.HOURLY_COST, "60", dept=10, cur="USD"), a(K.HOURLY_COST, "60", dept=20, cur="USD"),
                   a(K.RECAPTURE, "1"), a(K.BASELINE_MINUTES, "6", agent=2), a(K.BASELINE_MINUTES, "6", agent=3),
                   *extra])


def test_a_period_spanning_an_assumption_change_uses_each_value_for_its_days():
    old = a(K.BASELINE_MINUTES, "6", agent=1)
    new = a(K.BASELINE_MINUTES, "9", agent=1, frm=date(2026, 3, 16))
    activity = [AgentDay(1, date(2026, 3, 10), runs=10, automated=10),
                AgentDay(1, date(2026, 3, 20), runs=10, automated=10)]
    report = compute_report(month_period(2026, 3), "agent", activity, AGENTS, DEPARTMENTS, _support_ledger(old, new))
    # 10 x 6/60 x 60 + 10 x 9/60 x 60 = 60 + 90
    assert report.rows[0].value.base == D("150.000000")
    assert {old.id, new.id} <= report.assumption_ids


def test_net_benefit_roi_cost_per_resolution_and_payback():
    row = RoiRow(key=("agent", 1), label="x", runs=150, automated=120, resolved_tickets=4,
                 ai_cost=D("100"), other_cost=Range(D("20"), D("32"), D("50")),
                 value=Range(D("192"), D("432"), D("720")), handoff_cost=D("67.5"), one_off_cost=D("900"),
                 period_months=D(1))
    assert row.total_cost == D("132")
    assert row.net_benefit == Range(D("42"), D("300"), D("600"))  # low: 192-100-50, high: 720-100-20
    assert row.roi_percent.quantize(D("0.0001")) == D("227.2727")  # 300 / 132
    assert row.automation_rate == D("80")  # 120 / 150
    assert row.cost_per_resolution_agent == D("1.1")  # 132 / 120
    assert row.cost_per_resolution_person == D("16.875")  # 5,400 s at 45 USD/h = 67.50, / 4 tickets
    assert row.payback_months == D("3")  # 900 / 300 a month


def test_no_payback_when_net_benefit_is_not_positive():
    row = RoiRow(key=("agent", 1), label="x", ai_cost=D("10"), one_off_cost=D("900"))
    assert row.payback_months is None
    assert row.roi_percent == D("-100")


def test_totals_are_the_exact_sum_of_rows_in_every_grouping():
    ledger = _support_ledger(a(K.BASELINE_MINUTES, "6", agent=1), a(K.OTHER_COST, "93", dept=10, cur="USD"),
                             a(K.OTHER_COST, "31", agent=3, cur="USD"))
    activity = [AgentDay(1, date(2026, 1, 5), runs=7, automated=5, handoffs=2, ai_cost=D("1.234567"),
                         resolved_tickets=2, human_seconds=D("754.5")),
                AgentDay(2, date(2026, 1, 6), runs=3, automated=3, ai_cost=D("0.5")),
                AgentDay(3, date(2026, 1, 7), runs=4, automated=1, handoffs=1, ai_cost=D("2.000001"))]
    totals = {}
    for grouping in ("agent", "department", "company"):
        report = compute_report(month_period(2026, 1), grouping, activity, AGENTS, DEPARTMENTS, ledger)
        assert report.total.ai_cost == sum((r.ai_cost for r in report.rows), D(0))
        assert report.total.value == sum((r.value for r in report.rows), Range())
        totals[grouping] = (report.total.runs, report.total.ai_cost, report.total.other_cost, report.total.value,
                            report.total.handoff_cost)
    assert totals["agent"] == totals["department"] == totals["company"]
    assert totals["company"][2].base == D("124")  # department 93 + agent 31, whole month


def test_department_costs_get_their_own_row_in_the_agent_grouping():
    ledger = _support_ledger(a(K.OTHER_COST, "93", dept=10, cur="USD"))
    report = compute_report(month_period(2026, 1), "agent", [], AGENTS, DEPARTMENTS, ledger)
    assert [r.label for r in report.rows] == ["Support — department costs"]


def test_money_in_another_currency_without_a_rate_is_refused():
    ledger = Ledger([a(K.HOURLY_COST, "40", dept=10, cur="EUR"), a(K.BASELINE_MINUTES, "6", agent=1),
                     a(K.RECAPTURE, "1")])
    with pytest.raises(MissingExchangeRate, match="EUR"):
        compute_report(month_period(2026, 1), "agent", [AgentDay(1, date(2026, 1, 2), runs=1, automated=1)],
                       AGENTS, DEPARTMENTS, ledger)


def test_missing_baseline_is_noted_and_values_nothing():
    report = compute_report(month_period(2026, 1), "agent", [AgentDay(1, date(2026, 1, 2), runs=5, automated=5)],
                            AGENTS, DEPARTMENTS, _support_ledger())
    assert report.rows[0].value == Range()
    assert "No baseline minutes for Refund bot" in report.rows[0].notes


def test_activity_outside_the_period_is_ignored():
    activity = [AgentDay(2, date(2026, 2, 1), runs=9, automated=9)]
    report = compute_report(month_period(2026, 1), "agent", activity, AGENTS, DEPARTMENTS, _support_ledger())
    assert report.rows == [] and report.total.runs == 0


def test_periods_and_their_comparisons():
    q2 = quarter_period(2026, 2)
    assert (q2.start, q2.end, q2.label) == (date(2026, 4, 1), date(2026, 7, 1), "Q2 2026")
    assert previous_period(q2).label == "Q1 2026"
    assert year_earlier(q2).label == "Q2 2025"
    assert previous_period(month_period(2026, 1)).label == "December 2025"
    assert previous_period(year_period(2026)).label == "2025"
    ten_days = custom_period(date(2026, 3, 11), date(2026, 3, 20))
    assert (previous_period(ten_days).start, previous_period(ten_days).end) == (date(2026, 3, 1), date(2026, 3, 11))
    assert ten_days.months == D(10) / D("30.4375")
    months = trailing_months(q2)
    assert len(months) == 12 and months[0].start == date(2025, 7, 1) and months[-1].start == date(2026, 6, 1)
