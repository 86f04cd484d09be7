"""One key cannot starve the rest or take over another agent's runs; Redis down does not stop intake."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import TestCase
from django.utils import timezone

from monitoring.ingest import services as ingest_services
from monitoring.intake import services as intake_services
from monitoring.models import InboxBatch, Run
from tests.factories import make_agent, make_api_key
from tests.monitoring.otlp_builders import agent_trace, protobuf_body, span_input

pytestmark = pytest.mark.django_db
PB = "application/x-protobuf"


def _post(client, body, token, content_type=PB, **headers):
    return client.post("/v1/traces", data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}",
                       **headers)


def _recent(**kw):
    return agent_trace(start=timezone.now() - timedelta(minutes=1), **kw)


@pytest.fixture
def token() -> str:
    return make_api_key("limits")[1]


def test_too_many_spans_in_one_request_get_a_413_naming_the_limit(client, token, settings):
    settings.INTAKE_MAX_SPANS_PER_REQUEST = 5
    spans = [span_input(start=timezone.now() - timedelta(minutes=1)) for _ in range(6)]
    response = _post(client, protobuf_body(spans), token)
    assert response.status_code == 413
    assert b"INTAKE_MAX_SPANS_PER_REQUEST" in response.content
    assert not InboxBatch.objects.exists()


def test_a_json_bomb_of_tiny_spans_is_refused_before_decoding(client, token):
    span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "x"}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span] * 108_000}]}]}
    body = gzip.compress(json.dumps(document).encode())
    response = _post(client, body, token, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


def test_json_has_a_lower_decompressed_cap(client, token, settings):
    settings.INTAKE_MAX_JSON_BYTES = 1000
    body = json.dumps({"resourceSpans": [], "pad": "x" * 2000}).encode()
    assert _post(client, body, token, content_type="application/json").status_code == 413
    assert _post(client, gzip.compress(body), token, content_type="application/json",
                 HTTP_CONTENT_ENCODING="gzip").status_code == 413


def test_a_key_over_its_pending_cap_gets_429_others_do_not(client, settings):
    settings.INTAKE_KEY_MAX_PENDING_BATCHES = 2
    busy, busy_token = make_api_key("busy")
    _other, other_token = make_api_key("other")
    for _ in range(2):
        InboxBatch.objects.create(kind="otlp_protobuf", payload=b"", api_key=busy)
    response = _post(client, protobuf_body(_recent()), busy_token)
    assert response.status_code == 429 and response["Retry-After"]
    assert b"INTAKE_KEY_MAX_PENDING_BATCHES" in response.content
    assert _post(client, protobuf_body(_recent()), other_token).status_code == 200


def test_the_keys_pending_count_is_skipped_while_the_inbox_is_far_below_the_cap(client, token, settings):
    """A key cannot hold more batches than the whole inbox: below half its cap, no count in Postgres."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.INTAKE_KEY_MAX_PENDING_BATCHES = 1000
    with CaptureQueriesContext(connection) as queries:
        assert _post(client, protobuf_body(_recent()), token).status_code == 200
    assert not [q for q in queries.captured_queries if '"api_key_id" =' in q["sql"] and "COUNT" in q["sql"]]
    settings.INTAKE_KEY_MAX_PENDING_BATCHES = 2  # the inbox (1 pending) is now at half this key's cap
    intake_services.forget_pending_count()
    with CaptureQueriesContext(connection) as queries:
        assert _post(client, protobuf_body(_recent()), token).status_code == 200
    assert [q for q in queries.captured_queries if '"api_key_id" =' in q["sql"] and "COUNT" in q["sql"]]


def test_a_key_over_its_span_rate_gets_429_others_do_not(client, settings):
    settings.INTAKE_KEY_SPANS_PER_MINUTE = 5
    _key, fast = make_api_key("fast")
    _key, slow = make_api_key("slow")
    assert _post(client, protobuf_body(_recent()), fast).status_code == 200  # 3 spans
    response = _post(client, protobuf_body(_recent()), fast)  # 6 > 5
    assert response.status_code == 429 and b"INTAKE_KEY_SPANS_PER_MINUTE" in response.content
    assert _post(client, protobuf_body(_recent()), slow).status_code == 200


