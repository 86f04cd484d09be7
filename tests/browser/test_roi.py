"""ROI in a real browser: finance switches period and grouping (htmx), downloads the CSV of the screen;
an operations user is refused the ledger."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from roi.models import AssumptionKind
from tests.factories import make_agent, make_department
from tests.roi.factories import assume, make_finished_ticket, make_run, standard_ledger

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def roi_data(finance_user):
    support, billing = make_department("Customer Support"), make_department("Finance Ops")
    refunds = make_agent("Refund Agent", department=support)
    triage = make_agent("Triage Agent", department=support)
    invoices = make_agent("Invoice Processor", department=billing)
    standard_ledger(finance_user, support, refunds, triage, invoices)
    assume(finance_user, AssumptionKind.HOURLY_COST, "52", department=billing, currency="USD")
    assume(finance_user, AssumptionKind.OTHER_COST, "120", department=support, currency="USD")
    for month, count in ((1, 3), (2, 4), (3, 5)):
        for i in range(count):
            for agent in (refunds, triage, invoices):
                make_run(agent, datetime(2026, month, 2 + i, 10, tzinfo=UTC), cost="0.041234")
    escalated = make_run(triage, datetime(2026, 2, 20, tzinfo=UTC), has_escalation=True)
    make_finished_ticket(triage, datetime(2026, 2, 21, tzinfo=UTC), 900, run=escalated)


def _screen_rows(page) -> list[list[str]]:
    rows = page.locator("#roi-table tbody tr, #roi-table tfoot tr")
    # Folded columns are in the page too (hidden); "not meaningful*" is a blank in the export.
    return [[cell.replace(",", "").replace("—", "").replace("not meaningful*", "")
             for cell in row.locator("th, td").all_text_contents()] for row in rows.all()]


def test_finance_switches_period_and_grouping_and_downloads_the_csv(new_page, live_server, finance_user, roi_data):
    page = new_page(finance_user)
    page.goto(f"{live_server.url}/roi/?period=month&month=2026-03&grouping=agent")
    expect(page.locator("#roi-period-label")).to_have_text("March 2026 · by agent")
    expect(page.locator("#roi-table tbody tr")).to_have_count(3 + 1)  # three agents + Support department costs
    expect(page.locator("#roi-trend[data-rendered='1']")).to_be_attached()

    page.select_option("#id_period", "quarter")
    page.fill("#id_year", "2026")
    page.select_option("#id_quarter", "1")
    page.select_option("#id_grouping", "department")
    expect(page.locator("#roi-period-label")).to_have_text("Q1 2026 · by department")
    expect(page).to_have_url(re.compile(r"period=quarter.*grouping=department|grouping=department.*period=quarter"))
    expect(page.locator("#id_month")).to_be_hidden()
    rows = page.locator("#roi-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#roi-table tfoot")).to_contain_text("37")  # 12 runs x 3 agents + the escalated one

    with page.expect_download() as info:
        page.click("#roi-export-csv")
    download = info.value
    assert download.suggested_filename == "roi_2026-01-01_2026-03-31_department.csv"
    with open(download.path(), newline="") as handle:
        exported = list(csv.reader(handle))
    table = exported[1:exported.index([])] if [] in exported else exported[1:]  # then the notes
    assert table == _screen_rows(page)
    assert [r[0] for r in table] == ["Customer Support", "Finance Ops", "Total"]


def test_operations_user_is_refused_the_ledger(new_page, live_server, ops_user):
    page = new_page(ops_user)
    page.goto(f"{live_server.url}/roi/assumptions/")
    expect(page.locator(".error-code")).to_have_text("403")
    expect(page.locator(".error-page")).to_contain_text("This page is for the Finance role")
