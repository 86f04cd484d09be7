"""Sign-in, the start page per role, health check and error pages in the site's layout."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_sign_in_page_renders_the_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content


def test_sign_in_with_wrong_password_shows_an_error(client, ops_user):
    response = client.post(reverse("login"), {"username": ops_user.username, "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_sign_in_and_out(client, ops_user):
    response = client.post(reverse("login"), {"username": ops_user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # to the user's start page
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/")["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("fixture", "expected_prefix"),
    [("ops_user", "/monitoring/"), ("reviewer", "/handoffs/"), ("finance_user", "/roi/")],
)
def test_start_page_follows_the_role(client, request, fixture, expected_prefix):
    client.force_login(request.getfixturevalue(fixture))
    location = client.get("/")["Location"]
    # Operations falls back to the registry while monitoring has no overview.
    assert location.startswith(expected_prefix) or (fixture == "ops_user" and location.startswith("/registry/"))


def test_user_without_a_role_is_told_so(client, no_role_user):
    client.force_login(no_role_user)
    response = client.get("/")
    assert response.status_code == 403
    assert b"no role" in response.content


def test_unknown_url_gets_404_page_in_the_layout(client, ops_user, settings):
    settings.DEBUG = False
    client.force_login(ops_user)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content and b'class="sidebar"' in response.content


def test_forbidden_page_names_the_missing_role(client, finance_user, settings):
    settings.DEBUG = False
    client.force_login(finance_user)
    response = client.get(reverse("registry:agent_list"))
    assert response.status_code == 403
    assert b"Operations" in response.content and b'class="sidebar"' in response.content


def test_health_check_reports_database_ok(client):
    response = client.get(reverse("healthz"))
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok" and body["database"] == {"status": "ok"}


def test_navigation_shows_only_the_sections_of_the_users_roles(client, finance_user, ops_user):
    client.force_login(finance_user)
    finance_page = client.get(reverse("registry:agent_list")).content.decode()  # a 403 page, in the layout
    assert 'class="nav-title">Registry' not in finance_page
    client.force_login(ops_user)
    ops_page = client.get(reverse("registry:agent_list")).content.decode()
    assert 'class="nav-title">Registry' in ops_page


@pytest.mark.parametrize("path, active", [
    ("/monitoring/", "Overview"),
    ("/monitoring/dead-letters/", "Dead letters"),
    ("/monitoring/dead-letters/?page=2", "Dead letters"),
    ("/monitoring/runs/abc/", "Runs"),
])
def test_navigation_marks_the_most_specific_link_only(ops_user, path, active):
    from agentops.navigation import build_navigation

    marked = [link["label"] for section in build_navigation(ops_user, path) for link in section["links"] if link["active"]]
    assert marked == [active]
