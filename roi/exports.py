"""CSV and XLSX of exactly the table on screen (same rows, same rounded numbers).

The XLSX adds a second sheet, "Assumptions", listing every ledger row the figures were computed with,
followed by any context sections higher apps registered (e.g. the lifecycle stage history of the
agents in the report) on the ``ROI_EXPORT_SECTIONS`` extension point (agentops/extensions.py): roi
never imports them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Font

from agentops.exports import append_xlsx_row, csv_writer
from agentops.extensions import ROI_EXPORT_SECTIONS, contributions

from .models import REPORT_CURRENCY, AssumptionRow
from .tables import Table

NUMBER_FORMATS = {"int": "#,##0", "money": "#,##0.00", "unit_money": "#,##0.0000", "percent": "0.0", "tenth": "0.0"}
ASSUMPTION_HEADERS = ["Row id", "Assumption", "Applies to", "Currency", "Low", "Base", "High", "Effective from",
                      "Changed by", "Changed at (UTC)", "Previous base", "Reason"]


@dataclass
class ContextSection:
    """Rows another app adds below the assumptions: a heading, column headers, plain values."""

    heading: str
    headers: list[str]
    rows: list[list[object]]


def assumptions_context(agent_ids: set[int], period) -> list[ContextSection]:
    sections = (provider(agent_ids, period) for provider in contributions(ROI_EXPORT_SECTIONS))
    return [s for s in sections if s is not None]


def table_csv(table: Table, notes: Iterable[str] = ()) -> str:
    """The table, then (after an empty line) one "Note" line per restatement or figure not shown."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(table.headers)
    writer.writerows(table.plain_rows())
    notes = list(notes)
    if notes:
        writer.writerow([])
        writer.writerows(["Note", note] for note in notes)
    return out.getvalue()


def assumption_line(row: AssumptionRow) -> list[object]:
    return [
        row.id, row.get_kind_display(), row.scope_label, row.currency, row.value_low, row.value_base, row.value_high,
        row.effective_from, row.changed_by.get_username(), row.changed_at.replace(tzinfo=None),
        row.previous.value_base if row.previous else None, row.reason,
    ]


def table_xlsx(table: Table, assumptions: Iterable[AssumptionRow], title: str,
               context: Iterable[ContextSection] = (), notes: Iterable[str] = ()) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "ROI"
    append_xlsx_row(sheet, table.headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table.rows + [table.total]:
        append_xlsx_row(sheet, [cell.value for cell in row])
    for index, column in enumerate(table.columns, start=1):
        fmt = NUMBER_FORMATS.get(column.kind)
        if fmt:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = fmt
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    notes = list(notes)
    if notes:
        append_xlsx_row(sheet, [])
        for note in notes:
            append_xlsx_row(sheet, ["Note", note])
    sheet.freeze_panes = "B2"

    ledger = book.create_sheet("Assumptions")
    append_xlsx_row(ledger, [f"{title}; money in {REPORT_CURRENCY}"])
    append_xlsx_row(ledger, ASSUMPTION_HEADERS)
    for cell in ledger[2]:
        cell.font = Font(bold=True)
    for row in assumptions:
        append_xlsx_row(ledger, assumption_line(row))
    for section in context:
        append_xlsx_row(ledger, [])
        append_xlsx_row(ledger, [section.heading])
        ledger.cell(row=ledger.max_row, column=1).font = Font(bold=True)
        append_xlsx_row(ledger, section.headers)
        for cell in ledger[ledger.max_row]:
            cell.font = Font(bold=True)
        for line in section.rows:
            append_xlsx_row(ledger, line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
