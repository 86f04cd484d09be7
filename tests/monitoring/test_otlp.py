"""OTLP decoding: protobuf and OTLP JSON (hex ids), bounded gzip, spec responses."""

from __future__ import annotations

import base64
import gzip
import json
import os

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from monitoring.intake import otlp
from tests.monitoring.otlp_builders import agent_trace, otlp_request, protobuf_body


def otlp_json(spans) -> dict:
    """The request as OTLP JSON: hex ids (not protobuf-JSON base64), int64 as strings, integer enums."""
    document = json_format.MessageToDict(otlp_request(spans), use_integers_for_enums=True)
    for resource_spans in document["resourceSpans"]:
        for scope in resource_spans["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return document


def test_protobuf_round_trip_keeps_ids_attributes_and_events():
    spans = agent_trace()
    decoded = otlp.decode(protobuf_body(spans), otlp.PROTOBUF)
    assert [(s.trace_id, s.span_id, s.parent_span_id) for s in decoded] == [
        (s.trace_id, s.span_id, s.parent_span_id) for s in spans]
    assert decoded[1].attributes["gen_ai.usage.input_tokens"] == 1000
    assert decoded[0].resource == {"service.name": "svc"}


def test_otlp_json_hex_ids_and_string_int64_are_decoded():
    spans = agent_trace()
    document = otlp_json(spans)
    assert isinstance(document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"], str)
    decoded = otlp.decode(json.dumps(document).encode(), otlp.JSON)
    assert [s.span_id for s in decoded] == [s.span_id for s in spans]
    assert decoded[0].start_unix_nano == spans[0].start_unix_nano


def test_otlp_json_with_an_invalid_hex_id_decodes_to_an_empty_id_for_the_normaliser_to_reject():
    document = otlp_json(agent_trace()[:1])
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "not-hex!"
    assert otlp.decode(json.dumps(document).encode(), otlp.JSON)[0].span_id == ""


def test_otlp_json_ignores_unknown_fields():
    document = otlp_json(agent_trace()[:1])
    document["somethingNew"] = {"x": 1}
    assert len(otlp.decode(json.dumps(document).encode(), otlp.JSON)) == 1


@pytest.mark.parametrize("body,content_type,message", [
    (os.urandom(64) + b"\xff\xff\xff", otlp.PROTOBUF, "not an OTLP ExportTraceServiceRequest"),
    (b"{not json", otlp.JSON, "not valid JSON"),
    (b'{"hello": "world"}', otlp.JSON, "resourceSpans"),
    (b"[1, 2]", otlp.JSON, "not OTLP JSON"),
    (b'{"resourceSpans": [{"scopeSpans": 5}]}', otlp.JSON, "not OTLP JSON"),
])
def test_undecodable_bodies_raise_payload_error_with_a_reason(body, content_type, message):
    with pytest.raises(otlp.PayloadError, match=message):
        otlp.decode(body, content_type)


def test_truncated_protobuf_is_a_payload_error():
    body = protobuf_body(agent_trace())
    with pytest.raises(otlp.PayloadError):
        otlp.decode(body[: len(body) - 7], otlp.PROTOBUF)


def test_gunzip_within_the_limit_returns_the_body():
    assert otlp.gunzip_capped(gzip.compress(b"abc" * 100), 1000) == b"abc" * 100


def test_gzip_bomb_stops_at_the_cap_without_inflating_everything():
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 KB compressed
    with pytest.raises(otlp.PayloadTooLarge):
        otlp.gunzip_capped(bomb, 1_000_000)


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b"x" * 1000)[:20]])
def test_bad_or_truncated_gzip_is_a_payload_error(body):
    with pytest.raises(otlp.PayloadError):
        otlp.gunzip_capped(body, 10_000)


def test_partial_success_response_in_protobuf_and_json():
    response = ExportTraceServiceResponse()
    response.ParseFromString(otlp.export_response(otlp.PROTOBUF, 2, "2 span(s) rejected"))
    assert response.partial_success.rejected_spans == 2
    as_json = json.loads(otlp.export_response(otlp.JSON, 1, "bad"))
    assert as_json == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": "bad"}}


def test_full_success_response_is_empty():
    assert otlp.export_response(otlp.PROTOBUF) == b"" and json.loads(otlp.export_response(otlp.JSON)) == {}


def test_error_body_is_a_google_rpc_status():
    status = status_pb2.Status()
    status.ParseFromString(otlp.status_body(otlp.PROTOBUF, 3, "body is not valid gzip"))
    assert (status.code, status.message) == (3, "body is not valid gzip")


