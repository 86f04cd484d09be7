"""Emitters of the simulator's trace plans (``demo.simulator``): through the real OpenTelemetry SDK
(``SdkEmitter``: OTLP/HTTP protobuf, gzip, to /v1/traces), or straight into ``SpanInput`` values
(``plan_to_span_inputs``) for the demo seed; and ``RegistryPromptRouter``, which asks the registry
which prompt version a session gets, as an agent taking part in rollouts would."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import requests

from agentops.routing import gets_candidate
from demo.plans import SpanPlan, TracePlan
from monitoring.intake.normalize import STATUS_ERROR, STATUS_OK, EventInput, SpanInput


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
