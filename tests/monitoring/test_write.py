"""The ingest write path: spans to runs, steps, scores and escalations, once, in any order."""


from __future__ import annotations

import itertools
import random
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction

from agentops.models import Agent
from monitoring import announcements
from monitoring.ingest import bulk, outbox, recompute
from monitoring.ingest import write as ingest_write
from monitoring.intake.normalize import EventInput, normalize_spans
from monitoring.models import Announcement, Escalation, Run, Score, Step
from tests.factories import make_agent, make_price, make_prompt
from tests.monitoring.ingest_helpers import NOW, write
from tests.monitoring.otlp_builders import T0, agent_trace, ns, span_input

pytestmark = pytest.mark.django_db


def run_snapshot(trace_id: str) -> tuple:
    run = Run.objects.get(trace_id=trace_id)
    return (run.agent.slug, run.root_span_id, run.status, run.error_type, run.step_count, run.input_tokens,
            run.output_tokens, run.cost, run.started_at, run.ended_at, run.model, run.session_id,
            run.prompt_version, run.name, run.fingerprint)


def full_run_state() -> dict[str, tuple]:
    fields = [f.attname for f in Run._meta.concrete_fields if f.attname not in ("id", "ingested_at", "quality_score")]
    return {
        run.trace_id: (*(getattr(run, f) for f in fields), run.quality_score and round(run.quality_score, 12),
                       tuple(run.steps.order_by("span_id").values_list("span_id", "agent_id")),
                       tuple(run.edges.order_by("source_id", "target_kind", "target_name")
                             .values_list("source_id", "target_kind", "target_name", "calls", "errors", "cost")))
        for run in Run.objects.all()
    }


def test_a_trace_becomes_one_run_with_steps_and_llm_totals():
    make_price("gpt-4o", inp="2.50", out="10.00")
    spans = agent_trace("refund-agent")
    write(spans)
    run = Run.objects.get(trace_id=spans[0].trace_id)
    assert (run.step_count, run.input_tokens, run.output_tokens) == (3, 1000, 200)
    assert run.cost == Decimal("0.004500")  # 1000 x 2.50/1M + 200 x 10/1M
    assert (run.agent.slug, run.model, run.session_id, run.prompt_version) == ("refund-agent", "gpt-4o", "sess-1", "2")


def test_unknown_agents_are_registered_as_discovered():
    write(agent_trace("brand-new-agent"))
    assert Agent.objects.get(slug="brand-new-agent").discovered


def test_known_agent_is_reused_and_prompt_version_linked():
    agent = make_agent("Refund agent", slug="refund-agent")
    make_prompt(agent, version=1)
    prompt = make_prompt(agent, version=2)
    spans = agent_trace("refund-agent")
    write(spans)
    run = Run.objects.get(trace_id=spans[0].trace_id)
    assert (run.agent_id, run.prompt_id) == (agent.pk, prompt.pk)
    assert not Agent.objects.filter(discovered=True).exists()


def test_cost_uses_the_price_in_force_at_the_span_time():
    make_price("gpt-4o", inp="1", out="0")
    make_price("gpt-4o", inp="5", out="0", effective_from=T0 + timedelta(days=1))
    spans = agent_trace(start=T0)
    write(spans)
    assert Run.objects.get(trace_id=spans[0].trace_id).cost == Decimal("0.001000")


def test_sent_cost_wins_over_the_price_list():
    make_price("gpt-4o", inp="100", out="100")
    spans = agent_trace()
    spans[1].attributes["gen_ai.usage.cost"] = "0.0042"
    write(spans)
    assert Run.objects.get(trace_id=spans[0].trace_id).cost == Decimal("0.004200")


def test_failed_tool_propagated_to_the_root_fails_the_run_and_fingerprints_it():
    spans = agent_trace(error=True)
    write(spans)
    run = Run.objects.get(trace_id=spans[0].trace_id)
    assert (run.status, run.error_type) == ("error", "TimeoutError") and len(run.fingerprint) == 40