@pytest.mark.parametrize("allowed", [None, "refund-agent", "billing-agent"])
def test_screening_decode_makes_the_same_decision_as_the_full_decode(allowed):
    from datetime import timedelta

    from monitoring.intake.normalize import screen_spans
    from tests.monitoring.otlp_builders import T0

    spans = agent_trace() + agent_trace("billing-agent", error=True)
    spans[1].span_id = "00"  # rejected whatever the key
    body = protobuf_body(spans)
    now = T0 + timedelta(minutes=5)
    full = screen_spans(otlp.decode(body, otlp.PROTOBUF), now=now, allowed_agent=allowed)
    light = screen_spans(otlp.decode_for_screening(body, otlp.PROTOBUF, agent_attributes=allowed is not None),
                         now=now, allowed_agent=allowed)
    assert (light.rejected, light.errors) == (full.rejected, full.errors) and full.rejected >= 1


# --- fast screening of protobuf bodies --------------------------------------------------------

_NOW_US = 1_795_000_000_123_456  # a fixed "now" (2026-11-18), to the microsecond like a datetime
_EARLIEST_NS = 946_684_800_000_000_000  # 2000-01-01
_LATEST_NS = (_NOW_US + 3600 * 10**6) * 1000  # now + the allowed skew
_EDGE_IDS = [b"", bytes(8), bytes(16), b"\x01" * 7, b"\x01" * 9, b"\x01" * 15, b"\x01" * 17]
_EDGE_TIMES = [0, _EARLIEST_NS - 1, _EARLIEST_NS, _EARLIEST_NS + 999, _LATEST_NS - 1, _LATEST_NS, _LATEST_NS + 999,
               _LATEST_NS + 1000, _LATEST_NS + 1999, 2**63 - 1, 2**64 - 1]


@st.composite
def raw_spans(draw):
    """A valid span with, most of the time, one field set to an edge value."""
    span = {
        "trace_id": draw(st.binary(min_size=16, max_size=16).filter(any)),
        "span_id": draw(st.binary(min_size=8, max_size=8).filter(any)),
        "parent_span_id": draw(st.one_of(st.just(b""), st.binary(min_size=8, max_size=8).filter(any))),
        "start": draw(st.integers(_EARLIEST_NS, _LATEST_NS)),
    }
    span["end"] = draw(st.integers(span["start"], _LATEST_NS + 999))
    field = draw(st.sampled_from([None, "trace_id", "span_id", "parent_span_id", "start", "end"]))
    if field in ("start", "end"):
        span[field] = draw(st.one_of(st.sampled_from(_EDGE_TIMES), st.integers(0, 2**64 - 1)))
    elif field:
        span[field] = draw(st.sampled_from(_EDGE_IDS))
    return span


@settings(max_examples=200)
@given(st.lists(raw_spans(), min_size=1, max_size=12))
def test_fast_protobuf_screening_decides_and_words_exactly_as_screen_spans(spans):
    from datetime import UTC, datetime

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from monitoring.intake.normalize import screen_spans

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for raw in spans:
        span = scope.spans.add(trace_id=raw["trace_id"], span_id=raw["span_id"], parent_span_id=raw["parent_span_id"],
                               name="chat", start_time_unix_nano=raw["start"], end_time_unix_nano=raw["end"])
        span.attributes.add(key="gen_ai.operation.name").value.string_value = "chat"
    body = request.SerializeToString()
    now = datetime.fromtimestamp(_NOW_US // 10**6, tz=UTC).replace(microsecond=_NOW_US % 10**6)
    count, fast = otlp.screen_protobuf(body, now=now)
    slow = screen_spans(otlp.decode_for_screening(body, otlp.PROTOBUF, agent_attributes=False), now=now)
    assert (count, fast.rejected, fast.errors) == (len(spans), slow.rejected, slow.errors)


def test_fast_protobuf_screening_rejects_what_the_full_decode_rejects():
    from datetime import timedelta

    from monitoring.intake.normalize import screen_spans
    from tests.monitoring.otlp_builders import T0

    spans = agent_trace() + agent_trace("billing-agent", error=True)
    spans[1].span_id = "00"
    spans[2].end_unix_nano = spans[2].start_unix_nano - 10**9
    body = protobuf_body(spans)
    now = T0 + timedelta(minutes=5)
    count, fast = otlp.screen_protobuf(body, now=now)
    full = screen_spans(otlp.decode(body, otlp.PROTOBUF), now=now)
    assert (count, fast.rejected, fast.errors) == (len(spans), full.rejected, full.errors) and full.rejected == 2
