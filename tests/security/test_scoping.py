"""Department scoping: an operations manager limited to Customer Support sees only its agents, runs
and tickets, and addresses of others answer 404 (not a confirmation that they exist)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agentops.models import ROLE_OPERATIONS, ROLE_REVIEWERS, UserDepartment
from monitoring.models import Run
from tests.conftest import make_user
from tests.factories import make_agent, make_department
from tests.handoffs.factories import make_ticket
from tests.monitoring.factories import make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    support, billing = make_department("Customer Support"), make_department("Billing")
    ours, theirs = make_agent("Support Bot", department=support), make_agent("Billing Bot", department=billing)
    when = timezone.now() - timedelta(minutes=30)
    runs = {"ours": make_run(ours, started_at=when), "theirs": make_run(theirs, started_at=when)}
    tickets = {"ours": make_ticket(agent=ours), "theirs": make_ticket(agent=theirs)}
    scoped = make_user("sue", ROLE_OPERATIONS, ROLE_REVIEWERS)
    UserDepartment.objects.create(user=scoped, department=support)
    return {"ours": ours, "theirs": theirs, "runs": runs, "tickets": tickets, "scoped": scoped}


@pytest.fixture
def scoped_client(client, world):
    client.force_login(world["scoped"])
    return client


def test_agent_list_shows_only_the_users_departments(scoped_client, world):
    body = scoped_client.get(reverse("registry:agent_list")).content.decode()
    assert "Support Bot" in body and "Billing Bot" not in body


def test_other_departments_agents_runs_and_tickets_are_404(scoped_client, world):
    theirs = world["theirs"]
    assert scoped_client.get(reverse("registry:agent_detail", args=[theirs.slug])).status_code == 404
    assert scoped_client.get(reverse("registry:agent_edit", args=[theirs.slug])).status_code == 404
    assert scoped_client.get(reverse("monitoring:agent_dashboard", args=[theirs.slug])).status_code == 404
    assert scoped_client.get(reverse("monitoring:run_detail", args=[world["runs"]["theirs"].trace_id])).status_code == 404
    assert scoped_client.get(reverse("handoffs:ticket", args=[world["tickets"]["theirs"].pk])).status_code == 404
    ours = world["ours"]
    assert scoped_client.get(reverse("registry:agent_detail", args=[ours.slug])).status_code == 200
    assert scoped_client.get(reverse("monitoring:run_detail", args=[world["runs"]["ours"].trace_id])).status_code == 200
    assert scoped_client.get(reverse("handoffs:ticket", args=[world["tickets"]["ours"].pk])).status_code == 200


def test_runs_explorer_and_export_hold_only_the_users_runs(scoped_client, world):
    page = scoped_client.get(reverse("monitoring:runs"), {"range": "24h"}).content.decode()
    assert world["runs"]["ours"].trace_id in page and world["runs"]["theirs"].trace_id not in page
    export = b"".join(scoped_client.get(reverse("monitoring:runs_export"), {"range": "24h"}).streaming_content)
    assert world["runs"]["ours"].trace_id.encode() in export
    assert world["runs"]["theirs"].trace_id.encode() not in export


def test_queue_shows_only_the_users_tickets(scoped_client, world):
    queue = world["tickets"]["ours"].queue
    body = scoped_client.get(reverse("handoffs:queue", args=[queue.slug])).content.decode()
    assert f"#{world['tickets']['ours'].pk}" in body and f"#{world['tickets']['theirs'].pk}<" not in body


def test_an_unscoped_manager_sees_everything(ops_client, world):
    body = ops_client.get(reverse("registry:agent_list")).content.decode()
    assert "Support Bot" in body and "Billing Bot" in body
    assert ops_client.get(reverse("monitoring:run_detail", args=[world["runs"]["theirs"].trace_id])).status_code == 200


# --- counts and figures: a scoped user's totals hold their departments only ------------------------


def test_queue_list_counts_only_the_users_tickets(scoped_client, world):
    queue = world["tickets"]["ours"].queue
    assert world["tickets"]["theirs"].queue == queue
    [row] = [q for q in scoped_client.get(reverse("handoffs:queue_list")).context["queues"] if q.pk == queue.pk]
    assert row.open_count == 1
    page = scoped_client.get(reverse("handoffs:queue", args=[queue.slug])).context["page"]
    assert page.total == 1 and [t.pk for t in page.tickets] == [world["tickets"]["ours"].pk]


def test_handoff_metrics_count_only_the_users_tickets(scoped_client, ops_client, world):
    scoped = scoped_client.get(reverse("handoffs:metrics")).context["m"]
    everyone = ops_client.get(reverse("handoffs:metrics")).context["m"]
    assert (scoped.totals["arrivals"], everyone.totals["arrivals"]) == (1, 2)
    assert [r["agent__name"] for r in scoped.by_agent] == ["Support Bot"]


def test_ticket_search_and_bulk_actions_skip_other_departments(scoped_client, world):
    results = scoped_client.get(reverse("handoffs:search"), {"q": "Bot"}).context["results"]
    assert [t.pk for t in results] == [world["tickets"]["ours"].pk]
    theirs = world["tickets"]["theirs"]
    scoped_client.post(reverse("handoffs:queue_bulk", args=[theirs.queue.slug]), {
        "action": "priority", "priority": "1", "tickets": [f"{theirs.pk}:{theirs.version}"]})
    theirs.refresh_from_db()
    assert theirs.priority != 1


def test_overview_lists_only_the_users_departments_and_sums_their_agents(scoped_client, world):
    context = scoped_client.get(reverse("monitoring:overview")).context
    assert [d.name for d in context["departments"]] == ["Customer Support"]
    assert [t.agent.name for t in context["tiles"]] == ["Support Bot"]
    assert context["fleet"].agent.name == "Your agents"


def test_alert_rules_of_other_departments_are_hidden_and_404(scoped_client, world):
    from monitoring.alerts.models import AlertRule

    mine = AlertRule.objects.create(name="ours slow", agent=world["ours"], metric="error_rate", threshold=5)
    theirs = AlertRule.objects.create(name="theirs slow", agent=world["theirs"], metric="error_rate", threshold=5)
    fleet = AlertRule.objects.create(name="fleet slow", agent=None, metric="error_rate", threshold=5)
    rules = list(scoped_client.get(reverse("monitoring:alerts")).context["rules"])
    assert rules == [mine]
    for rule in (theirs, fleet):
        assert scoped_client.get(reverse("monitoring:alert_rule_edit", args=[rule.pk])).status_code == 404


def test_a_scoped_manager_cannot_widen_scopes_or_see_other_users(scoped_client, world):
    users = scoped_client.get(reverse("registry:user_list"))
    assert users.status_code == 200 and list(users.context["users"]) == []
    own = world["scoped"].pk
    assert scoped_client.post(reverse("registry:user_departments", args=[own]), {"departments": []}).status_code == 404
    assert UserDepartment.objects.filter(user=world["scoped"]).exists()


def test_dead_letters_show_only_batches_of_the_users_agents(scoped_client, world):
    from monitoring.intake.models import InboxBatch

    ours = InboxBatch.objects.create(kind="otlp_json", payload=b"{}", status="dead", error="x",
                                     restricted_to=world["ours"].slug)
    theirs = InboxBatch.objects.create(kind="otlp_json", payload=b"{}", status="dead", error="x",
                                       restricted_to=world["theirs"].slug)
    unrestricted = InboxBatch.objects.create(kind="otlp_json", payload=b"{}", status="dead", error="x")
    shown = scoped_client.get(reverse("monitoring:dead_letters")).context["dead"].batches
    assert [b.pk for b in shown] == [ours.pk]
    for batch in (theirs, unrestricted):
        assert scoped_client.post(reverse("monitoring:replay_dead_letter", args=[batch.pk])).status_code == 404
        batch.refresh_from_db()
        assert batch.status == "dead"


def test_roi_totals_and_exports_hold_only_the_users_agents(client, world):
    from agentops.models import ROLE_FINANCE

    finance = make_user("fiona-scoped", ROLE_FINANCE)
    UserDepartment.objects.create(user=finance, department=world["ours"].department)
    client.force_login(finance)
    query = {"period": "custom", "date_from": (timezone.now() - timedelta(days=2)).date().isoformat(),
             "date_to": timezone.now().date().isoformat(), "grouping": "agent"}
    context = client.get(reverse("roi:report"), query).context
    total = context["bundle"].report.total  # the other department's runs are not in the total
    assert total.agent_ids == {world["ours"].id} and total.runs == Run.objects.filter(agent=world["ours"]).count()
    assert [row.label for row in context["bundle"].report.rows] == ["Support Bot"]
    export = client.get(reverse("roi:export_csv"), query).content.decode()
    assert "Support Bot" in export and "Billing Bot" not in export
    assert client.post(reverse("roi:close_period"), {"month": "2020-01"}).status_code == 404


def test_an_agent_map_call_into_another_department_hides_that_agent(scoped_client, world):
    from decimal import Decimal

    from insights.agent_map import OTHER_DEPARTMENT
    from monitoring.ingest.derived_models import EdgeKind, InteractionEdge
    from monitoring.rollups import insight_cells

    run = world["runs"]["ours"]
    InteractionEdge.objects.create(run=run, started_at=run.started_at, department=world["ours"].department,
                                   source=world["ours"], target_kind=EdgeKind.AGENT, target_agent=world["theirs"],
                                   target_name=world["theirs"].slug, calls=1, total_ms=10)
    insight_cells.apply_edges([], [(run.started_at, world["ours"].pk, EdgeKind.AGENT, world["theirs"].slug,
                                    world["theirs"].pk, world["ours"].department_id, 1, 0, 10.0, Decimal(0))])
    response = scoped_client.get(reverse("insights:agent_map"))
    edges = response.context["edges"]
    assert [(e.source.name, e.target_name, e.target_agent) for e in edges] == [("Support Bot", OTHER_DEPARTMENT, None)]
    assert world["theirs"].slug not in response.content.decode()


def test_a_trace_crossing_departments_hides_the_other_departments_steps(scoped_client, ops_client, world):
    from tests.monitoring.factories import make_step

    run = world["runs"]["ours"]
    make_step(run, kind="agent", name="invoke_agent billing-bot-secret", agent=world["theirs"])
    url = reverse("monitoring:run_detail", args=[run.trace_id])
    page = scoped_client.get(url)
    assert "billing-bot-secret" not in page.content.decode() and "Billing Bot" not in page.content.decode()
    assert page.context["hidden_steps"] == 1
    assert "billing-bot-secret" in ops_client.get(url).content.decode()


def test_an_agents_runs_page_is_scoped_and_offers_only_the_users_agents_as_callers(scoped_client, world):
    assert scoped_client.get(reverse("monitoring:agent_runs", args=[world["theirs"].slug])).status_code == 404
    page = scoped_client.get(reverse("monitoring:agent_runs", args=[world["ours"].slug]), {"range": "24h"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "via Support Bot" in html and "Billing Bot" not in html
    refused = scoped_client.get(reverse("monitoring:agent_runs", args=[world["ours"].slug]),
                                {"caller": world["theirs"].slug})
    assert refused.status_code == 400 and "Select a valid choice" in refused.content.decode()
    assert scoped_client.get(reverse("monitoring:agent_runs_export", args=[world["theirs"].slug])).status_code == 404
