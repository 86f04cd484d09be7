"""ROI pages: access, empty states, bad input, htmx partials, exports equal to the page, ledger and budgets."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from roi.models import AssumptionKind, AssumptionRow, Budget
from tests.factories import make_agent, make_department
from tests.roi.factories import assume, make_finished_ticket, make_run, standard_ledger

pytestmark = pytest.mark.django_db

MARCH = {"period": "month", "month": "2026-03", "grouping": "agent"}
PAGES = ["roi:report", "roi:assumptions", "roi:spend", "roi:export_csv", "roi:export_xlsx", "roi:print"]


@pytest.fixture
def data(finance_user):
    dept = make_department("Support")
    refunds, triage = make_agent("Refunds", department=dept), make_agent("Triage", department=dept)
    standard_ledger(finance_user, dept, refunds, triage)
    assume(finance_user, AssumptionKind.OTHER_COST, "31", department=dept, currency="USD")
    for day, agent, cost in [(2, refunds, "0.123456"), (3, refunds, "0.5"), (4, triage, "0.333333")]:
        make_run(agent, datetime(2026, 3, day, 9, tzinfo=UTC), cost=cost)
    escalated = make_run(triage, datetime(2026, 3, 5, tzinfo=UTC), has_escalation=True, cost="0.25")
    make_finished_ticket(triage, datetime(2026, 3, 6, tzinfo=UTC), 600, run=escalated)
    return refunds, triage


def test_operations_and_reviewers_are_refused_every_roi_page(ops_client, reviewer_client):
    for name in PAGES:
        for client in (ops_client, reviewer_client):
            response = client.get(reverse(name))
            assert response.status_code == 403, name
            assert "Finance role" in response.content.decode()


@pytest.mark.parametrize("name", ["roi:report", "roi:assumptions", "roi:spend"])
def test_superusers_may_open_roi_pages(name, client, superuser):
    client.force_login(superuser)
    assert client.get(reverse(name)).status_code == 200


def test_report_shows_an_empty_state_without_activity(finance_client):
    response = finance_client.get(reverse("roi:report"), MARCH)
    assert response.status_code == 200
    assert "No activity or costs in March 2026" in response.content.decode()


def test_a_bare_link_shows_last_complete_month_by_agent(finance_client):
    response = finance_client.get(reverse("roi:report"))
    assert response.context["grouping"] == "agent"
    assert response.context["period"].months == 1


@pytest.mark.parametrize("params, message", [
    ({"period": "month", "month": "2026-13"}, "Give a month as YYYY-MM"),
    ({"period": "custom", "date_from": "2026-03-10", "date_to": "2026-03-01"}, "before the start date"),
    ({"period": "custom", "date_from": "2026-03-10"}, "needs a start and an end date"),
    ({"grouping": "planet"}, "Select a valid choice"),
])
def test_bad_report_parameters_get_a_400_with_the_reason(finance_client, params, message):
    response = finance_client.get(reverse("roi:report"), params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_report_rows_and_drill_downs(finance_client, data):
    refunds, triage = data
    response = finance_client.get(reverse("roi:report"), MARCH)
    table = response.context["table"]
    assert [row[0].value for row in table.rows] == ["Refunds", "Triage", "Support — department costs"]
    assert table.totals_by_key()["runs"] == 4
    handoffs_cell = table.rows[1][table.position("handoffs")]
    assert handoffs_cell.link.startswith(reverse("roi:tickets")) and f"agent={triage.pk}" in handoffs_cell.link
    assert "Assumptions used" in response.content.decode()


def test_bad_input_over_htmx_is_shown_inline(finance_client):
    response = finance_client.get(reverse("roi:report"), {"period": "month", "month": "nope"},
                                  headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="roi-report"') and "Give a month as YYYY-MM" in body


def test_department_runs_drill_down_to_the_agents(finance_client, data):
    response = finance_client.get(reverse("roi:report"), {**MARCH, "grouping": "department"})
    table = response.context["table"]
    runs_cell = table.rows[0][table.position("runs")]
    assert runs_cell.link.startswith(reverse("roi:report")) and "grouping=agent" in runs_cell.link
    assert "month=2026-03" in runs_cell.link


def test_htmx_request_renders_only_the_report_partial(finance_client, data):
    response = finance_client.get(reverse("roi:report"), MARCH, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="roi-report"')
    assert "<nav" not in body


def test_missing_exchange_rate_is_explained_not_guessed(finance_client, finance_user, data):
    dept = data[0].department
    assume(finance_user, AssumptionKind.HOURLY_COST, "50", department=dept, currency="EUR", frm=date(2026, 3, 1))
    response = finance_client.get(reverse("roi:report"), MARCH)
    assert "No EUR → USD exchange rate" in response.content.decode()
    assert finance_client.get(reverse("roi:export_csv"), MARCH).status_code == 409


def _page_rows(response) -> list[list[str]]:
    return response.context["table"].plain_rows()


def test_csv_holds_exactly_the_rows_and_numbers_on_the_page(finance_client, data):
    page = finance_client.get(reverse("roi:report"), MARCH)
    export = finance_client.get(reverse("roi:export_csv"), MARCH)
    assert export["Content-Disposition"] == 'attachment; filename="roi_2026-03-01_2026-03-31_agent.csv"'
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0] == page.context["table"].headers
    expected = _page_rows(page)
    assert rows[1:len(expected) + 1] == expected
    # after an empty line, one "Note" line per figure not shown (here: ROI % over a tiny cost base)
    assert rows[len(expected) + 1] == [] and all(r[0] == "Note" for r in rows[len(expected) + 2:])
    # and the page's text shows the same figures
    html = page.content.decode()
    for cell in page.context["table"].total[1:]:
        assert cell.text in html


def test_xlsx_holds_the_same_numbers_and_the_assumptions_used(finance_client, data):
    page = finance_client.get(reverse("roi:report"), MARCH)
    export = finance_client.get(reverse("roi:export_xlsx"), MARCH)
    book = load_workbook(io.BytesIO(export.content))
    sheet = book["ROI"]
    expected = [[cell.value for cell in row] for row in page.context["table"].rows + [page.context["table"].total]]
    values = [list(r) for r in sheet.iter_rows(min_row=2, max_row=len(expected) + 1, values_only=True)]
    for got, want in zip(values, expected, strict=True):
        assert [None if w is None else (w if isinstance(w, str) else Decimal(str(w))) for w in want] == [
            None if g is None else (g if isinstance(g, str) else Decimal(str(g))) for g in got]
    ledger = book["Assumptions"]
    # The ledger rows end at the first blank row; context sections of other apps may follow it.
    ids = set(itertools.takewhile(lambda v: v is not None, (r[0] for r in ledger.iter_rows(min_row=3, values_only=True))))
    assert ids == {row.id for row in page.context["bundle"].assumptions} and ids


def test_print_view_has_the_table_without_navigation(finance_client, data):
    response = finance_client.get(reverse("roi:print"), MARCH)
    body = response.content.decode()
    assert "ROI report: March 2026" in body and 'id="roi-table"' in body
    assert 'class="sidebar"' not in body


def test_ticket_drill_down_lists_the_tickets_counted(finance_client, data):
    response = finance_client.get(reverse("roi:tickets"), {"agent": data[1].pk, "from": "2026-03-01", "to": "2026-03-31"})
    assert [t.handle_minutes for t in response.context["tickets"]] == [10]


def test_ticket_drill_down_rejects_bad_dates(finance_client):
    response = finance_client.get(reverse("roi:tickets"), {"from": "March", "to": "2026-03-31"})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.content.decode()


def test_recording_an_assumption_appends_a_row(finance_client, finance_user):
    dept = make_department("Support")
    first = assume(finance_user, AssumptionKind.HOURLY_COST, "40", department=dept, currency="USD")
    response = finance_client.post(reverse("roi:assumptions"), {
        "kind": "hourly_cost", "department": dept.pk, "currency": "usd", "value_base": "44", "value_low": "42",
        "value_high": "47", "effective_from": "2026-04-01", "reason": "Pay review",
    })
    assert response.status_code == 302
    row = AssumptionRow.objects.latest("id")
    assert (row.previous, row.value_base, row.currency, row.changed_by) == (first, Decimal("44"), "USD", finance_user)
    page = finance_client.get(reverse("roi:assumptions")).content.decode()
    assert "40 → 44" in page and "Pay review" in page


def test_a_change_without_a_reason_is_a_form_error(finance_client):
    response = finance_client.post(reverse("roi:assumptions"), {
        "kind": "recapture", "value_base": "0.7", "effective_from": "2026-04-01", "reason": "",
    })
    assert response.status_code == 400
    assert response.context["form"].errors["reason"]
    assert not AssumptionRow.objects.exists()
    assert 'id="record-change" open' in response.content.decode()  # the error is shown, not folded away


def test_the_change_form_is_folded_when_the_ledger_has_rows(finance_client, finance_user):
    empty = finance_client.get(reverse("roi:assumptions")).content.decode()
    assert 'id="record-change" open' in empty  # nothing to read yet: the form is the page
    assume(finance_user, AssumptionKind.RECAPTURE, "0.7")
    page = finance_client.get(reverse("roi:assumptions")).content.decode()
    assert 'id="record-change">' in page


def test_a_change_with_the_wrong_scope_is_a_form_error(finance_client):
    response = finance_client.post(reverse("roi:assumptions"), {
        "kind": "baseline_minutes", "value_base": "6", "effective_from": "2026-04-01", "reason": "study",
    })
    assert response.status_code == 400
    assert "set per agent" in response.content.decode()


def test_setting_a_budget_and_seeing_it_flagged(finance_client, data):
    agent = data[0]
    response = finance_client.post(reverse("roi:spend"), {"agent": agent.pk, "month": "2026-03", "amount": "0.10",
                                                          "currency": "USD"})
    assert response.status_code == 302
    assert Budget.objects.get().amount == Decimal("0.10")
    page = finance_client.get(reverse("roi:spend"), {"month": "2026-03"})
    assert page.context["over"] == 1
    assert "over budget" in page.content.decode()


def test_spend_watch_empty_state_and_bad_month(finance_client):
    assert "No budgets for" in finance_client.get(reverse("roi:spend")).content.decode()
    assert finance_client.get(reverse("roi:spend"), {"month": "soon"}).status_code == 400


def test_report_page_query_count_does_not_grow_with_agents(finance_client, finance_user, data,
                                                           django_assert_max_num_queries):
    dept = data[0].department
    for i in range(5):
        agent = make_agent(f"Extra {i}", department=dept)
        assume(finance_user, AssumptionKind.BASELINE_MINUTES, "5", agent=agent)
        make_run(agent, datetime(2026, 3, 10 + i, tzinfo=UTC))
    with django_assert_max_num_queries(13):  # session, user, roles, department scope + seven for the report + closed months
        response = finance_client.get(reverse("roi:report"), MARCH)
    assert len(response.context["table"].rows) == 8


def test_a_custom_period_longer_than_three_years_is_refused(finance_client):
    response = finance_client.get(reverse("roi:report"), {"period": "custom", "date_from": "2020-01-01",
                                                          "date_to": "2026-01-01"})
    assert response.status_code == 400
    assert "at most three years" in response.content.decode()


def test_headline_shows_the_table_totals_with_their_change(finance_client, data):
    page = finance_client.get(reverse("roi:report"), MARCH)
    headline = page.context["headline"]
    assert [m["key"] for m in headline] == ["net_benefit", "roi_percent", "value", "total_cost", "automation_rate",
                                            "cpr_agent"]
    totals = page.context["table"].totals_by_key()
    assert all(m["current"] == totals[m["key"]] for m in headline)
    html = page.content.decode()
    assert 'id="roi-headline"' in html and "changes against February 2026" in html
