"""ROI arithmetic: pure Decimal functions, no ORM (every formula is documented in docs/roi.md).

Inputs are plain dataclasses built by ``roi.queries``: per agent and UTC day, the run counts, the
model cost from telemetry and the human handling time of tickets resolved that day; and the
assumption ledger. Money is computed in the report currency (USD). Each money amount that needs a
division (minutes to hours, a monthly cost prorated by days) is rounded once, half-even, to
``MONEY_QUANTUM`` (the precision of run costs); sums are exact. Rounding to cents happens only
for display (``roi.tables``).
"""

from __future__ import annotations

import bisect
import calendar
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from .models import REPORT_CURRENCY, AssumptionKind

ZERO = Decimal("0")
MONEY_QUANTUM = Decimal("0.000001")
SCENARIOS = ("low", "base", "high")
# The average month (365.25 / 12 days), used only to express a custom period in months for payback.
AVERAGE_MONTH_DAYS = Decimal("30.4375")


def quantize_money(amount: Decimal) -> Decimal:
    return amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def iter_days(start: date, end: date) -> Iterator[date]:
    """Days in [start, end)."""
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


# --- the ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assumption:
    id: int
    kind: str
    low: Decimal
    base: Decimal
    high: Decimal
    effective_from: date
    agent_id: int | None = None
    department_id: int | None = None
    currency: str = ""

    def value(self, scenario: str) -> Decimal:
        return getattr(self, scenario)


class MissingExchangeRate(Exception):
    """A money assumption is in a currency with no exchange rate in force: refuse rather than guess."""

    def __init__(self, currency: str, day: date):
        self.currency, self.day = currency, day
        super().__init__(
            f"No {currency} → {REPORT_CURRENCY} exchange rate is in force on {day:%Y-%m-%d}. "
            f"Add one in the assumptions ledger; amounts in different currencies are never added unconverted."
        )


class Ledger:
    """Effective-dated lookup: the row of a series in force on a day (latest from-date, then latest id)."""

    def __init__(self, rows: Iterable[Assumption]):
        series: dict[tuple, list[Assumption]] = defaultdict(list)
        for row in rows:
            series[self._key(row.kind, row.agent_id, row.department_id, row.currency)].append(row)
        self._series = {k: sorted(v, key=lambda r: (r.effective_from, r.id)) for k, v in series.items()}
        self._dates = {k: [r.effective_from for r in v] for k, v in self._series.items()}

    @staticmethod
    def _key(kind: str, agent_id: int | None, department_id: int | None, currency: str) -> tuple:
        return (kind, agent_id, department_id, currency if kind == AssumptionKind.FX_RATE else "")

    def in_force(self, kind: str, day: date, *, agent_id: int | None = None,
                 department_id: int | None = None, currency: str = "") -> Assumption | None:
        key = self._key(kind, agent_id, department_id, currency)
        rows = self._series.get(key)
        if not rows:
            return None
        index = bisect.bisect_right(self._dates[key], day)
        return rows[index - 1] if index else None

    def recapture(self, department_id: int | None, day: date) -> Assumption | None:
        """A department's own recapture factor, else the company-wide one."""
        own = self.in_force(AssumptionKind.RECAPTURE, day, department_id=department_id) if department_id else None
        return own or self.in_force(AssumptionKind.RECAPTURE, day)

    def fx(self, currency: str, day: date) -> Assumption | None:
        """Rate to the report currency; None means no conversion is needed (already USD)."""
        if currency in ("", REPORT_CURRENCY):
            return None
        rate = self.in_force(AssumptionKind.FX_RATE, day, currency=currency)
        if rate is None:
            raise MissingExchangeRate(currency, day)
        return rate

    def series_of_kind(self, kind: str) -> list[tuple[int | None, int | None]]:
        """(agent_id, department_id) of every series of ``kind``."""
        return [(k[1], k[2]) for k in self._series if k[0] == kind]


def fx_factor(rate: Assumption | None) -> Decimal:
    # Exchange rates are facts of the day, not estimates: the base value is used in every scenario.
    return Decimal(1) if rate is None else rate.base


# --- inputs and rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentInfo:
    id: int
    name: str
    slug: str
    department_id: int | None
    department_name: str


@dataclass(frozen=True)
class AgentDay:
    """One agent's activity on one UTC day (runs by start day, tickets by resolution day)."""

    agent_id: int
    day: date
    runs: int = 0
    automated: int = 0
    handoffs: int = 0
    ai_cost: Decimal = ZERO
    resolved_tickets: int = 0
    human_seconds: Decimal = ZERO


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive
    label: str
    months: Decimal  # the length in months (whole calendar months are counted exactly)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


