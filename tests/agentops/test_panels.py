"""Higher apps add panels to registry pages through agentops.panels, not imports."""

from __future__ import annotations

import pytest
from django.urls import reverse

from insights.models import PromptDraftCase
from tests.factories import make_agent, make_prompt
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
