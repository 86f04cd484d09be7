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
    with django_assert_max_num_queries(12):
        groups = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)
    assert len(groups) == 9


@pytest.mark.django_db
def test_group_ends_are_the_earliest_start_and_the_latest_run_by_time_not_by_id():
    agent = make_agent()
    late = failing(agent, at=NOW - timedelta(hours=1))
    early = failing(agent, at=NOW - timedelta(days=40))  # stored after, started first
    failing(agent, at=NOW - timedelta(days=3))
    failing(agent, fp=FP_B, at=NOW - timedelta(days=2))
    make_run(agent, started_at=NOW - timedelta(days=90))  # a good run (blank fingerprint) is no group
    ends = insight_queries._group_ends([FP_A, FP_B, "", "f" * 40])
    assert ends[FP_A] == (early.started_at, late.id)
    assert set(ends) == {FP_A, FP_B}
    assert insight_queries.signatures_for([FP_A]).keys() == {FP_A}
    with time_machine.travel(NOW, tick=False):
        (group, _other) = sorted(insight_queries.failure_groups(NOW - timedelta(days=7), NOW), key=lambda g: g.fingerprint)
    assert (group.fingerprint, group.first_seen) == (FP_A, early.started_at)


@pytest.mark.django_db
def test_group_ends_probe_the_partial_fingerprint_index():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would otherwise be scanned
        cursor.execute("EXPLAIN " + insight_queries.GROUP_ENDS_SQL, [[FP_A]])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # Both probes use the partial index (on each day partition, it is named after its columns).
    assert "Seq Scan" not in plan and plan.count("fingerprint_started_at_id_idx") >= 2, plan


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
    assert (group.regression.label, group.regression.how) == ("v2", "appeared")


@pytest.mark.django_db
def test_group_description_comes_from_the_failing_step():
    agent = make_agent("Billing")
    run = make_run(agent, status="error", started_at=NOW - timedelta(hours=1), steps=[
        {"kind": "agent", "parent_span_id": ""},
        {"kind": "tool", "tool_name": "refund", "status": "error", "error_type": "TimeoutError",
         "error_message": "refund 42 timed out"},
    ])
    from monitoring.ingest.fingerprint import fingerprint_run

    run.fingerprint = fingerprint_run(run, run.steps.all())
    run.save(update_fields=["fingerprint"])
    (group,) = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)
    assert group.description == "Billing · refund · TimeoutError: refund <n> timed out"


@pytest.mark.django_db
def test_cases_for_prompt_version_runs_a_fixed_number_of_queries(ops_user, django_assert_max_num_queries):
    agent = make_agent()
    for _ in range(5):
        failing(agent)
    draft = insights.start_draft_from_group(FP_A, agent, author=ops_user)
    with django_assert_max_num_queries(1):
        cases = insight_queries.cases_for_prompt_version(draft.id)
    assert len(cases) == 5
