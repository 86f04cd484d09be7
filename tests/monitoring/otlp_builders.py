"""Builders for OTLP requests and SpanInput values used by the intake tests."""

from __future__ import annotations

import gzip
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from monitoring.intake.normalize import EventInput, SpanInput

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ns(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000


def span_input(
    *, trace_id: str | None = None, span_id: str | None = None, parent: str = "", name: str = "chat gpt-4o",
    start: datetime = T0, duration_ms: float = 100, attributes: dict[str, Any] | None = None,
    events: list[EventInput] | None = None, status: int = 0, service: str = "svc", message: str = "",
) -> SpanInput:
    return SpanInput(
        trace_id=trace_id or secrets.token_hex(16), span_id=span_id or secrets.token_hex(8), parent_span_id=parent,
        name=name, start_unix_nano=ns(start), end_unix_nano=ns(start + timedelta(milliseconds=duration_ms)),
        status_code=status, status_message=message, attributes=dict(attributes or {}), events=list(events or []),
        resource={"service.name": service},
    )


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def kvs(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def otlp_request(spans: list[SpanInput], service: str = "svc") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(kvs({"service.name": service}))
    scope = resource_spans.scope_spans.add()
    for s in spans:
        span = Span(
            trace_id=bytes.fromhex(s.trace_id), span_id=bytes.fromhex(s.span_id),
            parent_span_id=bytes.fromhex(s.parent_span_id), name=s.name,
            start_time_unix_nano=s.start_unix_nano, end_time_unix_nano=s.end_unix_nano,
            status=Status(code=s.status_code, message=s.status_message), kind=Span.SPAN_KIND_INTERNAL,
        )
        span.attributes.extend(kvs(s.attributes))
        for e in s.events:
            event = span.events.add()
            event.name, event.time_unix_nano = e.name, e.time_unix_nano
            event.attributes.extend(kvs(e.attributes))
        scope.spans.append(span)
    return request


def protobuf_body(spans: list[SpanInput], gzipped: bool = False) -> bytes:
    body = otlp_request(spans).SerializeToString()
    return gzip.compress(body) if gzipped else body


def agent_trace(agent: str = "refund-agent", *, start: datetime = T0, error: bool = False) -> list[SpanInput]:
    """invoke_agent root -> chat (llm, tokens) + execute_tool; optional tool failure propagated to the root."""
    trace_id, root_id = secrets.token_hex(16), secrets.token_hex(8)
    root = span_input(trace_id=trace_id, span_id=root_id, name=f"invoke_agent {agent}", start=start, duration_ms=900,
                      attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent,
                                  "gen_ai.conversation.id": "sess-1", "agentops.prompt.version": "2"},
                      status=2 if error else 1)
    if error:
        root.attributes["error.type"] = "TimeoutError"
    llm = span_input(trace_id=trace_id, parent=root_id, name="chat gpt-4o", start=start + timedelta(milliseconds=10),
                     duration_ms=400, attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                                  "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200})
    tool = span_input(trace_id=trace_id, parent=root_id, name="execute_tool issue_refund",
                      start=start + timedelta(milliseconds=450), duration_ms=300, status=2 if error else 0,
                      attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "issue_refund",
                                  **({"error.type": "TimeoutError"} if error else {})})
    return [root, llm, tool]


def orchestrated_trace(*, start: datetime = T0) -> list[SpanInput]:
    """support-orchestrator (prompt 3) invokes refund-agent (prompt 2; its tool fails, so does it) and
    kb-search-agent (prompt 1; escalates, scored 0.4); the orchestrator's answer is scored 0.9.

    Tokens: orchestrator 100/20 + 200/40, refund-agent 800/150, kb-search-agent 300/50 (gpt-4o)."""
    trace_id, root_id, refund_id, kb_id = (secrets.token_hex(16), *(secrets.token_hex(8) for _ in range(3)))

    def agent(span_id: str, parent: str, slug: str, version: str, at: int, ms: float, **kw) -> SpanInput:
        return span_input(trace_id=trace_id, span_id=span_id, parent=parent, name=f"invoke_agent {slug}",
                          start=start + timedelta(milliseconds=at), duration_ms=ms, attributes={
                              "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": slug,
                              "agentops.prompt.version": version, **kw.pop("attributes", {})}, **kw)

    def chat(parent: str, at: int, inp: int, out: int) -> SpanInput:
        return span_input(trace_id=trace_id, parent=parent, name="chat gpt-4o", start=start + timedelta(milliseconds=at),
                          duration_ms=90, attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                                      "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out})

    def evaluation(value: float) -> EventInput:
        return EventInput("gen_ai.evaluation.result", ns(start), {"gen_ai.evaluation.name": "answer_quality",
                                                                   "gen_ai.evaluation.score.value": value})

    return [
        agent(root_id, "", "support-orchestrator", "3", 0, 3000, status=1, events=[evaluation(0.9)]),
        chat(root_id, 10, 100, 20),
        agent(refund_id, root_id, "refund-agent", "2", 200, 1200, status=2, attributes={"error.type": "TimeoutError"}),
        chat(refund_id, 210, 800, 150),
        span_input(trace_id=trace_id, parent=refund_id, name="execute_tool issue_refund", duration_ms=1000,
                   start=start + timedelta(milliseconds=310), status=2,
                   attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "issue_refund",
                               "error.type": "TimeoutError"}),
        agent(kb_id, root_id, "kb-search-agent", "1", 1500, 400, events=[
            evaluation(0.4),
            EventInput("agentops.escalation", ns(start + timedelta(milliseconds=1900)),
                       {"agentops.escalation.reason": "missing_knowledge", "agentops.escalation.priority": "normal"}),
        ]),
        span_input(trace_id=trace_id, parent=kb_id, name="retrieval search_kb", duration_ms=100,
                   start=start + timedelta(milliseconds=1510), attributes={"gen_ai.operation.name": "retrieval"}),
        chat(kb_id, 1700, 300, 50),
        chat(root_id, 2800, 200, 40),
    ]
