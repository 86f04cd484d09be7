"""Fuzzing the intake and the worker: random and mutated bodies through /v1/traces and /api/v1/runs,
then the worker's drain. Never a 5xx; every batch answered 200/202 is stored or dead-lettered with its
reason, never silently lost."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.ingest import services as ingest_services
from monitoring.intake import services as intake_services
from monitoring.models import InboxBatch
from tests.factories import make_api_key
from tests.monitoring.otlp_builders import agent_trace, protobuf_body

pytestmark = pytest.mark.django_db
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

text = st.text(st.characters(codec="utf-8"), max_size=40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), text)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(text, inner, max_size=4)), max_leaves=20)
hex_ids = st.one_of(st.text("0123456789abcdef", min_size=0, max_size=34), text)
any_value = st.recursive(
    st.one_of(st.builds(lambda v: {"stringValue": v}, text), st.builds(lambda v: {"intValue": v}, st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64), text)), st.builds(lambda v: {"doubleValue": v}, scalars),
        st.builds(lambda v: {"boolValue": v}, scalars)),
    lambda inner: st.one_of(
        st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=3)),
        st.builds(lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}},
                  st.lists(st.tuples(text, inner), max_size=3))),
    max_leaves=10,
)
now_ns = int(timezone.now().timestamp() * 1e9)
times = st.one_of(st.integers(min_value=now_ns - 10**13, max_value=now_ns), st.integers(min_value=-(2**64),
                                                                                      max_value=2**65), text)
attribute_keys = st.one_of(st.sampled_from(["gen_ai.operation.name", "gen_ai.usage.input_tokens",
                                            "gen_ai.usage.cost", "gen_ai.agent.name", "gen_ai.request.model",
                                            "agentops.escalation.reason", "k\x00ey"]), text)
spans = st.fixed_dictionaries({
    "traceId": hex_ids, "spanId": hex_ids, "name": text,
    "startTimeUnixNano": times, "endTimeUnixNano": times,
}, optional={
    "parentSpanId": hex_ids,
    "attributes": st.lists(st.builds(lambda k, v: {"key": k, "value": v}, attribute_keys, any_value), max_size=6),
    "events": st.lists(st.fixed_dictionaries({"name": text, "timeUnixNano": times}, optional={
        "attributes": st.lists(st.builds(lambda k, v: {"key": k, "value": v}, attribute_keys, any_value),
                               max_size=3)}), max_size=2),
    "status": st.fixed_dictionaries({}, optional={"code": st.one_of(st.integers(-5, 5), text), "message": text}),
    "kind": st.one_of(st.integers(-3, 9), text),
})
otlp_documents = st.builds(lambda ss, res: {"resourceSpans": [{"resource": {"attributes": res},
                                                               "scopeSpans": [{"spans": ss}]}]},
                           st.lists(spans, min_size=1, max_size=4),
                           st.lists(st.builds(lambda k, v: {"key": k, "value": v}, attribute_keys, any_value),
                                    max_size=2))
native_documents = st.builds(lambda runs: {"runs": runs}, st.lists(st.dictionaries(
    st.sampled_from(["agent", "trace_id", "name", "started_at", "ended_at", "duration_ms", "status", "steps",
                     "input", "output", "session_id", "escalation"]), json_values, max_size=8), min_size=1, max_size=3))


@pytest.fixture
def token(db) -> str:
    return make_api_key("fuzz")[1]


def _check_outcome(response, before: set[int]) -> None:
    assert response.status_code < 500, response.content[:500]
    ingest_services.drain_inbox()
    for batch in InboxBatch.objects.exclude(pk__in=before):
        assert batch.status in ("done", "dead"), (batch.pk, batch.status, batch.error)
        if batch.status == "dead":
            assert batch.error, "a dead letter must say why"
    intake_services.forget_pending_count()


@FUZZ
@given(document=otlp_documents)
def test_random_otlp_json_never_errors_and_is_never_lost(token, document):
    before = set(InboxBatch.objects.values_list("pk", flat=True))
    body = json.dumps(document, allow_nan=True).encode()
    response = Client().post("/v1/traces", data=body, content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {token}")
    _check_outcome(response, before)


@FUZZ
@given(document=native_documents)
def test_random_native_runs_never_error_and_are_never_lost(token, document):
    before = set(InboxBatch.objects.values_list("pk", flat=True))
    body = json.dumps(document, allow_nan=True).encode()
    response = Client().post("/api/v1/runs", data=body, content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {token}")
    _check_outcome(response, before)


VALID_PROTOBUF = protobuf_body(agent_trace(start=timezone.now() - timedelta(minutes=3)))


@FUZZ
@given(cuts=st.lists(st.tuples(st.integers(0, len(VALID_PROTOBUF) - 1), st.integers(0, 255)), min_size=1,
                     max_size=8), truncate=st.integers(1, len(VALID_PROTOBUF)))
def test_mutated_protobuf_never_errors_and_is_never_lost(token, cuts, truncate):
    body = bytearray(VALID_PROTOBUF)
    for position, value in cuts:
        body[position] = value
    before = set(InboxBatch.objects.values_list("pk", flat=True))
    response = Client().post("/v1/traces", data=bytes(body[:truncate]), content_type="application/x-protobuf",
                             HTTP_AUTHORIZATION=f"Bearer {token}")
    _check_outcome(response, before)
