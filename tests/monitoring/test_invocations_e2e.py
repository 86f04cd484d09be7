"""Multi-agent traces end to end: the OpenTelemetry SDK sends a trace in which an orchestrator invokes
two sub-agents to the live OTLP endpoint, a real Celery worker process ingests it, and each agent's own
figures are read back through the product's queries and pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from handoffs.models import Ticket
from insights.agent_map import interaction_edges
from monitoring.models import InboxBatch, Invocation, Run, Step
from tests.factories import make_api_key, make_price
from tests.handoffs.factories import make_queue
from tests.monitoring.celery_helpers import purge_broker, start_subprocess_worker, stop, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ORCHESTRATOR, FAILING, ESCALATING = "support-orchestrator", "billing-agent", "refund-agent"


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000


@dataclass
class Sent:
    trace_id: str
    spans: int
    start: datetime


def send_orchestrated_trace(endpoint: str, token: str, start: datetime) -> Sent:
    """What an instrumented multi-agent service does, with explicit times so the figures are exact.

    support-orchestrator (3000 ms, chat 100 + 20 tokens, answer scored 0.9)
      -> invoke_agent billing-agent (1200 ms, chat 200 + 40 tokens, fails: InsufficientContextError)
      -> invoke_agent refund-agent (800 ms, chat 800 + 150 tokens, scored 0.35, escalates to a human)

    A SimpleSpanProcessor exports each span when it ends, one request per span: the worker receives the
    trace in eight batches, children before their parents, as a trace sent in pieces arrives."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support-desk"}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers={"Authorization": f"Bearer {token}"},
                                timeout=30)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("e2e.multi_agent")
    at = lambda ms: _ns(start + timedelta(milliseconds=ms))  # noqa: E731

    def invoke(agent: str, parent, begin_ms: int):
        context = trace.set_span_in_context(parent) if parent is not None else None
        return tracer.start_span(f"invoke_agent {agent}", context=context, start_time=at(begin_ms), attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.agent.id": agent,
            "gen_ai.conversation.id": "conv-e2e"})

    def chat(parent, begin_ms: int, end_ms: int, input_tokens: int, output_tokens: int) -> None:
        span = tracer.start_span("chat gpt-4o", context=trace.set_span_in_context(parent), start_time=at(begin_ms),
                                 attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                             "gen_ai.response.model": "gpt-4o",
                                             "gen_ai.usage.input_tokens": input_tokens,
                                             "gen_ai.usage.output_tokens": output_tokens})
        span.end(end_time=at(end_ms))

    def evaluate(span, value: float, when_ms: int) -> None:
        span.add_event("gen_ai.evaluation.result", timestamp=at(when_ms), attributes={
            "gen_ai.evaluation.name": "answer_quality", "gen_ai.evaluation.score.value": value})

    root = invoke(ORCHESTRATOR, None, 0)
    chat(root, 10, 200, 100, 20)

    failing = invoke(FAILING, root, 300)
    chat(failing, 310, 900, 200, 40)
    lookup = tracer.start_span("execute_tool lookup_invoice", context=trace.set_span_in_context(failing),
                               start_time=at(950), attributes={"gen_ai.operation.name": "execute_tool",
                                                               "gen_ai.tool.name": "lookup_invoice"})
    lookup.end(end_time=at(1450))
    failing.set_attribute("error.type", "InsufficientContextError")
    failing.set_status(Status(StatusCode.ERROR, "could not match the charge to an invoice"))
    failing.end(end_time=at(1500))

    escalating = invoke(ESCALATING, root, 1600)
    chat(escalating, 1610, 2200, 800, 150)
    escalating.add_event("agentops.escalation", timestamp=at(2300), attributes={
        "agentops.escalation.reason": "policy_restriction", "agentops.escalation.priority": "high",
        "agentops.escalation.summary": "Refund over the approval limit"})
    evaluate(escalating, 0.35, 2350)
    escalating.end(end_time=at(2400))

    chat(root, 2500, 2950, 0, 0)  # the reply is composed from the sub-agents' answers (a cached call)
    evaluate(root, 0.9, 2990)
    root.set_status(Status(StatusCode.OK))
    root.end(end_time=at(3000))
    trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return Sent(trace_id, 8, start)


def ingested(sent: Sent) -> bool:
    return (Step.objects.filter(run__trace_id=sent.trace_id).count() == sent.spans
            and not InboxBatch.objects.filter(status=InboxBatch.Status.PENDING).exists()
            and Ticket.objects.exists())


def close(value: float | None, expected: float) -> bool:
    """Latency quantiles come from the rollup sketch: within 1 % of the exact value."""
    return value is not None and abs(value - expected) <= expected * 0.01


