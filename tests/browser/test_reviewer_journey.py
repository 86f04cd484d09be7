"""The reviewer's day in the browser, on a laptop and on a phone, including the failure paths."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from agentops.models import ROLE_REVIEWERS
from handoffs.models import Outcome
from tests.browser.conftest import axe_violations
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


def _no_template_text(page) -> None:
    body = page.locator("body").inner_text()
    for token in ("{#", "{%", "{{"):
        assert token not in body, f"template syntax {token!r} on {page.url}"


def _fits_the_screen(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport + 1, f"{page.url} is {width}px wide on a {viewport}px screen"


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_reviewer_journey_end_to_end(new_page, live_server, screen):
    from handoffs.models import Priority, SavedReply, Ticket, TicketStatus
    from tests.conftest import make_user as _make

    rita, ravi = make_user("rita", ROLE_REVIEWERS), _make("ravi", ROLE_REVIEWERS)
    queue = make_queue("Support", is_default=True, sla_by_priority={"1": [5, 60]})
    make_root_cause("Missing knowledge")
    SavedReply.objects.create(name="Refund issued", body="We have issued your refund today.")
    high = make_ticket(queue, reason="refund over limit", priority="high")
    urgent = make_ticket(queue, reason="account locked", priority="urgent")
    taken = make_ticket(queue, reason="address change")
    # Both overdue; the High ticket for longer. Urgent still comes first.
    from datetime import timedelta

    from django.utils import timezone
    Ticket.objects.filter(pk=high.pk).update(claim_due_at=timezone.now() - timedelta(hours=3))
    Ticket.objects.filter(pk=urgent.pk).update(claim_due_at=timezone.now() - timedelta(minutes=2))

    page = new_page(rita, screen)
    page.goto(f"{live_server.url}/handoffs/")
    if screen == "phone":
        expect(page.locator("#nav-toggle")).to_be_visible()
        expect(page.locator(".nav-section").first).to_be_hidden()
        page.locator("#nav-toggle").click()
        expect(page.locator(".nav-section").first).to_be_visible()
        page.locator("#nav-toggle").click()
    page.get_by_role("link", name="Support").first.click()
    expect(page.locator("#queue-counts")).to_contain_text("3 tickets")
    _fits_the_screen(page)
    _no_template_text(page)
    problems = axe_violations(page)
    assert not problems, problems

    # Failure path: a ticket someone else claimed meanwhile; the plain Claim button of the list.
    from handoffs import services
    row = page.locator(f"#ticket-row-{taken.pk}")
    expect(row.get_by_role("button", name=f"Claim ticket #{taken.pk}")).to_be_visible()
    page.evaluate("document.getElementById('ticket-rows').removeAttribute('hx-trigger')")
    services.claim_ticket(taken.pk, ravi, taken.version)
    row.get_by_role("button", name=f"Claim ticket #{taken.pk}").click()
    expect(page).to_have_url(re.compile(rf"/handoffs/tickets/{taken.pk}/$"))
    expect(page.locator(".messages")).to_contain_text("already claimed by Ravi")
    page.reload()  # safe: the address is the ticket's, not the action's
    expect(page.locator("#ticket-status")).to_have_text("Claimed")
    page.go_back()
    expect(page.locator("#ticket-rows")).to_be_visible()

    # Claim next: the Urgent ticket, though the High one is more overdue. Keyboard only.
    page.locator("#claim-next").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/handoffs/tickets/{urgent.pk}/$"))
    expect(page.locator(".messages")).to_contain_text("Urgent, then SLA due, then age")
    _no_template_text(page)
    _fits_the_screen(page)
    problems = axe_violations(page)
    assert not problems, problems

    # A failed resolve shows its error in place; a saved reply fills the note.
    page.select_option("#id_resolve-outcome", Outcome.CORRECTED_AGENT_ANSWER)
    page.select_option("#id_resolve-root_cause", label="Missing knowledge")
    page.locator("#resolve-btn").click()
    expect(page.locator("#resolve-form")).to_contain_text("Give the corrected answer.")
    page.fill("#id_resolve-corrected_answer", "Your account is unlocked.")
    page.locator("#id_resolve-note").focus()
    page.select_option("#saved-reply", label="Refund issued")
    expect(page.locator("#id_resolve-note")).to_have_value("We have issued your refund today.")

    # Resolve and take next: lands on the High ticket, claimed.
    page.locator("#resolve-next-btn").click()
    expect(page).to_have_url(re.compile(rf"/handoffs/tickets/{high.pk}/$"))
    expect(page.locator("#ticket-status")).to_have_text("Claimed")
    assert Ticket.objects.get(pk=urgent.pk).status == TicketStatus.RESOLVED
    assert Ticket.objects.get(pk=urgent.pk).resolution_note == "We have issued your refund today."
    assert Ticket.objects.get(pk=high.pk).priority == Priority.HIGH

    # Search finds the resolved ticket.
    page.goto(f"{live_server.url}/handoffs/search/?q=locked")
    expect(page.locator("#search-results")).to_contain_text(f"#{urgent.pk}")
    _fits_the_screen(page)