def test_spans_in_any_order_and_split_across_batches_give_the_same_run():
    spans = agent_trace(error=True)
    sub_id = spans[0].span_id
    # a sub-agent under the root, with a child that names no agent of its own
    sub = span_input(trace_id=spans[0].trace_id, parent=spans[0].span_id, name="invoke_agent kb-search-agent",
                     attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "kb-search-agent"})
    leaf = span_input(trace_id=spans[0].trace_id, parent=sub.span_id, name="retrieval kb", service="support-desk",
                      attributes={"gen_ai.operation.name": "retrieval"})
    all_spans = spans + [sub, leaf]
    write(all_spans)
    expected = run_snapshot(spans[0].trace_id)
    Run.objects.all().delete()
    for order in itertools.islice(itertools.permutations(all_spans), 0, 120, 37):
        Run.objects.all().delete()
        for chunk in (order[:2], order[2:3], order[3:]):
            write(list(chunk))
        assert run_snapshot(spans[0].trace_id) == expected
        assert Step.objects.get(span_id=leaf.span_id).agent.slug == "kb-search-agent"
    assert expected[1] == sub_id


def test_processing_the_same_spans_twice_changes_nothing():
    spans = agent_trace(error=True)
    spans[0].events.append(EventInput("gen_ai.evaluation.result", ns(T0), {"gen_ai.evaluation.name": "helpfulness",
                                                                            "gen_ai.evaluation.score.value": 0.4}))
    spans[0].events.append(EventInput("agentops.escalation", ns(T0), {"agentops.escalation.reason": "tool_failure"}))
    write(spans)
    first = run_snapshot(spans[0].trace_id)
    write(spans)
    assert run_snapshot(spans[0].trace_id) == first
    assert (Step.objects.count(), Score.objects.count(), Escalation.objects.count()) == (3, 1, 1)


def test_scores_set_run_quality_and_escalations_flag_the_run():
    spans = agent_trace()
    spans[0].events += [
        EventInput("gen_ai.evaluation.result", ns(T0), {"gen_ai.evaluation.name": "a", "score.value": 0.5}),
        EventInput("gen_ai.evaluation.result", ns(T0), {"gen_ai.evaluation.name": "b", "score.value": 1.0}),
        EventInput("agentops.escalation", ns(T0), {"agentops.escalation.reason": "customer_request",
                                                   "agentops.escalation.priority": "high"}),
    ]
    write(spans)
    run = Run.objects.get(trace_id=spans[0].trace_id)
    assert run.quality_score == pytest.approx(0.75) and run.has_escalation
    escalation = run.escalations.get()
    assert (escalation.reason, escalation.priority, escalation.agent.slug) == ("customer_request", "high", "refund-agent")


def test_hooks_run_inside_the_batch_transaction_and_receivers_only_after_it(monkeypatch):
    hooked, received = [], []

    def announce(**ids):
        hooked.append(("announce", ids["run_ids"]))
        return real_announce(**ids)

    real_announce = outbox.announce
    monkeypatch.setattr(ingest_write.rollups, "refresh_for_runs", lambda ids, **kw: hooked.append(("rollups", ids)))
    monkeypatch.setattr(ingest_write.edges, "refresh_for_runs", lambda ids, **kw: hooked.append(("edges", ids)))
    monkeypatch.setattr(outbox, "announce", announce)
    announcements.register(announcements.RUNS_RECORDED, "test.runs", lambda ids: received.append(("runs", ids)))
    announcements.register(announcements.ESCALATIONS_RECORDED, "test.escalations",
                           lambda ids: received.append(("escalations", ids)))
    try:
        spans = agent_trace()
        spans[0].events.append(EventInput("agentops.escalation", ns(T0), {"agentops.escalation.reason": "x"}))
        run_ids = write(spans)
        # Rollups last: their shared cells stay locked until commit (see write_records).
        assert hooked == [("edges", run_ids), ("announce", run_ids), ("rollups", run_ids)]
        assert received == []  # nothing is delivered inside the ingest transaction
        (row,) = Announcement.objects.all()
        escalation_ids = list(Escalation.objects.values_list("id", flat=True))
        assert (row.run_ids, row.escalation_ids, row.status) == (run_ids, escalation_ids, "pending")
        assert outbox.deliver_due().delivered == 1
    finally:
        announcements.unregister(announcements.RUNS_RECORDED, "test.runs")
        announcements.unregister(announcements.ESCALATIONS_RECORDED, "test.escalations")
    assert received == [("runs", run_ids), ("escalations", escalation_ids)]
    assert not Announcement.objects.exists()


