"""Realistic agent traffic for demos and tests.

``TraceGenerator`` builds plans of traces (pure, seeded RNG, explicit timestamps) that tell a story the
dashboards can show:

- support-orchestrator routes customer chats to billing-agent, refund-agent and kb-search-agent
  sub-agents (nested ``invoke_agent`` spans; a fifth of the chats are first translated by
  translation-agent), which call tools (lookup_order, issue_refund, search_kb); refund-agent in turn
  invokes fraud-check-agent (a second level of nesting) before it decides;
- refund-agent, kb-search-agent and fraud-check-agent are never called directly: all their runs are
  invocations inside the orchestrator's traces; billing-agent and translation-agent are also called
  directly, so the same agent shows up under two callers;
- failures cluster: refund-agent's issue_refund times out at the payment gateway, fraud-check-agent's
  risk service is sometimes down (refund-agent then escalates), invoice-processor misses vat_id,
  kb-search-agent finds nothing (and escalates for missing knowledge); escalations are raised inside
  the sub-agents (refund-agent over its limit, fraud-check-agent on a refund-abuse pattern);
- escalations carry reasons (policy_restriction, missing_knowledge, customer_request, low_confidence,
  tool_failure) and priorities; every run gets a quality evaluation on its root, and every nested
  invocation one on its own span;
- prompt versions 1..3, billing-agent v3 clearly better than v2 (higher quality, fewer failures);
- models gpt-4o / gpt-4o-mini / claude-3-5-sonnet with realistic token counts and latencies.

A plan is emitted (``demo.emitters``) either through the real OpenTelemetry SDK (``SdkEmitter``:
OTLP/HTTP protobuf, gzip, to /v1/traces) or turned straight into ``SpanInput`` values
(``plan_to_span_inputs``) for the demo seed, which feeds them through the real normaliser and ingest
service in-process.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

# The emitters live in demo.emitters; callers import them from here too.
from demo.emitters import RegistryPromptRouter, SdkEmitter, plan_to_span_inputs  # noqa: F401
from demo.plans import SpanPlan, TracePlan
from demo.registry import PROMPTS as DEMO_PROMPTS
from monitoring.intake.normalize import STATUS_ERROR, STATUS_OK

TOP_LEVEL_AGENTS: dict[str, float] = {  # slug -> share of traffic (runs whose root is this agent)
    "support-orchestrator": 0.39,
    # billing-agent is also called directly (the help-centre widget): one agent, two callers, and runs
    # of its own where its prompt versions can be compared run for run.
    "billing-agent": 0.08,
    "it-helpdesk-agent": 0.10,
    "invoice-processor": 0.10,
    "sales-qualifier": 0.06,
    "contract-reviewer": 0.04,
    "hr-policy-bot": 0.08,
    "expense-auditor": 0.05,
    "translation-agent": 0.10,
}
# Never called directly: every run these agents have is an invocation inside another agent's trace
# (refund-agent and kb-search-agent by the support orchestrator, fraud-check-agent by refund-agent).
SUB_AGENTS_ONLY = ("refund-agent", "kb-search-agent", "fraud-check-agent")
ACTIVE_PROMPT_VERSIONS = {slug: active for slug, (_versions, active) in DEMO_PROMPTS.items()}
AGENT_MODELS = {
    "support-orchestrator": "claude-3-5-sonnet",
    "billing-agent": "gpt-4o-mini",
    "refund-agent": "gpt-4o",
    "kb-search-agent": "gpt-4o-mini",
    "fraud-check-agent": "gpt-4o-mini",
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
        """The answer the customer got: the run's root, judged on the whole trace."""
        failed = root.status == STATUS_ERROR or any(s.status == STATUS_ERROR for s in root.walk())
        base = {"contract-reviewer": 0.8, "sales-qualifier": 0.74}.get(agent, 0.84)
        billing = next((s for s in root.walk() if s.attributes.get("gen_ai.agent.name") == "billing-agent"), None)
        if billing is not None:
            # versions written in the demo after v3 behave about as well as v3
            base = {1: 0.7, 2: 0.72, 3: 0.91}.get(billing.attributes["agentops.prompt.version"], 0.89)
        self._score(root, base - (0.35 if failed else 0))

    def _evaluate_invocation(self, span: SpanPlan, agent: str) -> None:
        """A sub-agent's own answer to its caller, judged on its own span (its invocation's quality)."""
        base = {"fraud-check-agent": 0.86, "translation-agent": 0.9}.get(agent, 0.84)
        if agent == "billing-agent":
            base = {1: 0.7, 2: 0.72, 3: 0.91}.get(span.attributes["agentops.prompt.version"], 0.89)
        self._score(span, base - (0.35 if span.status == STATUS_ERROR else 0))

    def _score(self, span: SpanPlan, mean: float) -> None:
        score = max(0.0, min(1.0, self.rng.gauss(mean, 0.07)))
        label = "good" if score >= 0.8 else "fair" if score >= 0.6 else "poor"
        span.events.append(("gen_ai.evaluation.result", span.end, {
            "gen_ai.evaluation.name": "answer_quality", "gen_ai.evaluation.score.value": round(score, 3),
            "gen_ai.evaluation.score.label": label}))

    def _invoke(self, parent: SpanPlan, agent: str, start: datetime, request: str, **context: Any) -> SpanPlan:
        """A nested ``invoke_agent`` span of ``agent`` under ``parent``, built by ``_sub_<agent>`` and judged."""
        session = parent.attributes.get("gen_ai.conversation.id", "")
        sub = self.agent_span(agent, start, session, request)
        parent.children.append(sub)
        getattr(self, f"_sub_{agent.replace('-', '_')}")(sub, agent, **context)
        self._evaluate_invocation(sub, agent)
        return sub

    def _build_direct_sub_agent(self, agent: str, at: datetime, session: str) -> SpanPlan:
        question = self.rng.choice(QUESTIONS[agent]).format(n=self.rng.randrange(10000, 99999))
        root = self.agent_span(agent, at, session, question)
        getattr(self, f"_sub_{agent.replace('-', '_')}")(root, agent)
        return root

    _build_billing_agent = _build_direct_sub_agent

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
        cursor = at + timedelta(milliseconds=10)
        if self.rng.random() < 0.2:  # a customer writing in German, French or Spanish: translated first
            cursor = self._invoke(root, "translation-agent", cursor, question).end
        route = self.llm(agent, cursor, "route: " + question)
        root.children.append(route)
        sub = self._invoke(root, target, route.end + timedelta(milliseconds=5), question)
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

    def _sub_translation_agent(self, sub: SpanPlan, agent: str) -> None:
        translate = self.llm(agent, sub.start + timedelta(milliseconds=5), "translate to English")
        sub.children.append(translate)
        self._close(sub, translate.end)

    def _sub_refund_agent(self, sub: SpanPlan, agent: str) -> None:
        """Looks the order up, has fraud-check-agent assess it (a nested invocation), then decides."""
        order = self.rng.randrange(10000, 99999)
        lookup = self.tool("lookup_order", sub.start + timedelta(milliseconds=8), self.rng.uniform(30, 160),
                           {"order": order}, f'{{"order": {order}, "amount": {self.rng.randrange(20, 900)}}}')
        sub.children.append(lookup)
        check = self._invoke(sub, "fraud-check-agent", lookup.end + timedelta(milliseconds=3),
                             f"Assess refund risk for order {order}", order=order)
        if check.status == STATUS_ERROR:  # no risk verdict: a person decides
            self._close(sub, check.end)
            self._escalate(sub, "tool_failure", f"Risk check unavailable for order {order}; decide the refund manually.")
            return
        if any(e[0] == "agentops.escalation" for e in check.events):  # held for the fraud analyst
            self._close(sub, check.end)
            return
        decide = self.llm(agent, check.end, "check refund policy")
        sub.children.append(decide)
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

    def _sub_fraud_check_agent(self, sub: SpanPlan, agent: str, order: int = 0) -> None:
        """Scores the order's refund risk; the risk service is sometimes down (the invocation fails), and
        a suspicious pattern is escalated by this agent itself to a fraud analyst."""
        score = self.tool("risk_score", sub.start + timedelta(milliseconds=5), self.rng.uniform(40, 300),
                          {"order": order}, f'{{"score": {self.rng.randrange(1, 100)}}}')
        sub.children.append(score)
        roll = self.rng.random()
        if roll < 0.04:
            score.fail("RiskServiceError", "risk score service unavailable (HTTP 503)")
            self._close(sub, score.end)
            sub.fail("RiskServiceError", "risk score service unavailable (HTTP 503)")
            return
        judge = self.llm(agent, score.end, "assess refund risk")
        sub.children.append(judge)
        self._close(sub, judge.end)
        if roll < 0.10:
            self._escalate(sub, "low_confidence", f"Order {order} matches a refund-abuse pattern; a fraud analyst "
                                                   "should review it.")

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
