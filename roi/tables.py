"""The report table as shown: one builder feeds the page, the print view, the CSV and the XLSX.

Money is rounded to cents here and only here. Each row's money figures are rounded first and the
derived ones (total cost, net benefit) are computed from the rounded parts, and the total row sums
the rounded rows, so the table foots and cross-foots exactly on screen and in every export. Ratios
(automation rate, ROI %, unit costs, payback) are computed from the exact figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from .calculations import Report, RoiRow
from .models import REPORT_CURRENCY

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
UNIT_COST = Decimal("0.0001")  # a resolution by the agent can cost a fraction of a cent


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str  # text | int | money | unit_money | percent | tenth
    additive: bool = False
    key_figure: bool = False  # shown at every width; the others fold away on narrow screens

    @property
    def numeric(self) -> bool:
        return self.kind != "text"


C = REPORT_CURRENCY
# Key figures first (what finance reads), then the parts they are made of. Exports keep this order.
COLUMNS: list[Column] = [
    Column("label", "Group", "text", key_figure=True),
    Column("net_benefit", f"Net benefit ({C})", "money", True, key_figure=True),
    Column("roi_percent", "ROI %", "percent", key_figure=True),
    Column("payback_months", "Payback (months)", "tenth", key_figure=True),
    Column("total_cost", f"Total cost ({C})", "money", True, key_figure=True),
    Column("value", f"Value of time saved ({C})", "money", True, key_figure=True),
    Column("runs", "Runs", "int", True, key_figure=True),
    Column("automation_rate", "Automation rate %", "percent", key_figure=True),
    Column("automated", "Automated runs", "int", True),
    Column("handoffs", "Handoffs", "int", True),
    Column("human_minutes", "Human minutes", "tenth", True),
    Column("ai_cost", f"Model cost ({C})", "money", True),
    Column("other_cost", f"Other costs ({C})", "money", True),
    Column("handoff_cost", f"Handoff cost ({C})", "money", True),
    Column("net_low", f"Net benefit low ({C})", "money", True),
    Column("net_high", f"Net benefit high ({C})", "money", True),
    Column("cpr_agent", f"Cost per resolution, agent ({C})", "unit_money"),
    Column("cpr_person", f"Cost per resolution, person ({C})", "unit_money"),
]

# ROI % over a tiny cost base is arithmetic, not information (147,552 % for an agent that costs cents):
# below either floor the ratio is shown as "not meaningful" and net benefit carries the story.
ROI_MIN_COST_PER_MONTH = Decimal("10.00")  # USD of total cost per month of the period
ROI_MIN_COST_SHARE = Decimal("0.01")  # total cost below 1 % of the value of time saved
NOT_MEANINGFUL = "not meaningful"


def roi_not_meaningful(row: RoiRow) -> str | None:
    """Why ROI % is not meaningful for ``row`` (None when it is, or when there is no cost at all)."""
    cost = row.total_cost
    if cost <= 0:
        return None
    floor = (ROI_MIN_COST_PER_MONTH * row.period_months).quantize(CENT)
    if cost < floor:
        return f"total cost {_cents(cost):,} {C} is under {floor:,} {C} for the period"
    if row.value.base > 0 and cost < row.value.base * ROI_MIN_COST_SHARE:
        return f"total cost {_cents(cost):,} {C} is under 1 % of the value of time saved"
    return None


QUANTUM = {"money": CENT, "unit_money": UNIT_COST, "percent": TENTH, "tenth": TENTH}


def _round(value: Decimal | None, kind: str) -> Decimal | None:
    if value is None:
        return None
    return value.quantize(QUANTUM[kind], rounding=ROUND_HALF_EVEN)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def shown_figures(row: RoiRow) -> dict[str, object]:
    """A row's figures as displayed: money in cents, derived money from the rounded parts."""
    ai, handoff = _cents(row.ai_cost), _cents(row.handoff_cost)
    other = {s: _cents(row.other_cost.get(s)) for s in ("low", "base", "high")}
    value = {s: _cents(row.value.get(s)) for s in ("low", "base", "high")}
    return {
        "label": row.label,
        "runs": row.runs,
        "automated": row.automated,
        "handoffs": row.handoffs,
        "automation_rate": _round(row.automation_rate, "percent"),
        "human_minutes": _round(row.human_minutes, "tenth"),
        "ai_cost": ai,
        "other_cost": other["base"],
        "total_cost": ai + other["base"],
        "value": value["base"],
        "handoff_cost": handoff,
        "net_benefit": value["base"] - ai - other["base"],
        "net_low": value["low"] - ai - other["high"],
        "net_high": value["high"] - ai - other["low"],
        "roi_percent": _round(row.roi_percent, "percent"),
        "cpr_agent": _round(row.cost_per_resolution_agent, "unit_money"),
        "cpr_person": _round(row.cost_per_resolution_person, "unit_money"),
        "payback_months": _round(row.payback_months, "tenth"),
    }


def format_number(value: object, kind: str) -> str:
    """Screen text: thousands separators, a dash for "not applicable"."""
    if value is None:
        return "—"
    return str(value) if kind == "text" else f"{value:,}"


def plain_number(value: object) -> str:
    """Export text: no separators, '' for "not applicable", full stop as the decimal mark."""
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Cell:
    value: object
    text: str
    link: str | None = None
    note: str = ""  # why the figure is not shown (ROI % not meaningful)


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[Cell]]
    total: list[Cell]
    notes: list[str]

    @property
    def headers(self) -> list[str]:
        return [c.label for c in self.columns]

    @property
    def footnotes(self) -> list[str]:
        """Why a figure of a row is not shown, one line per row."""
        return [f"{row[0].text}: ROI % {NOT_MEANINGFUL}, {cell.note}." for row in self.rows + [self.total]
                for cell in row if cell.note]

    def position(self, key: str) -> int:
        """The index of column ``key`` in every row."""
        return next(i for i, c in enumerate(self.columns) if c.key == key)

    def totals_by_key(self) -> dict[str, object]:
        return {column.key: cell.value for column, cell in zip(self.columns, self.total, strict=True)}

    def plain_rows(self, include_total: bool = True) -> list[list[str]]:
        rows = self.rows + ([self.total] if include_total else [])
        return [[plain_number(cell.value) for cell in row] for row in rows]


LinkFor = Callable[[RoiRow, str], str | None]


def _cell(row: RoiRow, column: Column, value: object, link: str | None) -> Cell:
    if column.key == "roi_percent":
        why = roi_not_meaningful(row)
        if why:
            return Cell(None, NOT_MEANINGFUL, None, why)
    return Cell(value, format_number(value, column.kind), link)


def build_table(report: Report, link_for: LinkFor | None = None) -> Table:
    body: list[list[Cell]] = []
    shown_rows: list[dict[str, object]] = []
    for row in report.rows:
        shown = shown_figures(row)
        shown_rows.append(shown)
        body.append([_cell(row, c, shown[c.key], link_for(row, c.key) if link_for else None) for c in COLUMNS])
    exact_total = shown_figures(report.total)
    total_cells = []
    for c in COLUMNS:
        if c.additive:
            value = sum((r[c.key] for r in shown_rows), Decimal(0) if c.kind != "int" else 0)
        else:
            value = exact_total[c.key]
        total_cells.append(_cell(report.total, c, value,
                                 link_for(report.total, c.key) if link_for and c.key != "label" else None))
    notes = sorted({note for row in report.rows for note in row.notes})
    return Table(COLUMNS, body, total_cells, notes)
