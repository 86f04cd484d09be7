"""Insights pages in a real browser, on the demo workflow data: root causes (and a drill-down),
prompt version comparison and the agent map."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db):
    from django.contrib.auth.models import Group

    from agentops.models import ROLES
    from demo.insights import seed
    from demo.registry import seed_registry

    # transactional_db flushes the groups the roles migration created; the registry seed needs them.
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    seed_registry(io.StringIO())
    seed(io.StringIO())
    from django.contrib.auth.models import User

    from tests.conftest import PASSWORD

    olivia = User.objects.get(username="olivia")  # the registry seed's operations manager
    olivia.set_password(PASSWORD)
    olivia.save(update_fields=["password"])
    return olivia


def test_root_causes_drill_down_and_mark_group(new_page, live_server, demo):
    page = new_page(demo)
    page.goto(f"{live_server.url}/monitoring/root-causes/")
    table = page.locator("#failure-groups")
    expect(table).to_contain_text("issue_refund")
    expect(page.locator("#groups-chart .main-svg").first).to_be_attached()
    table.locator("a", has_text="issue_refund").first.click()
    expect(page.locator("h1")).to_contain_text("PermissionError")
    expect(page.locator(".failure-origin")).to_contain_text("Refund Agent")
    expect(page.locator("#group-runs tbody tr").first).to_be_visible()
    expect(page.locator("#group-root-cause")).to_have_text("Policy restriction")  # marked by the demo seed
    page.select_option("#id_root_cause", label="Guardrail block")
    page.fill("#id_note", "The guardrail stops refunds above the limit; escalate them instead.")
    page.click("#mark-form button[type=submit]")
    expect(page.locator("#group-root-cause")).to_have_text("Guardrail block")


def test_compare_shows_the_improved_version_and_map_shows_traffic(new_page, live_server, demo):
    page = new_page(demo)
    page.goto(f"{live_server.url}/monitoring/agents/support-orchestrator/compare/")
    expect(page.locator("#compare-verdict")).to_contain_text("v3 against v2")
    expect(page.locator("[data-test=success-verdict]")).to_contain_text("B is higher")
    expect(page.locator("#success-chart .main-svg").first).to_be_attached()
    # The agent map on the same data (one seed for both pages keeps the suite fast).
    page.goto(f"{live_server.url}/monitoring/map/")
    expect(page.locator("#map-chart .main-svg").first).to_be_attached()
    expect(page.locator("#edge-table")).to_contain_text("issue_refund")
    page.locator("#edge-table th a", has_text="Failure rate").click()
    expect(page.locator("#edge-table tbody tr").first).to_contain_text("issue_refund")
