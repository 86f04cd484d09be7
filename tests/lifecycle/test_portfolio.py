"""The portfolio groups figures by the stage each agent was in during the period, from its stage history."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from agentops.models import Agent
from lifecycle.models import StageEvent
from lifecycle.portfolio import Stretch, portfolio, stretches
from roi.calculations import compute_report, custom_period
from roi.models import AssumptionKind
from roi.queries import agent_directory, daily_activity, load_ledger
from tests.factories import make_agent, make_department
from tests.roi.factories import assume, make_run, standard_ledger

from .factories import NOW, TODAY

pytestmark = pytest.mark.django_db


def at(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def event(agent, frm: str, to: str, when: datetime, user) -> StageEvent:
    return StageEvent.objects.create(agent=agent, kind="promotion", from_stage=frm, to_stage=to, actor=user,
                                     occurred_at=when)


def test_stretches_follow_the_history_and_the_day_of_a_move_counts_for_the_new_stage(ops_user):
    agent = make_agent(lifecycle_stage="scale")
    first, promoted = TODAY - timedelta(days=9), TODAY - timedelta(days=3)
    events = [event(agent, "integrate", "scale", at(promoted, 9), ops_user)]
    assert stretches("scale", events, first, TODAY) == [
        Stretch("integrate", first, promoted - timedelta(days=1)), Stretch("scale", promoted, TODAY)]
    assert stretches("pilot", [], first, TODAY) == [Stretch("pilot", first, TODAY)]


def test_an_agent_promoted_mid_period_is_split_across_its_stages_by_the_days_it_spent_in_each(
        frozen, ops_user, finance_user):
    dept = make_department("Billing")
    agent = make_agent("Biller", department=dept, lifecycle_stage="scale", owner=ops_user)
    Agent.objects.filter(pk=agent.pk).update(created_at=NOW - timedelta(days=90))
    standard_ledger(finance_user, dept, agent)  # one automated run is worth 6 USD
    assume(finance_user, AssumptionKind.OTHER_COST, "300", agent=agent, currency="USD")  # per month
    promoted = TODAY - timedelta(days=10)
    event(agent, "pilot", "integrate", NOW - timedelta(days=60), ops_user)
    event(agent, "integrate", "scale", at(promoted, 9), ops_user)
    for day, n in ((TODAY - timedelta(days=20), 4), (TODAY - timedelta(days=11), 1), (TODAY - timedelta(days=5), 3)):
        for i in range(n):
            make_run(agent, at(day, 10) + timedelta(minutes=i))
    make_run(agent, at(promoted, 18))  # the promotion day, after the promotion: Scale

    p = portfolio(30, NOW)

    rows = {r.stage: r for r in p.rows if r.department == "Billing"}
    assert set(rows) == {"integrate", "scale"}  # not only its current stage
    integrate, scale = rows["integrate"], rows["scale"]
    assert (integrate.agents, integrate.runs, integrate.value) == (1, 5, Decimal("30.00"))
    assert (scale.agents, scale.runs, scale.value) == (1, 4, Decimal("24.00"))
    assert p.total.agents == 1 and p.total.runs == 9
    # The other cost is prorated over the days in each stage: 19 days of Integrate, 11 of Scale.
    assert integrate.cost - Decimal("0.05") > scale.cost  # 5 runs x 0.01 more model cost, and more days
    # The stage rows add up to the ROI report's figures for the agent over the whole period.
    start = TODAY - timedelta(days=29)
    directory, departments = agent_directory()
    whole = compute_report(custom_period(start, TODAY), "agent", daily_activity(start, TODAY + timedelta(days=1)),
                           directory, departments, load_ledger())
    [agent_row] = [r for r in whole.rows if r.key == ("agent", agent.id)]
    assert integrate.runs + scale.runs == agent_row.runs
    assert integrate.value + scale.value == agent_row.value.base
    assert abs(integrate.cost + scale.cost - agent_row.total_cost) <= Decimal("0.02")  # cents rounded per stretch
    assert abs(integrate.net_benefit + scale.net_benefit - agent_row.net_benefit.base) <= Decimal("0.02")


def test_an_agent_without_history_counts_in_its_current_stage(frozen, ops_user, finance_user):
    dept = make_department("Support")
    agent = make_agent("Helper", department=dept, lifecycle_stage="pilot", owner=ops_user)
    standard_ledger(finance_user, dept, agent)
    make_run(agent, NOW - timedelta(hours=2))
    [row] = [r for r in portfolio(30, NOW).rows if r.department == "Support"]
    assert (row.stage, row.agents, row.runs, row.value) == ("pilot", 1, 1, Decimal("6.00"))
