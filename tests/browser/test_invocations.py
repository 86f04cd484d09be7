"""A manager opens a sub-agent that only ever runs under an orchestrator: its own figures and the
breakdown by caller, then a failure's trace with the invocation tree, by mouse and by keyboard, on a
laptop and a phone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from agentops.models import ROLE_OPERATIONS
from monitoring.ingest import write as ingest_write
from monitoring.intake.normalize import normalize_spans
from tests.browser.conftest import axe_violations
from tests.conftest import PASSWORD
from tests.factories import make_agent, make_price
from tests.monitoring.otlp_builders import orchestrated_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLOW = 45_000  # ms: an upper bound for a busy 2-core host, not a wait


def _operations_user() -> User:
    group, _ = Group.objects.get_or_create(name=ROLE_OPERATIONS)
    user = User.objects.create_user(username="olivia", password=PASSWORD, first_name="Olivia")
    user.groups.add(group)
    return user


def _orchestrated_traffic() -> None:
    """Two traces in which the support orchestrator invokes the refund agent (which fails) and the KB
    search agent (which escalates); neither sub-agent is ever called directly."""
    make_price("gpt-4o", inp="2.50", out="10.00")
    for slug, name in [("support-orchestrator", "Support Orchestrator"), ("refund-agent", "Refund Agent"),
                       ("kb-search-agent", "KB Search Agent")]:
        make_agent(name, slug=slug)
    now = timezone.now()
    for minutes in (12, 6):
        with transaction.atomic():
            ingest_write.write_records(
                normalize_spans(orchestrated_trace(start=now - timedelta(minutes=minutes)), now=now).records)


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_a_sub_agents_dashboard_shows_its_own_figures_by_caller_and_its_traces_invocation_tree(
        new_page, live_server, screen):
    olivia = _operations_user()
    _orchestrated_traffic()
    page = new_page(olivia, screen)

    page.goto(f"{live_server.url}/monitoring/agents/kb-search-agent/?range=24h")
    expect(page.locator("#agent-runs")).to_have_text("2", timeout=SLOW)  # its own runs, not 0
    callers = page.locator("#caller-table tbody tr")
    expect(callers).to_have_count(1)
    expect(callers.first.locator("th")).to_have_text("via Support Orchestrator")
    expect(callers.first).to_contain_text("700")  # its own tokens: (300 + 50) x 2
    expect(callers.first).to_contain_text("100.0 %")  # every run succeeded (and escalated)
    expect(page.locator("#latest-table tbody tr")).to_have_count(2)
    assert axe_violations(page) == []

    page.goto(f"{live_server.url}/monitoring/agents/refund-agent/?range=24h")
    failures = page.locator("#failure-table tbody tr")
    expect(failures).to_have_count(2, timeout=SLOW)
    expect(failures.first).to_contain_text("TimeoutError")
    expect(failures.first).to_contain_text("via Support Orchestrator")
    failures.first.locator("a", has_text="trace").click()

    tree = page.locator("#invocation-tree tbody tr")
    expect(tree).to_have_count(3, timeout=SLOW)
    expect(tree.nth(0).locator("th")).to_contain_text("Support Orchestrator")
    expect(tree.nth(1).locator("th")).to_contain_text("Refund Agent")
    expect(tree.nth(2).locator("th")).to_contain_text("KB Search Agent")
    expect(page.locator("#invocation-tree tr:target")).to_contain_text("Refund Agent")  # the failure's row
    expect(tree.nth(1)).to_contain_text("TimeoutError")
    expect(tree.nth(1)).to_contain_text("800 in · 150 out")
    expect(tree.nth(0)).to_contain_text("1,400 in · 260 out")  # the orchestrator's inclusive total
    tree_box, waterfall_box = page.locator("#invocation-tree").bounding_box(), page.locator("#waterfall").bounding_box()
    assert tree_box["y"] < waterfall_box["y"]  # above the span waterfall
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no page-wide sideways scroll
    assert axe_violations(page) == []

    # By keyboard: the KB agent's name in the tree opens its dashboard.
    link = tree.nth(2).locator("a", has_text="KB Search Agent")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/monitoring/agents/kb-search-agent/", timeout=SLOW)
    expect(page.locator("#agent-runs")).to_have_text("2", timeout=SLOW)
