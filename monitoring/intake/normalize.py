"""Pure mapping from spans (OpenTelemetry GenAI semantic conventions) to plain records. No ORM.

Both intake paths end here: ``monitoring.otlp`` turns OTLP protobuf/JSON into ``SpanInput`` and the
native JSON API (``monitoring.native``) builds the same ``SpanInput`` with semconv attribute names,
so one set of rules decides agents, step kinds, tokens, status, scores and escalations.

``normalize_span`` is deterministic for a given ``now`` (the batch's receive time), so the intake
view and the worker reach the same accept/reject decision for every span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Any

from django.utils.text import slugify

from monitoring.intake.values import (  # noqa: F401 - the limits and helpers are part of this module's interface
    MAX_SPAN_COST,
    MAX_SPAN_TOKENS,
    SHORT_CAP,
    TRUNCATION_MARKER,
    _holds,
    _json_safe,
    _key,
    _short,
    as_cost,
    as_float,
    as_int,
    as_tokens,
    cap_text,
    first,
    first_key,
    stored_attributes,
)

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2

# Spans older than this are almost certainly a zero/garbage clock (1970), not real history.
EARLIEST_ACCEPTED = datetime(2000, 1, 1, tzinfo=UTC)
# Tolerated clock skew of a sender ahead of us.
MAX_FUTURE_SKEW = timedelta(hours=1)
NAME_CAP = 255

# gen_ai.operation.name -> our step kind (anything else is "other").
OPERATION_KINDS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "embeddings": "retrieval",
    "retrieval": "retrieval",
}
AGENT_OPERATIONS = {"invoke_agent", "create_agent"}

# Old and new attribute names, first match wins.
INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens")
OUTPUT_TOKEN_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens")
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model")
SESSION_KEYS = ("gen_ai.conversation.id", "session.id")
TOOL_NAME_KEYS = ("gen_ai.tool.name",)
INPUT_KEYS = ("gen_ai.input.messages", "gen_ai.prompt", "gen_ai.tool.call.arguments", "input.value")
OUTPUT_KEYS = ("gen_ai.output.messages", "gen_ai.completion", "gen_ai.tool.call.result", "output.value")
COST_KEY = "gen_ai.usage.cost"
PROMPT_VERSION_KEY = "agentops.prompt.version"
EVALUATION_EVENT = "gen_ai.evaluation.result"
ESCALATION_EVENT = "agentops.escalation"
# Legacy content events (prompt/completion carried as span events rather than attributes).
LEGACY_INPUT_EVENTS = ("gen_ai.content.prompt",)
LEGACY_OUTPUT_EVENTS = ("gen_ai.content.completion",)


@dataclass(slots=True)
class EventInput:
    name: str
    time_unix_nano: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanInput:
    """A span as decoded, before any of our rules: ids are lowercase hex ("" when absent)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_unix_nano: int
    end_unix_nano: int
    status_code: int = STATUS_UNSET
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[EventInput] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ScoreRecord:
    name: str
    value: float | None
    label: str
    comment: str
    dedupe_key: str


@dataclass(slots=True)
class EscalationRecord:
    reason: str
    summary: str
    priority: str
    occurred_at: datetime


