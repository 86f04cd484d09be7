"""OTLP/HTTP trace payloads: bounded decompression, protobuf and JSON decoding, responses.

Decoding uses opentelemetry-proto's generated classes. OTLP JSON differs from protobuf's canonical
JSON mapping in one way that matters: trace and span ids are hex strings, not base64, so they are
rewritten before ``json_format`` parses the document.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from monitoring.intake.jsonbody import JSONBodyError, load_json
from monitoring.intake.normalize import (
    EARLIEST_ACCEPTED,
    EPOCH,
    MAX_FUTURE_SKEW,
    SCREENING_ATTRIBUTES,
    SCREENING_RESOURCE_ATTRIBUTES,
    EventInput,
    NormalizedBatch,
    SpanInput,
    screen_spans,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
MAX_ANY_VALUE_DEPTH = 8


class PayloadError(ValueError):
    """The body cannot be decoded (400): the message says why."""


class PayloadTooLarge(ValueError):
    """The body is over a size limit (413)."""


# ---------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------


def gunzip_capped(body: bytes, limit: int) -> bytes:
    """Decompress gzip without ever holding more than ``limit`` bytes (safe against gzip bombs)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit:
            raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
        if inflater.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
        out += inflater.flush()
    except zlib.error as exc:
        raise PayloadError(f"body is not valid gzip: {exc}") from exc
    if len(out) > limit:
        raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
    if not inflater.eof:
        raise PayloadError("gzip body is truncated")
    return out


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def too_many_spans(count: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"{count} spans exceed the limit of {limit} spans per request "
                           "(INTAKE_MAX_SPANS_PER_REQUEST): send them in smaller batches")


