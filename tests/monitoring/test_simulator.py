"""The simulator's story: realistic, deterministic traces that normalise cleanly."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from demo.simulator import SUB_AGENTS_ONLY, TraceGenerator, plan_to_span_inputs
from monitoring.intake.normalize import normalize_spans

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def records_for(generator: TraceGenerator, agent: str, runs: int):
    spans = [s for _ in range(runs) for s in plan_to_span_inputs(generator.trace(T0, agent=agent))]
    result = normalize_spans(spans, now=T0 + timedelta(days=1))
    assert result.rejected == 0, result.errors
    return result.records


def test_same_seed_gives_the_same_traffic():
    a = [p.root.name for p in TraceGenerator(3).history(T0, T0 + timedelta(days=1), 20)]
    b = [p.root.name for p in TraceGenerator(3).history(T0, T0 + timedelta(days=1), 20)]
    assert a == b


def test_orchestrator_invokes_sub_agents_and_tools():
    records = records_for(TraceGenerator(1), "support-orchestrator", 60)
    agents = {r.agent_key for r in records if r.kind == "agent"}
    tools = {r.tool_name for r in records if r.tool_name}
    assert {"support-orchestrator", "billing-agent", "refund-agent", "kb-search-agent"} <= agents
    assert {"lookup_order", "issue_refund", "search_kb"} <= tools


def test_refund_timeouts_cluster_with_varying_order_numbers():
    records = records_for(TraceGenerator(2), "support-orchestrator", 200)
    timeouts = [r for r in records if r.tool_name == "issue_refund" and r.status == "error"]
    assert timeouts and all(r.error_type == "TimeoutError" for r in timeouts)
    assert all(r.error_message.startswith("payment gateway timeout after 30s (order ") for r in timeouts)
    assert len({r.error_message for r in timeouts}) > 1


def test_invoice_processor_fails_on_missing_vat_id():
    records = records_for(TraceGenerator(4), "invoice-processor", 150)
    errors = Counter(r.error_message for r in records if r.status == "error" and not r.parent_span_id)
    assert errors and set(errors) == {"missing field vat_id"}


def test_escalations_carry_known_reasons_and_priorities():
    records = records_for(TraceGenerator(5), "support-orchestrator", 300)
    escalations = [r.escalation for r in records if r.escalation]
    assert {e.reason for e in escalations} >= {"policy_restriction", "missing_knowledge", "tool_failure"}
    assert all(e.priority in {"low", "normal", "high", "urgent"} for e in escalations)


def test_every_run_has_a_quality_evaluation_and_tokens():
    records = records_for(TraceGenerator(6), "hr-policy-bot", 20)
    roots = [r for r in records if not r.parent_span_id]
    assert all(len(r.scores) == 1 and 0 <= r.scores[0].value <= 1 for r in roots)
    assert all(r.input_tokens > 0 and r.model for r in records if r.kind == "llm")


def test_billing_agent_v3_beats_v2_in_history():
    start, end = T0 - timedelta(days=3), T0
    generator = TraceGenerator(7, history_start=start, history_end=end)
    quality: dict[int, list[float]] = {2: [], 3: []}
    for plan in generator.history(start, end, 1500):
        billing = plan.root if plan.service == "billing-agent" else None
        if billing is not None and billing.attributes["agentops.prompt.version"] in quality:
            score = next(e for e in plan.root.events if e[0] == "gen_ai.evaluation.result")[2]
            quality[billing.attributes["agentops.prompt.version"]].append(score["gen_ai.evaluation.score.value"])
    mean = {v: sum(s) / len(s) for v, s in quality.items()}
    assert mean[3] > mean[2] + 0.1


def test_live_plans_end_now_not_in_the_future():
    plan = TraceGenerator(8).trace(T0, agent="support-orchestrator").end_at(T0)
    assert plan.root.end == T0 and all(node.end <= T0 + timedelta(milliseconds=1) for node in plan.root.walk())


def test_some_sub_agents_are_never_called_directly_and_billing_agent_is_called_both_ways():
    plans = list(TraceGenerator(9).history(T0, T0 + timedelta(days=1), 400))
    roots = Counter(p.service for p in plans)
    nested = Counter(node.attributes["gen_ai.agent.name"] for p in plans for node in p.root.walk()
                     if node is not p.root and node.attributes.get("gen_ai.operation.name") == "invoke_agent")
    assert not any(roots[agent] for agent in SUB_AGENTS_ONLY)
    assert all(nested[agent] > 0 for agent in SUB_AGENTS_ONLY)
    assert roots["billing-agent"] and nested["billing-agent"]
    assert roots["translation-agent"] and nested["translation-agent"]


def test_refund_agent_invokes_fraud_check_agent_which_fails_or_escalates_on_its_own_span():
    generator = TraceGenerator(12)
    plans = [generator.trace(T0, agent="support-orchestrator") for _ in range(400)]
    checks = []
    for plan in plans:
        for node in plan.root.walk():
            if node.attributes.get("gen_ai.agent.name") == "refund-agent":
                checks += [c for c in node.children if c.attributes.get("gen_ai.agent.name") == "fraud-check-agent"]
    assert checks and all(c.attributes["gen_ai.operation.name"] == "invoke_agent" for c in checks)
    assert any(c.attributes.get("error.type") == "RiskServiceError" for c in checks)
    assert any(e[0] == "agentops.escalation" for c in checks for e in c.events)
    # Each invocation is judged on its own span: the sub-agents have a quality of their own.
    assert all(sum(e[0] == "gen_ai.evaluation.result" for e in c.events) == 1 for c in checks)

