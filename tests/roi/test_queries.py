"""Report inputs from the database: run classification, reconciliation with raw rows, query counts, spend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from handoffs.models import Ticket
from monitoring.models import Run
from roi.calculations import month_period
from roi.models import AssumptionKind
from roi.queries import daily_activity, report_bundle, spend_watch
from roi.services import set_budget
from tests.factories import make_agent, make_department
from tests.roi.factories import assume, make_finished_ticket, make_run, standard_ledger

pytestmark = pytest.mark.django_db

MARCH = month_period(2026, 3)


def at(day: int, month: int = 3, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_automated_runs_exclude_errors_escalations_and_ticketed_runs():
    agent = make_agent()
    make_run(agent, at(2))
    make_run(agent, at(2), status="error")
    make_run(agent, at(2), has_escalation=True)
    ticketed = make_run(agent, at(2))
    make_finished_ticket(agent, at(3), 60, run=ticketed)
    [day] = [d for d in daily_activity(MARCH.start, MARCH.end) if d.day == date(2026, 3, 2)]
    assert (day.runs, day.automated, day.handoffs) == (4, 1, 2)


def test_days_are_utc_days():
    agent = make_agent()
    make_run(agent, datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    make_run(agent, datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    assert [d.day for d in daily_activity(MARCH.start, MARCH.end)] == [date(2026, 3, 31)]


@pytest.fixture
def march_data(finance_user):
    """Two departments, three agents, runs and tickets inside and around March 2026."""
    support, billing = make_department("Support"), make_department("Billing")
    a1, a2 = make_agent("Refunds", department=support), make_agent("Triage", department=support)
    a3 = make_agent("Invoices", department=billing)
    standard_ledger(finance_user, support, a1, a2, a3)
    assume(finance_user, AssumptionKind.HOURLY_COST, "48.5", department=billing, currency="USD")
    assume(finance_user, AssumptionKind.OTHER_COST, "93", department=support, currency="USD")
    costs = ["0.013457", "0.200001", "0.000999", "1.5", "0.07"]
    for i, agent in enumerate((a1, a1, a2, a3, a3)):
        make_run(agent, at(1 + i * 5), cost=costs[i])
    make_run(a1, at(9), status="error", cost="0.3")
    escalated = make_run(a3, at(20), has_escalation=True, cost="0.25")
    make_finished_ticket(a3, at(21), 725.5, run=escalated)
    make_finished_ticket(a1, at(2), 333.333, run=make_run(a1, at(27, month=2), cost="0.9"))  # run in Feb
    make_finished_ticket(a2, at(1, month=4), 999)  # resolved in April: not March's minutes
    make_run(a2, at(1, month=4), cost="5")
    return a1, a2, a3


def test_report_totals_reconcile_to_the_raw_rows(march_data):
    bundle = report_bundle(MARCH, "agent")
    total = bundle.report.total
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    runs = Run.objects.filter(started_at__gte=start, started_at__lt=end)
    tickets = Ticket.objects.filter(resolved_at__gte=start, resolved_at__lt=end)
    assert total.runs == runs.count() == 7
    assert total.ai_cost == runs.aggregate(s=Sum("cost"))["s"] == Decimal("2.334457")
    assert total.automated == runs.filter(status="ok", has_escalation=False, handoff_tickets__isnull=True).count()
    assert total.human_seconds == Decimal(str(sum(t.handle_seconds for t in tickets))) == Decimal("1058.833")
    assert total.resolved_tickets == tickets.count() == 2
    assert total.other_cost.base == Decimal("93")
    # automated: 3 Support runs x 6 min x 60 USD/h = 18, 2 Billing runs x 6 min x 48.5 USD/h = 9.7
    assert total.value.base == Decimal("27.700000")
    # 725.5 s x 48.5 / 3600 = 9.774097 and 333.333 s x 60 / 3600 = 5.555550
    assert total.handoff_cost == Decimal("15.329647")


def test_totals_are_the_same_in_every_grouping(march_data):
    totals = [report_bundle(MARCH, g).report.total for g in ("agent", "department", "company")]
    assert len({(t.runs, t.ai_cost, t.value, t.other_cost, t.handoff_cost, t.human_seconds) for t in totals}) == 1


def test_the_report_uses_a_fixed_number_of_queries(march_data, django_assert_max_num_queries):
    more = make_agent("Extra", department=march_data[0].department)
    make_run(more, at(4))
    with django_assert_max_num_queries(8):  # runs, own costs (invocations), archived days, tickets, ledger, agents…
        bundle = report_bundle(MARCH, "agent")
    assert len(bundle.report.rows) == 5  # 4 agents + Support department costs
    assert len(bundle.trend) == 12


def test_the_report_lists_the_assumptions_it_used(march_data, finance_user):
    change = assume(finance_user, AssumptionKind.BASELINE_MINUTES, "9", agent=march_data[0], frm=date(2026, 3, 10))
    make_run(march_data[0], at(15))
    bundle = report_bundle(MARCH, "agent")
    used = {row.id for row in bundle.assumptions}
    assert change.id in used and change.previous_id in used


def test_spend_watch_forecasts_to_month_end(finance_user):
    agent = make_agent()
    assume(finance_user, AssumptionKind.OTHER_COST, "31", agent=agent, currency="USD")
    for day in range(1, 11):
        make_run(agent, at(day), cost="1")
    make_run(agent, at(12), cost="100")  # after "today": not yet spent
    set_budget(month=date(2026, 3, 1), amount=Decimal("50"), agent=agent, set_by=finance_user)
    [line] = spend_watch(date(2026, 3, 1), today=date(2026, 3, 10))
    # model 10 USD in 10 days -> 31 for March; other costs 10 so far (31 x 10/31), 31 for the month
    assert line.month_to_date == Decimal("20")
    assert line.forecast == Decimal("62")
    assert line.over_budget


def test_a_budget_in_another_currency_needs_a_rate(finance_user):
    agent = make_agent()
    set_budget(month=date(2026, 3, 1), amount=Decimal("50"), agent=agent, set_by=finance_user, currency="EUR")
    [line] = spend_watch(date(2026, 3, 1), today=date(2026, 3, 10))
    assert line.budget_usd is None and not line.over_budget
    assume(finance_user, AssumptionKind.FX_RATE, "1.1", currency="EUR")
    [line] = spend_watch(date(2026, 3, 1), today=date(2026, 3, 10))
    assert line.budget_usd == Decimal("55.0")
