"""Single sign-on against a local OpenID Connect provider (no network): groups become roles."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from agentops.models import AuditEvent, UserDepartment
from agentops.permissions import user_roles
from tests.conftest import PASSWORD, make_user
from tests.factories import make_department
from tests.security.oidc_provider import LocalProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings):
    with LocalProvider() as idp:
        for name, value in idp.settings().items():
            setattr(settings, name, value)
        settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "agentops.sso.RoleMappingOIDCBackend"]
        settings.OIDC_ROLE_GROUPS = "ao-ops=Operations,ao-review=Reviewers,ao-money=Finance,ao-bogus=Admins"
        settings.OIDC_DEPARTMENT_GROUPS = "dept-support=Customer Support"
        yield idp


def _sso_sign_in(client, provider, claims, **grant):
    start = client.get(reverse("oidc_authentication_init"))
    assert start.status_code == 302 and start["Location"].startswith(provider.url + "/authorize")
    query = parse_qs(urlparse(start["Location"]).query)
    code = provider.grant(query["nonce"][0], claims, **grant)
    return client.get(reverse("oidc_authentication_callback"), {"code": code, "state": query["state"][0]})


def test_the_sign_in_page_offers_sso_only_when_configured(client, provider, settings):
    assert "Sign in with" in client.get(reverse("login")).content.decode()
    settings.OIDC_ENABLED = False
    assert "Sign in with" not in client.get(reverse("login")).content.decode()
    assert client.get(reverse("oidc_authentication_init")).status_code == 404


def test_provider_groups_become_roles_and_departments(client, provider):
    make_department("Customer Support")
    claims = {"sub": "u-1", "email": "oscar@example.com", "preferred_username": "oscar", "given_name": "Oscar",
              "groups": ["ao-ops", "dept-support", "ao-bogus", "unrelated"]}
    response = _sso_sign_in(client, provider, claims)
    assert response.status_code == 302 and "failed" not in response["Location"]
    user = User.objects.get(username="oscar")
    assert user_roles(user) == {"Operations"} and not user.has_usable_password()
    assert [s.department.name for s in UserDepartment.objects.filter(user=user)] == ["Customer Support"]
    assert client.get(reverse("registry:agent_list")).status_code == 200
    assert AuditEvent.objects.filter(object_type="user", action="roles added").exists()


def test_roles_follow_the_provider_at_each_sign_in(client, provider):
    claims = {"sub": "u-2", "email": "fay@example.com", "preferred_username": "fay", "groups": ["ao-ops", "ao-money"]}
    _sso_sign_in(client, provider, claims)
    client.logout()
    _sso_sign_in(client, provider, {**claims, "groups": ["ao-money"]})
    assert user_roles(User.objects.get(username="fay")) == {"Finance"}


def test_a_provider_cannot_take_over_a_local_account(client, provider):
    admin = make_user("admin", superuser=True)
    claims = {"sub": "evil", "email": admin.email, "preferred_username": "admin", "groups": []}
    _sso_sign_in(client, provider, claims)
    signed_in = User.objects.get(pk=client.session["_auth_user_id"])
    assert signed_in.pk != admin.pk and not signed_in.is_superuser and user_roles(signed_in) == frozenset()


def test_a_token_for_another_client_is_refused(client, provider):
    claims = {"sub": "u-3", "email": "x@example.com", "groups": ["ao-ops"]}
    response = _sso_sign_in(client, provider, claims, aud="someone-else")
    assert "_auth_user_id" not in client.session
    assert response["Location"].startswith("/login/?sso=failed")
    assert "Single sign-on did not complete" in client.get(response["Location"]).content.decode()


def test_local_accounts_still_sign_in(client, provider, ops_user):
    response = client.post(reverse("login"), {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(ops_user.pk)
