"""Finance's month-end in the browser, on a laptop and on a phone: read the report (key figures in
view, ROI "not meaningful" explained), close the month, restate it (the failure path first: no
reason), see before and after, and the current month flagged "to date"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from playwright.sync_api import expect

from agentops.models import ROLE_FINANCE
from roi.models import AssumptionKind, Restatement
from tests.browser.conftest import axe_violations
from tests.conftest import make_user
from tests.factories import make_agent, make_department
from tests.roi.factories import assume, make_run, standard_ledger

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_finance_journey_end_to_end(new_page, live_server, screen):
    fiona = make_user("fiona", ROLE_FINANCE)
    dept = make_department("Support")
    cheap, costly = make_agent("Cheap Agent", department=dept), make_agent("Costly Agent", department=dept)
    standard_ledger(fiona, dept, cheap, costly)
    assume(fiona, AssumptionKind.OTHER_COST, "300", agent=costly, currency="USD")
    for day in range(2, 12):
        make_run(cheap, datetime(2026, 3, day, 9, tzinfo=UTC), cost="0.03")
        make_run(costly, datetime(2026, 3, day, 9, tzinfo=UTC), cost="0.50")
        make_run(costly, datetime(2026, 4, day, 9, tzinfo=UTC), cost="0.50")

    with time_machine.travel(datetime(2026, 4, 4, 12, tzinfo=UTC), tick=True):
        page = new_page(fiona, screen)
        page.goto(f"{live_server.url}/roi/?period=month&month=2026-03&grouping=agent")
        table = page.locator("#roi-table")
        expect(table).to_be_visible()
        if screen == "desktop":
            # The key columns are on screen at 1440 px, no side scrolling needed.
            for name in ("Net benefit (USD)", "ROI %", "Payback (months)"):
                box = table.get_by_role("columnheader", name=name).bounding_box()
                assert box and box["x"] + box["width"] <= 1440, name
        cheap_row = table.locator("tr", has_text="Cheap Agent")
        expect(cheap_row).to_contain_text("not meaningful")
        expect(page.locator("#roi-footnotes")).to_contain_text("Cheap Agent: ROI % not meaningful")
        expect(table.get_by_role("columnheader", name="Human minutes")).to_be_hidden()
        page.get_by_role("button", name="Show all columns").click()
        expect(table.get_by_role("columnheader", name="Human minutes")).to_be_visible()
        problems = axe_violations(page)
        print("\n".join(problems))
        assert not problems

        # Close March.
        page.locator("#roi-close-btn").click()
        expect(page.locator(".messages")).to_contain_text("March 2026 is closed")
        expect(page.locator("#roi-closed-2026-03")).to_contain_text("is closed")

        # Failure path: a change effective inside March without a restatement reason.
        page.goto(f"{live_server.url}/roi/assumptions/")
        page.get_by_text("Record a change").click()
        page.select_option("#id_kind", AssumptionKind.BASELINE_MINUTES)
        page.select_option("#id_agent", label="Cheap Agent")
        page.fill("#id_value_base", "9")
        page.fill("#id_effective_from", "2026-03-01")
        page.fill("#id_reason", "Time study redone")
        page.get_by_role("button", name="Record").click()
        expect(page.locator("#record-change")).to_contain_text("closed periods (March 2026)")
        assert not Restatement.objects.exists()
        page.fill("#id_restatement_reason", "The baseline was measured wrongly")
        page.get_by_role("button", name="Record").click()
        expect(page.locator(".messages")).to_contain_text("Restated closed periods: March 2026.")

        page.goto(f"{live_server.url}/roi/?period=month&month=2026-03&grouping=agent")
        expect(page.locator("#roi-closed-2026-03")).to_contain_text("Restated:")
        expect(page.locator("#roi-closed-2026-03")).to_contain_text("The baseline was measured wrongly")
        expect(page.locator("#roi-restatement")).to_contain_text("As closed")

        # The running month is flagged "to date", without changes against whole months.
        page.goto(f"{live_server.url}/roi/?period=month&month=2026-04&grouping=agent")
        expect(page.locator("#roi-to-date")).to_have_text("to date, 4 of 30 days")
        expect(page.locator("#roi-close-btn")).to_have_count(0)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"] + 1, width
