"""Redis counters that always expire: no step between the check and the write lets a key live for ever."""

from __future__ import annotations

import secrets

import pytest
from django.core.cache import cache

from agentops import counters
from monitoring.intake import services as intake_services


def _client_and_key(key: str):
    full_key = cache.make_and_validate_key(key)
    return cache._cache.get_client(full_key, write=True), full_key


@pytest.fixture
def key() -> str:
    name = f"test:counter:{secrets.token_hex(6)}"
    yield name
    cache.delete(name)


def test_incr_existing_leaves_an_absent_key_absent(key):
    assert counters.incr_existing(key, 3) is None
    assert cache.get(key) is None


def test_incr_existing_adds_and_keeps_the_expiry(key):
    cache.set(key, 10, 30)
    assert counters.incr_existing(key, 5) == 15
    client, full_key = _client_and_key(key)
    assert 0 < client.pttl(full_key) <= 30_000
    assert cache.get(key) == 15  # read back through the cache's serializer


def test_incr_existing_gives_a_key_without_expiry_one(key):
    """A count left without an expiry (as Django's two-step incr could leave it) heals at the next add."""
    client, full_key = _client_and_key(key)
    client.set(full_key, 5001)
    assert client.pttl(full_key) == -1
    assert counters.incr_existing(key, 1, expire_seconds=1) == 5002
    assert 0 < client.pttl(full_key) <= 1000


def test_take_refuses_past_the_limit_without_using_the_quota(key):
    assert counters.take(key, 60, limit=100, expire_seconds=120) == (True, 60)
    assert counters.take(key, 50, limit=100, expire_seconds=120) == (False, 60)
    assert counters.take(key, 40, limit=100, expire_seconds=120) == (True, 100)
    client, full_key = _client_and_key(key)
    assert 0 < client.pttl(full_key) <= 120_000


def test_take_without_a_limit_counts_everything(key):
    assert counters.take(key, 7, expire_seconds=60) == (True, 7)
    assert counters.take(key, 7, expire_seconds=60) == (True, 14)


def test_the_shared_pending_count_never_outlives_its_second():
    """An accepted batch raises the shared inbox count only while it exists: once it has expired it
    stays gone (the next check counts the inbox), instead of coming back without an expiry and
    growing until intake refuses everything as "busy"."""
    client, full_key = _client_and_key(intake_services.PENDING_KEY)
    cache.delete(intake_services.PENDING_KEY)
    for _ in range(50):
        intake_services._count_accepted()
    assert cache.get(intake_services.PENDING_KEY) is None
    cache.set(intake_services.PENDING_KEY, 3, intake_services.PENDING_COUNT_CACHE_SECONDS)
    intake_services._count_accepted()
    assert cache.get(intake_services.PENDING_KEY) == 4
    assert 0 < client.pttl(full_key) <= 1000
    intake_services.forget_pending_count()


def test_a_count_without_expiry_is_not_trusted(key):
    client, full_key = _client_and_key(key)
    client.set(full_key, 5001)
    assert counters.get_expiring(key) is None
    assert client.exists(full_key) == 0
    cache.set(key, 12, 30)
    assert counters.get_expiring(key) == 12


@pytest.mark.django_db
def test_intake_recovers_from_a_stuck_busy_count(client, settings):
    """A shared count left without an expiry above the limit (by the old two-step increment) no
    longer refuses every request for ever: it is recounted from the inbox."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import make_api_key
    from tests.monitoring.otlp_builders import agent_trace, protobuf_body

    redis_client, full_key = _client_and_key(intake_services.PENDING_KEY)
    intake_services.forget_pending_count()
    redis_client.set(full_key, settings.INTAKE_MAX_PENDING_BATCHES + 1)
    _key, token = make_api_key("stuck")
    body = protobuf_body(agent_trace(start=timezone.now() - timedelta(minutes=1)))
    response = client.post("/v1/traces", data=body, content_type="application/x-protobuf",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    intake_services.forget_pending_count()