def test_many_traces_in_one_batch_need_a_bounded_number_of_queries(django_assert_max_num_queries, monkeypatch):
    # Only ingest's own queries are counted here; rollups and edges have their own tests.
    monkeypatch.setattr(ingest_write.rollups, "refresh_for_runs", lambda ids, **kw: None)
    monkeypatch.setattr(ingest_write.edges, "refresh_for_runs", lambda ids, **kw: None)
    rng = random.Random(4)
    spans = [s for i in range(30) for s in agent_trace(rng.choice(["a-1", "a-2", "a-3"]), error=i % 3 == 0)]
    normalized = normalize_spans(spans, now=NOW)
    # 16, and the insight cells of the invocations (versions, failures) and the failure signatures.
    with django_assert_max_num_queries(19), transaction.atomic():
        ingest_write.write_records(normalized.records)
    assert Run.objects.count() == 30


def test_an_escalation_sent_before_its_agent_span_moves_to_that_agent():
    spans = agent_trace("refund-agent")
    tool = spans[2]
    tool.resource = {"service.name": "support-desk"}
    tool.events.append(EventInput("agentops.escalation", ns(T0), {"agentops.escalation.reason": "tool_failure"}))
    write([tool])
    assert Escalation.objects.get().agent.slug == "support-desk"
    write(spans[:2])
    assert Escalation.objects.get().agent.slug == "refund-agent"
    assert Step.objects.get(span_id=tool.span_id).agent.slug == "refund-agent"


def test_step_text_and_json_survive_the_copy_staging_verbatim():
    awkward = 'tab\there\nnew\\line\r\\N "quoted" \'single\' \\\\t é ✓ {"a": 1}'
    span = span_input(
        name="chat " + awkward[:40],
        attributes={"gen_ai.operation.name": "chat", "gen_ai.agent.name": "odd-agent", "gen_ai.input.messages": awkward,
                    "gen_ai.tool.name": awkward[:30], "weird\tkey\\": awkward, "n": 3, "f": 1.5, "b": True},
        events=[EventInput("note", ns(T0), {"text": awkward})],
    )
    record = normalize_spans([span], now=NOW).records[0]
    write([span])
    write([span])  # idempotent: the staging table of the first call is gone, nothing is stored twice
    step = Step.objects.get(span_id=span.span_id)
    assert (step.name, step.input, step.tool_name) == (record.name, record.input, record.tool_name)
    assert step.input == awkward and step.attributes == record.attributes and step.events == record.events
    assert step.attributes["weird\tkey\\"] == awkward and step.events[0]["attributes"]["text"] == awkward
    assert (step.started_at, step.ended_at, step.duration_ms) == (record.started_at, record.ended_at, record.duration_ms)
    assert Step.objects.count() == 1


@time_machine.travel(NOW, tick=False)  # minute cells exist for the last two days only
def test_a_late_root_span_moves_the_run_and_it_is_counted_once():
    """The child arrives first (its service's agent, its minute); the root then moves the run."""
    from monitoring.models import RollupCell
    from monitoring.rollups.models import Tier

    root, _llm, tool = agent_trace("refund-agent", start=T0)
    tool.start_unix_nano = ns(T0 + timedelta(minutes=3))
    tool.end_unix_nano = ns(T0 + timedelta(minutes=3, seconds=1))
    write([tool])
    first = Run.objects.get(trace_id=root.trace_id)
    assert first.agent.slug != "refund-agent" and first.started_at == T0 + timedelta(minutes=3)
    write([root])
    run = Run.objects.get(trace_id=root.trace_id)
    assert run.agent.slug == "refund-agent" and run.started_at == T0
    for tier in (Tier.MINUTE, Tier.HOUR, Tier.DAY):
        cells = RollupCell.objects.filter(tier=tier)
        assert sum(c.runs for c in cells.exclude(agent=None)) == 1, tier
        assert sum(c.runs for c in cells.filter(agent=None)) == 1, tier
    assert RollupCell.objects.get(tier=Tier.MINUTE, agent=first.agent_id,
                                  bucket=T0 + timedelta(minutes=3)).runs == 0


