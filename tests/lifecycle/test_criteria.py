"""Pure criteria logic: defaults, override resolution, evaluation of measured evidence."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

from lifecycle import criteria as c
from lifecycle import stages


def test_stage_ladder_next_previous_and_demotion_targets():
    assert stages.next_stage("pilot") == "integrate"
    assert stages.next_stage("optimize") is None
    assert stages.next_stage("retired") == "pilot"
    assert stages.previous_stage("scale") == "integrate"
    assert stages.previous_stage("pilot") is None
    assert stages.demotion_targets("scale") == ["pilot", "integrate", "retired"]
    assert stages.demotion_targets("retired") == []


def test_each_stage_asks_for_more_than_the_one_before():
    integrate, scale, optimize = (c.DEFAULTS[s] for s in ("integrate", "scale", "optimize"))
    assert integrate.min_runs < scale.min_runs < optimize.min_runs
    assert integrate.max_handoff_rate > scale.max_handoff_rate > optimize.max_handoff_rate
    assert not integrate.check_roi and scale.check_roi and optimize.check_roi


def test_resolve_takes_the_most_specific_value_and_none_inherits():
    stage_row = {"min_runs": 500, "max_handoff_rate": None}
    department = {"min_runs": 300, "check_roi": True}
    agent = {"min_runs": None, "max_handoff_rate": Decimal("50")}
    resolved = c.resolve("integrate", stage_row, department, agent)
    assert resolved.min_runs == 300
    assert resolved.max_handoff_rate == Decimal("50")
    assert resolved.check_roi is True
    assert resolved.window_days == c.DEFAULTS["integrate"].window_days


def _evidence(**kw) -> c.Evidence:
    base = dict(runs=500, slo_days=[c.DayCheck(date(2026, 3, d), 50, True) for d in range(1, 8)],
                slo_targets_set=True, tickets=10, reopened=0, open_alerts=0, experiment=None,
                roi_percent=Decimal("40"), payback_months=None, owner="Olivia")
    base.update(kw)
    return c.Evidence(**base)


def test_all_criteria_pass_with_a_passing_experiment_and_none_measured_fails():
    criteria = replace(c.DEFAULTS["integrate"], check_experiment=True)
    passing = c.ExperimentEvidence(None, "9 of 10 passed", "/evals/1/", Decimal("90"))
    results = c.evaluate(criteria, _evidence(experiment=passing))
    assert {r.key: r for r in results}["experiment"].passed is True
    assert c.all_met(results)
    results = c.evaluate(criteria, _evidence())
    assert {r.key: r for r in results}["experiment"].passed is False and not c.all_met(results)


def test_handoff_rate_is_tickets_per_run_and_blocks_above_its_ceiling():
    results = c.evaluate(c.DEFAULTS["integrate"], _evidence(runs=100, tickets=31))
    handoff = next(r for r in results if r.key == "handoff_rate")
    assert handoff.passed is False and "31 %" in handoff.measured


def test_reopen_rate_with_no_tickets_passes():
    results = c.evaluate(c.DEFAULTS["scale"], _evidence(tickets=0, reopened=0))
    assert next(r for r in results if r.key == "reopen_rate").passed is True


def test_roi_passes_on_either_leg():
    scale = c.DEFAULTS["scale"]
    assert next(r for r in c.evaluate(scale, _evidence(roi_percent=Decimal("-5"), payback_months=Decimal("10")))
                if r.key == "roi").passed
    assert not next(r for r in c.evaluate(scale, _evidence(roi_percent=Decimal("-5"), payback_months=None))
                    if r.key == "roi").passed


def test_slo_fails_without_targets_and_counts_met_days():
    crit = c.DEFAULTS["integrate"]  # 5 of 7
    days = [c.DayCheck(date(2026, 3, d), 50, d > 3, [] if d > 3 else ["p95"]) for d in range(1, 8)]
    slo = next(r for r in c.evaluate(crit, _evidence(slo_days=days)) if r.key == "slo")
    assert slo.passed is False and "met on 4 of 7 days" in slo.measured and "p95" in slo.measured
    no_targets = next(r for r in c.evaluate(crit, _evidence(slo_targets_set=False)) if r.key == "slo")
    assert no_targets.passed is False


def test_disabled_criteria_are_not_listed():
    results = c.evaluate(c.DEFAULTS["pilot"], _evidence(owner=""))
    assert [r.key for r in results] == ["owner"] and results[0].passed is False
