"""Faults with real processes: a Redis outage (its own redis-server, stopped and restarted) and a
hostile overflowing batch among good ones, through a live server and a Celery worker subprocess."""

from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import timedelta

import pytest
import requests
from django.core.cache import caches
from django.utils import timezone

from monitoring.intake import services as intake_services
from monitoring.models import InboxBatch, RollupCell, Step
from tests.factories import make_api_key
from tests.monitoring.celery_helpers import purge_broker, start_subprocess_worker, stop, wait_for
from tests.monitoring.otlp_builders import agent_trace, otlp_request, protobuf_body, span_input

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PB = {"Content-Type": "application/x-protobuf"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_for(up, timeout=10, what="redis-server to listen")
    return process


def _reset_cache() -> None:
    caches._settings = None
    if hasattr(caches._connections, "default"):
        del caches._connections.default
    intake_services._pending_seen[:] = [0.0, -1.0]


def _recent(agent="refunds"):
    return agent_trace(agent, start=timezone.now() - timedelta(minutes=1))


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_a_redis_outage_loses_nothing_and_a_restarted_worker_drains_at_once(live_server, settings):
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis = _start_redis(port)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url,
                                   "OPTIONS": {**settings.CACHES["default"]["OPTIONS"], "socket_connect_timeout": 0.5,
                                               "socket_timeout": 0.5}}}
    _reset_cache()
    _key, token = make_api_key("outage")
    headers = {**PB, "Authorization": f"Bearer {token}"}
    sent = []
    try:
        for _ in range(3):
            spans = _recent()
            sent.append(spans)
            assert requests.post(f"{live_server.url}/v1/traces", data=protobuf_body(spans), headers=headers,
                                 timeout=10).status_code == 200
        redis.terminate()
        redis.wait(timeout=10)
        statuses = []
        for _ in range(5):  # Redis is down: answers must still be 200, the inbox holds the batches
            spans = _recent()
            sent.append(spans)
            response = requests.post(f"{live_server.url}/v1/traces", data=protobuf_body(spans), headers=headers,
                                     timeout=20)
            statuses.append(response.status_code)
        assert statuses == [200] * 5
        health = requests.get(f"{live_server.url}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["redis"]["status"] == "error"
        redis = _start_redis(port)  # Redis is back (empty: the queued wake-ups are gone)
        worker = start_subprocess_worker(env={"REDIS_URL": url, "CELERY_BROKER_URL": url})
        try:
            # No sweeper and no new request: the worker must drain what is pending when it starts.
            wait_for(lambda: not InboxBatch.objects.filter(status="pending").exists(), timeout=60,
                     what="the restarted worker to drain the inbox")
        finally:
            stop(worker)
    finally:
        if redis.poll() is None:
            redis.terminate()
            redis.wait(timeout=10)
        _reset_cache()
    expected = sum(len(spans) for spans in sent)
    assert Step.objects.count() == expected
    assert set(InboxBatch.objects.values_list("status", flat=True)) == {"done"}


def test_an_overflowing_batch_does_not_stall_the_others(live_server):
    purge_broker()
    _key, token = make_api_key("mixed")
    headers = {**PB, "Authorization": f"Bearer {token}"}
    worker = start_subprocess_worker()
    try:
        start = timezone.now().replace(second=5, microsecond=0) - timedelta(minutes=1)
        hostile = span_input(start=start, service="hostile", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 2**63 - 1 - 10**6,
            "gen_ai.usage.cost": "99999999"})
        bodies = [otlp_request([hostile], service="hostile").SerializeToString()]
        bodies += [otlp_request(agent_trace(f"agent-{i}", start=start), service=f"agent-{i}").SerializeToString()
                   for i in range(6)]
        for body in bodies:
            assert requests.post(f"{live_server.url}/v1/traces", data=body, headers=headers,
                                 timeout=10).status_code == 200
        wait_for(lambda: not InboxBatch.objects.filter(status="pending").exists(), timeout=30,
                 what="every batch to be processed (not left for the sweeper)")
    finally:
        stop(worker)
    assert set(InboxBatch.objects.values_list("status", flat=True)) == {"done"}
    assert Step.objects.count() == 1 + 6 * 3
    fleet = RollupCell.objects.get(agent__isnull=True, tier="m")
    assert fleet.input_tokens < 2**63 - 1 and fleet.runs == 7
