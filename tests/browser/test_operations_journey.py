"""The operations manager's morning in the browser, on a laptop and on a phone: the worst agent first,
the failed SLO target named, the alert banner following the department filter, an alert acknowledged
and snoozed, a trace read as a conversation, and an API key created once however often the page is
reloaded (the failure paths: a snooze out of range, a rule without a channel offers no test send)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agentops.models import ROLE_OPERATIONS, ApiKey
from monitoring.alerts.models import AlertEvent, AlertMetric, AlertRule
from monitoring.rollups import cells as rollups
from tests.browser.conftest import axe_violations
from tests.conftest import make_user
from tests.factories import make_agent, make_department
from tests.monitoring.factories import make_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _runs(agent, n, **kw):
    now = timezone.now()
    runs = [make_run(agent, started_at=now - timedelta(minutes=5 + i), **kw) for i in range(n)]
    rollups.refresh_for_runs([r.id for r in runs])
    return runs


def _alert(agent, message):
    rule = AlertRule.objects.create(agent=agent, name=message, metric=AlertMetric.P95_LATENCY,
                                    threshold=Decimal("100"))
    return AlertEvent.objects.create(rule=rule, agent=agent, value=3000, threshold=rule.threshold, message=message)


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_operations_journey_end_to_end(new_page, live_server, screen):
    olivia = make_user("olivia", ROLE_OPERATIONS)
    sales, support = make_department("Sales"), make_department("Support")
    calm = make_agent("Aaron Calm", department=sales, slo_p95_latency_ms=10_000)
    slow = make_agent("Bea Slow", department=sales, slo_p95_latency_ms=500)
    alarmed = make_agent("Zed Alarmed", department=support, slo_p95_latency_ms=10_000)
    _runs(calm, 3, duration_ms=200)
    _runs(slow, 3, duration_ms=2000)
    [traced, *_] = _runs(alarmed, 3, duration_ms=200, steps=[{
        "kind": "llm", "input": json.dumps([{"role": "user", "content": "Cancel my order"}]), "output": "",
        "attributes": {"gen_ai.request.model": "gpt-4o"},
    }])
    _alert(alarmed, "Zed latency")
    _alert(alarmed, "Zed errors")
    _alert(slow, "Bea latency")

    page = new_page(olivia, screen)
    page.goto(f"{live_server.url}/monitoring/")
    tiles = page.locator(".tile")
    expect(tiles.first).to_have_attribute("data-agent", "zed-alarmed")  # two alerts beat one alert + breached SLO
    expect(page.locator('.tile[data-agent="bea-slow"] .pill.slo-breached')).to_contain_text("p95 latency")
    expect(page.locator(".tile").first).to_contain_text("Error-budget burn")
    problems = axe_violations(page)
    assert not problems, problems
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"] + 1

    page.select_option("#id_department", label="Support")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".alert-strip")).to_contain_text("Zed latency")
    expect(page.locator(".alert-strip")).not_to_contain_text("Bea latency")

    # Acknowledge, then snooze: the alert leaves the banner.
    page.goto(f"{live_server.url}/monitoring/alerts/")
    zed = page.locator("#open-alerts tr", has_text="Zed latency")
    zed.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#open-alerts tr", has_text="Zed latency")).to_contain_text("acknowledged by olivia")
    expect(page.locator("#rules")).not_to_contain_text("Test send")  # no rule has a channel
    row = page.locator("#open-alerts tr", has_text="Zed latency")
    row.get_by_label(re.compile("Snooze alert")).select_option("4")
    row.get_by_role("button", name="Snooze").click()
    expect(page.locator(".messages")).to_contain_text("snoozed for 4 h")
    page.goto(f"{live_server.url}/monitoring/")
    expect(page.locator("#tiles")).not_to_contain_text("Zed latency")

    # The trace reads as a conversation; attributes are folded; the missing output is said.
    page.goto(f"{live_server.url}/monitoring/runs/{traced.trace_id}/")
    page.locator(".wf-row summary").first.click()
    expect(page.locator(".turn.role-user").first).to_contain_text("Cancel my order")
    expect(page.locator(".wf-body").first).to_contain_text("No output recorded for this step.")
    extra = page.locator(".span-extra", has_text="Attributes (1)").first
    expect(extra.locator("pre")).to_be_hidden()
    extra.locator("summary").click()
    expect(extra.locator("pre")).to_contain_text("gen_ai.request.model")

    # An API key is created once, however often the page is reloaded.
    page.goto(f"{live_server.url}/registry/api-keys/new/")
    page.fill("#id_label", "collector")
    page.get_by_role("button", name=re.compile("Create")).click()
    expect(page.locator("#api-token")).to_be_visible()
    page.reload()
    expect(page.locator("#token-gone")).to_be_visible()
    assert ApiKey.objects.filter(label="collector").count() == 1
