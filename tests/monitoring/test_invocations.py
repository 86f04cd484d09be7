"""Agent invocations: each agent's own run inside a trace, derived at ingest, in any arrival order."""

from __future__ import annotations

import io
import itertools
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from insights.agent_map import interaction_edges
from monitoring.ingest import invocations
from monitoring.ingest import write as ingest_write
from monitoring.intake.normalize import normalize_spans
from monitoring.models import Invocation, RollupCell, Run, Tier
from monitoring.rollups import cells as rollups
from tests.factories import make_agent, make_price, make_prompt
from tests.monitoring.factories import rollup_cells
from tests.monitoring.otlp_builders import T0, orchestrated_trace, span_input

pytestmark = pytest.mark.django_db
NOW = T0 + timedelta(hours=1)


def write(spans) -> list[int]:
    with transaction.atomic():
        return ingest_write.write_records(normalize_spans(spans, now=NOW).records)


def snapshot() -> list[tuple]:
    return sorted(Invocation.objects.values_list(
        "trace_id", "span_id", "parent_span_id", "agent__slug", "caller_agent__slug", "started_at", "ended_at",
        "duration_ms", "status", "error_type", "model", "prompt_version", "prompt_id", "step_count", "input_tokens",
        "output_tokens", "cost", "total_input_tokens", "total_output_tokens", "total_cost", "quality_score",
        "escalations",
    ))


def counted_cells() -> list[tuple]:
    """Cells that count something (a cell an agent left behind is zeroed, not deleted)."""
    return [cell for cell in rollup_cells() if cell[3]]


def by_agent() -> dict[str, Invocation]:
    return {i.agent.slug: i for i in Invocation.objects.select_related("agent", "caller_agent")}


def test_each_agent_of_an_orchestrated_trace_gets_its_own_invocation_with_own_and_inclusive_figures():
    make_price("gpt-4o", inp="2.50", out="10.00")
    spans = orchestrated_trace()
    write(spans)
    found = by_agent()
    assert set(found) == {"support-orchestrator", "refund-agent", "kb-search-agent"}
    orch, refund, kb = found["support-orchestrator"], found["refund-agent"], found["kb-search-agent"]
    assert (orch.caller_agent, orch.parent_span_id) == (None, "")
    assert (refund.caller_agent.slug, refund.parent_span_id) == ("support-orchestrator", orch.span_id)
    assert (kb.caller_agent.slug, kb.parent_span_id) == ("support-orchestrator", orch.span_id)
    assert (orch.input_tokens, orch.output_tokens, orch.step_count) == (300, 60, 3)
    assert (orch.total_input_tokens, orch.total_output_tokens) == (1400, 260)
    assert (refund.input_tokens, refund.output_tokens, refund.step_count) == (800, 150, 3)
    assert refund.cost == Decimal("0.003500") and refund.total_cost == refund.cost
    assert orch.total_cost == orch.cost + refund.cost + kb.cost == Run.objects.get().cost
    assert (refund.status, refund.error_type, refund.duration_ms) == ("error", "TimeoutError", 1200)
    assert (orch.status, kb.status) == ("ok", "ok")
    assert (orch.escalations, refund.escalations, kb.escalations) == (0, 0, 1)
    assert (orch.quality_score, refund.quality_score, kb.quality_score) == (0.9, None, 0.4)
    assert (orch.prompt_version, refund.prompt_version, kb.prompt_version) == ("3", "2", "1")


def test_an_invocation_links_its_own_agents_prompt_version():
    refund = make_agent("Refund agent", slug="refund-agent")
    orchestrator = make_agent("Support orchestrator", slug="support-orchestrator")
    make_prompt(orchestrator, version=3)
    own = make_prompt(refund, version=2)
    make_prompt(refund, version=3)
    write(orchestrated_trace())
    assert by_agent()["refund-agent"].prompt_id == own.pk


