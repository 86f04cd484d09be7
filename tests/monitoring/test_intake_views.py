"""HTTP behaviour of /v1/traces, /api/v1/ and the dead-letter page (real Postgres, real Redis cache)."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from agentops.models import ApiKey
from monitoring.ingest import queries as dead_letter_queries
from monitoring.ingest import services as ingest_services
from monitoring.ingest import tasks as ingest_tasks
from monitoring.intake import services as intake_services
from monitoring.models import InboxBatch
from tests.factories import make_agent, make_api_key
from tests.monitoring.otlp_builders import agent_trace, protobuf_body, span_input

pytestmark = pytest.mark.django_db
PB = "application/x-protobuf"


@pytest.fixture(autouse=True)
def _fresh_pending_count():
    intake_services.forget_pending_count()


@pytest.fixture
def token() -> str:
    return make_api_key("intake test")[1]


def recent_trace(**kw):
    return agent_trace(start=timezone.now() - timedelta(minutes=1), **kw)


def post_traces(client, body: bytes, token: str | None, content_type: str = PB, **headers):
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post("/v1/traces", data=body, content_type=content_type, **headers)


def export_response(response) -> ExportTraceServiceResponse:
    parsed = ExportTraceServiceResponse()
    parsed.ParseFromString(response.content)
    return parsed


def rpc_status(response) -> status_pb2.Status:
    parsed = status_pb2.Status()
    parsed.ParseFromString(response.content)
    return parsed


# --- OTLP: success --------------------------------------------------------------------------


def test_protobuf_batch_is_stored_in_the_inbox_and_answered_with_an_empty_response(client, token):
    response = post_traces(client, protobuf_body(recent_trace()), token)
    assert response.status_code == 200 and response["Content-Type"] == PB
    assert export_response(response).partial_success.rejected_spans == 0
    batch = InboxBatch.objects.get()
    assert (batch.kind, batch.status, batch.span_count) == ("otlp_protobuf", "pending", 3)


def test_gzip_protobuf_is_stored_as_sent_and_ingested_decompressed(client, token):
    body = protobuf_body(recent_trace())
    sent = gzip.compress(body)
    response = post_traces(client, sent, token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    batch = InboxBatch.objects.get()
    assert batch.compressed and bytes(batch.payload) == sent
    assert len(ingest_services.normalize_batch(batch).records) == 3
    assert ingest_services.ingest_batch(batch.pk).stored_spans == 3


def test_uncompressed_body_is_stored_as_is(client, token):
    body = protobuf_body(recent_trace())
    assert post_traces(client, body, token).status_code == 200
    batch = InboxBatch.objects.get()
    assert not batch.compressed and bytes(batch.payload) == body


def test_otlp_json_is_answered_in_json(client, token):
    from tests.monitoring.test_otlp import otlp_json

    response = post_traces(client, json.dumps(otlp_json(recent_trace())).encode(), token, "application/json")
    assert response.status_code == 200 and response.json() == {}
    assert InboxBatch.objects.get().kind == "otlp_json"


def test_some_bad_spans_are_reported_as_partial_success_and_the_good_ones_stored(client, token):
    spans = recent_trace()
    spans[2].end_unix_nano = spans[2].start_unix_nano - 1
    response = post_traces(client, protobuf_body(spans), token)
    partial = export_response(response).partial_success
    assert response.status_code == 200 and partial.rejected_spans == 1
    assert "ends before it starts" in partial.error_message
    assert InboxBatch.objects.get().span_count == 2


def test_all_spans_bad_is_partial_success_without_an_inbox_row(client, token):
    spans = [span_input(start=timezone.now() + timedelta(days=30))]
    response = post_traces(client, protobuf_body(spans), token)
    assert export_response(response).partial_success.rejected_spans == 1
    assert not InboxBatch.objects.exists()


def test_restricted_key_gets_foreign_agent_spans_rejected(client):
    _, token = make_api_key(agent=make_agent("Refund", slug="refund-agent"))
    response = post_traces(client, protobuf_body(recent_trace(agent="billing-agent")), token)
    partial = export_response(response).partial_success
    assert partial.rejected_spans == 1 and "may only send for 'refund-agent'" in partial.error_message


def test_a_used_key_gets_its_last_used_time(client, token):
    post_traces(client, protobuf_body(recent_trace()), token)
    assert ApiKey.objects.get().last_used_at is not None


# --- OTLP: refusals -------------------------------------------------------------------------


@pytest.mark.parametrize("header,message", [
    (None, "missing Authorization"),
    ("Basic abc", "Bearer"),
    ("Bearer ao_0123456789_nope", "unknown or revoked"),
])
def test_missing_or_unknown_key_is_401_with_a_reason(client, header, message):
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.post("/v1/traces", data=b"\x00", content_type=PB, **headers)
    assert response.status_code == 401 and message in rpc_status(response).message


def test_revoked_key_is_401(client):
    key, token = make_api_key()
    key.revoke()
    assert post_traces(client, protobuf_body(recent_trace()), token).status_code == 401


def test_other_content_type_is_415(client, token):
    response = post_traces(client, b"hello", token, "text/plain")
    assert response.status_code == 415 and b"application/x-protobuf" in response.content


@pytest.mark.parametrize("body", [b"\xff\xff\xff\xffgarbage", protobuf_body(agent_trace())[:-9]])
def test_garbage_or_truncated_protobuf_is_400(client, token, body):
    response = post_traces(client, body, token)
    assert response.status_code == 400 and "protobuf" in rpc_status(response).message


def test_json_that_is_not_otlp_is_400_in_json(client, token):
    response = post_traces(client, b'{"spans": []}', token, "application/json")
    assert response.status_code == 400 and "resourceSpans" in response.json()["message"]


def test_bad_gzip_is_400(client, token):
    response = post_traces(client, b"not gzip", token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400 and "gzip" in rpc_status(response).message


def test_unknown_content_encoding_is_415(client, token):
    assert post_traces(client, b"x", token, HTTP_CONTENT_ENCODING="br").status_code == 415


def test_oversized_body_is_413(client, token, settings):
    settings.INTAKE_MAX_BODY_BYTES = 100
    response = post_traces(client, b"x" * 101, token)
    assert response.status_code == 413 and "limit" in rpc_status(response).message


def test_body_too_large_after_gzip_is_413(client, token, settings):
    settings.INTAKE_MAX_DECOMPRESSED_BYTES = 10_000
    bomb = gzip.compress(b"\0" * 1_000_000)
    response = post_traces(client, bomb, token, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413 and "decompressed" in rpc_status(response).message


def test_back_pressure_is_429_with_retry_after(client, token, settings):
    settings.INTAKE_MAX_PENDING_BATCHES = 1
    InboxBatch.objects.create(kind="otlp_protobuf", payload=b"")
    response = post_traces(client, protobuf_body(recent_trace()), token)
    assert response.status_code == 429 and response["Retry-After"] == "5"
    assert "busy" in rpc_status(response).message


def test_database_unavailable_is_503_with_retry_after(client, token, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(intake_services, "accept_batch", broken)
    response = post_traces(client, protobuf_body(recent_trace()), token)
    assert response.status_code == 503 and response["Retry-After"] == "5"


def test_get_is_405(client):
    assert client.get("/v1/traces").status_code == 405


# --- native JSON API ------------------------------------------------------------------------


def native_run(**overrides) -> dict:
    run = {
        "id": "order-42", "agent": "invoice-processor", "started_at": (timezone.now() - timedelta(minutes=2)).isoformat(),
        "duration_ms": 1500, "status": "ok", "prompt_version": "2", "session_id": "s-1",
        "steps": [
            {"id": "llm", "kind": "llm", "model": "gpt-4o-mini", "input_tokens": 500, "output_tokens": 50,
             "duration_ms": 700},
            {"id": "tool", "kind": "tool", "tool_name": "post_invoice", "duration_ms": 300},
        ],
        "scores": [{"name": "accuracy", "value": 0.9}],
    }
    run.update(overrides)
    return run


def post_runs(client, document, token):
    return client.post("/api/v1/runs", data=json.dumps(document), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {token}")


def test_native_runs_are_accepted_into_the_inbox_and_ingested(client, token):
    response = post_runs(client, {"runs": [native_run()]}, token)
    body = response.json()
    assert response.status_code == 202 and (body["accepted_runs"], body["rejected_runs"]) == (1, 0)
    batch = InboxBatch.objects.get(pk=body["batch_id"])
    assert batch.kind == "native_runs" and ingest_services.ingest_batch(batch.pk).status == "done"
    from monitoring.models import Run

    run = Run.objects.get(trace_id=body["trace_ids"][0])
    assert (run.agent.slug, run.step_count, run.input_tokens, run.quality_score) == ("invoice-processor", 3, 500, 0.9)


def test_native_run_with_bad_fields_is_rejected_while_others_are_accepted(client, token):
    response = post_runs(client, {"runs": [native_run(), native_run(id="b", started_at="yesterday")]}, token)
    body = response.json()
    assert response.status_code == 202 and (body["accepted_runs"], body["rejected_runs"]) == (1, 1)
    assert "runs[1].started_at is not an ISO 8601 time" in body["errors"][0]


@pytest.mark.parametrize("document,message", [
    ({"nope": []}, '"runs" list'),
    ({"runs": [{"id": "x"}]}, "no run could be accepted"),
])
def test_unusable_native_documents_are_400(client, token, document, message):
    response = post_runs(client, document, token)
    assert response.status_code == 400 and message in response.json()["error"]


def test_native_api_needs_json_content_type(client, token):
    response = client.post("/api/v1/runs", data="a=b", content_type="application/x-www-form-urlencoded",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 415 and "application/json" in response.json()["error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
run_fields = st.fixed_dictionaries({}, optional={
    "id": json_values | st.text(min_size=1, max_size=10), "agent": json_values | st.just("a-1"),
    "started_at": json_values | st.just("2026-11-24T10:00:00Z"), "duration_ms": json_values, "status": json_values,
    "steps": st.lists(st.dictionaries(st.sampled_from(["kind", "input_tokens", "cost", "started_at", "parent"]),
                                      json_values, max_size=4), max_size=3) | json_values,
    "scores": json_values, "escalation": json_values,
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=st.lists(run_fields, min_size=1, max_size=3))
def test_any_native_document_gets_a_4xx_or_202_never_a_crash(client, token, runs):
    response = post_runs(client, {"runs": runs}, token)
    assert response.status_code in (202, 400)
    assert "error" in response.json() or response.json()["accepted_runs"] >= 1


def test_feedback_on_a_stored_run_is_201_then_200(client, token):
    body = post_runs(client, {"runs": [native_run()]}, token).json()
    ingest_services.ingest_batch(body["batch_id"])
    url = f"/api/v1/runs/{body['trace_ids'][0]}/feedback"
    document = json.dumps({"name": "thumbs", "value": 0, "label": "down", "id": "ticket-7"})
    first = client.post(url, data=document, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    second = client.post(url, data=document, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (first.status_code, second.status_code) == (201, 200) and first.json()["label"] == "down"


@pytest.mark.parametrize("document,status", [
    ({"name": "thumbs", "value": 2}, 400), ({"value": 1}, 400), ({"name": "x"}, 400), ({"name": "x", "value": 1}, 404),
])
def test_bad_or_misdirected_feedback_is_4xx(client, token, document, status):
    response = client.post(f"/api/v1/runs/{'a' * 32}/feedback", data=json.dumps(document),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == status and response.json()["error"]


def test_openapi_document_describes_the_native_endpoints(client):
    document = client.get(reverse("api_openapi")).json()
    assert document["openapi"].startswith("3.") and "/api/v1/runs" in document["paths"]
    assert "/api/v1/agents/{slug}/prompt" in document["paths"]
    assert "/api/v1/runs/{trace_id}/feedback" in document["paths"]


# --- dead letters page ----------------------------------------------------------------------


def test_dead_letter_page_lists_batches_with_their_error(ops_client):
    InboxBatch.objects.create(kind="otlp_protobuf", payload=b"x", status="dead", error="PayloadError: bad body")
    response = ops_client.get(reverse("monitoring:dead_letters"))
    assert response.status_code == 200 and b"PayloadError: bad body" in response.content


def test_dead_letter_page_has_an_empty_state(ops_client):
    assert b"No dead letters" in ops_client.get(reverse("monitoring:dead_letters")).content


def test_dead_letter_page_is_for_operations_only(reviewer_client):
    assert reviewer_client.get(reverse("monitoring:dead_letters")).status_code == 403


def test_replay_button_requeues_the_batch_and_redirects(ops_client):
    batch = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"x", status="dead", error="boom")
    response = ops_client.post(reverse("monitoring:replay_dead_letter", args=[batch.pk]))
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "pending"


def test_replay_with_htmx_returns_the_list_partial(ops_client):
    batch = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"x", status="dead", error="boom")
    response = ops_client.post(reverse("monitoring:replay_dead_letter", args=[batch.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'id="dead-letter-list"' in response.content
    assert b"<html" not in response.content and b"queued for processing again" in response.content


def dead_batches(count: int) -> list[InboxBatch]:
    start = timezone.now() - timedelta(hours=1)
    return [InboxBatch.objects.create(kind="otlp_protobuf", payload=b"x", status="dead", error=f"boom {i}",
                                      received_at=start + timedelta(seconds=i)) for i in range(count)]


def test_dead_letter_page_pages_through_batches_newest_first(ops_client, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(dead_letter_queries, "DEAD_LETTER_PAGE", 2)
    batches = dead_batches(5)
    url = reverse("monitoring:dead_letters")
    with django_assert_max_num_queries(9):  # with the user's department scope
        first = ops_client.get(url).content.decode()
    assert "5 dead batches, newest first: page 1 of 3" in first and "boom 4" in first and "boom 2" not in first
    assert 'href="?page=2"' in first and "Newer" not in first
    last = ops_client.get(url, {"page": 3}).content.decode()
    assert "boom 0" in last and "boom 1" not in last and 'href="?page=2"' in last and "Older" not in last
    assert f'data-batch="{batches[0].pk}"' in last


@pytest.mark.parametrize("page, shown", [("zero", 1), ("-3", 3), ("999", 3), ("", 1)])
def test_a_page_number_out_of_range_or_not_a_number_shows_the_nearest_page(ops_client, monkeypatch, page, shown):
    monkeypatch.setattr(dead_letter_queries, "DEAD_LETTER_PAGE", 2)
    dead_batches(5)
    response = ops_client.get(reverse("monitoring:dead_letters"), {"page": page})
    assert response.status_code == 200 and f"page {shown} of 3" in response.content.decode()


def test_replay_all_requeues_every_dead_batch_once(ops_client, monkeypatch):
    queued = []
    monkeypatch.setattr(ingest_tasks, "enqueue", queued.append)
    batches = dead_batches(3)
    done = InboxBatch.objects.create(kind="otlp_protobuf", payload=b"x", status="done")
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = ops_client.post(reverse("monitoring:replay_all_dead_letters"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"3 batches were queued for processing again." in response.content
    assert b"No dead letters" in response.content
    assert sorted(queued) == sorted(b.pk for b in batches)
    assert set(InboxBatch.objects.exclude(pk=done.pk).values_list("status", "attempts", "error")) == {("pending", 0, "")}
    again = ops_client.post(reverse("monitoring:replay_all_dead_letters"), follow=True)
    assert b"There were no dead batches to replay." in again.content


def test_replay_all_is_for_operations_and_post_only(ops_client, reviewer_client):
    dead_batches(1)
    assert reviewer_client.post(reverse("monitoring:replay_all_dead_letters")).status_code == 403
    assert ops_client.get(reverse("monitoring:replay_all_dead_letters")).status_code == 405
    assert InboxBatch.objects.get().status == "dead"
