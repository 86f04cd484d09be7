"""Demo telemetry for the insights pages: a multi-agent support workflow over the last 14 days.

The story it tells:
- Root causes: failures cluster into a few groups (a refund tool refusing over-limit refunds, a
  billing API timing out more and more, knowledge-base misses handed to humans, and a reply-length
  failure that appeared with the orchestrator's prompt v3).
- Compare: the support orchestrator's prompt v3 clearly beats v2 (v2 guessed unclear intents and
  failed; v3 escalates instead), with enough runs for the test to say so.
- Agent map: the orchestrator invokes billing, refund and knowledge-base agents, which call tools
  and hand cases to the human queue; the invoice processor is a second department's workflow.
- Three of the groups are already marked by the operations manager (root cause from the reviewers'
  taxonomy, a note, an owner); the others are left unmarked.

Rows are written directly (not through the intake API) and then run through the same ingest hooks:
fingerprints, edges, rollups. Idempotent: trace ids are deterministic and a second run adds nothing.
Needs the registry seed (agents and prompt versions).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TextIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agentops.models import Agent, PromptVersion
from demo.handoffs import seed_root_causes
from insights.services import mark_failure_group
from monitoring.ingest import edges, invocations
from monitoring.ingest.fingerprint import failure_signature, fingerprint_run
from monitoring.models import Escalation, Run, Score, Step
from monitoring.rollups import insight_cells

DAYS = 14
ORCHESTRATOR_RUNS_PER_DAY = 36
INVOICE_RUNS_PER_DAY = 12
V3_SINCE_DAYS = 5  # the orchestrator's prompt v3 went live this many days ago
MARKER = "insights-demo"
ESCALATION = "agentops.escalation"
# Groups the operations manager has already looked at, by the failing tool or the escalation reason:
# (root-cause slug of the demo taxonomy, note).
MARKED_GROUPS = {
    "issue_refund": ("policy-restriction", "Refunds over 500 EUR need a finance approval: the refund agent "
                                           "should hand these over instead of calling issue_refund."),
    "get_invoice": ("tool-failure", "Billing API timeouts; raised with the billing team."),
    "missing knowledge": ("missing-knowledge", "Help-centre articles missing for order questions."),
}


def _trace_id(n: int) -> str:
    return hashlib.sha256(f"{MARKER}:{n}".encode()).hexdigest()[:32]


@dataclass
class TraceBuilder:
    """Collects the steps of one trace with consistent timing and parent links."""

    trace_id: str
    start: datetime
    steps: list[Step] = field(default_factory=list)
    escalations: list[tuple[Step, str, str]] = field(default_factory=list)
    clock_ms: float = 0.0

    def span(self, agent: Agent, kind: str, name: str, parent: Step | None, duration_ms: float, **fields) -> Step:
        span_id = hashlib.md5(f"{self.trace_id}:{len(self.steps)}".encode()).hexdigest()[:16]  # noqa: S324
        started = self.start + timedelta(milliseconds=self.clock_ms)
        self.clock_ms += duration_ms * 0.6
        step = Step(span_id=span_id, parent_span_id=parent.span_id if parent else "",
                    agent=agent, name=name, kind=kind, started_at=started,
                    ended_at=started + timedelta(milliseconds=duration_ms), duration_ms=duration_ms, **fields)
        self.steps.append(step)
        return step

    def llm(self, agent: Agent, parent: Step, rng: random.Random, **fields) -> Step:
        tokens_in, tokens_out = rng.randint(400, 1800), rng.randint(60, 300)
        price_in, price_out = {"gpt-4o": (2.5, 10), "claude-3-5-sonnet": (3, 15)}.get(agent.model, (0.15, 0.6))
        cost = Decimal(str(round((tokens_in * price_in + tokens_out * price_out) / 1e6, 6)))
        return self.span(agent, "llm", f"chat {agent.model}", parent, rng.uniform(500, 1800), operation="chat",
                         model=agent.model, input_tokens=tokens_in, output_tokens=tokens_out, cost=cost, **fields)

    def tool(self, agent: Agent, parent: Step, name: str, rng: random.Random, **fields) -> Step:
        return self.span(agent, "tool", f"execute_tool {name}", parent, rng.uniform(80, 600), operation="execute_tool",
                         tool_name=name, **fields)

    def escalate(self, step: Step, reason: str, summary: str) -> None:
        step.events = [{"name": ESCALATION, "attributes": {"agentops.escalation.reason": reason,
                                                           "agentops.escalation.summary": summary}}]
        self.escalations.append((step, reason, summary))


def _error(error_type: str, message: str) -> dict:
    return {"status": "error", "error_type": error_type, "error_message": message}


def _support_trace(b: TraceBuilder, agents: dict[str, Agent], rng: random.Random, v3: bool, day: int) -> None:
    orch = agents["support-orchestrator"]
    root = b.span(orch, "agent", "invoke_agent support-orchestrator", None, 0, operation="invoke_agent")
    order, amount = f"ORD-{rng.randint(10000, 99999)}", rng.randint(20, 900)
    roll = rng.random()
    if not v3 and roll < 0.25:
        # v2 guessed when the intent was unclear and routed nowhere.
        b.llm(orch, root, rng, **_error("RoutingError", f"unknown intent '{rng.choice(['cancel', 'upgrade', 'gdpr'])}' "
                                                          f"for message {rng.randint(1000, 9999)}"))
        return
    if v3 and roll < 0.05:
        b.escalate(b.llm(orch, root, rng), "unclear intent", "Asked once, still unclear: handing to a human.")
        return
    if v3 and roll < 0.075:
        b.llm(orch, root, rng, **_error("OutputValidationError", "reply truncated at 80 words, missing refund steps"))
        return
    b.llm(orch, root, rng)
    intent = rng.choices(["billing", "refund", "kb"], weights=[40, 35, 25])[0]
    if intent == "billing":
        sub = b.span(agents["billing-agent"], "agent", "invoke_agent billing-agent", root, 0, operation="invoke_agent")
        timeout_rate = 0.04 if day > 3 else 0.18  # the billing API got slower in the last days
        if rng.random() < timeout_rate:
            b.tool(sub.agent, sub, "get_invoice", rng, **_error(
                "TimeoutError", f"get_invoice timed out after {rng.randint(20, 40)}s for INV-{rng.randint(1000, 9999)}"))
            sub.status, sub.error_type = "error", "TimeoutError"
        else:
            b.tool(sub.agent, sub, "get_invoice", rng)
            b.llm(sub.agent, sub, rng)
    elif intent == "refund":
        sub = b.span(agents["refund-agent"], "agent", "invoke_agent refund-agent", root, 0, operation="invoke_agent")
        b.tool(sub.agent, sub, "refund_policy", rng)
        if amount > 500 and rng.random() < 0.5:
            b.tool(sub.agent, sub, "issue_refund", rng, **_error(
                "PermissionError", f"refund of {amount} EUR for {order} exceeds approval limit 500 EUR"))
            sub.status, sub.error_type = "error", "PermissionError"
        elif amount > 500:
            b.escalate(b.llm(sub.agent, sub, rng), "refund over approval limit", f"{order}: {amount} EUR refund.")
        else:
            b.tool(sub.agent, sub, "issue_refund", rng)
            b.llm(sub.agent, sub, rng)
    else:
        sub = b.span(agents["kb-search-agent"], "agent", "invoke_agent kb-search-agent", root, 0,
                     operation="invoke_agent")
        b.span(sub.agent, "retrieval", "embeddings text-embedding-3-small", sub, rng.uniform(50, 150),
               operation="embeddings")
        b.tool(sub.agent, sub, "kb.search", rng)
        if rng.random() < 0.12:
            b.escalate(b.llm(orch, root, rng), "missing knowledge", f"No help-centre article answers {order}.")
        else:
            b.llm(sub.agent, sub, rng)


def _invoice_trace(b: TraceBuilder, agents: dict[str, Agent], rng: random.Random) -> None:
    agent = agents["invoice-processor"]
    root = b.span(agent, "agent", "invoke_agent invoice-processor", None, 0, operation="invoke_agent")
    b.tool(agent, root, "ocr.extract", rng)
    b.llm(agent, root, rng)
    if rng.random() < 0.07:
        b.tool(agent, root, "erp.match_po", rng, **_error(
            "MismatchError", f"PO-{rng.randint(10000, 99999)} total differs by {rng.randint(1, 90)}.{rng.randint(0, 99)} EUR"))
    else:
        b.tool(agent, root, "erp.match_po", rng)


def _finish(b: TraceBuilder) -> None:
    """Close agent spans around their children (inner first, like a real tracer) and fail the root
    when any step failed (a run's status is its root's)."""
    for step in reversed(b.steps):
        children = [s for s in b.steps if s.parent_span_id == step.span_id]
        if step.kind == "agent" and children:
            step.ended_at = max(c.ended_at for c in children) + timedelta(milliseconds=5)
            step.duration_ms = (step.ended_at - step.started_at).total_seconds() * 1000
    root, errors = b.steps[0], [s for s in b.steps if s.status == "error"]
    if errors and root.status != "error":
        root.status, root.error_type = "error", errors[0].error_type


def _run_for(b: TraceBuilder, agent: Agent, prompt: PromptVersion | None, rng: random.Random) -> Run:
    root = b.steps[0]
    if prompt is not None:  # the agent's span carries its prompt version, as instrumented agents send it
        root.attributes = {**(root.attributes or {}), "agentops.prompt.version": str(prompt.version)}
    llm = [s for s in b.steps if s.kind == "llm"]
    failed = root.status == "error"
    quality = None if failed else round(min(1.0, max(0.0, rng.gauss(0.86 if prompt and prompt.version >= 3 else 0.74,
                                                                         0.08))), 3)
    return Run(
        trace_id=b.trace_id, agent=agent, root_span_id=root.span_id, name=root.name, started_at=root.started_at,
        ended_at=root.ended_at, duration_ms=root.duration_ms, status=root.status, error_type=root.error_type,
        model=agent.model, prompt_version=str(prompt.version) if prompt else "", prompt=prompt,
        step_count=len(b.steps), input_tokens=sum(s.input_tokens for s in llm),
        output_tokens=sum(s.output_tokens for s in llm), cost=sum((s.cost for s in llm), Decimal(0)),
        quality_score=quality, has_escalation=bool(b.escalations),
    )


def _build(agents: dict[str, Agent], prompts: dict[tuple[str, int], PromptVersion], now: datetime):
    rng = random.Random(7)
    traces: list[tuple[TraceBuilder, Run]] = []
    n = 0
    for day in range(DAYS, 0, -1):
        day_start = now - timedelta(days=day)
        for i in range(ORCHESTRATOR_RUNS_PER_DAY):
            b = TraceBuilder(_trace_id(n), day_start + timedelta(minutes=i * 1440 / ORCHESTRATOR_RUNS_PER_DAY
                                                                   + rng.uniform(0, 20)))
            n += 1
            v3 = day <= V3_SINCE_DAYS
            _support_trace(b, agents, rng, v3, day)
            _finish(b)
            prompt = prompts.get(("support-orchestrator", 3 if v3 else 2))
            traces.append((b, _run_for(b, agents["support-orchestrator"], prompt, rng)))
        for i in range(INVOICE_RUNS_PER_DAY):
            b = TraceBuilder(_trace_id(n), day_start + timedelta(minutes=i * 1440 / INVOICE_RUNS_PER_DAY + 7))
            n += 1
            _invoice_trace(b, agents, rng)
            _finish(b)
            traces.append((b, _run_for(b, agents["invoice-processor"], None, rng)))
    return traces


def seed(stdout: TextIO) -> None:
    needed = ["support-orchestrator", "billing-agent", "refund-agent", "kb-search-agent", "invoice-processor"]
    agents = Agent.objects.in_bulk(needed, field_name="slug")
    if len(agents) < len(needed):
        stdout.write("insights demo: registry agents missing, skipped (run the registry seed first)")
        return
    if Run.objects.filter(trace_id=_trace_id(0)).exists():
        stdout.write("insights demo: already seeded")
        return
    prompts = {(p.agent.slug, p.version): p for p in PromptVersion.objects.filter(agent__in=agents.values())
               .select_related("agent")}
    traces = _build(agents, prompts, timezone.now().replace(second=0, microsecond=0))
    with transaction.atomic():
        runs = Run.objects.bulk_create([run for _b, run in traces], batch_size=500)
        steps, escalations, scores = [], [], []
        for (b, _), run in zip(traces, runs, strict=True):
            for step in b.steps:
                step.run = run
            steps.extend(b.steps)
            escalations.extend(
                Escalation(run=run, agent=step.agent, trace_id=run.trace_id, span_id=step.span_id, reason=reason,
                           summary=summary, priority="normal", occurred_at=step.ended_at)
                for step, reason, summary in b.escalations
            )
            if run.quality_score is not None:
                scores.append(Score(run=run, name="helpfulness", value=run.quality_score, dedupe_key="demo:eval"))
            run.fingerprint = fingerprint_run(run, b.steps)
        Step.objects.bulk_create(steps, batch_size=1000)
        Escalation.objects.bulk_create(escalations, batch_size=500)
        Score.objects.bulk_create(scores, batch_size=1000)
        Run.objects.bulk_update([r for r in runs if r.fingerprint], ["fingerprint"], batch_size=500)
        insight_cells.record_signatures(failure_signature(run, b.steps) for (b, _), run in zip(traces, runs, strict=True)
                                        if run.fingerprint)
        ids = [r.pk for r in runs]
        for chunk in range(0, len(ids), 500):
            edges.refresh_for_runs(ids[chunk:chunk + 500])
            invocations.rebuild_for_runs(ids[chunk:chunk + 500])  # and their rollup cells
    failed = sum(1 for r in runs if r.fingerprint)
    marked = _mark_groups(traces)
    stdout.write(f"insights demo: {len(runs)} runs ({failed} failed or escalated), {len(steps)} steps, "
                 f"{marked} failure groups marked")


def _mark_groups(traces) -> int:
    """Annotate the groups of MARKED_GROUPS (on the first seed only, so an operator's edits stay)."""
    causes = seed_root_causes()
    owner = get_user_model().objects.filter(username="olivia").first()
    marked: set[str] = set()
    for b, run in traces:
        signature = failure_signature(run, b.steps) if run.fingerprint else None
        key = signature and (signature.tool_name or signature.message)
        if not key or key not in MARKED_GROUPS or run.fingerprint in marked:
            continue
        slug, note = MARKED_GROUPS[key]
        mark_failure_group(run.fingerprint, root_cause=causes[slug], note=note, owner=owner, by=owner)
        marked.add(run.fingerprint)
    return len(marked)
