"""Monitoring test fixtures."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from monitoring.rollups import cells as rollups


@pytest.fixture(autouse=True)
def _fresh_settled_generation():
    """Start every test with a new settled-rollup generation, so no cached summary of an earlier test
    (the test database is rolled back, the cache is not) can be read."""
    cache.set(rollups.SETTLED_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