def test_new_runs_written_in_one_go_equal_their_recompute_from_storage():
    """New traces' runs are computed from the batch and inserted complete; recomputing them from
    the stored steps, scores and escalations (the path of runs stored before) changes nothing."""
    from demo.simulator import TOP_LEVEL_AGENTS, TraceGenerator, plan_to_span_inputs
    from monitoring.ingest import edges

    for slug in TOP_LEVEL_AGENTS:
        agent = make_agent(slug.replace("-", " ").title(), slug=slug)
        for version in (1, 2, 3):
            make_prompt(agent, version=version)
    generator = TraceGenerator(seed=11)
    spans = [s for _ in range(120) for s in plan_to_span_inputs(generator.trace(NOW - timedelta(minutes=30)))]
    spans += spans[:5]  # a few spans sent twice in the same batch
    write(spans)
    written = full_run_state()
    assert len(written) == 120
    runs = Run.objects.all()
    assert runs.filter(has_escalation=True).exists() and runs.filter(status="error").exclude(fingerprint="").exists()
    assert runs.filter(quality_score__isnull=False).exists() and runs.filter(prompt__isnull=False).exists()
    with transaction.atomic():
        runs = list(Run.objects.select_for_update().order_by("trace_id"))
        recompute.recompute_runs(runs)
        edges.refresh_for_runs([run.pk for run in runs])
    assert full_run_state() == written


def test_a_batch_holds_its_traces_lock_until_commit():
    """Runs are partitioned by start, so no unique index keeps one run per trace id: the write path
    takes a per-trace advisory lock before it looks a trace up, held until the batch commits."""
    from django.db import connection

    spans = agent_trace()
    with transaction.atomic():
        write(spans)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
                           " AND objsubid = 2 AND pid = pg_backend_pid()", [ingest_write._TRACE_LOCK])
            assert cursor.fetchone()[0] == 1
    write(spans)  # the same trace again: found (within the window) and stored once
    assert Run.objects.filter(trace_id=spans[0].trace_id).count() == 1


def test_steps_of_new_traces_are_copied_straight_in_and_stored_traces_skip_spans_they_have(monkeypatch):
    staged = []
    real = bulk.insert_lines_ignoring_conflicts

    def spy(cursor, table, columns, lines, **kwargs):
        staged.append((table, len(lines)))
        return real(cursor, table, columns, lines, **kwargs)

    monkeypatch.setattr(bulk, "insert_lines_ignoring_conflicts", spy)
    spans = agent_trace()
    write(spans[:2])  # a new trace: its steps cannot be stored yet, no conflict check needed
    assert "monitoring_step" not in {table for table, _ in staged} and Step.objects.count() == 2
    staged.clear()
    write(spans)  # the trace is stored now: its steps go through the staging table, the two it has are skipped
    assert ("monitoring_step", 3) in staged
    assert Step.objects.count() == 3 and Run.objects.get().step_count == 3


@time_machine.travel(NOW, tick=False)  # minute cells exist for the last two days only
def test_a_new_trace_across_midnight_is_counted_in_both_days_cells():
    """The new runs' rows are looked up within the runs' time span: a trace whose sub-agents start
    after midnight (the next day's partition) is counted whole, in the minute of each invocation."""
    from collections import Counter
    from datetime import UTC, datetime

    from monitoring.models import Invocation, RollupCell
    from monitoring.rollups.models import Tier
    from tests.monitoring.otlp_builders import orchestrated_trace

    midnight = datetime(2026, 11, 20, tzinfo=UTC)
    write(orchestrated_trace(start=midnight - timedelta(milliseconds=30)) + agent_trace("refund-agent", start=T0))
    invocations = Counter((i.agent_id, i.started_at.replace(second=0, microsecond=0)) for i in Invocation.objects.all())
    assert {minute.date() for _agent, minute in invocations} == {midnight.date() - timedelta(days=1), midnight.date()}
    cells = Counter({(c.agent_id, c.bucket): c.runs
                     for c in RollupCell.objects.filter(tier=Tier.MINUTE).exclude(agent=None) if c.runs})
    assert cells == invocations
    fleet = {c.bucket: c.runs for c in RollupCell.objects.filter(tier=Tier.MINUTE, agent=None) if c.runs}
    assert fleet == {midnight - timedelta(minutes=1): 1, T0: 1}