def figure_totals(response, name: str) -> dict[str, float]:
    figure = json.loads(dict(response.context["figures"])[name])
    return {t["name"]: sum(v for v in t["y"] if v is not None) for t in figure["data"]}


def test_each_agent_of_an_sdk_trace_has_its_own_runs_figures_ticket_and_map_edge(live_server, ops_client):
    make_price("gpt-4o", inp="2.50", out="10.00")
    make_queue("Support", is_default=True)
    _, token = make_api_key("multi-agent")
    purge_broker()
    worker = start_subprocess_worker()
    try:
        sent = send_orchestrated_trace(live_server.url, token, timezone.now() - timedelta(minutes=3))
        wait_for(lambda: ingested(sent), timeout=120, what="the worker to ingest the trace and open the ticket")
    finally:
        stop(worker)

    # One customer task, three invocations, each in its caller's place.
    run = Run.objects.select_related("agent").get()
    assert (run.trace_id, run.agent.slug, run.status) == (sent.trace_id, ORCHESTRATOR, "ok")
    invocations = {i.agent.slug: i for i in Invocation.objects.select_related("agent", "caller_agent")}
    assert set(invocations) == {ORCHESTRATOR, FAILING, ESCALATING}
    assert invocations[ORCHESTRATOR].caller_agent is None
    assert {invocations[a].caller_agent.slug for a in (FAILING, ESCALATING)} == {ORCHESTRATOR}

    # The overview: each agent's tile counts its own invocation; the fleet tile counts the one task.
    page = ops_client.get(reverse("monitoring:overview"), {"range": "1h"})
    assert page.status_code == 200
    tiles = {tile.agent.slug: tile.current for tile in page.context["tiles"]}
    fleet = page.context["fleet"].current
    expected = {  # agent: (runs, errors, latency ms, input, output tokens, cost, quality, escalations)
        ORCHESTRATOR: (1, 0, 3000, 100, 20, Decimal("0.000450"), 0.9, 0),
        FAILING: (1, 1, 1200, 200, 40, Decimal("0.000900"), None, 0),
        ESCALATING: (1, 0, 800, 800, 150, Decimal("0.003500"), 0.35, 1),
    }
    for agent, (runs, errors, latency, inp, out, cost, quality, escalations) in expected.items():
        tile = tiles[agent]
        assert (tile.runs, tile.errors, tile.input_tokens, tile.output_tokens) == (runs, errors, inp, out), agent
        assert (tile.cost, tile.quality, tile.escalations) == (cost, quality, escalations), agent
        assert close(tile.p50, latency) and close(tile.p99, latency), (agent, tile.p50, tile.p99)
    assert (fleet.runs, fleet.errors, fleet.escalations) == (1, 0, 1)
    assert (fleet.input_tokens, fleet.output_tokens, fleet.cost) == (1100, 210, Decimal("0.004850"))
    assert close(fleet.p50, 3000)

    # The sub-agents' own dashboards: tile and charts from their invocations.
    for agent in (FAILING, ESCALATING):
        runs, errors, latency, inp, out, cost, quality, escalations = expected[agent]
        page = ops_client.get(reverse("monitoring:agent_dashboard", args=[agent]), {"range": "1h"})
        assert page.status_code == 200
        tile = page.context["tile"]
        assert (tile.current.runs, tile.current.errors, tile.current.tokens) == (runs, errors, inp + out)
        assert tile.current.cost_per_run == cost and tile.current.quality == quality
        assert close(tile.current.p95, latency)
        assert figure_totals(page, "chart-volume") == {"runs": runs, "errors": errors}
        assert figure_totals(page, "chart-cost")["tokens"] == inp + out
        assert close(figure_totals(page, "chart-latency")["p50"], latency)

    # The escalation is the refund agent's: its ticket, its dashboard's escalations, its map edge to a human.
    ticket = Ticket.objects.select_related("agent", "run").get()
    assert (ticket.agent.slug, ticket.run.trace_id, ticket.reason) == (ESCALATING, sent.trace_id, "policy_restriction")
    assert [e.agent.slug for e in page.context["escalations"]] == [ESCALATING]

    # The agent map: orchestrator -> each sub-agent, with the failing call counted as an error.
    edges = {(e.source.slug, e.target_agent.slug if e.target_agent else e.target_kind): (e.calls, e.errors)
             for e in interaction_edges(sent.start - timedelta(minutes=1), timezone.now())}
    assert edges[(ORCHESTRATOR, FAILING)] == (1, 1)
    assert edges[(ORCHESTRATOR, ESCALATING)] == (1, 0)
    assert edges[(ESCALATING, "human")][0] == 1
    map_page = ops_client.get(reverse("insights:agent_map"), {"range": "1h"})
    assert map_page.status_code == 200
    assert all(name in map_page.content.decode() for name in (FAILING, ESCALATING))