@dataclass(frozen=True)
class Range:
    low: Decimal = ZERO
    base: Decimal = ZERO
    high: Decimal = ZERO

    def __add__(self, other: Range) -> Range:
        return Range(self.low + other.low, self.base + other.base, self.high + other.high)

    def get(self, scenario: str) -> Decimal:
        return getattr(self, scenario)


@dataclass
class RoiRow:
    """Additive figures for one group and period; ratios are derived properties."""

    key: tuple
    label: str
    agent_ids: frozenset[int] = frozenset()
    runs: int = 0
    automated: int = 0
    handoffs: int = 0
    resolved_tickets: int = 0
    human_seconds: Decimal = ZERO
    ai_cost: Decimal = ZERO
    other_cost: Range = field(default_factory=Range)
    value: Range = field(default_factory=Range)
    handoff_cost: Decimal = ZERO
    one_off_cost: Decimal = ZERO
    period_months: Decimal = Decimal(1)
    notes: set[str] = field(default_factory=set)

    def absorb(self, other: RoiRow) -> None:
        self.agent_ids = self.agent_ids | other.agent_ids
        self.runs += other.runs
        self.automated += other.automated
        self.handoffs += other.handoffs
        self.resolved_tickets += other.resolved_tickets
        self.human_seconds += other.human_seconds
        self.ai_cost += other.ai_cost
        self.other_cost += other.other_cost
        self.value += other.value
        self.handoff_cost += other.handoff_cost
        self.one_off_cost += other.one_off_cost
        self.notes |= other.notes

    @property
    def human_minutes(self) -> Decimal:
        return self.human_seconds / 60

    @property
    def automation_rate(self) -> Decimal | None:
        """Automated runs as a percentage of all runs."""
        return Decimal(self.automated) * 100 / self.runs if self.runs else None

    @property
    def total_cost(self) -> Decimal:
        """What the agents cost in the period: model cost plus other costs (base)."""
        return self.ai_cost + self.other_cost.base

    @property
    def net_benefit(self) -> Range:
        """Value minus cost; the low case pairs low value with high other costs, and vice versa."""
        return Range(
            low=self.value.low - self.ai_cost - self.other_cost.high,
            base=self.value.base - self.ai_cost - self.other_cost.base,
            high=self.value.high - self.ai_cost - self.other_cost.low,
        )

    @property
    def roi_percent(self) -> Decimal | None:
        return self.net_benefit.base * 100 / self.total_cost if self.total_cost else None

    @property
    def cost_per_resolution_agent(self) -> Decimal | None:
        return self.total_cost / self.automated if self.automated else None

    @property
    def cost_per_resolution_person(self) -> Decimal | None:
        return self.handoff_cost / self.resolved_tickets if self.resolved_tickets else None

    @property
    def payback_months(self) -> Decimal | None:
        """Months of this period's net benefit needed to recover the one-off cost; None if it never does."""
        net = self.net_benefit.base
        if self.one_off_cost <= 0 or net <= 0:
            return None
        return self.one_off_cost * self.period_months / net


# --- the computation ------------------------------------------------------------------------------


GROUPINGS = ("agent", "department", "company")


def group_key(grouping: str, agent: AgentInfo) -> tuple[tuple, str]:
    if grouping == "agent":
        return ("agent", agent.id), agent.name
    if grouping == "department":
        return ("department", agent.department_id), agent.department_name or "No department"
    return ("company", None), "Whole company"


def scope_key(grouping: str, agent_id: int | None, department_id: int | None,
              agents: dict[int, AgentInfo], department_names: dict[int, str]) -> tuple[tuple, str]:
    """Where a cost set on an agent or a department lands in a grouping.

    Department-level costs cannot be split between agents without an arbitrary key, so in the
    agent grouping they get their own "department costs" row; totals are the same in every grouping.
    """
    if agent_id is not None:
        return group_key(grouping, agents[agent_id])
    if grouping == "agent":
        return ("department_costs", department_id), f"{department_names.get(department_id, '?')} — department costs"
    if grouping == "department":
        return ("department", department_id), department_names.get(department_id, "No department")
    return ("company", None), "Whole company"


@dataclass
class Report:
    period: Period
    grouping: str
    rows: list[RoiRow]
    total: RoiRow
    assumption_ids: set[int]


