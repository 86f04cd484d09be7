"""A run's trace view links to the handoff tickets opened for it (registered by handoffs)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.handoffs.factories import make_ticket

pytestmark = pytest.mark.django_db


def test_trace_view_links_to_the_runs_ticket(ops_client):
    ticket = make_ticket()
    html = ops_client.get(reverse("monitoring:run_detail", args=[ticket.run.trace_id])).content.decode()
    assert reverse("handoffs:ticket", args=[ticket.pk]) in html
    assert f"Handoff ticket #{ticket.pk}" in html


def test_trace_view_of_a_rule_ticket_says_a_rule_sent_the_run_to_a_person(ops_client):
    """No escalation span, but a queue rule opened a ticket: the page must not claim no human was involved."""
    from handoffs.models import Ticket
    from tests.handoffs.factories import make_queue, make_run, record_runs

    make_queue("Support", is_default=True, open_on_run_failure=True)
    run = make_run(status="error", error_type="TimeoutError")
    record_runs(run)
    ticket = Ticket.objects.get(run=run)
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert "a handoff rule sent it to a person" in html
    assert "handled this run without a human" not in html
    assert html.count(reverse("handoffs:ticket", args=[ticket.pk])) >= 2


def test_trace_view_without_escalation_or_ticket_says_no_human_was_involved(ops_client):
    from tests.handoffs.factories import make_run

    run = make_run(status="ok")
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert "The agent handled this run without a human." in html
