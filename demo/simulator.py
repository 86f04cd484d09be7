"""Realistic agent traffic for demos and tests.

``TraceGenerator`` builds plans of traces (pure, seeded RNG, explicit timestamps) that tell a story the
dashboards can show:

- support-orchestrator routes customer chats to billing-agent, refund-agent and kb-search-agent
  sub-agents, which call tools (lookup_order, issue_refund, search_kb);
- failures cluster: refund-agent's issue_refund times out at the payment gateway, invoice-processor
  misses vat_id, kb-search-agent finds nothing (and escalates for missing knowledge);
- escalations carry reasons (policy_restriction, missing_knowledge, customer_request, low_confidence,
  tool_failure) and priorities; every run gets a quality evaluation;
- prompt versions 1..3, billing-agent v3 clearly better than v2 (higher quality, fewer failures);
- models gpt-4o / gpt-4o-mini / claude-3-5-sonnet with realistic token counts and latencies.

A plan is emitted either through the real OpenTelemetry SDK (``SdkEmitter``: OTLP/HTTP protobuf,
gzip, to /v1/traces) or turned straight into ``SpanInput`` values (``plan_to_span_inputs``) for the
demo seed, which feeds them through the real normaliser and ingest service in-process.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from agentops.routing import gets_candidate
from demo.registry import PROMPTS as DEMO_PROMPTS
from monitoring.intake.normalize import STATUS_ERROR, STATUS_OK, STATUS_UNSET, EventInput, SpanInput

TOP_LEVEL_AGENTS: dict[str, float] = {  # slug -> share of traffic (runs whose root is this agent)
    "support-orchestrator": 0.30,
    # The support sub-agents are also called directly (the help-centre widget), so they have runs of
    # their own: that is where billing-agent's prompt versions can be compared run for run.
    "billing-agent": 0.08,
    "refund-agent": 0.05,
    "kb-search-agent": 0.04,
    "it-helpdesk-agent": 0.10,
    "invoice-processor": 0.10,
    "sales-qualifier": 0.06,
    "contract-reviewer": 0.04,
    "hr-policy-bot": 0.08,
    "expense-auditor": 0.05,
    "translation-agent": 0.10,
}
SUPPORT_SUB_AGENTS = ("billing-agent", "refund-agent", "kb-search-agent")
ACTIVE_PROMPT_VERSIONS = {slug: active for slug, (_versions, active) in DEMO_PROMPTS.items()}
AGENT_MODELS = {
    "support-orchestrator": "claude-3-5-sonnet",
    "billing-agent": "gpt-4o-mini",
    "refund-agent": "gpt-4o",
    "kb-search-agent": "gpt-4o-mini",
    "it-helpdesk-agent": "gpt-4o",
    "invoice-processor": "gpt-4o-mini",
    "sales-qualifier": "gpt-4o-mini",
    "contract-reviewer": "claude-3-5-sonnet",
    "hr-policy-bot": "gpt-4o-mini",
    "expense-auditor": "gpt-4o",
    "translation-agent": "gpt-4o-mini",
}
# Milliseconds per output token and fixed overhead: a rough shape of each model's latency.
MODEL_SPEED = {"gpt-4o": (12.0, 350), "gpt-4o-mini": (7.0, 220), "claude-3-5-sonnet": (14.0, 450)}
ESCALATION_PRIORITY = {
    "policy_restriction": "high", "missing_knowledge": "normal", "customer_request": "normal",
    "low_confidence": "low", "tool_failure": "urgent",
}
QUESTIONS = {
    "billing-agent": ["Why was I charged twice this month?", "Can I get a copy of invoice INV-{n}?",
                      "My card was declined, what now?"],
    "refund-agent": ["I want a refund for order {n}.", "The item from order {n} arrived broken, refund please."],
    "kb-search-agent": ["How do I change my delivery address?", "Do you ship to Norway?",
                        "How do I reset two-factor login?"],
}


@dataclass
class SpanPlan:
    name: str
    start: datetime
    duration_ms: float
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)
    status: int = STATUS_UNSET
    status_message: str = ""
    children: list[SpanPlan] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=self.duration_ms)

    def fail(self, error_type: str, message: str) -> None:
        self.status, self.status_message = STATUS_ERROR, message
        self.attributes["error.type"] = error_type
        self.events.append(("exception", self.end, {"exception.type": error_type, "exception.message": message}))

    def walk(self) -> Iterator[SpanPlan]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class TracePlan:
    service: str  # resource service.name: the top-level agent's process
    root: SpanPlan

    def end_at(self, moment: datetime) -> TracePlan:
        """Shift every timestamp so the run ends at ``moment`` (live traffic never ends in the future)."""
        delta = self.root.end - moment
        for node in self.root.walk():
            node.start -= delta
            node.events = [(name, at - delta, attrs) for name, at, attrs in node.events]
        return self


class TraceGenerator:
    """Deterministic for a given seed. ``prompt_version_at`` lets history show prompt rollouts."""

    def __init__(self, seed: int | None = None, *, history_start: datetime | None = None,
                 history_end: datetime | None = None,
                 prompt_router: Callable[[str, str], int | None] | None = None) -> None:
        self.rng = random.Random(seed)
        self.history_start, self.history_end = history_start, history_end
        # Live traffic can ask the registry which version a session gets (rollouts); None = built in.
        self.prompt_router = prompt_router

    # -- choices -------------------------------------------------------------------------------

    def prompt_version(self, agent: str, at: datetime, session: str = "") -> int:
        """billing-agent moved v1 -> v2 -> v3 over the history (v3 for the latest part and live);
        other agents mostly run their newest version. Live, the registry's answer wins when asked."""
        if self.prompt_router is not None:
            routed = self.prompt_router(agent, session)
            if routed is not None:
                return routed
        if agent == "billing-agent" and self.history_start and self.history_end:
            span = (self.history_end - self.history_start).total_seconds() or 1
            progress = (at - self.history_start).total_seconds() / span
            return 1 if progress < 0.2 else 2 if progress < 0.6 else 3
        if agent == "billing-agent":
            return 3
        # Other agents run the version the demo registry has active (demo.registry), so every
        # version the simulator reports exists in the registry.
        return ACTIVE_PROMPT_VERSIONS.get(agent, 1)

    def _tokens(self, low: int, high: int) -> int:
        return int(self.rng.triangular(low, high, low + (high - low) * 0.3))

    def llm(self, agent: str, start: datetime, purpose: str, *, big: bool = False) -> SpanPlan:
        model = AGENT_MODELS.get(agent, "gpt-4o-mini")
        input_tokens = self._tokens(1500, 9000) if big else self._tokens(250, 2500)
        output_tokens = self._tokens(150, 1200) if big else self._tokens(30, 450)
        per_token, overhead = MODEL_SPEED[model]
        duration = overhead + output_tokens * per_token * self.rng.uniform(0.7, 1.4)
        return SpanPlan(
            name=f"chat {model}", start=start, duration_ms=duration, status=STATUS_OK,
            attributes={
                "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic" if "claude" in model else "openai",
                "gen_ai.request.model": model, "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
                "gen_ai.input.messages": f'[{{"role": "user", "content": "{purpose}"}}]',
            },
        )

    def tool(self, name: str, start: datetime, duration_ms: float, args: dict[str, Any], result: str) -> SpanPlan:
        return SpanPlan(
            name=f"execute_tool {name}", start=start, duration_ms=duration_ms, status=STATUS_OK,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                        "gen_ai.tool.call.arguments": str(args).replace("'", '"'), "gen_ai.tool.call.result": result},
        )

    def agent_span(self, agent: str, start: datetime, session: str, question: str) -> SpanPlan:
        return SpanPlan(
            name=f"invoke_agent {agent}", start=start, duration_ms=0, status=STATUS_OK,
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.agent.id": agent,
                        "gen_ai.conversation.id": session, "agentops.prompt.version": self.prompt_version(agent, start, session),
                        "input.value": question},
        )

    # -- building ------------------------------------------------------------------------------

    def trace(self, at: datetime, agent: str | None = None) -> TracePlan:
        """One run starting at ``at``."""
        agent = agent or self.rng.choices(list(TOP_LEVEL_AGENTS), weights=list(TOP_LEVEL_AGENTS.values()))[0]
        session = f"sess-{self.rng.randrange(10**8):08d}"
        builder = getattr(self, f"_build_{agent.replace('-', '_')}", self._build_simple)
        root = builder(agent, at, session)
        self._evaluate(root, agent)
        return TracePlan(service=agent, root=root)

    def _close(self, span: SpanPlan, cursor: datetime, tail_ms: float = 40) -> None:
        span.duration_ms = (cursor - span.start).total_seconds() * 1000 + tail_ms

    def _escalate(self, span: SpanPlan, reason: str, summary: str) -> None:
        span.events.append(("agentops.escalation", span.end, {
            "agentops.escalation.reason": reason, "agentops.escalation.summary": summary,
            "agentops.escalation.priority": ESCALATION_PRIORITY[reason]}))
        span.attributes["agentops.escalated"] = True

    def _evaluate(self, root: SpanPlan, agent: str) -> None:
        failed = root.status == STATUS_ERROR or any(s.status == STATUS_ERROR for s in root.walk())
        base = {"contract-reviewer": 0.8, "sales-qualifier": 0.74}.get(agent, 0.84)
        billing = next((s for s in root.walk() if s.attributes.get("gen_ai.agent.name") == "billing-agent"), None)
        if billing is not None:
            # versions written in the demo after v3 behave about as well as v3
            base = {1: 0.7, 2: 0.72, 3: 0.91}.get(billing.attributes["agentops.prompt.version"], 0.89)
        score = max(0.0, min(1.0, self.rng.gauss(base - (0.35 if failed else 0), 0.07)))
        label = "good" if score >= 0.8 else "fair" if score >= 0.6 else "poor"
        root.events.append(("gen_ai.evaluation.result", root.end, {
            "gen_ai.evaluation.name": "answer_quality", "gen_ai.evaluation.score.value": round(score, 3),
            "gen_ai.evaluation.score.label": label}))

    def _build_direct_sub_agent(self, agent: str, at: datetime, session: str) -> SpanPlan:
        question = self.rng.choice(QUESTIONS[agent]).format(n=self.rng.randrange(10000, 99999))
        root = self.agent_span(agent, at, session, question)
        getattr(self, f"_sub_{agent.replace('-', '_')}")(root, agent)
        return root

    _build_billing_agent = _build_refund_agent = _build_kb_search_agent = _build_direct_sub_agent

    def _build_simple(self, agent: str, at: datetime, session: str) -> SpanPlan:
        root = self.agent_span(agent, at, session, f"{agent} task")
        cursor = at + timedelta(milliseconds=self.rng.uniform(5, 30))
        calls = 1 + (self.rng.random() < 0.4)
        for _ in range(calls):
            step = self.llm(agent, cursor, "task", big=agent in ("contract-reviewer", "expense-auditor"))
            root.children.append(step)
            cursor = step.end
        self._close(root, cursor)
        if agent == "contract-reviewer" and self.rng.random() < 0.08:
            self._escalate(root, "low_confidence", "Unusual indemnity clause; legal should review.")
        if agent == "it-helpdesk-agent" and self.rng.random() < 0.05:
            self._escalate(root, "policy_restriction", "Admin rights request needs manager approval.")
        if self.rng.random() < 0.01:
            root.fail("RateLimitError", "429 from model provider: rate limit exceeded")
        return root

    def _build_invoice_processor(self, agent: str, at: datetime, session: str) -> SpanPlan:
        root = self.agent_span(agent, at, session, f"Process invoice INV-{self.rng.randrange(10**5)}")
        extract = self.llm(agent, at + timedelta(milliseconds=15), "extract invoice fields", big=True)
        root.children.append(extract)
        cursor = extract.end
        if self.rng.random() < 0.09:
            tool = self.tool("post_invoice", cursor, self.rng.uniform(40, 120), {"supplier": "ACME GmbH"}, "")
            tool.fail("ValidationError", "missing field vat_id")
            root.children.append(tool)
            cursor = tool.end
            self._close(root, cursor)
            root.fail("ValidationError", "missing field vat_id")
            return root
        tool = self.tool("post_invoice", cursor, self.rng.uniform(60, 200), {"supplier": "ACME GmbH"}, '{"ok": true}')
        root.children.append(tool)
        self._close(root, tool.end)
        return root

    def _build_support_orchestrator(self, agent: str, at: datetime, session: str) -> SpanPlan:
        target = self.rng.choices(["billing-agent", "refund-agent", "kb-search-agent"], weights=[4, 3, 3])[0]
        question = self.rng.choice(QUESTIONS[target]).format(n=self.rng.randrange(10000, 99999))
        root = self.agent_span(agent, at, session, question)
        route = self.llm(agent, at + timedelta(milliseconds=10), "route: " + question)
        root.children.append(route)
        sub = self.agent_span(target, route.end + timedelta(milliseconds=5), session, question)
        root.children.append(sub)
        getattr(self, f"_sub_{target.replace('-', '_')}")(sub, target)
        cursor = sub.end
        answer = self.llm(agent, cursor, "compose reply")
        root.children.append(answer)
        self._close(root, answer.end)
        if sub.status == STATUS_ERROR:
            root.fail(sub.attributes["error.type"], sub.status_message)
        escalation = next((e for e in sub.events if e[0] == "agentops.escalation"), None)
        if escalation is None and self.rng.random() < 0.03:
            self._escalate(root, "customer_request", "Customer asked to speak to a person.")
        return root

    def _sub_billing_agent(self, sub: SpanPlan, agent: str) -> None:
        version = sub.attributes["agentops.prompt.version"]
        lookup = self.tool("lookup_order", sub.start + timedelta(milliseconds=8), self.rng.uniform(30, 160),
                           {"customer": "C-1"}, '{"invoices": 3}')
        think = self.llm(agent, lookup.end, "explain the charge")
        sub.children += [lookup, think]
        self._close(sub, think.end)
        failure_rate = {1: 0.09, 2: 0.1, 3: 0.02}.get(version, 0.03)
        if self.rng.random() < failure_rate:
            sub.fail("InsufficientContextError", "could not match the charge to an invoice")

    def _sub_refund_agent(self, sub: SpanPlan, agent: str) -> None:
        order = self.rng.randrange(10000, 99999)
        lookup = self.tool("lookup_order", sub.start + timedelta(milliseconds=8), self.rng.uniform(30, 160),
                           {"order": order}, f'{{"order": {order}, "amount": {self.rng.randrange(20, 900)}}}')
        decide = self.llm(agent, lookup.end, "check refund policy")
        sub.children += [lookup, decide]
        cursor = decide.end
        roll = self.rng.random()
        if roll < 0.14:
            refund = self.tool("issue_refund", cursor, 30_000 + self.rng.uniform(0, 50), {"order": order}, "")
            refund.fail("TimeoutError", f"payment gateway timeout after 30s (order {order})")
            sub.children.append(refund)
            self._close(sub, refund.end)
            sub.fail("TimeoutError", f"payment gateway timeout after 30s (order {order})")
            if self.rng.random() < 0.5:
                self._escalate(sub, "tool_failure", f"Refund for order {order} could not be issued (gateway timeout).")
            return
        if roll < 0.22:
            self._close(sub, cursor)
            self._escalate(sub, "policy_restriction", f"Refund for order {order} is over the approval limit.")
            return
        refund = self.tool("issue_refund", cursor, self.rng.uniform(200, 1200), {"order": order}, '{"status": "done"}')
        sub.children.append(refund)
        self._close(sub, refund.end)

    def _sub_kb_search_agent(self, sub: SpanPlan, agent: str) -> None:
        empty = self.rng.random() < 0.12
        search = SpanPlan(
            name="retrieval search_kb", start=sub.start + timedelta(milliseconds=6),
            duration_ms=self.rng.uniform(40, 260), status=STATUS_OK,
            attributes={"gen_ai.operation.name": "retrieval", "gen_ai.tool.name": "search_kb",
                        "gen_ai.request.model": "text-embedding-3-small",
                        "gen_ai.tool.call.result": "[]" if empty else '[{"article": "KB-112"}]'},
        )
        sub.children.append(search)
        if empty:
            self._close(sub, search.end)
            self._escalate(sub, "missing_knowledge", "No help-centre article answers this question.")
            return
        summarize = self.llm(agent, search.end, "summarise article")
        sub.children.append(summarize)
        self._close(sub, summarize.end)

    def history(self, start: datetime, end: datetime, runs: int) -> Iterator[TracePlan]:
        """``runs`` traces spread over [start, end), busier on weekday working hours."""
        seconds = (end - start).total_seconds()
        produced = 0
        while produced < runs:
            at = start + timedelta(seconds=self.rng.uniform(0, seconds))
            weight = 1.0 if 7 <= at.hour < 19 and at.weekday() < 5 else 0.35
            if self.rng.random() > weight:
                continue
            produced += 1
            yield self.trace(at)