class _Builder:
    """Accumulates one period's rows; records every assumption row it used."""

    def __init__(self, period: Period, grouping: str, agents: dict[int, AgentInfo],
                 department_names: dict[int, str], ledger: Ledger):
        self.period, self.grouping, self.agents, self.ledger = period, grouping, agents, ledger
        self.department_names = department_names
        self.rows: dict[tuple, RoiRow] = {}
        self.used: set[int] = set()

    def row(self, key: tuple, label: str) -> RoiRow:
        if key not in self.rows:
            self.rows[key] = RoiRow(key=key, label=label, period_months=self.period.months)
        return self.rows[key]

    def use(self, *rows: Assumption | None) -> None:
        self.used.update(r.id for r in rows if r is not None)

    def add_activity(self, days: Iterable[AgentDay]) -> None:
        # Value and handoff cost depend on the assumptions in force on each day: group the days by
        # the exact set of rows in force, then do one multiplication (and one rounding) per segment.
        segments: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        for item in days:
            if not (self.period.start <= item.day < self.period.end):
                continue
            agent = self.agents[item.agent_id]
            key, label = group_key(self.grouping, agent)
            row = self.row(key, label)
            row.agent_ids = row.agent_ids | {agent.id}
            row.runs += item.runs
            row.automated += item.automated
            row.handoffs += item.handoffs
            row.ai_cost += item.ai_cost
            row.resolved_tickets += item.resolved_tickets
            row.human_seconds += item.human_seconds
            hourly, baseline, recapture, fx = self._labour_assumptions(agent, item.day, row)
            acc = segments[(key, hourly, baseline, recapture, fx)]
            acc[0] += item.automated
            acc[1] += item.human_seconds
        for (key, hourly, baseline, recapture, fx), (automated, human_seconds) in segments.items():
            self.rows[key].value += time_saved_value(automated, baseline, hourly, recapture, fx)
            self.rows[key].handoff_cost += handoff_cost(human_seconds, hourly, fx)

    def _labour_assumptions(self, agent: AgentInfo, day: date, row: RoiRow) -> tuple[
        Assumption | None, Assumption | None, Assumption | None, Assumption | None
    ]:
        """Hourly cost, baseline, recapture and the hourly cost's exchange rate in force on ``day``."""
        ledger = self.ledger
        hourly = ledger.in_force(AssumptionKind.HOURLY_COST, day, department_id=agent.department_id)
        baseline = ledger.in_force(AssumptionKind.BASELINE_MINUTES, day, agent_id=agent.id)
        recapture = ledger.recapture(agent.department_id, day)
        fx = ledger.fx(hourly.currency, day) if hourly else None
        if hourly is None:
            row.notes.add(f"No hourly labour cost for {agent.department_name or 'agents without a department'}")
        if baseline is None:
            row.notes.add(f"No baseline minutes for {agent.name}")
        if recapture is None:
            row.notes.add("No recapture factor")
        self.use(hourly, baseline, recapture, fx)
        return hourly, baseline, recapture, fx

    def add_other_costs(self) -> None:
        for agent_id, department_id in self.ledger.series_of_kind(AssumptionKind.OTHER_COST):
            if agent_id is not None and agent_id not in self.agents:
                continue
            key, label = scope_key(self.grouping, agent_id, department_id, self.agents, self.department_names)
            cost = prorated_monthly_cost(self.ledger, self.period, agent_id, department_id, self.used)
            if cost != Range():
                row = self.row(key, label)
                row.other_cost += cost

    def add_one_off_costs(self) -> None:
        day = self.period.last_day
        for agent_id, department_id in self.ledger.series_of_kind(AssumptionKind.ONE_OFF_COST):
            if agent_id is not None and agent_id not in self.agents:
                continue
            one_off = self.ledger.in_force(AssumptionKind.ONE_OFF_COST, day, agent_id=agent_id,
                                           department_id=department_id)
            if one_off is None or one_off.base == 0:
                continue
            fx = self.ledger.fx(one_off.currency, one_off.effective_from)
            key, label = scope_key(self.grouping, agent_id, department_id, self.agents, self.department_names)
            self.row(key, label).one_off_cost += quantize_money(one_off.base * fx_factor(fx))
            self.use(one_off, fx)


def time_saved_value(automated: int | Decimal, baseline: Assumption | None, hourly: Assumption | None,
                     recapture: Assumption | None, fx: Assumption | None) -> Range:
    """automated runs x baseline minutes / 60 x hourly cost (in USD) x recapture factor, per scenario."""
    if not automated or baseline is None or hourly is None or recapture is None:
        return Range()
    rate = fx_factor(fx)
    values = {
        s: quantize_money(Decimal(automated) * baseline.value(s) * hourly.value(s) * rate * recapture.value(s) / 60)
        for s in SCENARIOS
    }
    return Range(**values)


def handoff_cost(human_seconds: Decimal, hourly: Assumption | None, fx: Assumption | None) -> Decimal:
    """Human handling seconds / 3600 x hourly cost (base, in USD): what the handoffs cost in people's time."""
    if not human_seconds or hourly is None:
        return ZERO
    return quantize_money(human_seconds * hourly.base * fx_factor(fx) / 3600)


