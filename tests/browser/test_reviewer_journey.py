"""The reviewer's day in the browser, on a laptop and on a phone, including the failure paths."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from agentops.models import ROLE_REVIEWERS
from handoffs.models import Outcome
from tests.conftest import make_user
from tests.handoffs.factories import make_queue, make_root_cause, make_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_a_failed_resolve_under_htmx_shows_the_error_in_place(new_page, live_server, settings, debug):
    settings.DEBUG = debug
    rita = make_user("rita", ROLE_REVIEWERS)
    queue = make_queue("Support", is_default=True)
    make_root_cause("Missing knowledge")
    ticket = make_ticket(queue)
    page = new_page(rita)
    page.goto(f"{live_server.url}{ticket.get_absolute_url()}")
    page.locator("#claim-btn").click()
    expect(page.locator("#ticket-status")).to_have_text("Claimed")

    page.select_option("#id_resolve-outcome", Outcome.CORRECTED_AGENT_ANSWER)
    page.select_option("#id_resolve-root_cause", label="Missing knowledge")
    page.locator("#resolve-btn").click()
    expect(page.locator("#ticket-error")).to_contain_text("Please correct the form")
    expect(page.locator("#resolve-form")).to_contain_text("Give the corrected answer.")
    # Still the whole styled page around the fragment: navigation, heading, status.
    expect(page.locator("nav.sidebar")).to_be_visible()
    expect(page.locator("h1")).to_contain_text(f"#{ticket.pk}")
    expect(page.locator("#ticket-status")).to_have_text("Claimed")
    expect(page).to_have_url(re.compile(rf"/handoffs/tickets/{ticket.pk}/$"))
