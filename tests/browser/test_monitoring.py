"""An operations manager watches the overview update live, switches an agent's range, opens a trace."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.sync_api import expect

from agentops.models import ROLE_OPERATIONS
from monitoring.dashboards import views as dashboard_views
from monitoring.rollups import cells as rollups
from tests.conftest import PASSWORD
from tests.factories import make_agent
from tests.monitoring.factories import make_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLOW = 45_000  # ms: an upper bound only (a passing run waits for the condition, not the bound): page loads on a
# busy 2-core machine, plus up to one refresh period of polling


def _operations_user() -> User:
    # transactional_db flushes the groups the roles migration created; make sure ours exists.
    group, _ = Group.objects.get_or_create(name=ROLE_OPERATIONS)
    user = User.objects.create_user(username="olivia", password=PASSWORD, first_name="Olivia")
    user.groups.add(group)
    return user


def _send_runs(agent, n: int, **kw) -> list:
    """The test sender: store runs as ingest would and refresh their rollup cells."""
    now = timezone.now()
    runs = [make_run(agent, started_at=now - timedelta(seconds=30 + i), **kw) for i in range(n)]
    rollups.refresh_for_runs([r.id for r in runs])
    return runs


def test_overview_updates_live_range_switch_redraws_charts_and_trace_shows_waterfall(new_page, live_server):
    olivia = _operations_user()
    agent = make_agent("Refund Agent")
    _send_runs(agent, 2)

    page = new_page(olivia)
    page.goto(f"{live_server.url}/monitoring/?range=1h&sort=runs")
    tile_runs = page.locator('[data-agent="refund-agent"] .tile-runs')
    expect(tile_runs).to_have_text("2", timeout=SLOW)
    page.evaluate("window.__notReloaded = true")

    failed = _send_runs(agent, 3, status="error", error_type="ToolTimeout",
                        steps=[{"kind": "agent", "duration_ms": 900}, {"kind": "tool", "tool_name": "issue_refund",
                                                                        "status": "error", "duration_ms": 300}])
    expect(tile_runs).to_have_text("5", timeout=SLOW)
    assert page.evaluate("window.__notReloaded === true")  # swapped in place, no page load
    assert "range=1h" in page.url and page.locator("#id_range").input_value() == "1h"  # filters kept

    page.locator('[data-agent="refund-agent"] a').first.click()
    # The agent page loads plotly.js (a few MB): give it more than expect's 5 s default on a busy machine.
    expect(page.locator("#chart-resolution")).to_contain_text("per minute", timeout=SLOW)
    expect(page.locator("#chart-latency")).to_have_attribute("data-rendered", "1", timeout=SLOW)
    page.locator(".range-tabs a", has_text="last 30 days").click()
    expect(page.locator("#chart-resolution")).to_contain_text("per day", timeout=SLOW)
    expect(page.locator(".range-tabs a.active")).to_have_text("last 30 days")
    expect(page.locator("#chart-latency .main-svg").first).to_be_visible(timeout=SLOW)

    page.goto(f"{live_server.url}/monitoring/runs/{failed[0].trace_id}/")
    rows = page.locator("#waterfall .wf-row")
    expect(rows).to_have_count(2, timeout=SLOW)
    expect(page.locator("#waterfall")).to_contain_text("issue_refund")
    rows.nth(1).locator(":scope > summary").click()  # not the folded attributes and events
    expect(rows.nth(1)).to_contain_text("error")


def test_a_slow_range_answer_is_not_lost_to_a_refresh(new_page, live_server, monkeypatch):
    """The charts refresh every few seconds. A range whose answer takes longer than one refresh period
    must still land: the refresh of the old range in the meantime is dropped, not swapped in over it."""
    olivia = _operations_user()
    agent = make_agent("Refund Agent")
    _send_runs(agent, 2)
    charts = dashboard_views._agent_charts
    delay = dashboard_views.REFRESH_SECONDS * 1.5 + 1

    def slow_long_ranges(agent, time_range):
        if time_range.span > timedelta(days=8):
            time.sleep(delay)  # the live server is threaded: refreshes are answered meanwhile
        return charts(agent, time_range)

    monkeypatch.setattr(dashboard_views, "_agent_charts", slow_long_ranges)
    page = new_page(olivia)
    page.goto(f"{live_server.url}/monitoring/agents/{agent.slug}/?range=1h")
    expect(page.locator("#chart-resolution")).to_contain_text("per minute", timeout=SLOW)
    page.locator(".range-tabs a", has_text="last 30 days").click()
    expect(page.locator("#chart-resolution")).to_contain_text("per day", timeout=SLOW)
    page.wait_for_timeout(dashboard_views.REFRESH_SECONDS * 2 * 1000)  # two more refreshes, of the new range
    expect(page.locator("#chart-resolution")).to_contain_text("per day")
    expect(page.locator(".range-tabs a.active")).to_have_text("last 30 days")
