"""Every page x every role x anonymous.

Pages are discovered from the URL configuration, so a new page is covered automatically. Each page
view must declare its roles with ``role_required`` (a page without it fails here), and those roles
must follow the product's policy: registry and monitoring for Operations, handoffs for Reviewers
(plus Operations where it supervises), ROI for Finance only. Finance reads no telemetry text: the
ROI ticket drill-down omits escalation reasons (tests/security/test_exports.py). A user limited to
departments keeps the pages of their roles (the last tests), except the pages that manage every
department (a user's departments, queue routing, period close), which answer 404 for them; what
they see is narrowed (tests/security/test_scoping.py), and no page or export names another
department's agent (tests/security/test_scoped_pages.py).
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from agentops.models import ROLE_FINANCE, ROLE_OPERATIONS, ROLE_REVIEWERS
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

# Routes that are not role-gated pages: sign-in, health, the machine endpoints (bearer keys), admin.
PUBLIC_OR_MACHINE = re.compile(r"^(login/|logout/|oidc/|healthz|admin/|v1/|api/|$)")

# Which roles each area may open; the declared roles of every page must be a non-empty subset.
POLICY = {
    "registry": {ROLE_OPERATIONS},
    "monitoring": {ROLE_OPERATIONS},
    "handoffs": {ROLE_REVIEWERS, ROLE_OPERATIONS},
    "roi": {ROLE_FINANCE},
}

SAMPLE_VALUES = {"int": "987654", "slug": "no-such-thing", "str": "no-such-thing", "path": "no/such", "uuid": "00000000-0000-0000-0000-000000000000"}


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace or namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), namespace, p


def _sample_path(route: str) -> str:
    def repl(match: re.Match) -> str:
        converter = match.group(1) or "str"
        return SAMPLE_VALUES.get(converter, "x")

    return "/" + re.sub(r"<(?:(\w+):)?\w+>", repl, route)


def _pages():
    pages = []
    for route, namespace, pattern in _walk(get_resolver().url_patterns):
        if PUBLIC_OR_MACHINE.match(route) or namespace not in POLICY:
            continue
        pages.append(pytest.param(route, namespace, pattern, id=route))
    return pages


PAGES = _pages()


def test_pages_exist_in_every_area():
    areas = {p.values[1] for p in PAGES}
    assert {"registry"} <= areas


@pytest.mark.parametrize(("route", "namespace", "pattern"), PAGES)
def test_page_declares_roles_within_policy(route, namespace, pattern):
    roles = getattr(pattern.callback, "required_roles", None)
    assert roles, f"{route} has no role_required decorator"
    assert roles <= POLICY[namespace], f"{route} admits {set(roles) - POLICY[namespace]}"


@pytest.mark.parametrize(("route", "namespace", "pattern"), PAGES)
def test_anonymous_is_sent_to_sign_in(client, route, namespace, pattern):
    response = client.get(_sample_path(route))
    if response.status_code == 405:  # a POST-only action: the POST must be refused too
        response = client.post(_sample_path(route))
    assert response.status_code == 302, route
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(("route", "namespace", "pattern"), PAGES)
def test_each_role_is_admitted_or_refused_as_declared(client, route, namespace, pattern):
    declared = getattr(pattern.callback, "required_roles", frozenset())
    path = _sample_path(route)
    for role in (ROLE_OPERATIONS, ROLE_REVIEWERS, ROLE_FINANCE, None):
        user = make_user(f"u{abs(hash((route, role))) % 10**8}", *([role] if role else []))
        client.force_login(user)
        get = client.get(path)
        if role in declared:
            assert get.status_code != 403, f"{role} refused on {route}"
            assert get.status_code < 500, f"{route} errored for {role}"
        else:
            status = get.status_code if get.status_code != 405 else client.post(path).status_code
            assert status == 403, f"{role or 'no role'} got {status} on {route}"
        client.logout()


@pytest.mark.parametrize(("route", "namespace", "pattern"), PAGES)
def test_superuser_is_admitted_everywhere(client, route, namespace, pattern):
    client.force_login(make_user("root", superuser=True))
    assert client.get(_sample_path(route)).status_code not in (403, 500)


@pytest.mark.parametrize(("route", "namespace", "pattern"), PAGES)
def test_a_department_scoped_user_keeps_their_roles_pages(client, route, namespace, pattern):
    """A user limited to one department (agentops.scoping) is admitted as their roles declare and never
    errs; what the pages show is limited (tests/security/test_scoping.py)."""
    from agentops.models import Department, UserDepartment

    declared = getattr(pattern.callback, "required_roles", frozenset())
    user = make_user("scoped", ROLE_OPERATIONS, ROLE_REVIEWERS, ROLE_FINANCE)
    UserDepartment.objects.create(user=user, department=Department.objects.create(name="Customer Support"))
    client.force_login(user)
    status = client.get(_sample_path(route)).status_code
    assert status < 500, f"{route} errored for a scoped user"
    assert status != 403 or not declared, f"scoped user refused on {route}"


UNSCOPED_ONLY = {"registry/users/<int:pk>/departments/", "handoffs/settings/queues/new/",
                 "handoffs/settings/queues/<slug:slug>/", "handoffs/settings/queues/<slug:slug>/reroute/",
                 "roi/close/", "monitoring/dead-letters/announcements/retry/"}


@pytest.mark.parametrize(("route", "namespace", "pattern"), PAGES)
def test_a_scoped_user_gets_404_not_403_where_a_page_spans_every_department(client, route, namespace, pattern):
    """Pages that manage every department do not exist for a scoped user (404, like an object outside
    the scope); every other page of their roles still answers them."""
    from agentops.models import Department, UserDepartment

    declared = getattr(pattern.callback, "required_roles", frozenset())
    user = make_user("scoped2", ROLE_OPERATIONS, ROLE_REVIEWERS, ROLE_FINANCE)
    UserDepartment.objects.create(user=user, department=Department.objects.create(name="Customer Support"))
    client.force_login(user)
    path = _sample_path(route)
    status = client.get(path).status_code
    if status == 405:
        status = client.post(path).status_code
    if route in UNSCOPED_ONLY:
        assert status == 404, f"{route} answered {status} to a scoped user"
    else:
        assert status < 500 and (status != 403 or not declared), f"{route}: {status}"