@dataclass(slots=True)
class SpanRecord:
    """A validated span mapped to our model. ``agent_key`` is a slug; ``declared_agent`` tells whether
    the span named its agent itself (else the agent is a fallback, replaced by the nearest ancestor's)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    operation: str
    agent_key: str
    agent_name: str
    declared_agent: bool
    started_at: datetime
    ended_at: datetime
    duration_ms: float
    status: str
    error_type: str
    error_message: str
    model: str
    tool_name: str
    session_id: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost: Decimal | None  # None: compute from the model price in force at started_at
    input: str
    output: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    scores: list[ScoreRecord]
    escalation: EscalationRecord | None


class SpanRejected(ValueError):
    """The span breaks the contract; the message says how (reported in partial_success)."""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_to_datetime(unix_nano: int) -> datetime:
    """UTC datetime of a Unix time in nanoseconds, cut to the microsecond (OverflowError past year
    9999). One timedelta addition: about half the cost of fromtimestamp plus a timedelta, twice a span."""
    return EPOCH + timedelta(microseconds=unix_nano // 1000)


def _is_hex_id(value: str, length: int) -> bool:
    if len(value) != length or value.strip("0") == "":
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The mapping.
# ---------------------------------------------------------------------------------------------


def _validate(span: SpanInput, now: datetime) -> tuple[datetime, datetime]:
    if not _is_hex_id(span.trace_id, 32):
        raise SpanRejected(f"trace id must be 16 bytes (32 hex chars), got {span.trace_id[:40]!r}")
    if not _is_hex_id(span.span_id, 16):
        raise SpanRejected(f"span id must be 8 bytes (16 hex chars), got {span.span_id[:40]!r}")
    if span.parent_span_id and not _is_hex_id(span.parent_span_id, 16):
        raise SpanRejected(f"parent span id must be 8 bytes (16 hex chars), got {span.parent_span_id[:40]!r}")
    if span.end_unix_nano < span.start_unix_nano:
        raise SpanRejected(f"span {span.span_id} ends before it starts")
    try:
        started, ended = ns_to_datetime(span.start_unix_nano), ns_to_datetime(span.end_unix_nano)
    except (OverflowError, OSError, ValueError) as exc:
        raise SpanRejected(f"span {span.span_id} has an impossible timestamp") from exc
    if started < EARLIEST_ACCEPTED:
        raise SpanRejected(f"span {span.span_id} starts before 2000 ({started:%Y-%m-%d}); clock not set?")
    if ended > now + MAX_FUTURE_SKEW:
        raise SpanRejected(f"span {span.span_id} ends in the future ({ended.isoformat()})")
    return started, ended


def step_kind(operation: str, span_name: str) -> str:
    if operation:
        return OPERATION_KINDS.get(operation, "other")
    # Some instrumentations omit the operation but follow the "<operation> <target>" span naming rule.
    head = span_name.split(" ", 1)[0]
    return OPERATION_KINDS.get(head, "other")


def agent_identity(span: SpanInput, operation: str) -> tuple[str, str, bool]:
    """(slug, display name, declared): the span's own agent, else the resource's service.name."""
    attrs = span.attributes
    own = _short(attrs.get("gen_ai.agent.name")) or _short(attrs.get("gen_ai.agent.id"))
    if own and (operation in AGENT_OPERATIONS or "gen_ai.agent.name" in attrs or "gen_ai.agent.id" in attrs):
        slug = _slug(own)
        if slug:
            return slug, own, True
    service = _short(span.resource.get("service.name")) or "unknown-service"
    return _slug(service) or "unknown-service", service, False


@lru_cache(maxsize=4096)
def _slug(name: str) -> str:
    """slugify() per span is measurable at ingest rates; agent and service names repeat."""
    return slugify(name)[:120]


def _status(span: SpanInput) -> tuple[str, str, str]:
    """(status, error_type, error_message) from the span status, error.type and exception events."""
    attrs = span.attributes
    error_type = _short(attrs.get("error.type"), NAME_CAP)
    message = span.status_message or ""
    exception = next((e for e in span.events if e.name == "exception"), None)
    if exception is not None:
        error_type = error_type or _short(exception.attributes.get("exception.type"), NAME_CAP)
        message = message or str(exception.attributes.get("exception.message") or "")
    failed = span.status_code == STATUS_ERROR or (span.status_code == STATUS_UNSET and bool(error_type))
    if not failed:
        return "ok", "", ""
    return "error", error_type or "Error", message


def _content(span: SpanInput, keys: tuple[str, ...], legacy_events: tuple[str, ...], cap: int) -> str:
    value = first(span.attributes, keys)
    if value is None:
        for event in span.events:
            if event.name in legacy_events:
                value = first(event.attributes, ("gen_ai.prompt", "gen_ai.completion")) or event.attributes
                break
    return cap_text(value, cap) if value is not None else ""


def _scores(span: SpanInput) -> list[ScoreRecord]:
    scores = []
    for index, event in enumerate(span.events):
        if event.name != EVALUATION_EVENT:
            continue
        attrs = event.attributes
        value = as_float(first(attrs, ("gen_ai.evaluation.score.value", "score.value")))
        label = _short(first(attrs, ("gen_ai.evaluation.score.label", "score.label")))
        if value is None and not label:
            continue
        scores.append(ScoreRecord(
            name=_short(attrs.get("gen_ai.evaluation.name")) or "evaluation",
            value=value,
            label=label,
            comment=cap_text(attrs.get("gen_ai.evaluation.explanation"), 2000),
            dedupe_key=f"{span.span_id}:{index}",
        ))
    return scores


def _escalation(span: SpanInput, ended: datetime) -> EscalationRecord | None:
    event = next((e for e in span.events if e.name == ESCALATION_EVENT), None)
    if event is None:
        return None
    attrs = event.attributes
    try:
        occurred = ns_to_datetime(event.time_unix_nano) if event.time_unix_nano else ended
    except (OverflowError, OSError, ValueError):
        occurred = ended
    return EscalationRecord(
        reason=_short(attrs.get("agentops.escalation.reason"), NAME_CAP),
        summary=cap_text(attrs.get("agentops.escalation.summary"), 4000),
        priority=_short(attrs.get("agentops.escalation.priority"), 20),
        occurred_at=occurred,
    )


def _event_summaries(span: SpanInput, cap: int) -> list[dict[str, Any]]:
    """Events kept for the trace view (bounded: 50 events, attribute values capped)."""
    return [
        {
            "name": _short(e.name, NAME_CAP),
            "time": e.time_unix_nano,
            "attributes": {_key(k): _json_safe(v, cap) for k, v in islice(e.attributes.items(), 50)},
        }
        for e in span.events[:50]
    ]


def normalize_span(span: SpanInput, *, now: datetime, text_cap: int = 16384) -> SpanRecord:
    """Map one span; raises SpanRejected when it cannot be stored. Unknown attributes are kept."""
    started, ended = _validate(span, now)
    attrs = span.attributes
    operation = _short(attrs.get("gen_ai.operation.name"), 64)
    kind = step_kind(operation, span.name)
    agent_key, agent_name, declared = agent_identity(span, operation)
    status, error_type, error_message = _status(span)
    model = _short(first(attrs, MODEL_KEYS))
    prompt_version = _short(attrs.get(PROMPT_VERSION_KEY), 64)
    tool_name = _short(first(attrs, TOOL_NAME_KEYS), NAME_CAP)
    input_tokens, output_tokens = as_tokens(first(attrs, INPUT_TOKEN_KEYS)), as_tokens(first(attrs, OUTPUT_TOKEN_KEYS))
    cost = as_cost(attrs.get(COST_KEY))
    mapped = {
        first_key(attrs, ("gen_ai.operation.name",)): operation, first_key(attrs, MODEL_KEYS): model,
        first_key(attrs, TOOL_NAME_KEYS): tool_name, first_key(attrs, INPUT_TOKEN_KEYS): input_tokens,
        first_key(attrs, OUTPUT_TOKEN_KEYS): output_tokens, COST_KEY: cost, "error.type": error_type,
    }
    # The content keys' values are in ``input``/``output`` (with a larger cap than attributes get).
    omit = {key for key, value in mapped.items() if key is not None and _holds(attrs.get(key), value)}
    omit.update(key for key in (first_key(attrs, INPUT_KEYS), first_key(attrs, OUTPUT_KEYS)) if key is not None)
    return SpanRecord(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=_short(span.name, NAME_CAP) or kind,
        kind=kind,
        operation=operation,
        agent_key=agent_key,
        agent_name=agent_name,
        declared_agent=declared,
        started_at=started,
        ended_at=ended,
        duration_ms=(span.end_unix_nano - span.start_unix_nano) / 1_000_000,
        status=status,
        error_type=error_type,
        error_message=cap_text(error_message, 4000),
        model=model,
        tool_name=tool_name,
        session_id=_short(first(attrs, SESSION_KEYS), NAME_CAP),
        prompt_version=prompt_version,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        input=_content(span, INPUT_KEYS, LEGACY_INPUT_EVENTS, text_cap),
        output=_content(span, OUTPUT_KEYS, LEGACY_OUTPUT_EVENTS, text_cap),
        attributes=stored_attributes(attrs, omit),
        events=_event_summaries(span, 2000),
        scores=_scores(span),
        escalation=_escalation(span, ended),
    )


@dataclass(slots=True)
class NormalizedBatch:
    records: list[SpanRecord]
    rejected: int
    errors: list[str]  # first few rejection messages, for the partial_success message

    def message(self) -> str:
        if not self.rejected:
            return ""
        more = f" (and {self.rejected - len(self.errors)} more)" if self.rejected > len(self.errors) else ""
        return f"{self.rejected} span(s) rejected: " + "; ".join(self.errors) + more


def normalize_spans(
    spans: list[SpanInput], *, now: datetime, text_cap: int = 16384, allowed_agent: str | None = None
) -> NormalizedBatch:
    """Normalize a batch. With ``allowed_agent`` (a key restricted to one agent), spans that declare
    another agent are rejected and the others are attributed to that agent."""
    records, errors, rejected = [], [], 0
    for span in spans:
        try:
            record = normalize_span(span, now=now, text_cap=text_cap)
            if allowed_agent is not None:
                _restrict(record, allowed_agent)
        except SpanRejected as exc:
            rejected += 1
            if len(errors) < 5:
                errors.append(str(exc))
            continue
        records.append(record)
    return NormalizedBatch(records=records, rejected=rejected, errors=errors)


# The only attributes screening reads (``agent_identity`` and the operation name), for a key restricted
# to an agent; without a restriction it reads none. The intake view decodes just these.
SCREENING_ATTRIBUTES = frozenset({"gen_ai.agent.name", "gen_ai.agent.id", "gen_ai.operation.name"})
SCREENING_RESOURCE_ATTRIBUTES = frozenset({"service.name"})


def screen_spans(spans: list[SpanInput], *, now: datetime, allowed_agent: str | None = None) -> NormalizedBatch:
    """The accept/reject decision of ``normalize_spans`` without building records: what the intake
    view needs to answer (partial success) cheaply. ``records`` is empty; ``rejected`` and ``errors``
    are exactly those ``normalize_spans`` reports, because only these checks can reject a span."""
    errors, rejected = [], 0
    for span in spans:
        try:
            _validate(span, now)
            if allowed_agent is not None:
                key, _name, declared = agent_identity(span, _short(span.attributes.get("gen_ai.operation.name"), 64))
                if declared and key != allowed_agent:
                    raise SpanRejected(
                        f"span {span.span_id} is for agent {key!r} but this key may only send for {allowed_agent!r}"
                    )
        except SpanRejected as exc:
            rejected += 1
            if len(errors) < 5:
                errors.append(str(exc))
    return NormalizedBatch(records=[], rejected=rejected, errors=errors)


def _restrict(record: SpanRecord, allowed_agent: str) -> None:
    if record.declared_agent and record.agent_key != allowed_agent:
        raise SpanRejected(
            f"span {record.span_id} is for agent {record.agent_key!r} but this key may only send for {allowed_agent!r}"
        )
    record.agent_key, record.agent_name, record.declared_agent = allowed_agent, allowed_agent, True
