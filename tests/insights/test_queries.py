"""Insight selectors: trends, regressions, failure groups and their ends, cases of a prompt draft."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from insights import queries as insight_queries
from insights import services as insights
from tests.factories import make_agent, make_prompt
from tests.insights.factories import FP_A, FP_B, NOW, failing
from tests.monitoring.factories import make_run
from tests.monitoring.ingest_helpers import write
from tests.monitoring.otlp_builders import agent_trace


@pytest.mark.parametrize(("current", "previous", "first_seen_days_ago", "expected"), [
    (4, 0, 1, insight_queries.NEW),
    (10, 2, 30, insight_queries.RISING),
    (2, 10, 30, insight_queries.FALLING),
    (5, 4, 30, insight_queries.STEADY),
    (3, 1, 30, insight_queries.STEADY),  # 3x but only 2 runs more: noise
])
def test_classify_trend(current, previous, first_seen_days_ago, expected):
    start = NOW - timedelta(days=7)
    assert insight_queries.classify_trend(current, previous, NOW - timedelta(days=first_seen_days_ago), start) == expected


def _v(label, day, total, hits):
    return insight_queries.VersionCount(label, NOW + timedelta(days=day), total, hits)


def test_regressed_in_names_the_version_where_a_failure_appeared():
    found = insight_queries.regressed_in([_v("v1", 0, 50, 0), _v("v2", 1, 40, 6), _v("v3", 2, 40, 7)])
    assert (found.label, found.how) == ("v2", "appeared")


def test_regressed_in_names_the_version_where_a_failure_grew():
    found = insight_queries.regressed_in([_v("v1", 0, 100, 3), _v("v2", 1, 100, 20)])
    assert (found.label, found.how) == ("v2", "grew")


def test_regressed_in_is_none_for_a_failure_present_all_along():
    assert insight_queries.regressed_in([_v("v1", 0, 100, 10), _v("v2", 1, 100, 11)]) is None


@pytest.mark.django_db
def test_failure_groups_count_trend_and_agents():
    a, b = make_agent("Alpha"), make_agent("Beta")
    with time_machine.travel(NOW, tick=False):
        for _ in range(5):
            failing(a)
        failing(b)
        failing(a, at=NOW - timedelta(days=10))  # previous period: 1
        failing(a, fp=FP_B)
        groups = {g.fingerprint: g for g in insight_queries.failure_groups(NOW - timedelta(days=7), NOW)}
    group = groups[FP_A]
    assert (group.runs, group.previous, group.trend) == (6, 1, insight_queries.RISING)
    assert [(agent.slug, n) for agent, n in group.agents] == [("alpha", 5), ("beta", 1)]
    assert groups[FP_B].trend == insight_queries.NEW


@pytest.mark.django_db
def test_failure_groups_ignore_good_runs_and_runs_outside_the_range():
    agent = make_agent()
    make_run(agent, started_at=NOW - timedelta(hours=1))
    failing(agent, at=NOW - timedelta(days=8))
    assert insight_queries.failure_groups(NOW - timedelta(days=7), NOW) == []


@pytest.mark.django_db
def test_failure_groups_use_a_fixed_number_of_queries(django_assert_max_num_queries):
    agents = [make_agent() for _ in range(3)]
    for i, agent in enumerate(agents):
        for j in range(3):
            failing(agent, fp=f"{i}{j}".ljust(40, "c"))
    # These runs were stored without signature records: the first read describes them from their
    # runs and records them (one statement more), the next reads the records.
    with django_assert_max_num_queries(13):
        groups = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)
    assert len(groups) == 9
    with django_assert_max_num_queries(10):
        assert len(insight_queries.failure_groups(NOW - timedelta(days=7), NOW)) == 9


@pytest.mark.django_db
def test_a_group_is_first_seen_at_its_earliest_run_whenever_it_was_stored():
    agent = make_agent()
    failing(agent, at=NOW - timedelta(hours=1))
    early = failing(agent, at=NOW - timedelta(days=40))  # stored after, started first (on the hour)
    failing(agent, at=NOW - timedelta(days=3))
    failing(agent, fp=FP_B, at=NOW - timedelta(days=2))
    make_run(agent, started_at=NOW - timedelta(days=90))  # a good run (blank fingerprint) is no group
    with time_machine.travel(NOW, tick=False):
        groups = sorted(insight_queries.failure_groups(NOW - timedelta(days=7), NOW), key=lambda g: g.fingerprint)
    assert [(g.fingerprint, g.runs) for g in groups] == [(FP_A, 2), (FP_B, 1)]
    assert groups[0].first_seen == early.started_at and groups[0].trend != insight_queries.NEW
    assert groups[1].trend == insight_queries.NEW


@pytest.mark.django_db
def test_a_groups_example_runs_are_read_along_the_fingerprint_index_within_the_range():
    from django.db import connection

    query = insight_queries.group_runs(FP_A, NOW - timedelta(days=7), NOW)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would otherwise be scanned
    plan = query.explain()
    # The partial index (on each day partition, named after its columns), a LIMIT, and only the
    # partitions of the range (the DEFAULT partition aside).
    assert "Seq Scan" not in plan and "fingerprint_started_at_id_idx" in plan and "Limit" in plan, plan
    assert plan.count("fingerprint_started_at_id_idx") <= 9, plan


@pytest.mark.django_db
def test_group_reports_the_prompt_version_it_regressed_in():
    agent = make_agent()
    v1, v2 = make_prompt(agent), make_prompt(agent)
    for i in range(10):
        make_run(agent, started_at=NOW - timedelta(days=6, minutes=i), prompt=v1)
    for i in range(10):
        make_run(agent, started_at=NOW - timedelta(days=2, minutes=i), prompt=v2)
        if i < 4:
            failing(agent, at=NOW - timedelta(days=2, minutes=i), prompt=v2)
    (group,) = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)
    # Whose version: the failing agent's own.
    assert (group.regression.label, group.regression.how) == (f"{agent.name} v2", "appeared")


@pytest.mark.django_db
def test_group_description_comes_from_the_failing_step_as_ingest_recorded_it():
    write(agent_trace("billing", start=NOW - timedelta(hours=1), error=True))
    (group,) = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)
    assert group.description == "billing · execute_tool issue_refund · TimeoutError" or \
        group.description.startswith("billing · issue_refund · TimeoutError"), group.description


@pytest.mark.django_db
def test_cases_for_prompt_version_runs_a_fixed_number_of_queries(ops_user, django_assert_max_num_queries):
    agent = make_agent()
    for _ in range(5):
        failing(agent)
    draft = insights.start_draft_from_group(FP_A, agent, author=ops_user)
    with django_assert_max_num_queries(1):
        cases = insight_queries.cases_for_prompt_version(draft.id)
    assert len(cases) == 5
