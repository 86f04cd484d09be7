"""The native JSON API's run documents, turned into the same ``SpanInput`` the OTLP path produces.

A run becomes a root ``invoke_agent`` span and each step a child span carrying GenAI semantic
convention attributes, so ``monitoring.normalize`` applies one set of rules to both paths. Ids are
derived deterministically (a client run id hashes to a trace id, a step id or position to a span
id), so sending the same document twice stores it once. The schema is in ``monitoring.openapi``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitoring.intake.jsonbody import JSONBodyError, load_json
from monitoring.intake.normalize import STATUS_ERROR, STATUS_OK, EventInput, SpanInput

MAX_RUNS_PER_REQUEST = 1000
MAX_STEPS_PER_RUN = 1000
KIND_OPERATIONS = {"llm": "chat", "tool": "execute_tool", "agent": "invoke_agent", "retrieval": "retrieval",
                   "other": ""}
STEP_TEXT_FIELDS = {"model": "gen_ai.request.model", "tool_name": "gen_ai.tool.name",
                    "input": "input.value", "output": "output.value"}


class InvalidDocument(ValueError):
    """The request body as a whole is unusable (400)."""


class InvalidRun(ValueError):
    """One run of the request is unusable; the others are still stored."""


@dataclass
class DecodedRuns:
    spans: list[SpanInput] = field(default_factory=list)
    accepted_runs: int = 0
    rejected_runs: int = 0
    errors: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)


def _hash_hex(text: str, chars: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:chars]


def trace_id_for(run: dict[str, Any]) -> str:
    trace_id = run.get("trace_id")
    if trace_id is not None:
        if not isinstance(trace_id, str) or len(trace_id) != 32 or not _is_hex(trace_id):
            raise InvalidRun("trace_id must be 32 hex characters")
        return trace_id.lower()
    run_id = run.get("id")
    if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 200:
        raise InvalidRun('each run needs an "id" (1-200 characters) or a "trace_id"')
    return _hash_hex(f"native-run:{run_id}", 32)


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidRun(f"{name} must be an ISO 8601 time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRun(f"{name} is not an ISO 8601 time: {value[:40]!r}") from exc
    # A time without an offset is taken as UTC (documented).
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _interval(doc: dict[str, Any], where: str, default_start: datetime | None = None) -> tuple[int, int]:
    start = _time(doc["started_at"], f"{where}.started_at") if "started_at" in doc else default_start
    if start is None:
        raise InvalidRun(f"{where}.started_at is required")
    if "ended_at" in doc:
        end = _time(doc["ended_at"], f"{where}.ended_at")
    else:
        duration = doc.get("duration_ms", 0)
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 <= duration < 8.64e10:
            raise InvalidRun(f"{where}.duration_ms must be a non-negative number of milliseconds")
        end = start + timedelta(milliseconds=duration)
    try:
        return _ns(start), _ns(end)
    except OverflowError as exc:
        raise InvalidRun(f"{where} has an impossible time") from exc


def _status(doc: dict[str, Any], where: str) -> tuple[int, str]:
    status = doc.get("status", "ok")
    if status not in ("ok", "error"):
        raise InvalidRun(f'{where}.status must be "ok" or "error"')
    return (STATUS_ERROR if status == "error" else STATUS_OK), str(doc.get("error_message") or "")


def _common_attributes(doc: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, attr in STEP_TEXT_FIELDS.items():
        if doc.get(key) is not None:
            attrs[attr] = doc[key]
    if doc.get("error_type"):
        attrs["error.type"] = doc["error_type"]
    if isinstance(doc.get("attributes"), dict):
        attrs.update({str(k): v for k, v in doc["attributes"].items()})
    return attrs


def _root_span(run: dict[str, Any], trace_id: str, where: str) -> SpanInput:
    agent = run.get("agent")
    if not isinstance(agent, str) or not agent.strip():
        raise InvalidRun(f"{where}.agent (the agent's slug or name) is required")
    start, end = _interval(run, where)
    code, message = _status(run, where)
    attrs = _common_attributes(run)
    attrs.update({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent})
    for key, attr in (("session_id", "session.id"), ("prompt_version", "agentops.prompt.version")):
        if run.get(key) is not None:
            attrs[attr] = str(run[key])
    events = [_score_event(s, end, f"{where}.scores[{i}]") for i, s in enumerate(_list(run, "scores", where))]
    if run.get("escalation") is not None:
        events.append(_escalation_event(run["escalation"], end, f"{where}.escalation"))
    return SpanInput(
        trace_id=trace_id, span_id=_hash_hex(f"{trace_id}:root", 16), parent_span_id="",
        name=str(run.get("name") or f"invoke_agent {agent}"), start_unix_nano=start, end_unix_nano=end,
        status_code=code, status_message=message, attributes=attrs, events=events,
    )


def _list(doc: dict[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise InvalidRun(f"{where}.{key} must be a list")
    return value


def _score_event(score: Any, at_ns: int, where: str) -> EventInput:
    if not isinstance(score, dict) or not isinstance(score.get("name"), str):
        raise InvalidRun(f"{where} must be an object with a name")
    attrs = {"gen_ai.evaluation.name": score["name"]}
    if score.get("value") is not None:
        attrs["gen_ai.evaluation.score.value"] = score["value"]
    if score.get("label") is not None:
        attrs["gen_ai.evaluation.score.label"] = score["label"]
    if score.get("comment") is not None:
        attrs["gen_ai.evaluation.explanation"] = score["comment"]
    return EventInput("gen_ai.evaluation.result", at_ns, attrs)


def _escalation_event(escalation: Any, at_ns: int, where: str) -> EventInput:
    if not isinstance(escalation, dict):
        raise InvalidRun(f"{where} must be an object")
    attrs = {f"agentops.escalation.{k}": escalation[k] for k in ("reason", "summary", "priority") if k in escalation}
    return EventInput("agentops.escalation", at_ns, attrs)


def _step_span(step: Any, index: int, trace_id: str, root: SpanInput, where: str) -> SpanInput:
    if not isinstance(step, dict):
        raise InvalidRun(f"{where} must be an object")
    kind = step.get("kind", "other")
    if kind not in KIND_OPERATIONS:
        raise InvalidRun(f"{where}.kind must be one of {', '.join(KIND_OPERATIONS)}")
    start, end = _interval(step, where, default_start=_from_ns(root.start_unix_nano))
    code, message = _status(step, where)
    attrs = _common_attributes(step)
    if KIND_OPERATIONS[kind]:
        attrs["gen_ai.operation.name"] = KIND_OPERATIONS[kind]
    for key, attr in (("input_tokens", "gen_ai.usage.input_tokens"), ("output_tokens", "gen_ai.usage.output_tokens"),
                      ("cost", "gen_ai.usage.cost"), ("agent", "gen_ai.agent.name")):
        if step.get(key) is not None:
            attrs[attr] = step[key]
    step_key = str(step.get("id", index))
    parent = step.get("parent")
    return SpanInput(
        trace_id=trace_id, span_id=_hash_hex(f"{trace_id}:step:{step_key}", 16),
        parent_span_id=_hash_hex(f"{trace_id}:step:{parent}", 16) if parent is not None else root.span_id,
        name=str(step.get("name") or kind), start_unix_nano=start, end_unix_nano=end,
        status_code=code, status_message=message, attributes=attrs,
    )


def _from_ns(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def run_spans(run: Any, where: str) -> tuple[str, list[SpanInput]]:
    if not isinstance(run, dict):
        raise InvalidRun(f"{where} must be an object")
    trace_id = trace_id_for(run)
    root = _root_span(run, trace_id, where)
    steps = _list(run, "steps", where)
    if len(steps) > MAX_STEPS_PER_RUN:
        raise InvalidRun(f"{where} has more than {MAX_STEPS_PER_RUN} steps")
    return trace_id, [root] + [_step_span(s, i, trace_id, root, f"{where}.steps[{i}]") for i, s in enumerate(steps)]


def decode_runs(payload: bytes) -> DecodedRuns:
    """Parse a ``{"runs": [...]}`` document. Raises InvalidDocument when nothing in it is usable."""
    try:
        document = load_json(payload)
    except JSONBodyError as exc:
        raise InvalidDocument(str(exc)) from exc
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        raise InvalidDocument('expected a JSON object with a "runs" list')
    runs = document["runs"]
    if len(runs) > MAX_RUNS_PER_REQUEST:
        raise InvalidDocument(f"at most {MAX_RUNS_PER_REQUEST} runs per request")
    decoded = DecodedRuns()
    for index, run in enumerate(runs):
        try:
            trace_id, spans = run_spans(run, f"runs[{index}]")
        except (InvalidRun, KeyError, TypeError, ValueError) as exc:
            decoded.rejected_runs += 1
            if len(decoded.errors) < 10:
                decoded.errors.append(str(exc) if isinstance(exc, InvalidRun) else f"runs[{index}]: {exc}")
            continue
        decoded.accepted_runs += 1
        decoded.trace_ids.append(trace_id)
        decoded.spans.extend(spans)
    return decoded
