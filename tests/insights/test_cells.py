"""The insight pages read their own rollup cells: the figures equal a direct query over the raw
invocations and edges, whatever order spans arrive in, after a rebuild, and after retention drops
the raw partitions; failures, versions and compare are attributed to the invocation's own agent."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from insights import agent_map, compare
from insights import queries as insight_queries
from monitoring.models import EdgeCell, FailureCell, Invocation, Run, VersionCell
from monitoring.rollups import cells as rollups
from monitoring.rollups import insight_queries as insight_cells
from monitoring.storage import services as storage
from tests.factories import make_agent, make_price, make_prompt
from tests.monitoring.ingest_helpers import NOW, write
from tests.monitoring.otlp_builders import agent_trace, orchestrated_trace

pytestmark = pytest.mark.django_db
RANGES = [(NOW - timedelta(hours=2), NOW), (NOW - timedelta(hours=24), NOW), (NOW - timedelta(days=7), NOW),
          (NOW - timedelta(days=30), NOW)]
AGENTS = ("support-orchestrator", "refund-agent", "kb-search-agent", "billing")


def failing_orchestration(start):
    """The orchestrated trace, but the task fails: the refund agent's tool failed first, so the
    failure is the refund agent's (prompt 2), not the orchestrator's (prompt 3)."""
    spans = orchestrated_trace(start=start)
    spans[0].status_code = 2
    spans[0].attributes["error.type"] = "TimeoutError"
    return spans


def traces() -> list[list]:
    return [
        orchestrated_trace(start=NOW - timedelta(minutes=30)),  # kb-search-agent escalates
        failing_orchestration(NOW - timedelta(hours=26)),
        failing_orchestration(NOW - timedelta(minutes=50)),
        agent_trace("billing", start=NOW - timedelta(days=3), error=True),
        agent_trace("billing", start=NOW - timedelta(hours=5)),
    ]


def _raw(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(cursor.fetchall())


def page_figures(start, end) -> dict:
    """What the three pages show over a range, as plain values."""
    groups = sorted((g.fingerprint, g.runs, g.errors, g.escalations, tuple((a.slug, n) for a, n in g.agents))
                    for g in insight_queries.failure_groups(start, end))
    versions = sorted((slug, v.label, v.runs, v.successes, v.escalations, v.quality_n, v.cost_total)
                      for slug in AGENTS for v in compare.version_stats(_agent(slug), start, end))
    edges = sorted((e.source.slug, e.target_kind, e.target_name, e.calls, e.errors, e.cost)
                   for e in agent_map.interaction_edges(start, end))
    return {"groups": groups, "versions": versions, "edges": edges}


def raw_figures(start, end) -> dict:
    """The same figures straight from the raw invocations and edges over the range's cells."""
    params = {"start": insight_cells.cell_start(start, end), "end": end}
    groups = _raw(
        "SELECT fingerprint, count(*), count(*) FILTER (WHERE status = 'error'), count(*) FILTER (WHERE escalations > 0),"
        " array_agg(DISTINCT a.slug) FROM monitoring_invocation i JOIN agentops_agent a ON a.id = i.agent_id"
        " WHERE fingerprint <> '' AND started_at >= %(start)s AND started_at < %(end)s GROUP BY fingerprint", params)
    versions = _raw(
        "SELECT a.slug, CASE WHEN prompt_version = '' THEN 'no version' ELSE prompt_version || ' (unregistered)' END,"
        " count(*), count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE escalations > 0),"
        " count(quality_score), sum(cost) FROM monitoring_invocation i JOIN agentops_agent a ON a.id = i.agent_id"
        " WHERE started_at >= %(start)s AND started_at < %(end)s GROUP BY 1, 2", params)
    edges = _raw(
        "SELECT a.slug, target_kind, target_name, sum(calls), sum(errors), sum(cost) FROM monitoring_interactionedge e"
        " JOIN agentops_agent a ON a.id = e.source_id WHERE started_at >= %(start)s AND started_at < %(end)s"
        " GROUP BY 1, 2, 3", params)
    return {"groups": [(fp, n, e, x, a) for fp, n, e, x, a in groups], "versions": versions, "edges": edges}


def _agent(slug):
    from agentops.models import Agent

    return Agent.objects.filter(slug=slug).first() or make_agent(slug, slug=slug)


def _comparable(page: dict) -> dict:
    """Page figures in the raw query's shape (agents as a sorted list of slugs)."""
    return {"groups": [(fp, n, e, x, sorted(slug for slug, _ in agents)) for fp, n, e, x, agents in page["groups"]],
            "versions": page["versions"], "edges": page["edges"]}


def cells() -> dict:
    """Every counted cell of the three kinds, without ids."""
    return {model.__name__: sorted(tuple(v for k, v in row.items() if k != "id") for row in model.objects.values())
            for model in (VersionCell, FailureCell, EdgeCell)}


