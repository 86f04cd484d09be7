"""The registry in a real browser: sign in, filter agents (htmx), open one, add a prompt version, diff."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import make_agent, make_department, make_prompt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def registry(ops_user):
    support, sales = make_department("Customer Support"), make_department("Sales")
    billing = make_agent("Billing Agent", department=support, description="Answers invoice questions")
    make_prompt(billing, text="You answer billing questions.\nBe polite.", is_active=True, change_note="first")
    make_agent("Sales Qualifier", department=sales, lifecycle_stage="pilot")
    return {"support": support, "sales": sales, "billing": billing}


def test_operator_filters_agents_adds_a_prompt_version_and_sees_the_diff(new_page, live_server, ops_user, registry):
    page = new_page(ops_user)  # signs in through the login form
    page.goto(f"{live_server.url}/registry/agents/")
    rows = page.locator("#agent-results tbody tr")
    expect(rows).to_have_count(2)

    # Filtering swaps only the results (htmx) and keeps the filter in the address bar.
    page.select_option("#id_department", str(registry["sales"].pk))
    expect(page).to_have_url(re.compile(rf"department={registry['sales'].pk}"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Sales Qualifier")
    expect(rows.first.locator(".stage-pilot")).to_be_visible()

    page.select_option("#id_department", "")
    page.fill("#id_q", "invoice")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Billing Agent")

    page.click("text=Billing Agent")
    expect(page.locator("h1")).to_contain_text("Billing Agent")
    expect(page.locator(".prompt-text")).to_contain_text("Be polite.")

    page.click("text=New version")
    page.fill("#id_text", "You answer billing questions.\nBe polite and brief.\nCite the invoice number.")
    page.fill("#id_change_note", "brevity")
    page.check("#id_make_active")
    page.click("button:has-text('Save version')")
    expect(page.locator(".flash")).to_contain_text("Version 2 saved (active)")

    page.click("text=Diff text with v1")
    expect(page.locator(".diff .del")).to_have_text("- Be polite.")
    expect(page.locator(".diff .add")).to_have_count(2)
    expect(page.locator(".diff .add").first).to_have_text("+ Be polite and brief.")

    page.select_option("#diff-mode", "split")
    page.click("button:has-text('Compare')")
    expect(page.locator(".diff-split .del")).to_have_text("Be polite.")


def test_operator_rolls_a_candidate_out_to_a_share_and_rolls_back(new_page, live_server, ops_user, registry):
    billing = registry["billing"]
    make_prompt(billing, text="You answer billing questions.\nCite the invoice.", change_note="candidate")
    page = new_page(ops_user)
    page.goto(f"{live_server.url}/registry/agents/{billing.slug}/prompts/2/")
    page.click("summary:has-text('Try v2 on a share of traffic')")
    page.fill("#id_share", "150")
    page.click("button:has-text('Start rollout')")
    # The browser refuses it before sending (max=99 on the field); the server's message is unit-tested.
    expect(page.locator("#id_share:invalid")).to_have_count(1)
    expect(page.locator("#rollout")).to_have_count(0)

    page.fill("#id_share", "20")
    page.click("button:has-text('Start rollout')")
    banner = page.locator("#rollout")
    expect(banner).to_contain_text("v2 serves 20 %")
    page.click("nav.tabs >> text=Prompt versions")
    expect(page.locator("#rollout")).to_contain_text("20 %")

    page.click("#rollout button:has-text('Roll back')")
    expect(page.locator(".flash")).to_contain_text("Rolled back")
    expect(page.locator("#rollout")).to_have_count(0)
