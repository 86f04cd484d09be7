"""Stage criteria: defaults, override resolution and evaluation against measured evidence (pure, no ORM).

A stage's criteria are the gate for *entering* it: promoting a Pilot agent checks Integrate's
criteria, and the watch checks that a Scale agent still meets Scale's. Values resolve from the
most specific setting that has one: the agent's override, then its department's, then the stage's
row (edited by operations), then the defaults below. ``None`` in an override means "inherit".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from decimal import Decimal

from .stages import INTEGRATE, OPTIMIZE, PILOT, SCALE

# Criterion keys, in the order pages list them.
RUNS, SLO, HANDOFF, REOPEN, ALERTS, EXPERIMENT, ROI, OWNER = (
    "runs", "slo", "handoff_rate", "reopen_rate", "alerts", "experiment", "roi", "owner",
)
KEYS: tuple[str, ...] = (RUNS, SLO, HANDOFF, REOPEN, ALERTS, EXPERIMENT, ROI, OWNER)
CRITERION_LABELS: dict[str, str] = {
    RUNS: "Runs in the window",
    SLO: "SLOs met on enough days",
    HANDOFF: "Handoff rate",
    REOPEN: "Reopen rate of its tickets",
    ALERTS: "No open alerts",
    EXPERIMENT: "Passing experiment for the active prompt",
    ROI: "ROI or payback",
    OWNER: "Named owner",
}
# The values each criterion reads (besides its check_<key> switch).
VALUE_FIELDS: dict[str, tuple[str, ...]] = {
    RUNS: ("min_runs", "window_days"),
    SLO: ("slo_days_required", "slo_days_window"),
    HANDOFF: ("max_handoff_rate",),
    REOPEN: ("max_reopen_rate",),
    ALERTS: (),
    EXPERIMENT: ("min_experiment_pass_rate",),
    ROI: ("min_roi_percent", "max_payback_months"),
    OWNER: (),
}


@dataclass(frozen=True)
class Criteria:
    """The resolved criteria of one stage for one agent: every value set, switches on or off."""

    check_runs: bool = True
    min_runs: int = 100
    window_days: int = 14
    check_slo: bool = True
    slo_days_required: int = 5
    slo_days_window: int = 7
    check_handoff_rate: bool = True
    max_handoff_rate: Decimal = Decimal("30")
    check_reopen_rate: bool = True
    max_reopen_rate: Decimal = Decimal("10")
    check_alerts: bool = True
    check_experiment: bool = True
    min_experiment_pass_rate: Decimal = Decimal("80")
    check_roi: bool = False
    min_roi_percent: Decimal | None = Decimal("0")
    max_payback_months: Decimal | None = Decimal("12")
    check_owner: bool = True

    def enabled(self, key: str) -> bool:
        return bool(getattr(self, f"check_{key}"))

    def as_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Criteria))

# Sensible defaults per stage: each rung asks for more volume, steadier SLOs and fewer handoffs.
DEFAULTS: dict[str, Criteria] = {
    # Entering Pilot (a reinstated agent): someone must own it; no evidence can exist yet.
    PILOT: Criteria(check_runs=False, check_slo=False, check_handoff_rate=False, check_reopen_rate=False,
                    check_alerts=False, check_experiment=False, check_roi=False, check_owner=True),
    INTEGRATE: Criteria(min_runs=200, window_days=14, slo_days_required=5, slo_days_window=7,
                        max_handoff_rate=Decimal("30"), max_reopen_rate=Decimal("10"), check_roi=False),
    SCALE: Criteria(min_runs=1000, window_days=14, slo_days_required=12, slo_days_window=14,
                    max_handoff_rate=Decimal("15"), max_reopen_rate=Decimal("5"), check_roi=True,
                    min_roi_percent=Decimal("0"), max_payback_months=Decimal("12")),
    OPTIMIZE: Criteria(min_runs=3000, window_days=30, slo_days_required=26, slo_days_window=30,
                       max_handoff_rate=Decimal("10"), max_reopen_rate=Decimal("5"), check_roi=True,
                       min_roi_percent=Decimal("50"), max_payback_months=Decimal("6")),
}


def resolve(stage: str, *layers: dict) -> Criteria:
    """The defaults of ``stage`` overlaid by ``layers`` (least to most specific): a layer's non-None
    values win. A layer is a mapping of field name to value, e.g. a StageCriteria row's values."""
    values = {}
    for layer in layers:
        values.update({k: v for k, v in layer.items() if k in FIELD_NAMES and v is not None})
    return replace(DEFAULTS[stage], **values)


# ---------------------------------------------------------------------------------------------
# Evidence and results


@dataclass
class DayCheck:
    """SLOs on one complete UTC day, from that day's rollup cell."""

    day: date
    runs: int
    met: bool
    breaches: list[str] = field(default_factory=list)


@dataclass
class ExperimentEvidence:
    """What the experiments source says about the active prompt version. With a ``pass_rate`` (%) the
    criterion compares it with its threshold; without one, ``passed`` is the source's own verdict."""

    passed: bool | None
    summary: str
    url: str = ""
    pass_rate: Decimal | None = None


@dataclass
class Evidence:
    """Everything measured for one agent over its criteria windows."""

    runs: int = 0
    slo_days: list[DayCheck] = field(default_factory=list)
    slo_targets_set: bool = False
    tickets: int = 0
    reopened: int = 0
    open_alerts: int = 0
    experiment: ExperimentEvidence | None = None  # None: not measured (the criterion is off)
    roi_percent: Decimal | None = None
    payback_months: Decimal | None = None
    roi_note: str = ""
    owner: str = ""

    @property
    def handoff_rate(self) -> Decimal | None:
        return (Decimal(self.tickets) * 100 / self.runs).quantize(Decimal("0.1")) if self.runs else None

    @property
    def reopen_rate(self) -> Decimal | None:
        return (Decimal(self.reopened) * 100 / self.tickets).quantize(Decimal("0.1")) if self.tickets else None

    @property
    def slo_days_met(self) -> int:
        return sum(1 for d in self.slo_days if d.met)