def test_a_span_whose_agent_differs_from_its_parents_starts_an_invocation_without_invoke_agent():
    root = span_input(name="invoke_agent triage", attributes={"gen_ai.operation.name": "invoke_agent",
                                                             "gen_ai.agent.name": "triage"})
    handed = span_input(trace_id=root.trace_id, parent=root.span_id, name="chat gpt-4o",
                        attributes={"gen_ai.operation.name": "chat", "gen_ai.agent.name": "translator",
                                    "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})
    write([root, handed])
    found = by_agent()
    assert found["translator"].caller_agent.slug == "triage" and found["translator"].input_tokens == 10
    assert found["triage"].total_input_tokens == 10 and found["triage"].input_tokens == 0


def test_a_trace_in_pieces_in_any_order_ends_with_the_same_invocations_and_rollups():
    make_price("gpt-4o", inp="2.50", out="10.00")
    spans = orchestrated_trace(start=NOW - timedelta(minutes=30))
    write(spans)
    expected_invocations, expected_cells = snapshot(), counted_cells()
    rng = random.Random(7)
    orders = list(itertools.islice(itertools.permutations(spans), 0, 40000, 9973)) + [
        tuple(rng.sample(spans, len(spans))) for _ in range(3)]
    for order in orders:
        Run.objects.all().delete()
        RollupCell.objects.all().delete()
        cuts = sorted(rng.sample(range(1, len(order)), 3))
        for chunk in (order[:cuts[0]], order[cuts[0]:cuts[1]], order[cuts[1]:cuts[2]], order[cuts[2]:]):
            write(list(chunk))
        assert snapshot() == expected_invocations
        assert counted_cells() == expected_cells
    rollups.rebuild(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert counted_cells() == expected_cells


def test_sending_a_trace_twice_changes_no_invocation():
    spans = orchestrated_trace()
    write(spans)
    first = snapshot()
    write(spans)
    assert snapshot() == first and Invocation.objects.count() == 3


def test_agent_cells_count_invocations_and_fleet_cells_count_traces():
    make_price("gpt-4o", inp="2.50", out="10.00")
    write(orchestrated_trace(start=NOW - timedelta(minutes=30)))
    write(orchestrated_trace(start=NOW - timedelta(minutes=20)))
    day = {c.agent.slug if c.agent else None: c for c in RollupCell.objects.filter(tier=Tier.DAY).select_related("agent")}
    refund, kb, fleet = day["refund-agent"], day["kb-search-agent"], day[None]
    assert (refund.runs, refund.errors, refund.input_tokens, refund.cost) == (2, 2, 1600, Decimal("0.007000"))
    assert (kb.runs, kb.errors, kb.escalations, kb.quality_count) == (2, 0, 2, 2)
    assert kb.quality_sum == Decimal("0.8")
    assert (fleet.runs, fleet.escalations, fleet.input_tokens) == (2, 2, 2800)
    assert fleet.cost == sum(c.cost for slug, c in day.items() if slug)


def test_derive_puts_every_step_in_exactly_one_invocation():
    spans = orchestrated_trace()
    write(spans)
    steps = list(Run.objects.get().steps.all())
    owner = invocations.owners(steps)
    assert set(owner) == {s.span_id for s in steps}
    assert sum(i.step_count for i in Invocation.objects.all()) == len(steps)


def test_agent_map_edges_agree_with_invocations_by_caller():
    for minutes in (50, 40, 30):
        write(orchestrated_trace(start=NOW - timedelta(minutes=minutes)))
    edges = {(e.source.slug, e.target_agent.slug): (e.calls, e.errors)
             for e in interaction_edges(NOW - timedelta(hours=2), NOW) if e.target_kind == "agent"}
    nested = Invocation.objects.exclude(caller_agent=None)
    counted = {}
    for caller, agent, status in nested.values_list("caller_agent__slug", "agent__slug", "status"):
        calls, errors = counted.get((caller, agent), (0, 0))
        counted[(caller, agent)] = (calls + 1, errors + (status == "error"))
    assert edges == counted == {("support-orchestrator", "refund-agent"): (3, 3),
                                ("support-orchestrator", "kb-search-agent"): (3, 0)}


def test_backfill_gives_stored_runs_their_invocations_and_rollups_and_can_resume():
    make_price("gpt-4o", inp="2.50", out="10.00")
    for minutes in (50, 40, 30):
        write(orchestrated_trace(start=NOW - timedelta(minutes=minutes)))
    expected_invocations, expected_cells = snapshot(), counted_cells()
    Invocation.objects.all().delete()
    rollups.rebuild(NOW - timedelta(days=1), NOW)
    assert counted_cells() != expected_cells
    out = io.StringIO()
    call_command("backfill_invocations", chunk=1, limit=2, stdout=out)  # interrupted after two runs
    assert Invocation.objects.values("run").distinct().count() == 2
    call_command("backfill_invocations", chunk=2, stdout=out)
    assert snapshot() == expected_invocations and counted_cells() == expected_cells
    assert "done: 1 runs, 3 invocations" in out.getvalue()


def test_backfill_of_failed_runs_puts_each_failure_on_its_failing_invocation():
    write(orchestrated_trace(start=NOW - timedelta(minutes=50)))  # the kb-search agent escalates
    Invocation.objects.update(fingerprint="")  # as stored before invocations carried it
    call_command("backfill_invocations", failed=True, stdout=io.StringIO())
    failing = Invocation.objects.exclude(fingerprint="").select_related("agent").get()
    assert failing.agent.slug == "kb-search-agent" and failing.fingerprint == Run.objects.get().fingerprint


def test_backfill_refuses_a_chunk_of_zero():
    with pytest.raises(CommandError, match="--chunk"):
        call_command("backfill_invocations", chunk=0)


def test_the_overview_fleet_tile_counts_tasks_not_invocations(ops_client):
    import time_machine
    from django.urls import reverse

    from monitoring.dashboards.queries import overview_agents, overview_tiles
    from monitoring.timerange import parse_range

    write(orchestrated_trace(start=NOW - timedelta(minutes=30)))
    write(orchestrated_trace(start=NOW - timedelta(minutes=20)))
    with time_machine.travel(NOW, tick=False):
        tiles, fleet = overview_tiles(overview_agents(), parse_range({"range": "24h"}))
        assert ops_client.get(reverse("monitoring:overview"), {"range": "24h"}).status_code == 200
    assert sum(tile.current.runs for tile in tiles) == 6  # each task: three agents' invocations
    assert fleet.current.runs == 2 and fleet.current.escalations == 2


def agent_figures(start, end) -> dict:
    """Each agent's (and the fleet's) figures as the pages read them: rollup summaries over the range."""
    from monitoring.rollups.queries import summaries
    from monitoring.timerange import TimeRange

    time_range = TimeRange("custom", start, end)
    agents = dict(Invocation.objects.values_list("agent_id", "agent__slug").distinct())
    current, _ = summaries(time_range, list(agents), with_previous=False, now=NOW)
    fleet, _ = summaries(time_range, None, with_previous=False, now=NOW)
    figures = {agents[agent_id]: s for agent_id, s in current.items()} | {"fleet": fleet[None]}
    return {name: (s.runs, s.errors, s.escalations, s.quality_count, s.quality, s.cost, s.input_tokens,
                   s.output_tokens, s.p50, s.p95) for name, s in figures.items()}


def test_a_trace_sent_as_separate_inbox_batches_in_any_order_ends_with_each_agents_figures_of_the_whole():
    """Through the inbox and the ingest service, one batch per piece (as separate requests and tasks
    would deliver them): the invocations, every agent's summary and the map edges equal the whole's."""
    from monitoring.ingest.services import ingest_batch
    from monitoring.intake.services import accept_batch
    from monitoring.models import InboxBatch, InteractionEdge
    from tests.monitoring.otlp_builders import protobuf_body

    make_price("gpt-4o", inp="2.50", out="10.00")
    spans = orchestrated_trace(start=NOW - timedelta(minutes=30))
    window = (NOW - timedelta(hours=3), NOW)  # hour cells (minute cells are kept two days back from today)

    def send(pieces) -> None:
        Run.objects.all().delete()
        RollupCell.objects.all().delete()
        for piece in pieces:
            batch = accept_batch(InboxBatch.Kind.OTLP_PROTOBUF, protobuf_body(list(piece)), None, len(piece))
            assert ingest_batch(batch.pk, group=1).status == "done"

    def edges() -> list[tuple]:
        return sorted(InteractionEdge.objects.values_list("source__slug", "target_kind", "target_agent__slug",
                                                          "calls", "errors"))

    send([spans])
    whole = snapshot(), agent_figures(*window), edges()
    assert whole[1]["refund-agent"][:2] == (1, 1) and whole[1]["kb-search-agent"][2] == 1
    assert whole[1]["fleet"][0] == 1
    rng = random.Random(15)
    orders = [list(reversed(spans)), spans[1:] + spans[:1]] + [rng.sample(spans, len(spans)) for _ in range(3)]
    for order in orders:
        cuts = sorted(rng.sample(range(1, len(order)), 2))
        send([order[:cuts[0]], order[cuts[0]:cuts[1]], order[cuts[1]:]])
        assert (snapshot(), agent_figures(*window), edges()) == whole
    send([[span] for span in rng.sample(spans, len(spans))])  # one span per batch
    assert (snapshot(), agent_figures(*window), edges()) == whole
