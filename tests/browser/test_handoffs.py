"""Two reviewers in two browser contexts race for one ticket; the loser is told, the winner resolves."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from agentops.models import ROLE_REVIEWERS
from handoffs.models import Outcome, Ticket, TicketStatus
from tests.conftest import PASSWORD
from tests.handoffs.factories import make_queue, make_root_cause, make_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _reviewer(username: str) -> User:
    # transactional_db flushes the groups the roles migration created; make sure ours exists.
    group, _ = Group.objects.get_or_create(name=ROLE_REVIEWERS)
    user = User.objects.create_user(username=username, password=PASSWORD, first_name=username.capitalize())
    user.groups.add(group)
    return user


def test_two_reviewers_race_for_a_ticket_and_the_winner_resolves_it(new_page, live_server):
    rita, ravi = _reviewer("rita"), _reviewer("ravi")
    queue = make_queue("Support", is_default=True)
    cause = make_root_cause("Missing knowledge")
    ticket = make_ticket(queue, reason="refund over limit")
    queue_url = f"{live_server.url}{queue.get_absolute_url()}"
    ticket_url = f"{live_server.url}{ticket.get_absolute_url()}"

    page_a, page_b = new_page(rita), new_page(ravi)
    page_a.goto(queue_url)
    page_b.goto(queue_url)
    row_b = page_b.locator(f"#ticket-row-{ticket.pk}")
    expect(row_b).to_contain_text("Open")
    stale_b = page_b.context.new_page()  # B also has the ticket open, from before A's claim
    stale_b.goto(ticket_url)
    expect(stale_b.locator("#claim-btn")).to_be_visible()

    page_a.locator(f"#ticket-row-{ticket.pk} button", has_text="Claim").click()
    expect(page_a).to_have_url(re.compile(rf"/handoffs/tickets/{ticket.pk}/$"))
    expect(page_a.locator("#ticket-status")).to_have_text("Claimed")

    # B's list updates itself (htmx polling), no reload.
    expect(row_b).to_contain_text("Claimed by Rita")
    expect(row_b.locator("button", has_text="Claim")).to_have_count(0)

    stale_b.locator("#claim-btn").click()
    expect(stale_b.locator("#ticket-error")).to_contain_text("already claimed by Rita")
    expect(stale_b.locator("#ticket-status")).to_have_text("Claimed")

    page_a.select_option("#id_resolve-outcome", Outcome.ACTION_TAKEN)
    page_a.select_option("#id_resolve-root_cause", str(cause.pk))
    page_a.fill("#id_resolve-note", "Refund issued manually.")
    page_a.locator("#resolve-btn").click()
    expect(page_a.locator("#ticket-status")).to_have_text("Resolved")

    log = page_a.locator("#event-log li")
    expect(log).to_have_count(3)
    expect(log.nth(0)).to_contain_text("Created")
    expect(log.nth(1)).to_contain_text("Claimed")
    expect(log.nth(1)).to_contain_text("rita")
    expect(log.nth(2)).to_contain_text("Resolved")
    expect(log.nth(2)).to_contain_text("Refund issued manually.")

    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee, ticket.root_cause) == (TicketStatus.RESOLVED, rita, cause)
    assert Ticket.objects.count() == 1
