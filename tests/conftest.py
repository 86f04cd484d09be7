"""Shared personas and fixtures. Tests run against real PostgreSQL and Redis (see Makefile)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from agentops.models import ROLE_FINANCE, ROLE_OPERATIONS, ROLE_REVIEWERS

PASSWORD = "correct-horse-battery"

# Property tests: enough examples to find edge cases, bounded so the suite stays fast; no deadline
# because tests share a small machine with a real database.
hypothesis_settings.register_profile(
    "agentops", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
hypothesis_settings.load_profile("agentops")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hash test passwords cheaply: the real hasher is deliberately slow and tests create many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_back_pressure():
    """Intake processes remember the inbox count for a second; every test counts afresh."""
    from monitoring.intake.services import forget_pending_count

    forget_pending_count()


@pytest.fixture(autouse=True)
def _fresh_settled_generation():
    """Start every test with a new settled-rollup generation, so no summary cached by an earlier test
    (the test database is rolled back, the cache is not) is read: a test of any app reading the
    dashboards' or insights' figures would otherwise see another test's runs."""
    import uuid

    from django.core.cache import cache

    from monitoring.rollups import cells as rollups

    cache.set(rollups.SETTLED_GENERATION_KEY, uuid.uuid4().hex, timeout=None)


@pytest.fixture(autouse=True)
def _no_queued_wake_up():
    """A drain woken by an earlier test (with no worker to start it) must not silence this test's."""
    from monitoring.ingest import outbox
    from monitoring.intake.services import forget_wake_up

    forget_wake_up()
    outbox.forget_wake_up()


def make_user(username: str, *roles: str, superuser: bool = False) -> User:
    user = User.objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@example.com", is_superuser=superuser,
        is_staff=superuser, first_name=username.capitalize(),
    )
    for role in roles:
        # get_or_create: transactional (browser) tests flush the tables, including the migration's roles.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def ops_user(db) -> User:
    """An operations manager."""
    return make_user("olivia", ROLE_OPERATIONS)


@pytest.fixture
def reviewer(db) -> User:
    return make_user("rita", ROLE_REVIEWERS)


@pytest.fixture
def reviewer2(db) -> User:
    return make_user("ravi", ROLE_REVIEWERS)


@pytest.fixture
def finance_user(db) -> User:
    return make_user("fiona", ROLE_FINANCE)


@pytest.fixture
def superuser(db) -> User:
    return make_user("sam", superuser=True)


@pytest.fixture
def no_role_user(db) -> User:
    return make_user("nobody")


def _client_for(client_class, user: User):
    c = client_class()
    c.force_login(user)
    return c


@pytest.fixture
def ops_client(ops_user):
    from django.test import Client

    return _client_for(Client, ops_user)


@pytest.fixture
def reviewer_client(reviewer):
    from django.test import Client

    return _client_for(Client, reviewer)


@pytest.fixture
def finance_client(finance_user):
    from django.test import Client

    return _client_for(Client, finance_user)