# ---------------------------------------------------------------------------------------------
# Emitters
# ---------------------------------------------------------------------------------------------


def _ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def plan_to_span_inputs(plan: TracePlan) -> list[SpanInput]:
    """The spans an OpenTelemetry SDK would send for ``plan`` (fresh random ids)."""
    trace_id = secrets.token_hex(16)
    spans: list[SpanInput] = []

    def visit(node: SpanPlan, parent_id: str) -> None:
        span_id = secrets.token_hex(8)
        spans.append(SpanInput(
            trace_id=trace_id, span_id=span_id, parent_span_id=parent_id, name=node.name,
            start_unix_nano=_ns(node.start), end_unix_nano=_ns(node.end), status_code=node.status,
            status_message=node.status_message, attributes=dict(node.attributes),
            events=[EventInput(name, _ns(at), dict(attrs)) for name, at, attrs in node.events],
            resource={"service.name": plan.service},
        ))
        for child in node.children:
            visit(child, span_id)

    visit(plan.root, "")
    return spans


class RegistryPromptRouter:
    """Asks the registry which prompt version an agent serves (``GET /api/v1/agents/<slug>/prompt``),
    as an agent that takes part in rollouts would, and splits sessions with the same hash the
    registry uses. Each agent's answer is kept ``ttl`` seconds; an agent the registry does not know
    (or an unreachable server) falls back to the simulator's built-in versions (None)."""

    def __init__(self, endpoint: str, api_key: str, ttl: float = 15.0, timeout: float = 2.0) -> None:
        self.endpoint, self.api_key, self.ttl, self.timeout = endpoint.rstrip("/"), api_key, ttl, timeout
        self._cache: dict[str, tuple[float, dict | None]] = {}

    def __call__(self, agent: str, session: str) -> int | None:
        answer = self._answer(agent)
        if answer is None:
            return None
        rollout = answer.get("rollout")
        if rollout and session and gets_candidate(agent, session, rollout["share"]):
            return rollout["candidate_version"]
        return answer["version"]

    def _answer(self, agent: str) -> dict | None:
        now = time.monotonic()
        cached = self._cache.get(agent)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            response = requests.get(f"{self.endpoint}/api/v1/agents/{agent}/prompt", timeout=self.timeout,
                                    headers={"Authorization": f"Bearer {self.api_key}"})
            answer = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            answer = None
        self._cache[agent] = (now, answer)
        return answer