@pytest.fixture
def redis_down(settings):
    """The cache points at a port where nothing listens (as when Redis is stopped)."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {**settings.CACHES["default"].get("OPTIONS", {}),
                                               "socket_connect_timeout": 0.2}}}
    from django.core.cache import caches

    caches._settings = None
    if hasattr(caches._connections, "default"):
        del caches._connections.default
    intake_services._pending_seen[:] = [0.0, -1.0]
    yield
    if hasattr(caches._connections, "default"):
        del caches._connections.default


def test_redis_down_intake_still_accepts_into_the_inbox(client, token, redis_down, monkeypatch):
    monkeypatch.setattr(intake_services.celery_app, "send_task", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = _post(client, protobuf_body(_recent()), token)
    assert response.status_code == 200
    assert InboxBatch.objects.filter(status="pending").count() == 1


def test_redis_down_back_pressure_comes_from_postgres(client, token, redis_down, settings):
    settings.INTAKE_MAX_PENDING_BATCHES = 1
    InboxBatch.objects.create(kind="otlp_protobuf", payload=b"")
    response = _post(client, protobuf_body(_recent()), token)
    assert response.status_code == 429 and response["Retry-After"]


def test_healthz_reports_redis_and_the_worker(client, redis_down):
    InboxBatch.objects.create(kind="otlp_protobuf", payload=b"", received_at=timezone.now() - timedelta(hours=1))
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200  # intake still works: keep the web in the load balancer
    assert body["database"]["status"] == "ok" and body["redis"]["status"] == "error"
    assert body["worker"]["status"] == "behind" and body["worker"]["pending"] == 1
    assert body["status"] == "degraded"


def test_healthz_is_ok_when_all_is_well(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["redis"]["status"] == "ok" and body["worker"]["pending"] == 0


def test_back_pressure_overshoot_is_bounded(client, token, settings):
    """Near the limit every request reads the shared count, which every accept raises: a burst from
    one process stops at the limit instead of running on for a second."""
    settings.INTAKE_MAX_PENDING_BATCHES = 10
    statuses = [_post(client, protobuf_body(_recent()), token).status_code for _ in range(30)]
    assert statuses.count(200) == 10 and statuses[10:] == [429] * 20
    assert cache.get(intake_services.PENDING_KEY) >= 10


def test_a_restricted_key_cannot_take_over_another_agents_run(client):
    make_agent("Agent B", slug="agent-b")
    _key_a, token_a = make_api_key("a", agent=make_agent("Agent A", slug="agent-a"))
    b_trace = agent_trace("agent-b", start=timezone.now() - timedelta(minutes=1))
    InboxBatch.objects.create(kind="otlp_protobuf", payload=protobuf_body(b_trace))
    ingest_services.drain_inbox()
    run = Run.objects.get(trace_id=b_trace[0].trace_id)
    assert run.agent.slug == "agent-b"
    hijack = span_input(trace_id=b_trace[0].trace_id, start=timezone.now() - timedelta(minutes=5), status=2,
                        attributes={"gen_ai.operation.name": "chat"})
    assert _post(client, protobuf_body([hijack]), token_a).status_code == 200
    ingest_services.drain_inbox()
    run.refresh_from_db()
    assert run.agent.slug == "agent-b" and run.status != "error" and run.root_span_id == b_trace[0].span_id
    batch = InboxBatch.objects.latest("id")
    assert batch.status == "done" and "refused" in batch.error


def test_a_pending_batch_keeps_its_restriction_when_the_key_is_deleted(client):
    agent = make_agent("Only", slug="only-agent")
    key, token = make_api_key("restricted", agent=agent)
    foreign = span_input(start=timezone.now() - timedelta(minutes=1), service="someone-else",
                         attributes={"gen_ai.operation.name": "chat"})
    assert _post(client, protobuf_body([foreign]), token).status_code == 200
    key.delete()
    ingest_services.drain_inbox()
    assert set(Run.objects.values_list("agent__slug", flat=True)) == {"only-agent"}