def parse_protobuf(payload: bytes, *, max_spans: int | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(payload)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise PayloadError(f"body is not an OTLP ExportTraceServiceRequest protobuf: {exc}") from exc
    if max_spans is not None:
        count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        if count > max_spans:
            raise too_many_spans(count, max_spans)
    return request


def _json_span_count(document: dict) -> int:
    count = 0
    for resource_spans in document.get("resourceSpans") or document.get("resource_spans") or ():
        if isinstance(resource_spans, dict):
            for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("scope_spans") or ():
                if isinstance(scope_spans, dict) and isinstance(scope_spans.get("spans"), list):
                    count += len(scope_spans["spans"])
    return count


def _hex_to_b64(value: Any) -> Any:
    """An OTLP JSON hex id as protobuf-JSON base64; invalid ids become empty (rejected per span)."""
    if not isinstance(value, str):
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    return base64.b64encode(raw).decode()


def _rewrite_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (_hex_to_b64(v) if k in ID_FIELDS else _rewrite_ids(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_ids(v) for v in node]
    return node


def parse_json(payload: bytes, *, max_spans: int | None = None) -> ExportTraceServiceRequest:
    try:
        document = load_json(payload)
    except JSONBodyError as exc:
        raise PayloadError(str(exc)) from exc
    if not isinstance(document, dict) or not isinstance(document.get("resourceSpans", []), list):
        raise PayloadError('body is not OTLP JSON: expected an object with a "resourceSpans" list')
    if "resourceSpans" not in document and "resource_spans" not in document:
        raise PayloadError('body is not OTLP JSON: "resourceSpans" is missing')
    if max_spans is not None and (count := _json_span_count(document)) > max_spans:
        raise too_many_spans(count, max_spans)  # before the costly conversion to protobuf
    request = ExportTraceServiceRequest()
    try:
        # The OTLP spec says receivers must ignore unknown fields.
        json_format.ParseDict(_rewrite_ids(document), request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise PayloadError(f"body is not OTLP JSON: {str(exc)[:300]}") from exc
    return request


def parse(payload: bytes, content_type: str, *, max_spans: int | None = None) -> ExportTraceServiceRequest:
    if content_type == JSON:
        return parse_json(payload, max_spans=max_spans)
    return parse_protobuf(payload, max_spans=max_spans)


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def any_value(value: AnyValue, depth: int = 0) -> Any:
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)
    if which is None:
        return None
    if which == "array_value":
        if depth >= MAX_ANY_VALUE_DEPTH:
            return None
        return [any_value(v, depth + 1) for v in value.array_value.values]
    if which == "kvlist_value":
        if depth >= MAX_ANY_VALUE_DEPTH:
            return None
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def attributes(pairs: list[KeyValue], keep: frozenset[str] | None = None) -> dict[str, Any]:
    """Key -> Python value (later duplicates win). Scalars, nearly every attribute, are read inline."""
    result: dict[str, Any] = {}
    for kv in pairs:
        key = kv.key
        if keep is not None and key not in keep:
            continue
        value = kv.value
        which = value.WhichOneof("value")
        result[key] = getattr(value, which) if which in _SCALARS else any_value(value)
    return result


def _hex(raw: bytes) -> str:
    return binascii.hexlify(raw).decode()


def _span_input(span, resource: dict[str, Any], keep: frozenset[str] | None, events: bool) -> SpanInput:
    return SpanInput(
        trace_id=_hex(span.trace_id),
        span_id=_hex(span.span_id),
        parent_span_id=_hex(span.parent_span_id),
        name=span.name,
        start_unix_nano=span.start_time_unix_nano,
        end_unix_nano=span.end_time_unix_nano,
        status_code=span.status.code,
        status_message=span.status.message,
        attributes=attributes(span.attributes, keep) if keep is None or keep else {},
        events=[EventInput(e.name, e.time_unix_nano, attributes(e.attributes)) for e in span.events] if events else [],
        resource=resource,
    )


def to_span_inputs(request: ExportTraceServiceRequest, *, keep: frozenset[str] | None = None,
                   keep_resource: frozenset[str] | None = None, events: bool = True) -> list[SpanInput]:
    """Every span of the request. ``keep`` / ``keep_resource`` limit the attributes read (None: all;
    empty: none, without even walking them); ``events=False`` skips span events."""
    spans: list[SpanInput] = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes, keep_resource)
        for scope_spans in resource_spans.scope_spans:
            spans.extend(_span_input(span, resource, keep, events) for span in scope_spans.spans)
    return spans


_ZERO_TRACE_ID, _ZERO_SPAN_ID = bytes(16), bytes(8)
_MICROSECOND = timedelta(microseconds=1)


def screen_protobuf(payload: bytes, *, now: datetime, max_spans: int | None = None) -> tuple[int, NormalizedBatch]:
    """``normalize.screen_spans`` of a protobuf body for a key not restricted to an agent, read
    straight off the protobuf spans: (number of spans, the screening). A span passing every check
    as plain integer comparisons (ids of the right length and not all zero, end not before start,
    times from 2000 to ``now`` plus the allowed skew, to the microsecond as the datetimes are) is
    accepted as is; any other span goes through ``screen_spans`` itself, which decides and words
    the rejection exactly as the worker's normaliser will. Building a SpanInput for every span was
    most of the intake view's own time."""
    request = parse_protobuf(payload, max_spans=max_spans)
    earliest_us = (EARLIEST_ACCEPTED - EPOCH) // _MICROSECOND
    latest_us = (now + MAX_FUTURE_SKEW - EPOCH) // _MICROSECOND
    total, suspects = 0, []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                total += 1
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if (len(trace_id) == 16 and trace_id != _ZERO_TRACE_ID and len(span_id) == 8
                        and span_id != _ZERO_SPAN_ID and (not parent or (len(parent) == 8 and parent != _ZERO_SPAN_ID))
                        and start <= end and start // 1000 >= earliest_us and end // 1000 <= latest_us):
                    continue
                suspects.append(_span_input(span, {}, frozenset(), events=False))
    return total, screen_spans(suspects, now=now)


def decode(payload: bytes, content_type: str) -> list[SpanInput]:
    """Raw (decompressed) body -> spans. Raises PayloadError for anything that is not OTLP."""
    return to_span_inputs(parse(payload, content_type))


def decode_for_screening(payload: bytes, content_type: str, *, agent_attributes: bool,
                         max_spans: int | None = None) -> list[SpanInput]:
    """Like ``decode``, but the spans carry only what ``normalize.screen_spans`` reads: ids, times,
    status and, with ``agent_attributes`` (a key restricted to an agent), the attributes naming the
    span's agent. No events. The intake view's decision needs no more, and building every
    attribute of every span is most of the decoding cost."""
    return to_span_inputs(
        parse(payload, content_type, max_spans=max_spans), events=False,
        keep=SCREENING_ATTRIBUTES if agent_attributes else frozenset(),
        keep_resource=SCREENING_RESOURCE_ATTRIBUTES if agent_attributes else frozenset(),
    )


# ---------------------------------------------------------------------------------------------
# Responses, in the request's encoding
# ---------------------------------------------------------------------------------------------


def export_response(content_type: str, rejected: int = 0, message: str = "") -> bytes:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if content_type == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def status_body(content_type: str, code: int, message: str) -> bytes:
    """A google.rpc.Status error body (what OTLP/HTTP specifies for 4xx/5xx)."""
    status = status_pb2.Status(code=code, message=message)
    if content_type == JSON:
        return json_format.MessageToJson(status, indent=None).encode()
    return status.SerializeToString()
