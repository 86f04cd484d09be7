"""Finance drills from a report's run figures to the runs behind them, without an operations role."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from tests.factories import make_agent
from tests.roi.factories import make_finished_ticket, make_run

pytestmark = pytest.mark.django_db

MARCH = {"period": "month", "month": "2026-03", "grouping": "agent"}


@pytest.fixture
def triage():
    agent = make_agent("Triage")
    make_run(agent, datetime(2026, 3, 2, 9, tzinfo=UTC), cost="0.5")
    escalated = make_run(agent, datetime(2026, 3, 5, tzinfo=UTC), has_escalation=True, cost="0.25")
    make_finished_ticket(agent, datetime(2026, 3, 6, tzinfo=UTC), 600, run=escalated)
    make_run(agent, datetime(2026, 4, 1, 0, 0, tzinfo=UTC), cost="9")  # outside March
    return agent


def test_report_run_figures_link_to_the_runs_list(finance_client, triage):
    table = finance_client.get(reverse("roi:report"), MARCH).context["table"]
    runs_cell = table.rows[0][table.position("runs")]
    assert runs_cell.link.startswith(reverse("roi:runs")) and f"agent={triage.pk}" in runs_cell.link


def test_runs_list_holds_exactly_the_runs_the_report_counted(finance_client, triage):
    table = finance_client.get(reverse("roi:report"), MARCH).context["table"]
    totals = table.totals_by_key()
    response = finance_client.get(table.rows[0][table.position("runs")].link)
    runs = response.context["runs"]
    assert len(runs) == totals["runs"] == 2
    assert sum(r.automated for r in runs) == totals["automated"] == 1
    assert all(r.detail_url is None for r in runs)  # finance has no trace view


def test_finance_user_who_is_also_operations_gets_trace_links(client, triage):
    from tests.conftest import make_user

    client.force_login(make_user("both", "Finance", "Operations"))
    response = client.get(reverse("roi:runs"), {"agent": triage.pk, "from": "2026-03-01", "to": "2026-03-31"})
    assert all(r.detail_url for r in response.context["runs"])


def test_runs_list_rejects_an_unknown_agent(finance_client):
    response = finance_client.get(reverse("roi:runs"), {"agent": "999999", "from": "2026-03-01", "to": "2026-03-31"})
    assert response.status_code == 400 and "does not exist" in response.content.decode()


def test_operations_user_is_refused_the_runs_list(ops_client):
    assert ops_client.get(reverse("roi:runs"), {"from": "2026-03-01", "to": "2026-03-31"}).status_code == 403
