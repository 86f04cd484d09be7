"""Rollup cells: recomputed (or, for new runs only, added to) per minute, merged into hours, days and the
fleet; always equal to a rebuild from raw runs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from monitoring.models import Invocation, RollupCell, Run
from monitoring.rollups import cells as rollups
from monitoring.rollups import sketch
from monitoring.rollups.models import Tier
from tests.factories import make_agent
from tests.monitoring.factories import make_run, rollup_cells

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _cell(tier: str, agent=None, bucket: datetime | None = None) -> RollupCell:
    qs = RollupCell.objects.filter(tier=tier, agent=agent)
    return qs.get(bucket=bucket) if bucket else qs.get()


def test_a_run_is_counted_in_its_minute_hour_and_dayrollup_cells():
    agent = make_agent()
    run = make_run(agent, started_at=NOW - timedelta(minutes=3, seconds=20), duration_ms=900,
                   cost=Decimal("0.0125"), input_tokens=300, output_tokens=40, quality_score=0.75)
    rollups.refresh_for_runs([run.id])

    minute = _cell(Tier.MINUTE, agent)
    assert minute.bucket == datetime(2026, 3, 10, 12, 26, tzinfo=UTC)
    assert (minute.runs, minute.errors, minute.cost, minute.input_tokens, minute.output_tokens) == (
        1, 0, Decimal("0.0125"), 300, 40)
    assert (minute.quality_sum, minute.quality_count) == (Decimal("0.75"), 1)
    assert _cell(Tier.HOUR, agent).bucket == datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert _cell(Tier.DAY, agent).bucket == datetime(2026, 3, 10, tzinfo=UTC)


def test_fleet_cells_add_up_all_agents():
    a, b = make_agent(), make_agent()
    runs = [make_run(a, started_at=NOW - timedelta(minutes=2)), make_run(b, started_at=NOW - timedelta(minutes=2),
                                                                         status="error")]
    rollups.refresh_for_runs([r.id for r in runs])
    fleet = _cell(Tier.HOUR, None)
    assert (fleet.runs, fleet.errors) == (2, 1)
    assert sketch.count(fleet.latency) == 2


def test_refreshing_the_same_runs_twice_does_not_double_count():
    agent = make_agent()
    runs = [make_run(agent, started_at=NOW - timedelta(minutes=i), status="error" if i % 3 == 0 else "ok")
            for i in range(1, 8)]
    ids = [r.id for r in runs]
    rollups.refresh_for_runs(ids)
    first = rollup_cells()
    rollups.refresh_for_runs(ids)
    assert rollup_cells() == first
    assert _cell(Tier.DAY, agent).runs == 7


def test_a_run_updated_by_a_later_batch_replaces_its_old_contribution():
    agent = make_agent()
    run = make_run(agent, started_at=NOW - timedelta(minutes=1), duration_ms=100)
    rollups.refresh_for_runs([run.id])
    # The rest of the trace arrives: the run failed and took longer.
    Run.objects.filter(pk=run.pk).update(status="error", error_type="TimeoutError", duration_ms=5000)
    Invocation.objects.filter(run=run).update(status="error", error_type="TimeoutError", duration_ms=5000)
    rollups.refresh_for_runs([run.id])
    hour = _cell(Tier.HOUR, agent)
    assert (hour.runs, hour.errors, hour.error_types) == (1, 1, {"TimeoutError": 1})
    assert sketch.quantile(hour.latency, 0.5) == pytest.approx(5000, rel=0.01)


def test_a_run_that_moves_leaves_its_oldrollup_cells():
    """A late root span starts the run an hour earlier and names another agent: counted once, where it is now."""
    first, second = make_agent(), make_agent()
    run = make_run(first, started_at=NOW - timedelta(minutes=5), duration_ms=100)
    rollups.refresh_for_runs([run.id])
    before = [(run.agent_id, run.started_at)]
    Run.objects.filter(pk=run.pk).update(agent=second, started_at=NOW - timedelta(minutes=65))
    Invocation.objects.filter(run=run).update(agent=second, started_at=NOW - timedelta(minutes=65))
    rollups.refresh_for_runs([run.id], previous=before, previous_invocations=before)
    old_minute = rollups.truncate(NOW - timedelta(minutes=5), Tier.MINUTE)
    assert _cell(Tier.MINUTE, first, old_minute).runs == 0
    assert _cell(Tier.HOUR, first, rollups.truncate(NOW, Tier.HOUR)).runs == 0
    assert _cell(Tier.DAY, first).runs == 0 and _cell(Tier.DAY, second).runs == 1
    new_hour = rollups.truncate(NOW - timedelta(minutes=65), Tier.HOUR)
    assert _cell(Tier.HOUR, second, new_hour).runs == 1
    assert sum(c.runs for c in RollupCell.objects.filter(tier=Tier.DAY, agent=None)) == 1  # the fleet too
    cells = rollup_cells()
    rollups.rebuild(NOW - timedelta(days=1), NOW)
    assert [c for c in rollup_cells() if c[3]] == [c for c in cells if c[3]]  # same non-empty cells as a rebuild


def test_incremental_refreshes_equal_a_rebuild_from_raw_runs():
    rng = random.Random(11)
    agents = [make_agent() for _ in range(3)]
    batches = []
    for _ in range(4):
        batch = [make_run(rng.choice(agents), started_at=NOW - timedelta(minutes=rng.randint(1, 3000)),
                          duration_ms=rng.lognormvariate(6, 1), status=rng.choice(["ok", "ok", "error"]),
                          cost=Decimal(rng.randint(1, 900)) / 10000, quality_score=rng.choice([None, 0.5, 0.9]))
                 for _ in range(15)]
        batches.append([r.id for r in batch])
    for ids in batches:
        rollups.refresh_for_runs(ids)
    incremental = rollup_cells()
    rollups.rebuild(NOW - timedelta(days=5), NOW)
    assert rollup_cells() == incremental


def test_runs_older_than_minute_retention_get_hour_and_day_cells_only():
    agent = make_agent()
    run = make_run(agent, started_at=NOW - timedelta(days=5))
    rollups.refresh_for_runs([run.id])
    assert not RollupCell.objects.filter(tier=Tier.MINUTE).exists()
    assert _cell(Tier.HOUR, agent).runs == 1
    assert _cell(Tier.DAY, agent).runs == 1


def test_rebuild_restores_cells_after_they_were_lost():
    agent = make_agent()
    runs = [make_run(agent, started_at=NOW - timedelta(hours=h)) for h in (1, 2, 30)]
    rollups.refresh_for_runs([r.id for r in runs])
    expected = rollup_cells()
    RollupCell.objects.all().delete()
    result = rollups.rebuild(NOW - timedelta(days=2), NOW)
    assert rollup_cells() == expected
    assert result.hour_cells == 3


def test_prune_drops_minute_cells_past_retention_and_keeps_hours():
    agent = make_agent()
    run = make_run(agent, started_at=NOW - timedelta(minutes=5))
    rollups.refresh_for_runs([run.id])
    deleted = rollups.prune(now=NOW + timedelta(days=3))
    assert deleted[Tier.MINUTE] == 2  # the agent's and the fleet's minute cell
    assert RollupCell.objects.filter(tier=Tier.HOUR).count() == 2


def test_refresh_of_no_runs_writes_nothing():
    rollups.refresh_for_runs([])
    rollups.refresh_for_runs([987654321])
    assert not RollupCell.objects.exists()


def test_rebuild_command_recomputes_the_range_and_reports_it():
    from io import StringIO

    from django.core.management import call_command

    agent = make_agent()
    make_run(agent, started_at=NOW - timedelta(hours=3))
    out = StringIO()
    call_command("rebuild_rollups", "--days", "1", stdout=out)
    assert _cell(Tier.HOUR, agent).runs == 1
    assert "1 hour" in out.getvalue()


def test_rebuild_command_rejects_a_bad_date():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="ISO date"):
        call_command("rebuild_rollups", "--from", "yesterday")


def test_rebuild_and_prune_replace_the_settled_generation():
    generation = rollups.settled_generation()
    rollups.rebuild(NOW - timedelta(days=1), NOW)
    assert rollups.settled_generation() != generation
    generation = rollups.settled_generation()
    assert rollups.prune() == {Tier.MINUTE: 0, Tier.HOUR: 0, "insight": 0}
    assert rollups.settled_generation() == generation  # nothing deleted, nothing to invalidate


def test_cells_added_to_by_new_runs_equal_a_rebuild_from_raw_runs():
    # Ingest declares the runs it created (new_ids): minute cells only they touch are
    # incremented instead of recomputed, which must give the same cells as a rebuild.
    rng = random.Random(12)
    agents = [make_agent() for _ in range(2)]
    for round_ in range(4):
        batch = [make_run(rng.choice(agents), started_at=NOW - timedelta(minutes=rng.randint(1, 4), seconds=round_),
                          duration_ms=rng.lognormvariate(6, 1), status=rng.choice(["ok", "error"]),
                          error_type=rng.choice(["", "Timeout", "RateLimit"]),
                          cost=Decimal(rng.randint(1, 900)) / 10000, quality_score=rng.choice([None, 0.5, 0.9]))
                 for _ in range(12)]
        ids = [r.id for r in batch]
        # some cells also hold older runs: recomputed
        rollups.refresh_for_runs(ids, new_ids=ids[: len(ids) // 2 + round_])
    incremental = rollup_cells()
    rollups.rebuild(NOW - timedelta(days=1), NOW)
    assert rollup_cells() == incremental and incremental


def _random_run(rng: random.Random, agents, started_at: datetime) -> Run:
    return make_run(rng.choice(agents), started_at=started_at, duration_ms=rng.lognormvariate(6, 1),
                    status=rng.choice(["ok", "ok", "error"]), error_type=rng.choice(["", "Timeout", "RateLimit"]),
                    cost=Decimal(rng.randint(1, 900)) / 10000, quality_score=rng.choice([None, 0.5, 0.9]))


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_new_runs_mixed_with_stored_runs_that_change_or_move_equal_a_rebuild(seed):
    """Minute cells only new runs touch are added to; around them, stored runs change or move, runs
    fall past minute retention (hour cells from runs) and on other days: every cell (agent and fleet,
    every tier) must stay exactly what a rebuild from raw runs gives."""
    rng = random.Random(seed)
    agents = [make_agent() for _ in range(3)]
    stored: list[Run] = []
    for _ in range(6):
        # Few distinct minutes, so new, changed and moved runs often share a cell.
        minutes = [1, 2, 3, 61, 62, 1500, 3000]
        new = [_random_run(rng, agents, NOW - timedelta(minutes=rng.choice(minutes), seconds=rng.randint(0, 59)))
               for _ in range(rng.randint(3, 12))]
        changed, previous = rng.sample(stored, min(len(stored), rng.randint(0, 3))), []
        for run in changed:
            previous.append((run.agent_id, run.started_at))
            run.agent, run.started_at = rng.choice(agents), run.started_at - timedelta(minutes=rng.choice([0, 1, 60]))
            run.status = "error"
            run.save(update_fields=["agent", "started_at", "status"])
        rollups.refresh_for_runs([r.id for r in new + changed], previous=previous, new_ids=[r.id for r in new])
        stored += new
    incremental = rollup_cells()
    rollups.rebuild(NOW - timedelta(days=5), NOW)
    assert [c for c in rollup_cells() if c[3]] == [c for c in incremental if c[3]] and incremental


def test_new_runs_in_an_hour_whose_cell_was_pruned_recompute_it_from_runs():
    """Past the hour tier's retention the cell is gone while its runs remain: a new run there must not
    leave a cell holding only itself."""
    agent = make_agent()
    old = NOW - timedelta(days=401)
    first = make_run(agent, started_at=old)
    rollups.refresh_for_runs([first.id])
    rollups.prune(now=NOW)
    assert not RollupCell.objects.filter(tier=Tier.HOUR).exists()
    second = make_run(agent, started_at=old + timedelta(minutes=1))
    rollups.refresh_for_runs([second.id], new_ids=[second.id])
    assert _cell(Tier.HOUR, agent).runs == 2 and _cell(Tier.HOUR).runs == 2
    assert _cell(Tier.DAY, agent).runs == 2
