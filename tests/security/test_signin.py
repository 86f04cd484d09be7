"""Sign-in throttling: wrong passwords lock the account with a clear message; operations unlock it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agentops.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(client, username, password, address="10.0.0.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, ops_user, settings):
    for _ in range(30):
        _sign_in(client, "olivia", "wrong-password")
    response = _sign_in(client, "olivia", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_the_lock_holds_from_another_address_and_for_the_address(client, ops_user, reviewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "olivia", "wrong-password")
    assert _sign_in(client, "olivia", PASSWORD, address="10.9.9.9").status_code == 429  # by user name
    assert _sign_in(client, "rita", PASSWORD).status_code == 429  # by address


def test_fewer_failures_than_the_limit_still_sign_in(client, ops_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "olivia", "wrong-password")
    assert _sign_in(client, "olivia", PASSWORD).status_code == 302


def test_operations_see_the_lock_and_unlock_it(client, ops_user, ops_client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "olivia", "wrong-password")
    page = ops_client.get(reverse("registry:signin_locks"))
    assert "olivia" in page.content.decode() and "locked" in page.content.decode()
    lock = page.context["locks"][0]
    ops_client.post(reverse("registry:signin_unlock", args=[lock.id]))
    assert _sign_in(client, "olivia", PASSWORD).status_code == 302
    event = AuditEvent.objects.get(action="unlocked")
    assert event.actor_name == "olivia" and "10.0.0.7" in event.object_repr


def test_only_operations_may_unlock(reviewer_client):
    assert reviewer_client.post(reverse("registry:signin_unlock", args=[1])).status_code == 403
