"""ROI of multi-agent traces: each agent's model cost is its own spend (its invocations, not the
sub-agents it called), a task's value is counted once, on its root agent, and department and company
totals count every cent once, also after telemetry retention dropped the days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import Sum
from django.urls import reverse

from agentops.models import Agent
from monitoring.ingest import write as ingest_write
from monitoring.intake.normalize import normalize_spans
from monitoring.models import Invocation, Run
from monitoring.storage import partitions, services
from roi.calculations import month_period
from roi.queries import daily_activity, report_bundle, runs_behind, spend_watch
from roi.services import set_budget
from tests.factories import make_agent, make_department, make_price
from tests.monitoring.otlp_builders import orchestrated_trace
from tests.roi.factories import standard_ledger

pytestmark = pytest.mark.django_db

JANUARY = month_period(2027, 1)
# gpt-4o at 2.50 / 10.00 USD per million tokens (orchestrated_trace's token counts):
ORCHESTRATOR = Decimal("0.001350")  # 300 in, 60 out of its own (its two chat spans)
REFUND = Decimal("0.003500")  # 800 in, 150 out
KB = Decimal("0.001250")  # 300 in, 50 out


def write(spans, now: datetime) -> None:
    with transaction.atomic():
        ingest_write.write_records(normalize_spans(spans, now=now).records)


def calm_trace(start: datetime):
    """The orchestrated trace with no escalation: the task is automated."""
    spans = orchestrated_trace(start=start)
    for span in spans:
        span.events = [e for e in span.events if e.name != "agentops.escalation"]
    return spans


@pytest.fixture
def fleet(finance_user):
    """Support orchestrator, refund and knowledge-base sub-agents, one department, 6 min a task at 60/h;
    on 5 January one task escalates (the kb agent raises it), one is automated."""
    with connection.cursor() as cursor:
        for table in partitions.PARTITIONED:
            partitions.create_day(cursor, table, date(2027, 1, 5))
    make_price("gpt-4o", inp="2.50", out="10.00")
    support = make_department("Support")
    agents = {slug: make_agent(slug.replace("-", " ").title(), slug=slug, department=support)
              for slug in ("support-orchestrator", "refund-agent", "kb-search-agent")}
    standard_ledger(finance_user, support, *agents.values())
    day = datetime(2027, 1, 5, 10, tzinfo=UTC)
    write(orchestrated_trace(start=day), now=day + timedelta(hours=1))
    write(calm_trace(day + timedelta(hours=2)), now=day + timedelta(hours=3))
    return {slug: agent.pk for slug, agent in agents.items()}


def by_agent(fleet) -> dict[str, tuple]:
    names = {pk: slug for slug, pk in fleet.items()}
    return {names[d.agent_id]: (d.runs, d.automated, d.handoffs, d.ai_cost)
            for d in daily_activity(JANUARY.start, JANUARY.end)}


def test_each_agent_pays_its_own_spend_and_the_task_counts_once_on_its_root_agent(fleet):
    assert by_agent(fleet) == {
        "support-orchestrator": (2, 1, 1, 2 * ORCHESTRATOR),
        "refund-agent": (0, 0, 0, 2 * REFUND),
        "kb-search-agent": (0, 0, 0, 2 * KB),
    }
    assert 2 * (ORCHESTRATOR + REFUND + KB) == Run.objects.aggregate(s=Sum("cost"))["s"]


def test_department_and_company_totals_count_each_cent_and_each_task_once(fleet):
    agent_rows = {row.label: row for row in report_bundle(JANUARY, "agent").report.rows}
    assert agent_rows["Support Orchestrator"].value.base == Decimal("6.000000")  # 1 automated task x 6 min x 60/h
    assert agent_rows["Refund Agent"].value.base == agent_rows["Kb Search Agent"].value.base == Decimal(0)
    assert agent_rows["Refund Agent"].ai_cost == 2 * REFUND
    run_cost = Run.objects.aggregate(s=Sum("cost"))["s"]
    for grouping in ("agent", "department", "company"):
        total = report_bundle(JANUARY, grouping).report.total
        assert (total.runs, total.automated, total.ai_cost, total.value.base) == (2, 1, run_cost, Decimal("6.000000"))
    [department] = report_bundle(JANUARY, "department").report.rows
    assert department.ai_cost == run_cost == Invocation.objects.aggregate(s=Sum("cost"))["s"]


def test_archived_days_keep_the_same_split(fleet):
    before = by_agent(fleet)
    with time_machine.travel(datetime(2027, 3, 10, tzinfo=UTC), tick=False):
        services.drop_expired()
        assert not Run.objects.exists() and not Invocation.objects.exists()
        assert by_agent(fleet) == before
        services.drop_expired()  # nothing left to drop: nothing archived twice
        assert by_agent(fleet) == before


def test_spend_watch_charges_each_agent_its_own_spend(fleet, finance_user):
    set_budget(agent=Agent.objects.get(pk=fleet["refund-agent"]), month=date(2027, 1, 1), amount=Decimal("1"),
               set_by=finance_user)
    [line] = spend_watch(date(2027, 1, 1), today=date(2027, 1, 31))
    assert line.month_to_date == 2 * REFUND


def test_the_runs_behind_a_sub_agents_cost_are_the_runs_it_spent_in(fleet, finance_client):
    runs = runs_behind([fleet["refund-agent"]], JANUARY.start, JANUARY.end)
    assert len(runs) == 2 and not any(r.task for r in runs)
    assert sum(r.own_cost for r in runs) == 2 * REFUND
    [orchestrator_task, _] = runs_behind([fleet["support-orchestrator"]], JANUARY.start, JANUARY.end)
    assert orchestrator_task.task and orchestrator_task.own_cost == ORCHESTRATOR
    page = finance_client.get(reverse("roi:runs"), {"agent": fleet["refund-agent"], "from": "2027-01-01",
                                                    "to": "2027-01-31"}).content.decode()
    assert page.count("sub-agent</span>") == 2 and "0.003500" in page