class SdkEmitter:
    """Sends plans through the real OpenTelemetry SDK: one TracerProvider per agent service, each with
    a BatchSpanProcessor and an OTLP/HTTP protobuf exporter using gzip."""

    def __init__(self, endpoint: str, api_key: str, *, timeout: float = 10.0) -> None:
        self.endpoint = endpoint.rstrip("/") + "/v1/traces"
        self.api_key, self.timeout = api_key, timeout
        self._providers: dict[str, Any] = {}

    def _tracer(self, service: str):
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if service not in self._providers:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            exporter = OTLPSpanExporter(
                endpoint=self.endpoint, headers={"Authorization": f"Bearer {self.api_key}"},
                compression=Compression.Gzip, timeout=self.timeout,
            )
            provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
            self._providers[service] = provider
        return self._providers[service].get_tracer("agentops.simulator")

    def emit(self, plan: TracePlan) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        tracer = self._tracer(plan.service)
        codes = {STATUS_OK: StatusCode.OK, STATUS_ERROR: StatusCode.ERROR}

        def visit(node: SpanPlan, parent) -> None:
            context = trace.set_span_in_context(parent) if parent is not None else None
            span = tracer.start_span(node.name, context=context, start_time=_ns(node.start),
                                     attributes=node.attributes)
            for child in node.children:
                visit(child, span)
            for name, at, attrs in node.events:
                span.add_event(name, attributes=attrs, timestamp=_ns(at))
            if node.status in codes:
                span.set_status(Status(codes[node.status], node.status_message or None))
            span.end(end_time=_ns(node.end))

        visit(plan.root, None)

    def flush(self) -> None:
        for provider in self._providers.values():
            provider.force_flush()

    def shutdown(self) -> None:
        for provider in self._providers.values():
            provider.shutdown()
