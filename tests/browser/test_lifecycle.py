"""The lifecycle board in a real browser: an operator promotes by button and by drag; a reviewer is refused."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agentops.models import Agent
from lifecycle.models import StageEvent
from tests.factories import make_agent, make_department
from tests.lifecycle.factories import healthy_days

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _experiments_not_required(monkeypatch):
    """The board's agents have no experiments: the stage defaults leave that criterion off here."""
    from dataclasses import replace

    from lifecycle import criteria

    for stage, defaults in list(criteria.DEFAULTS.items()):
        monkeypatch.setitem(criteria.DEFAULTS, stage, replace(defaults, check_experiment=False))


@pytest.fixture
def fleet(ops_user):
    dept = make_department("Customer Support")
    today = timezone.now().date()
    ready = make_agent("Refund Helper", department=dept, owner=ops_user, lifecycle_stage="pilot")
    healthy_days(ready, 13, runs=20, today=today)
    drag = make_agent("Order Tracker", department=dept, owner=ops_user, lifecycle_stage="pilot")
    healthy_days(drag, 13, runs=20, today=today)
    make_agent("New Pilot", department=dept, owner=ops_user, lifecycle_stage="pilot")  # no runs: not ready
    return {"ready": ready, "drag": drag}


def test_operator_promotes_from_the_board_and_a_reviewer_is_refused(new_page, live_server, ops_user, reviewer,
                                                                    fleet):
    page = new_page(ops_user)
    page.goto(f"{live_server.url}/lifecycle/")
    pilot = page.locator('.lifecycle-column[data-stage="pilot"]')
    integrate = page.locator('.lifecycle-column[data-stage="integrate"]')
    card = pilot.locator('.lifecycle-card[data-agent="refund-helper"]')
    expect(card).to_contain_text("ready for Integrate")
    expect(pilot.locator('.lifecycle-card[data-agent="new-pilot"]')).to_contain_text("failing")

    card.get_by_role("button", name="Promote to Integrate").click()
    expect(page.locator(".flash-success")).to_contain_text("Refund Helper promoted to Integrate")
    expect(integrate.locator('.lifecycle-card[data-agent="refund-helper"]')).to_be_visible()
    assert Agent.objects.get(slug="refund-helper").lifecycle_stage == "integrate"
    event = StageEvent.objects.get(agent__slug="refund-helper")
    assert event.actor == ops_user and event.criteria["all_met"] is True

    # Dragging a card onto the next column submits the same promotion.
    pilot.locator('.lifecycle-card[data-agent="order-tracker"]').drag_to(integrate)
    expect(integrate.locator('.lifecycle-card[data-agent="order-tracker"]')).to_be_visible()
    assert Agent.objects.get(slug="order-tracker").lifecycle_stage == "integrate"

    # Dragging a card whose criteria fail is refused with the reasons, on its lifecycle page.
    pilot.locator('.lifecycle-card[data-agent="new-pilot"]').drag_to(integrate)
    expect(page.locator(".flash-error")).to_contain_text("does not meet the Integrate criteria")
    expect(page.locator("h1")).to_contain_text("New Pilot")
    assert Agent.objects.get(slug="new-pilot").lifecycle_stage == "pilot"

    other = new_page(reviewer)
    response = other.goto(f"{live_server.url}/lifecycle/")
    assert response.status == 403
    expect(other.locator("body")).to_contain_text("Operations role")
    response = other.goto(f"{live_server.url}/lifecycle/agents/new-pilot/")
    assert response.status == 403
