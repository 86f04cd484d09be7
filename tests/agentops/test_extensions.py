"""Higher apps show themselves on lower apps' pages through agentops.extensions, not imports."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agentops import extensions
from agentops.extensions import NAV, NavItem
from agentops.models import UserDepartment
from agentops.navigation import build_navigation
from agentops.permissions import FINANCE, OPERATIONS, REVIEWERS
from insights.models import PromptDraftCase
from tests.conftest import make_user
from tests.factories import make_agent, make_department, make_prompt
from tests.monitoring.factories import make_run

pytestmark = pytest.mark.django_db


def test_agent_page_links_to_its_monitoring_pages(ops_client):
    agent = make_agent("Billing agent", slug="billing-agent")
    html = ops_client.get(reverse("registry:agent_detail", args=[agent.slug])).content.decode()
    assert reverse("monitoring:agent_dashboard", args=[agent.slug]) in html
    assert reverse("insights:compare", args=[agent.slug]) in html


def test_prompt_page_lists_the_cases_that_motivated_the_draft(ops_client):
    agent = make_agent("Refund agent", slug="refund-agent")
    make_prompt(agent, 1)
    draft = make_prompt(agent, 2, text="Check the gateway status before refunding.")
    run = make_run(agent, status="error", error_type="TimeoutError")
    PromptDraftCase.objects.create(prompt_version=draft, run=run)
    html = ops_client.get(reverse("registry:prompt_detail", args=[agent.slug, 2])).content.decode()
    assert "Motivating cases" in html and run.trace_id[:12] in html


def test_prompt_page_without_cases_shows_no_cases_panel(ops_client):
    agent = make_agent("Quiet agent", slug="quiet-agent")
    make_prompt(agent, 1)
    html = ops_client.get(reverse("registry:prompt_detail", args=[agent.slug, 1])).content.decode()
    assert "Motivating cases" not in html


def test_trace_view_of_a_failed_run_links_to_its_failure_group_through_insights(ops_client):
    run = make_run(make_agent("Failing agent"), status="error", error_type="TimeoutError", fingerprint="f" * 16)
    html = ops_client.get(reverse("monitoring:run_detail", args=[run.trace_id])).content.decode()
    assert reverse("insights:failure_group", args=[run.fingerprint]) in html
    assert "See every run with this failure" in html


def test_registering_on_an_unknown_point_fails_loudly():
    with pytest.raises(extensions.UnknownExtensionPoint, match="trace_links"):
        extensions.register("trace_link", lambda run: [])


def test_registering_twice_contributes_once():
    def provider(run):
        return [("x", "/x/")]

    extensions.register(extensions.TRACE_LINKS, provider)
    extensions.register(extensions.TRACE_LINKS, provider)
    try:
        assert extensions.contributions(extensions.TRACE_LINKS).count(provider) == 1
        run = make_run(make_agent("Once agent"))
        assert extensions.links(extensions.TRACE_LINKS, run).count(extensions.Link("x", "/x/")) == 1
    finally:
        extensions.unregister(extensions.TRACE_LINKS, provider)


def test_a_navigation_entry_with_a_wrong_url_name_fails_instead_of_vanishing(ops_user):
    from django.urls import NoReverseMatch

    wrong = NavItem("Monitoring", "Nowhere", "monitoring:no_such_page", (OPERATIONS,), 999)
    extensions.register(NAV, wrong)
    try:
        with pytest.raises(NoReverseMatch):
            build_navigation(ops_user)
    finally:
        extensions.unregister(NAV, wrong)


def test_every_navigation_entry_names_a_url_and_a_role():
    items = extensions.contributions(NAV)
    assert items
    for item in items:
        assert item.url.startswith("/") and item.roles, item


PERSONAS = {
    "ops": (OPERATIONS,),
    "reviewer": (REVIEWERS,),
    "finance": (FINANCE,),
    "ops+reviewer": (OPERATIONS, REVIEWERS),
    "reviewer+finance": (REVIEWERS, FINANCE),
    "no role": (),
}


@pytest.mark.parametrize("persona", [*PERSONAS, "superuser", "scoped ops+reviewer+finance"])
def test_every_navigation_entry_opens_for_every_role_it_is_shown_to(client, persona):
    """Each link in a user's navigation answers 200 for that user: no broken link, no link to a 403."""
    if persona == "superuser":
        user = make_user("nav-super", superuser=True)
    elif persona.startswith("scoped"):
        user = make_user("nav-scoped", OPERATIONS, REVIEWERS, FINANCE)
        UserDepartment.objects.create(user=user, department=make_department("Scoped dept"))
    else:
        user = make_user(f"nav-{persona.replace(' ', '-').replace('+', '-')}", *PERSONAS[persona])
    client.force_login(user)
    sections = build_navigation(user)
    shown = [link for section in sections for link in section["links"]]
    if persona == "no role":
        assert shown == []
    else:
        assert shown
    for link in shown:
        response = client.get(link["url"])
        assert response.status_code == 200, (persona, link["label"], link["url"], response.status_code)
    if persona == "superuser":
        assert len(shown) == len(extensions.contributions(NAV))


def test_start_page_is_the_first_entry_of_the_users_navigation(client, reviewer, finance_user, ops_user):
    for user, name in ((ops_user, "monitoring:overview"), (reviewer, "handoffs:queue_list"),
                       (finance_user, "roi:report")):
        client.force_login(user)
        assert client.get("/").url == reverse(name)
