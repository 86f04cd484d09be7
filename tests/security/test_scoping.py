"""Department scoping: an operations manager limited to Customer Support sees only its agents, runs
and tickets, and addresses of others answer 404 (not a confirmation that they exist)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agentops.models import ROLE_OPERATIONS, ROLE_REVIEWERS, UserDepartment
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
