"""Dashboard selectors: time ranges, tier choice, summaries from rollups, SLO status, waterfall."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from monitoring import timerange
from monitoring.dashboards import queries
from monitoring.rollups import cells as rollups
from monitoring.rollups import queries as rollup_queries
from monitoring.rollups import sketch
from monitoring.rollups.models import Tier
from tests.factories import make_agent
from tests.monitoring.factories import make_run

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.parametrize("key, tier", [("15m", Tier.MINUTE), ("1h", Tier.MINUTE), ("24h", Tier.HOUR),
                                       ("7d", Tier.DAY), ("30d", Tier.DAY)])
def test_aggregates_use_few_cells(key, tier):
    assert rollup_queries.aggregate_tier(timerange.parse_range({"range": key}, now=NOW), now=NOW) == tier


def test_old_short_ranges_fall_back_to_hours_once_minutes_are_pruned():
    old = timerange.TimeRange("custom", NOW - timedelta(days=5), NOW - timedelta(days=5) + timedelta(minutes=30))
    assert rollup_queries.aggregate_tier(old, now=NOW) == Tier.HOUR


@pytest.mark.django_db
def test_summary_percentiles_from_rollups_match_exact_percentiles_within_one_percent(frozen):
    rng = random.Random(5)
    agent = make_agent()
    durations = [rng.lognormvariate(7.5, 0.9) for _ in range(400)]
    runs = [make_run(agent, started_at=NOW - timedelta(minutes=rng.randint(1, 1400)), duration_ms=d, steps=[])
            for d in durations]
    rollups.refresh_for_runs([r.id for r in runs])
    current, _ = rollup_queries.summaries(timerange.parse_range({"range": "24h"}, now=NOW), [agent.id], now=NOW)
    summary = current[agent.id]
    assert summary.runs == 400
    for q, estimate in zip((0.5, 0.95, 0.99), summary.percentiles, strict=True):
        exact = sketch.exact_quantile(durations, q)
        assert abs(estimate - exact) / exact <= 0.01


@pytest.mark.django_db
def test_summaries_split_the_current_and_previous_period(frozen):
    agent = make_agent()
    runs = [make_run(agent, started_at=NOW - timedelta(minutes=10), steps=[]),
            make_run(agent, started_at=NOW - timedelta(minutes=50), steps=[], status="error")]
    rollups.refresh_for_runs([r.id for r in runs])
    current, previous = rollup_queries.summaries(timerange.parse_range({"range": "15m"}, now=NOW), [agent.id], now=NOW)
    assert current[agent.id].runs == 1
    assert agent.id not in previous  # the error run is older than the previous 15 minutes


def _summary(runs=100, errors=0, p95_ms=1000.0, cost="1", quality=None) -> rollup_queries.Summary:
    s = rollup_queries.Summary(runs=runs, errors=errors, cost=Decimal(cost), latency=sketch.from_values([p95_ms] * runs))
    if quality is not None:
        s.quality_sum, s.quality_count = Decimal(str(quality)) * runs, runs
    return s


@pytest.mark.django_db
@pytest.mark.parametrize("summary_kw, expected", [
    ({}, queries.SLO_MET),
    ({"p95_ms": 3800}, queries.SLO_AT_RISK),  # within 10 % of the 4000 ms target
    ({"p95_ms": 4500}, queries.SLO_BREACHED),
    ({"errors": 6}, queries.SLO_BREACHED),  # 94 % success under a 95 % floor
    ({"quality": 0.7}, queries.SLO_BREACHED),
    ({"runs": 0}, queries.SLO_NONE),
])
def test_slo_status(summary_kw, expected):
    agent = make_agent()  # targets: p95 4000 ms, success 95 %, quality 0.8, cost 0.05 per run
    assert queries.slo_status(agent, _summary(**summary_kw)) == expected


@pytest.mark.django_db
def test_burn_rate_is_error_rate_over_budget():
    agent = make_agent(slo_min_success_rate=Decimal("99"))
    assert rollup_queries.burn_rate(agent, _summary(errors=5)) == pytest.approx(5.0)


@pytest.mark.django_db
def test_waterfall_orders_children_under_their_parent():
    agent = make_agent()
    run = make_run(agent, root_span_id="a" * 16, steps=[{"kind": "agent", "span_id": "a" * 16, "duration_ms": 1000},
                                 {"kind": "llm", "duration_ms": 400}, {"kind": "tool", "duration_ms": 100}])
    rows = queries.waterfall(run)
    assert [r.depth for r in rows] == [0, 1, 1]
    assert rows[0].offset_pct == 0 and rows[0].width_pct == pytest.approx(100)


@pytest.mark.django_db
def test_settled_cells_are_cached_but_late_data_in_them_shows_at_once(frozen, django_assert_num_queries):
    agent = make_agent()
    early = make_run(agent, started_at=NOW - timedelta(hours=20), steps=[])
    rollups.refresh_for_runs([early.id])
    last_day = timerange.parse_range({"range": "24h"}, now=NOW)
    assert rollup_queries.summaries(last_day, [agent.id], now=NOW)[0][agent.id].runs == 1
    with django_assert_num_queries(1):  # the settled cells come from the cache, the live ones are read
        assert rollup_queries.summaries(last_day, [agent.id], now=NOW)[0][agent.id].runs == 1
    late = make_run(agent, started_at=NOW - timedelta(hours=19), steps=[], duration_ms=90_000)
    rollups.refresh_for_runs([late.id])  # late data in a settled hour replaces the generation
    summary = rollup_queries.summaries(last_day, [agent.id], now=NOW)[0][agent.id]
    assert summary.runs == 2 and sketch.quantile(summary.latency, 1.0) == pytest.approx(90_000, rel=0.01)


@pytest.mark.django_db
def test_recent_runs_show_without_invalidating_the_settled_cache(frozen):
    agent = make_agent()
    rollups.refresh_for_runs([make_run(agent, started_at=NOW - timedelta(days=3), steps=[]).id])
    week = timerange.parse_range({"range": "7d"}, now=NOW)
    rollup_queries.summaries(week, [agent.id], now=NOW)
    generation = rollups.settled_generation()
    rollups.refresh_for_runs([make_run(agent, started_at=NOW - timedelta(minutes=2), steps=[]).id])
    assert rollups.settled_generation() == generation
    assert rollup_queries.summaries(week, [agent.id], now=NOW)[0][agent.id].runs == 2


@pytest.mark.django_db
def test_cached_and_uncached_summaries_are_identical(frozen, settings):
    rng = random.Random(11)
    agents = [make_agent(f"Agent {i}") for i in range(3)]
    runs = [make_run(rng.choice(agents), started_at=NOW - timedelta(minutes=rng.randint(1, 60 * 24 * 14)),
                     duration_ms=rng.lognormvariate(7, 1), status=rng.choice(["ok", "ok", "error"]), steps=[])
            for _ in range(120)]
    rollups.refresh_for_runs([r.id for r in runs])
    ids = [a.id for a in agents]
    for key in ("24h", "7d"):
        time_range = timerange.parse_range({"range": key}, now=NOW)
        rollup_queries.summaries(time_range, ids, now=NOW)  # fills the cache
        cached = rollup_queries.summaries(time_range, ids, now=NOW)
        settings.MONITORING_SETTLED_CACHE_SECONDS = 0
        assert rollup_queries.summaries(time_range, ids, now=NOW) == cached
        settings.MONITORING_SETTLED_CACHE_SECONDS = 600


@pytest.mark.django_db
def test_the_warm_task_fills_what_the_overview_and_agent_pages_read_so_their_first_poll_reads_only_live_cells(
        frozen, django_assert_num_queries):
    from monitoring.dashboards import warm
    from monitoring.dashboards.tasks import warm_dashboards

    agents = [make_agent(f"Agent {i}") for i in range(2)]
    retired = make_agent("Old agent", lifecycle_stage="retired")
    runs = [make_run(agent, started_at=NOW - timedelta(hours=hours), steps=[]) for agent in (*agents, retired)
            for hours in (5, 30, 200)]
    rollups.refresh_for_runs([r.id for r in runs])
    ids = [a.id for a in agents]

    filled = warm_dashboards.apply().get()  # as beat runs it

    assert filled == 3 * (2 + len(agents))  # three ranges: the overview's agents, the fleet, each agent
    assert warm.warm_default_ranges(now=NOW) == 0  # a warm cache is left alone
    for key in warm.DEFAULT_RANGES:
        time_range = timerange.parse_range({"range": key}, now=NOW)
        with django_assert_num_queries(1):  # the settled cells from the cache, the live ones read
            overview = rollup_queries.summaries(time_range, ids, now=NOW)
        with django_assert_num_queries(1):
            fleet = rollup_queries.summaries(time_range, None, now=NOW)
        with django_assert_num_queries(1):
            one = rollup_queries.summaries(time_range, [agents[0].id], now=NOW)
        assert overview[0][agents[0].id] == one[0][agents[0].id]
        assert fleet[0][None].runs == sum(r.started_at >= time_range.start for r in runs)
    rollups.bump_settled_generation()  # late data: every entry is stale
    assert warm.warm_default_ranges(now=NOW) == 3 * (2 + len(agents))


def test_beat_runs_the_warm_task_every_minute(settings):
    from agentops.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["warm-dashboards"]
    assert entry == {"task": "monitoring.tasks.warm_dashboards", "schedule": 60.0}
    assert "monitoring.tasks.warm_dashboards" in app.tasks