def test_page_figures_equal_the_raw_rows_for_every_range_whatever_the_arrival_order():
    make_price("gpt-4o", inp="2.50", out="10.00")
    for slug in AGENTS:
        _agent(slug)
    whole = traces()
    for spans in whole:
        write(spans)
    expected = {r: raw_figures(*r) for r in RANGES}
    for r in RANGES:
        assert _comparable(page_figures(*r)) == expected[r], r
    assert expected[RANGES[1]]["groups"] and expected[RANGES[1]]["edges"]
    expected_cells = cells()
    rng = random.Random(16)
    for _ in range(3):
        Run.objects.all().delete()
        Invocation.objects.all().delete()
        for model in (VersionCell, FailureCell, EdgeCell):
            model.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM monitoring_step; DELETE FROM monitoring_interactionedge;"
                           " DELETE FROM monitoring_escalation; DELETE FROM monitoring_score")
        pieces = []
        for spans in traces():
            order = rng.sample(spans, len(spans))
            cut = rng.randrange(1, len(order))
            pieces += [order[:cut], order[cut:]]
        rng.shuffle(pieces)
        for piece in pieces:
            write(piece)
        write(pieces[0])  # a replayed batch changes nothing
        for r in RANGES:
            assert _comparable(page_figures(*r)) == raw_figures(*r), r
        assert cells() == expected_cells
    counted = cells()
    rollups.rebuild(NOW - timedelta(days=31), NOW + timedelta(days=1))
    assert cells() == counted


def test_a_failure_is_the_failing_invocations_agent_and_regresses_in_that_agents_version():
    orchestrator, refund = _agent("support-orchestrator"), _agent("refund-agent")
    make_prompt(orchestrator, version=3)
    make_prompt(refund, version=1)
    make_prompt(refund, version=2)
    for minutes in range(6):  # the refund agent on v1 succeeded on its own
        spans = agent_trace("refund-agent", start=NOW - timedelta(days=2, minutes=minutes))
        spans[0].attributes["agentops.prompt.version"] = "1"
        write(spans)
    for minutes in range(3):
        write(failing_orchestration(NOW - timedelta(hours=3, minutes=minutes)))
    (group,) = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)
    assert [(a.slug, n) for a, n in group.agents] == [("refund-agent", 3)]
    assert group.versions == [("refund-agent v2", 3)]
    assert (group.regression.label, group.regression.how) == ("refund-agent v2", "appeared")
    assert group.description.startswith("refund-agent · ")
    # Compare works on the sub-agent's own versions, its failures under its own version.
    versions = {v.label: v for v in compare.version_stats(refund, NOW - timedelta(days=7), NOW)}
    assert (versions["v1"].runs, versions["v1"].successes) == (6, 6)
    assert (versions["v2"].runs, versions["v2"].successes) == (3, 0)
    assert [(fp, n) for fp, n, _d in versions["v2"].top_groups] == [(group.fingerprint, 3)]
    assert compare.version_stats(orchestrator, NOW - timedelta(days=7), NOW)[0].top_groups == []
    # The map's edge from the orchestrator to the refund agent agrees with the invocations.
    edges = {(e.source.slug, e.target_name): e for e in agent_map.interaction_edges(NOW - timedelta(days=7), NOW)}
    assert edges[("support-orchestrator", "refund-agent")].calls == 3


def test_pages_keep_their_figures_after_retention_drops_the_raw_partitions(settings):
    make_price("gpt-4o", inp="2.50", out="10.00")
    for slug in AGENTS:
        _agent(slug)
    for spans in traces():
        write(spans)
    storage.ensure_partitions(NOW - timedelta(days=4), ahead=5)
    before = {r: page_figures(*r) for r in RANGES}
    group = before[RANGES[3]]["groups"][0][0]
    detail = insight_queries.failure_group_detail(group, *RANGES[3])
    settings.TELEMETRY_RETENTION_DAYS = 1
    storage.drop_expired(NOW + timedelta(days=5))
    assert Run.objects.count() == 0 and Invocation.objects.count() == 0
    for r in RANGES:
        assert page_figures(*r) == before[r], r
    kept = insight_queries.failure_group_detail(group, *RANGES[3])
    assert kept is not None and kept.runs == [] and kept.total_runs == detail.total_runs
    assert kept.daily == detail.daily and kept.description == detail.description
    assert before[RANGES[3]]["versions"] and before[RANGES[3]]["edges"]
    assert sum(v[6] for v in before[RANGES[3]]["versions"]) > Decimal(0)


def test_a_group_stored_without_its_signature_is_described_from_its_runs_and_recorded_once():
    from monitoring.models import FailureSignatureRecord

    for minutes in range(2):
        write(failing_orchestration(NOW - timedelta(hours=3, minutes=minutes)))
    (group,) = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)
    FailureSignatureRecord.objects.all().delete()  # as for runs stored before signatures were recorded

    (described,) = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)

    assert described.description == group.description
    record = FailureSignatureRecord.objects.get()
    assert record.fingerprint == group.fingerprint and record.agent_id == _agent("refund-agent").pk
    (again,) = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)  # now from the record
    assert again.description == group.description
