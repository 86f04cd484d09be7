"""An operations manager opens the dashboard of a sub-agent that is only ever invoked by an orchestrator
and sees its own runs, success, escalations, quality, latency and cost."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from agentops.models import ROLE_OPERATIONS
from monitoring.ingest.write import write_records
from monitoring.intake.normalize import normalize_spans
from tests.conftest import PASSWORD
from tests.factories import make_price
from tests.monitoring.otlp_builders import orchestrated_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLOW = 45_000  # ms: an upper bound for a page with plotly.js on a busy 2-core machine


def stat(page, label: str):
    return page.locator(f'.tile-grid > div:has(> .stat-label:text-is("{label}")) .stat')


@pytest.fixture
def olivia():
    """An operations manager, and two tasks of the last minutes: support-orchestrator invokes
    refund-agent (fails; 800 + 150 tokens) and kb-search-agent (escalates, scored 0.4, 400 ms).
    Neither sub-agent is ever the root of a trace."""
    group, _ = Group.objects.get_or_create(name=ROLE_OPERATIONS)
    user = User.objects.create_user(username="olivia", password=PASSWORD, first_name="Olivia")
    user.groups.add(group)
    make_price("gpt-4o", inp="2.50", out="10.00")
    now = timezone.now()
    for minutes in (6, 4):
        with transaction.atomic():
            write_records(normalize_spans(orchestrated_trace(start=now - timedelta(minutes=minutes)), now=now).records)
    return user


def test_a_sub_agents_dashboard_shows_its_own_invocations(new_page, live_server, olivia):
    page = new_page(olivia)
    page.goto(f"{live_server.url}/monitoring/agents/kb-search-agent/?range=1h")
    expect(page.locator("#agent-runs")).to_have_text("2", timeout=SLOW)
    expect(stat(page, "Escalation rate")).to_have_text("100.0 %")
    expect(stat(page, "Quality")).to_have_text("0.40")
    expect(stat(page, "p50 / p95 / p99")).to_have_text(re.compile(r"^\s*\d{3} ms / \d{3} ms / \d{3} ms\s*$"))
    expect(page.locator("#chart-volume")).to_have_attribute("data-rendered", "1", timeout=SLOW)

    page.goto(f"{live_server.url}/monitoring/agents/refund-agent/?range=1h")
    expect(page.locator("#agent-runs")).to_have_text("2", timeout=SLOW)
    expect(stat(page, "Success")).to_have_text("0.0 %")
    expect(stat(page, "Cost / run")).to_have_text("$0.0035")  # its own 800 + 150 gpt-4o tokens, not the task's
    expect(stat(page, "p50 / p95 / p99")).to_have_text(re.compile(r"^\s*1\.(19|20|21) s /"))  # 1,200 ms, sketch ±1 %


def test_a_manager_goes_from_a_sub_agents_dashboard_to_all_its_runs_and_into_one(new_page, live_server, olivia):
    # refund-agent only ever runs inside the orchestrator's traces, and fails there.
    page = new_page(olivia)
    page.goto(f"{live_server.url}/monitoring/runs/?agent=refund-agent&range=1h")
    expect(page.get_by_text("No runs match")).to_be_visible(timeout=SLOW)  # it started no trace...
    page.locator("#agent-runs-hint a").click()  # ...and the explorer says where its runs are
    expect(page.locator("h1")).to_have_text("Runs of refund-agent", timeout=SLOW)  # discovered: named by its slug
    expect(page.locator("#match-count")).to_have_text("2 runs match")
    rows = page.locator("#agent-runs-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("via support-orchestrator")
    expect(rows.first).to_contain_text("TimeoutError")
    expect(rows.first).to_contain_text("$0.0035")  # its own 800 + 150 gpt-4o tokens

    page.select_option("#id_caller", "direct")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#no-agent-runs")).to_be_visible(timeout=SLOW)
    page.select_option("#id_caller", "support-orchestrator")
    page.select_option("#id_status", "error")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#match-count")).to_have_text("2 runs match", timeout=SLOW)

    rows.first.get_by_role("link", name="trace").click()
    expect(page.locator("#invocation-tree")).to_be_visible(timeout=SLOW)
    span = re.search(r"#inv-([0-9a-f]{16})$", page.url).group(1)
    expect(page.locator(f"#inv-{span}")).to_contain_text("refund-agent")
