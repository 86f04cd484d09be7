"""Evals fixtures: a real OpenAI-compatible HTTP server in-process (evals.responder)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from evals.responder import serve


@pytest.fixture
def responder():
    with serve(hang_seconds=3.0) as r:
        yield r


@pytest.fixture(autouse=True)
def _local_responders_allowed(settings):
    """The responders of these tests listen on loopback: an internal receiver, allow-listed explicitly
    (the outbound guard refuses loopback otherwise; tests/security/test_outbound.py)."""
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture(autouse=True)
def _fresh_online_cache():
    cache.delete("evals:online:active")
