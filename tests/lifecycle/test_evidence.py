"""Each criterion measured from its source: day rollup cells, tickets, alerts, the ROI ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest

from lifecycle.evidence import measure, measure_one
from lifecycle.models import StageCriteria
from monitoring.models import AlertEvent, AlertRule
from roi.models import AssumptionKind
from tests.factories import make_agent, make_department
from tests.handoffs.factories import make_queue
from tests.roi.factories import assume, make_run, standard_ledger

from .factories import NOW, TODAY, day_cell, healthy_days

pytestmark = pytest.mark.django_db


def results(measured):
    return {r.key: r for r in measured.results}


def test_runs_in_the_window_are_summed_from_day_cells_including_today(frozen, ops_user):
    agent = make_agent(owner=ops_user)
    healthy_days(agent, 13, runs=20)  # 13 complete days + today = the 14-day window
    day_cell(agent, TODAY - timedelta(days=14), runs=1000)  # just outside the window
    m = measure_one(agent, "integrate")
    assert m.evidence.runs == 14 * 20
    assert results(m)["runs"].passed is True  # >= 200
    assert "range=custom" in results(m)["runs"].evidence_url


def test_slo_days_are_judged_per_complete_day_from_the_cells(frozen, ops_user):
    agent = make_agent(owner=ops_user)  # p95 <= 4000 ms, success >= 95 %, quality >= 0.8, cost <= 0.05
    day_cell(agent, TODAY - timedelta(days=1), latency_ms=5000)  # p95 breach
    day_cell(agent, TODAY - timedelta(days=2), errors=10)  # 90 % success
    day_cell(agent, TODAY - timedelta(days=3), quality=0.5)
    day_cell(agent, TODAY - timedelta(days=4), cost_per_run="0.10")
    for i in (5, 6):
        day_cell(agent, TODAY - timedelta(days=i))
    # day 7 has no cell: no runs, not met. Today's bad cell does not count (the day is not over).
    day_cell(agent, TODAY, errors=100)
    m = measure_one(agent, "integrate")  # 5 of the last 7 days
    assert [d.met for d in m.evidence.slo_days] == [False, True, True, False, False, False, False]
    assert [d.breaches for d in m.evidence.slo_days][3:] == [["cost per run"], ["quality"], ["success"], ["p95"]]
    slo = results(m)["slo"]
    assert slo.passed is False and "met on 2 of 7 days" in slo.measured


def test_handoff_and_reopen_rates_come_from_the_agents_tickets_in_the_window(frozen, ops_user):
    from handoffs.models import Ticket

    agent = make_agent(owner=ops_user)
    healthy_days(agent, 13, runs=10)  # 140 runs in 14 days
    queue = make_queue()

    def ticket(days_ago, reopen_count=0):
        created = NOW - timedelta(days=days_ago)
        Ticket.objects.create(queue=queue, agent=agent, created_at=created, claim_due_at=created,
                              resolve_due_at=created, reopen_count=reopen_count)

    for i in range(13):
        ticket(i, reopen_count=1 if i < 2 else 0)
    ticket(20, reopen_count=3)  # outside the window
    m = measure_one(agent, "integrate")
    assert (m.evidence.tickets, m.evidence.reopened) == (13, 2)
    assert m.evidence.handoff_rate == Decimal("9.3")
    assert results(m)["handoff_rate"].passed is True  # <= 30 %
    assert results(m)["reopen_rate"].passed is False  # 15.4 % > 10 %
    assert "/handoffs/metrics/" in results(m)["reopen_rate"].evidence_url


def test_an_open_alert_on_the_agent_fails_the_alerts_criterion(frozen, ops_user):
    agent, other = make_agent(owner=ops_user), make_agent(owner=ops_user)
    rule = AlertRule.objects.create(name="p95", agent=agent, metric="p95_latency_ms", threshold=1)
    AlertEvent.objects.create(rule=rule, agent=agent, value=5, threshold=1, message="slow")
    closed = AlertRule.objects.create(name="old", agent=other, metric="p95_latency_ms", threshold=1)
    AlertEvent.objects.create(rule=closed, agent=other, value=5, threshold=1, message="was slow", resolved_at=NOW)
    measured = measure([agent, other], {agent.id: "integrate", other.id: "integrate"})
    assert results(measured[agent.id])["alerts"].passed is False
    assert results(measured[other.id])["alerts"].passed is True


def test_roi_and_payback_come_from_the_roi_ledger_for_the_window(frozen, ops_user, finance_user):
    dept = make_department()
    agent = make_agent(owner=ops_user, department=dept)
    standard_ledger(finance_user, dept, agent)  # one automated run is worth 6 USD
    for i in range(10):
        make_run(agent, NOW - timedelta(hours=i + 1), cost="0.010000")
    make_run(agent, NOW - timedelta(days=20), cost="50")  # outside the 14-day window
    assume(finance_user, AssumptionKind.ONE_OFF_COST, "1000", agent=agent, currency="USD")
    m = measure_one(agent, "scale")
    # value 60.00, AI cost 0.10: ROI = 59.90 / 0.10 = 59 900 %; payback = 1000 x (14 / 30.4375) / 59.90
    assert m.evidence.roi_percent == Decimal("59900")
    assert m.evidence.payback_months.quantize(Decimal("0.01")) == Decimal("7.68")
    assert results(m)["roi"].passed is True
    assert "period=custom" in results(m)["roi"].evidence_url


def test_roi_below_the_floor_and_no_payback_fails(frozen, ops_user, finance_user):
    dept = make_department()
    agent = make_agent(owner=ops_user, department=dept)
    standard_ledger(finance_user, dept, agent)
    make_run(agent, NOW - timedelta(hours=1), cost="100", status="error")  # costly, nothing automated
    assert results(measure_one(agent, "scale"))["roi"].passed is False


def test_owner_is_required(frozen):
    agent = make_agent()
    r = results(measure_one(agent, "integrate"))["owner"]
    assert r.passed is False and r.measured == "no owner"


def test_department_and_agent_overrides_apply_in_order(frozen, ops_user):
    dept = make_department()
    agent, sibling = make_agent(owner=ops_user, department=dept), make_agent(owner=ops_user, department=dept)
    healthy_days(agent, 13, runs=10)
    healthy_days(sibling, 13, runs=10)
    StageCriteria.objects.create(stage="integrate", min_runs=150)
    StageCriteria.objects.create(stage="integrate", department=dept, min_runs=100, check_alerts=False)
    StageCriteria.objects.create(stage="integrate", agent=agent, min_runs=1000)
    measured = measure([agent, sibling], {agent.id: "integrate", sibling.id: "integrate"})
    assert measured[agent.id].criteria.min_runs == 1000 and not measured[agent.id].criteria.check_alerts
    assert results(measured[agent.id])["runs"].passed is False
    assert measured[sibling.id].criteria.min_runs == 100
    assert results(measured[sibling.id])["runs"].passed is True
    assert "alerts" not in results(measured[sibling.id])


def test_measuring_many_agents_takes_a_fixed_number_of_queries(frozen, ops_user, django_assert_max_num_queries):
    agents = [make_agent(owner=ops_user) for _ in range(6)]
    for agent in agents:
        healthy_days(agent, 3)
    from agentops.models import Agent

    loaded = list(Agent.objects.select_related("department", "owner"))
    with django_assert_max_num_queries(12):
        measure(loaded, {a.id: "scale" for a in loaded})
