"""Small invariants of the registry's models."""

from __future__ import annotations

import pytest

from tests.factories import make_api_key

pytestmark = pytest.mark.django_db


def test_an_api_key_use_is_written_at_most_once_a_minute():
    key, _ = make_api_key()
    key.mark_used()
    key.refresh_from_db()
    stamped = key.last_used_at
    key.mark_used()
    key.refresh_from_db()
    assert stamped is not None and key.last_used_at == stamped