@dataclass
class Result:
    key: str
    label: str
    target: str
    measured: str
    passed: bool | None  # None: not available (kept for stage events recorded with such a result)
    evidence_url: str = ""

    @property
    def status(self) -> str:
        return "n/a" if self.passed is None else ("pass" if self.passed else "fail")

    def as_json(self) -> dict:
        return {"key": self.key, "label": self.label, "target": self.target, "measured": self.measured,
                "passed": self.passed}


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value.normalize():f} %"


def _num(value: Decimal | None) -> str:
    return "—" if value is None else f"{value.quantize(Decimal('0.1')).normalize():f}"


def evaluate(criteria: Criteria, evidence: Evidence) -> list[Result]:
    """One result per enabled criterion, in ``KEYS`` order."""
    results = []
    for key in KEYS:
        if criteria.enabled(key):
            results.append(_EVALUATORS[key](criteria, evidence))
    return results


def _runs(c: Criteria, e: Evidence) -> Result:
    return Result(RUNS, CRITERION_LABELS[RUNS], f"≥ {c.min_runs:,} runs in {c.window_days} days",
                  f"{e.runs:,} runs", e.runs >= c.min_runs)


def _slo(c: Criteria, e: Evidence) -> Result:
    target = f"met on ≥ {c.slo_days_required} of the last {c.slo_days_window} days"
    if not e.slo_targets_set:
        return Result(SLO, CRITERION_LABELS[SLO], target, "no SLO targets set on the agent", False)
    failing = sorted({b for d in e.slo_days for b in d.breaches})
    measured = f"met on {e.slo_days_met} of {c.slo_days_window} days"
    if failing:
        measured += f" (missed: {', '.join(failing)})"
    return Result(SLO, CRITERION_LABELS[SLO], target, measured, e.slo_days_met >= c.slo_days_required)


def _handoff(c: Criteria, e: Evidence) -> Result:
    rate = e.handoff_rate
    measured = "no runs" if rate is None else f"{_pct(rate)} ({e.tickets:,} tickets / {e.runs:,} runs)"
    return Result(HANDOFF, CRITERION_LABELS[HANDOFF], f"≤ {_pct(c.max_handoff_rate)}", measured,
                  rate is not None and rate <= c.max_handoff_rate)


def _reopen(c: Criteria, e: Evidence) -> Result:
    rate = e.reopen_rate
    if rate is None:
        # No tickets at all: nothing was reopened, which meets any ceiling.
        return Result(REOPEN, CRITERION_LABELS[REOPEN], f"≤ {_pct(c.max_reopen_rate)}", "no tickets", True)
    return Result(REOPEN, CRITERION_LABELS[REOPEN], f"≤ {_pct(c.max_reopen_rate)}",
                  f"{_pct(rate)} ({e.reopened:,} of {e.tickets:,} tickets)", rate <= c.max_reopen_rate)


def _alerts(c: Criteria, e: Evidence) -> Result:
    return Result(ALERTS, CRITERION_LABELS[ALERTS], "none open", f"{e.open_alerts} open", e.open_alerts == 0)


def _experiment(c: Criteria, e: Evidence) -> Result:
    target = f"pass rate ≥ {_pct(c.min_experiment_pass_rate)}"
    if e.experiment is None:
        return Result(EXPERIMENT, CRITERION_LABELS[EXPERIMENT], target, "no experiment measured", False)
    rate = e.experiment.pass_rate
    passed = rate >= c.min_experiment_pass_rate if rate is not None else bool(e.experiment.passed)
    return Result(EXPERIMENT, CRITERION_LABELS[EXPERIMENT], target, e.experiment.summary, passed, e.experiment.url)


def _roi(c: Criteria, e: Evidence) -> Result:
    legs = []
    if c.min_roi_percent is not None:
        legs.append(f"ROI ≥ {_pct(c.min_roi_percent)}")
    if c.max_payback_months is not None:
        legs.append(f"payback ≤ {_num(c.max_payback_months)} months")
    roi_ok = c.min_roi_percent is not None and e.roi_percent is not None and e.roi_percent >= c.min_roi_percent
    payback_ok = (c.max_payback_months is not None and e.payback_months is not None
                  and e.payback_months <= c.max_payback_months)
    measured = f"ROI {_pct(e.roi_percent.quantize(Decimal('0.1')) if e.roi_percent is not None else None)}"
    measured += f", payback {_num(e.payback_months)} months" if e.payback_months is not None else ", no payback"
    if e.roi_note:
        measured += f" ({e.roi_note})"
    return Result(ROI, CRITERION_LABELS[ROI], " or ".join(legs) or "—", measured, roi_ok or payback_ok)


def _owner(c: Criteria, e: Evidence) -> Result:
    return Result(OWNER, CRITERION_LABELS[OWNER], "an owner is named", e.owner or "no owner", bool(e.owner))


_EVALUATORS = {RUNS: _runs, SLO: _slo, HANDOFF: _handoff, REOPEN: _reopen, ALERTS: _alerts,
               EXPERIMENT: _experiment, ROI: _roi, OWNER: _owner}


def failing(results: list[Result]) -> list[Result]:
    """Results that block: failed ones (not-available ones never block)."""
    return [r for r in results if r.passed is False]


def all_met(results: list[Result]) -> bool:
    return not failing(results)
