"""A reviewer may open the trace and the session of any ticket they may see; nothing else of monitoring."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.handoffs.factories import make_queue, make_run, make_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket():
    make_queue("Support", is_default=True)
    t = make_ticket()
    type(t).objects.filter(pk=t.pk).update(session_id="sess-1")
    type(t.run).objects.filter(pk=t.run.pk).update(session_id="sess-1")
    t.refresh_from_db()
    return t


def test_reviewer_opens_the_trace_of_a_tickets_run(reviewer_client, ticket):
    response = reviewer_client.get(reverse("monitoring:run_detail", args=[ticket.run.trace_id]))
    assert response.status_code == 200
    assert f"Handoff ticket #{ticket.pk}" in response.content.decode()
    # links to operations-only pages are not offered
    assert reverse("monitoring:agent_dashboard", args=[ticket.agent.slug]) not in response.content.decode()


def test_reviewer_opens_another_run_of_the_tickets_session(reviewer_client, ticket):
    sibling = make_run(ticket.agent, session_id="sess-1")
    assert reviewer_client.get(reverse("monitoring:run_detail", args=[sibling.trace_id])).status_code == 200


def test_reviewer_lists_the_runs_of_the_tickets_session(reviewer_client, ticket):
    response = reviewer_client.get(reverse("monitoring:runs"), {"session": "sess-1", "range": "30d"})
    assert response.status_code == 200
    assert ticket.run.trace_id in response.content.decode()


def test_reviewer_is_refused_everything_else_of_monitoring(reviewer_client, ticket):
    stranger = make_run(ticket.agent, session_id="other")
    assert reviewer_client.get(reverse("monitoring:run_detail", args=[stranger.trace_id])).status_code == 403
    assert reviewer_client.get(reverse("monitoring:runs")).status_code == 403
    assert reviewer_client.get(reverse("monitoring:runs"), {"session": "other"}).status_code == 403
    assert reviewer_client.get(reverse("monitoring:overview")).status_code == 403
    assert reviewer_client.get(reverse("monitoring:runs_export"), {"session": "sess-1"}).status_code == 403
    assert reviewer_client.get(reverse("monitoring:run_detail", args=["0" * 32])).status_code == 403


def test_finance_is_not_admitted_by_the_reviewer_rule(finance_client, ticket):
    assert finance_client.get(reverse("monitoring:run_detail", args=[ticket.run.trace_id])).status_code == 403


def test_the_ticket_page_links_to_trace_and_session(reviewer_client, ticket):
    html = reviewer_client.get(ticket.get_absolute_url()).content.decode()
    assert reverse("monitoring:run_detail", args=[ticket.run.trace_id]) in html
    assert f"{reverse('monitoring:runs')}?session=sess-1" in html
