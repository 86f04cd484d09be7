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
def _fresh_online_cache():
    cache.delete("evals:online:active")