def prorated_monthly_cost(ledger: Ledger, period: Period, agent_id: int | None, department_id: int | None,
                          used: set[int] | None = None) -> Range:
    """A monthly cost accrued per day: amount x days in force in the period / days in that month.

    Days are grouped by (cost row, exchange-rate row, month) so each piece is one multiplication and
    one rounding; a whole month with no change accrues exactly the monthly amount.
    """
    pieces: dict[tuple, int] = defaultdict(int)
    rows: dict[int, Assumption] = {}
    for day in iter_days(period.start, period.end):
        cost = ledger.in_force(AssumptionKind.OTHER_COST, day, agent_id=agent_id, department_id=department_id)
        if cost is None:
            continue
        fx = ledger.fx(cost.currency, day)
        rows[cost.id] = cost
        if fx is not None:
            rows[fx.id] = fx
        pieces[(cost.id, fx.id if fx else None, day.year, day.month)] += 1
    total = Range()
    for (cost_id, fx_id, year, month), days in pieces.items():
        cost, fx = rows[cost_id], rows.get(fx_id) if fx_id else None
        dim = days_in_month(date(year, month, 1))
        rate = fx_factor(fx)
        total += Range(**{s: quantize_money(cost.value(s) * rate * days / dim) for s in SCENARIOS})
        if used is not None:
            used.add(cost_id)
            if fx_id:
                used.add(fx_id)
    return total


def compute_report(period: Period, grouping: str, activity: Iterable[AgentDay], agents: dict[int, AgentInfo],
                   department_names: dict[int, str], ledger: Ledger) -> Report:
    """Rows for ``grouping`` over ``period`` plus a total that is their exact sum.

    Raises MissingExchangeRate when a money assumption in force has no conversion to USD.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"Unknown grouping {grouping!r}")
    builder = _Builder(period, grouping, agents, department_names, ledger)
    builder.add_activity(activity)
    builder.add_other_costs()
    builder.add_one_off_costs()
    rows = sorted(builder.rows.values(), key=lambda r: (r.key[0] == "department_costs", r.label.lower()))
    total = RoiRow(key=("total", None), label="Total", period_months=period.months)
    for row in rows:
        total.absorb(row)
    return Report(period=period, grouping=grouping, rows=rows, total=total, assumption_ids=builder.used)


# --- periods --------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    return Period(start, add_months(start, 1), f"{start:%B %Y}", Decimal(1))


def quarter_period(year: int, quarter: int) -> Period:
    start = date(year, 3 * (quarter - 1) + 1, 1)
    return Period(start, add_months(start, 3), f"Q{quarter} {year}", Decimal(3))


def year_period(year: int) -> Period:
    return Period(date(year, 1, 1), date(year + 1, 1, 1), str(year), Decimal(12))


def custom_period(start: date, end_inclusive: date) -> Period:
    end = end_inclusive + timedelta(days=1)
    whole_months = start.day == 1 and end.day == 1
    months = (
        Decimal((end.year - start.year) * 12 + end.month - start.month)
        if whole_months
        else Decimal((end - start).days) / AVERAGE_MONTH_DAYS
    )
    return Period(start, end, f"{start:%d %b %Y} – {end_inclusive:%d %b %Y}", months)


def previous_period(period: Period) -> Period:
    """The period of the same length just before (calendar-aligned for whole months)."""
    if period.start.day == 1 and period.end.day == 1 and period.months == period.months.to_integral_value():
        months = int(period.months)
        start = add_months(period.start, -months)
        return _relabel(Period(start, period.start, "", period.months))
    length = period.end - period.start
    return _relabel(Period(period.start - length, period.start, "", period.months))


def year_earlier(period: Period) -> Period:
    return _relabel(Period(_shift_year(period.start), _shift_year(period.end), "", period.months))


def _shift_year(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _relabel(period: Period) -> Period:
    start, end = period.start, period.end
    if start.day == 1 and end.day == 1:
        months = (end.year - start.year) * 12 + end.month - start.month
        if months == 1:
            label = f"{start:%B %Y}"
        elif months == 3 and start.month % 3 == 1:
            label = f"Q{(start.month - 1) // 3 + 1} {start.year}"
        elif months == 12 and start.month == 1:
            label = str(start.year)
        else:
            label = f"{start:%b %Y} – {period.last_day:%b %Y}"
    else:
        label = f"{start:%d %b %Y} – {period.last_day:%d %b %Y}"
    return Period(start, end, label, period.months)


def trailing_months(period: Period, count: int = 12) -> list[Period]:
    """The ``count`` calendar months ending with the month of the period's last day."""
    last = period.last_day.replace(day=1)
    return [month_period(d.year, d.month) for d in (add_months(last, -i) for i in range(count - 1, -1, -1))]
