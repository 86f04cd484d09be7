"""Registry pages: access per role, rendering, htmx fragments and form handling."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agentops.models import Agent, ApiKey, Department, ModelPrice, PromptVersion
from tests.factories import make_agent, make_api_key, make_department, make_price, make_prompt

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    a = make_agent("Billing Agent", slug="billing-agent", description="Answers invoice questions")
    make_prompt(a, text="line one\nline two", is_active=True, change_note="first")
    make_prompt(a, text="line one\nline 2\nline three", change_note="second")
    return a


def page_urls(agent) -> list[str]:
    key, _ = make_api_key()
    dept = agent.department
    return [
        reverse("registry:agent_list"),
        reverse("registry:agent_create"),
        reverse("registry:agent_detail", args=[agent.slug]),
        reverse("registry:agent_edit", args=[agent.slug]),
        reverse("registry:prompt_list", args=[agent.slug]),
        reverse("registry:prompt_create", args=[agent.slug]),
        reverse("registry:prompt_detail", args=[agent.slug, 1]),
        reverse("registry:prompt_diff", args=[agent.slug]) + "?a=1&b=2",
        reverse("registry:apikey_list"),
        reverse("registry:apikey_create"),
        reverse("registry:apikey_revoke", args=[key.pk]),
        reverse("registry:modelprice_list"),
        reverse("registry:department_list"),
        reverse("registry:department_create"),
        reverse("registry:department_edit", args=[dept.pk]),
    ]


def test_every_page_renders_for_operations(ops_client, agent):
    statuses = {url: ops_client.get(url).status_code for url in page_urls(agent)}
    assert set(statuses.values()) == {200}, statuses


def test_every_page_renders_for_a_superuser(client, superuser, agent):
    client.force_login(superuser)
    statuses = {url: client.get(url).status_code for url in page_urls(agent)}
    assert set(statuses.values()) == {200}, statuses


@pytest.mark.parametrize("persona", ["reviewer", "finance_user", "no_role_user"])
def test_other_roles_get_403_naming_the_operations_role(client, agent, persona, request):
    client.force_login(request.getfixturevalue(persona))
    for url in page_urls(agent):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Operations role" in response.content.decode(), url


def test_anonymous_visitor_is_sent_to_sign_in(client, agent):
    for url in page_urls(agent):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_unknown_agent_is_a_404_in_the_layout_naming_the_slug(ops_client):
    response = ops_client.get(reverse("registry:agent_detail", args=["no-such-agent"]))
    html = response.content.decode()
    assert response.status_code == 404
    assert "no-such-agent" in html and 'class="sidebar"' in html


# --- agent list ---------------------------------------------------------------------------------


def test_agent_list_shows_stage_pill_department_owner_model_and_slo(ops_client, ops_user):
    make_agent("Refund Agent", owner=ops_user, lifecycle_stage="integrate", model="gpt-4o",
               department=make_department("Customer Support"))
    html = ops_client.get(reverse("registry:agent_list")).content.decode()
    for expected in ("stage-integrate", "Customer Support", "Olivia", "gpt-4o", "p95 ≤ 4.00 s"):
        assert expected in html


def test_agent_list_search_matches_description(ops_client, agent):
    make_agent("Refund Agent")
    html = ops_client.get(reverse("registry:agent_list"), {"q": "invoice"}).content.decode()
    assert "billing-agent" in html and "refund-agent" not in html


def test_agent_list_filters_by_department_and_stage(ops_client):
    sales = make_department("Sales")
    make_agent("Lead Scorer", department=sales, lifecycle_stage="pilot")
    make_agent("Deal Desk", department=sales, lifecycle_stage="scale")
    make_agent("Other Pilot", lifecycle_stage="pilot")
    html = ops_client.get(reverse("registry:agent_list"), {"department": sales.pk, "stage": "pilot"}).content.decode()
    assert "lead-scorer" in html and "deal-desk" not in html and "other-pilot" not in html


def test_agent_list_discovered_filter_shows_badge_and_adopt_action(ops_client):
    found = make_agent("otel-agent", discovered=True, department=None)
    make_agent("Registered One")
    html = ops_client.get(reverse("registry:agent_list"), {"discovered": "yes"}).content.decode()
    assert "Discovered" in html and reverse("registry:agent_adopt", args=[found.slug]) in html
    assert "registered-one" not in html


def test_agent_list_htmx_request_returns_only_the_results_fragment(ops_client, agent):
    response = ops_client.get(reverse("registry:agent_list"), {"q": "billing"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="agent-results"')
    assert "billing-agent" in html and "<html" not in html and "<form" not in html


def test_agent_list_varies_on_the_htmx_header(ops_client, agent):
    assert "HX-Request" in ops_client.get(reverse("registry:agent_list"))["Vary"]


def test_agent_list_history_restore_gets_the_whole_page(ops_client, agent):
    response = ops_client.get(
        reverse("registry:agent_list"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_agent_list_empty_state_without_agents(ops_client):
    assert "No agents yet" in ops_client.get(reverse("registry:agent_list")).content.decode()


def test_agent_list_empty_state_when_filters_match_nothing(ops_client, agent):
    html = ops_client.get(reverse("registry:agent_list"), {"q": "zzz"}).content.decode()
    assert "No agents match these filters" in html


def test_agent_list_reports_an_unknown_filter_value_instead_of_failing(ops_client, agent):
    response = ops_client.get(reverse("registry:agent_list"), {"department": "abc", "stage": "bogus"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Unknown department" in html and "Unknown stage" in html and "billing-agent" in html


def _agent_list_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("registry:agent_list"))
    assert response.status_code == 200
    return len(ctx)


def _add_agents(start: int, count: int, owner) -> None:
    for n in range(start, start + count):
        agent = make_agent(f"Agent {n:02d}", slug=f"agent-{n:02d}", owner=owner)
        make_prompt(agent, is_active=True)


# Today 8 queries: session, user, roles, two counts, departments (filter), agents, active prompts.
# Compared with one agent rather than a fixed number, so navigation badges added later don't break it.
def test_agent_list_query_count_does_not_grow_with_agents(ops_client, ops_user, django_assert_max_num_queries):
    _add_agents(0, 1, ops_user)
    _agent_list_queries(ops_client)  # warm the session
    with_one = _agent_list_queries(ops_client)
    _add_agents(1, 29, ops_user)
    with django_assert_max_num_queries(with_one):
        response = ops_client.get(reverse("registry:agent_list"))
    assert response.content.decode().count("<tr data-slug=") == 30


# --- agent create / edit / adopt ------------------------------------------------------------------


def test_create_agent_derives_slug_and_redirects_to_it(ops_client):
    dept = make_department()
    response = ops_client.post(reverse("registry:agent_create"), {
        "name": "Claims Triage", "slug": "", "department": dept.pk, "lifecycle_stage": "pilot",
        "slo_min_success_rate": "97.5",
    })
    assert response.status_code == 302 and response["Location"] == "/registry/agents/claims-triage/"
    assert Agent.objects.get(slug="claims-triage").department == dept


def test_create_agent_with_bad_values_shows_errors_next_to_the_fields(ops_client, agent):
    response = ops_client.post(reverse("registry:agent_create"), {
        "name": "Dup", "slug": "billing-agent", "department": "424242", "lifecycle_stage": "pilot",
        "slo_min_quality": "1.5", "slo_min_success_rate": "101",
    })
    html = response.content.decode()
    assert response.status_code == 200
    for field in ("slug", "department", "slo_min_quality", "slo_min_success_rate"):
        assert f'id="id_{field}_errors"' in html, field
    assert "already used by the agent" in html


def test_edit_agent_saves_changes_but_not_the_stage(ops_client, agent):
    # After registration the stage changes only through the lifecycle service (tests/lifecycle).
    stage = agent.lifecycle_stage
    response = ops_client.post(reverse("registry:agent_edit", args=[agent.slug]), {
        "name": "Billing Agent", "slug": agent.slug, "lifecycle_stage": "optimize", "model": "gpt-4o",
    })
    agent.refresh_from_db()
    assert response.status_code == 302 and (agent.lifecycle_stage, agent.model) == (stage, "gpt-4o")


def test_adopt_discovered_agent(ops_client, ops_user):
    found = make_agent("otel-agent", discovered=True, department=None)
    dept = make_department("Claims")
    response = ops_client.post(reverse("registry:agent_adopt", args=[found.slug]), {
        "department": dept.pk, "owner": ops_user.pk, "lifecycle_stage": "integrate",
    })
    found.refresh_from_db()
    assert response.status_code == 302
    assert (found.discovered, found.department, found.owner, found.lifecycle_stage) == (False, dept, ops_user, "integrate")


def test_adopt_requires_a_department(ops_client, ops_user):
    found = make_agent("otel-agent", discovered=True, department=None)
    response = ops_client.post(reverse("registry:agent_adopt", args=[found.slug]), {
        "owner": ops_user.pk, "lifecycle_stage": "pilot",
    })
    assert response.status_code == 200 and 'id="id_department_errors"' in response.content.decode()
    assert Agent.objects.get(pk=found.pk).discovered


def test_agent_detail_shows_slos_active_prompt_versions_and_restricted_keys(ops_client, agent):
    make_api_key("billing prod", agent=agent)
    make_api_key("global key")
    html = ops_client.get(reverse("registry:agent_detail", args=[agent.slug])).content.decode()
    assert "≥ 95%" in html and "≥ 0.8" in html and "≤ 4.00 s" in html
    assert "line one\nline two" in html  # the active prompt's text
    assert 'data-version="2"' in html and 'data-version="1"' in html
    assert "billing prod" in html and "global key" not in html


# --- prompts ------------------------------------------------------------------------------------


def test_create_prompt_version_records_author_and_can_activate(ops_client, ops_user, agent):
    response = ops_client.post(reverse("registry:prompt_create", args=[agent.slug]), {
        "text": "new text", "change_note": "shorter", "make_active": "on",
    })
    prompt = PromptVersion.objects.get(agent=agent, version=3)
    assert response.status_code == 302 and response["Location"].endswith("/prompts/3/")
    assert (prompt.author, prompt.is_active, prompt.change_note) == (ops_user, True, "shorter")
    assert list(agent.prompt_versions.filter(is_active=True).values_list("version", flat=True)) == [3]


def test_create_prompt_version_rejects_blank_text(ops_client, agent):
    response = ops_client.post(reverse("registry:prompt_create", args=[agent.slug]), {"text": "   "})
    assert response.status_code == 200 and "The prompt text is empty." in response.content.decode()
    assert agent.prompt_versions.count() == 2


def test_activate_prompt_version_by_post(ops_client, agent):
    response = ops_client.post(reverse("registry:prompt_activate", args=[agent.slug, 2]))
    assert response.status_code == 302
    assert list(agent.prompt_versions.filter(is_active=True).values_list("version", flat=True)) == [2]


def test_activate_prompt_version_refuses_get(ops_client, agent):
    assert ops_client.get(reverse("registry:prompt_activate", args=[agent.slug, 2])).status_code == 405


def test_unknown_prompt_version_is_a_404_naming_it(ops_client, agent):
    response = ops_client.get(reverse("registry:prompt_detail", args=[agent.slug, 9]))
    assert response.status_code == 404 and "has no prompt version 9" in response.content.decode()


def test_prompt_diff_unified_marks_added_and_removed_lines(ops_client, agent):
    html = ops_client.get(reverse("registry:prompt_diff", args=[agent.slug]), {"a": 1, "b": 2}).content.decode()
    assert '<div class="del">- line two</div>' in html
    assert '<div class="add">+ line 2</div>' in html and '<div class="add">+ line three</div>' in html
    assert 'class="hunk"' in html


def test_prompt_diff_side_by_side_pairs_lines(ops_client, agent):
    url = reverse("registry:prompt_diff", args=[agent.slug])
    html = ops_client.get(url, {"a": 1, "b": 2, "mode": "split"}).content.decode()
    assert '<div class="del" role="cell">line two</div><div class="add" role="cell">line 2</div>' in html


def test_prompt_diff_without_parameters_compares_the_two_newest(ops_client, agent):
    html = ops_client.get(reverse("registry:prompt_diff", args=[agent.slug])).content.decode()
    assert "v1" in html and "+ line three" in html


def test_prompt_diff_unknown_version_is_a_404_with_message(ops_client, agent):
    response = ops_client.get(reverse("registry:prompt_diff", args=[agent.slug]), {"a": 1, "b": 7})
    assert response.status_code == 404 and "has no prompt version 7" in response.content.decode()


def test_prompt_diff_non_numeric_version_is_a_400_with_message(ops_client, agent):
    response = ops_client.get(reverse("registry:prompt_diff", args=[agent.slug]), {"a": "one", "b": 2})
    assert response.status_code == 400 and "whole version numbers" in response.content.decode()


def test_prompt_diff_with_a_single_version_shows_an_empty_state(ops_client):
    lone = make_agent("Lone")
    make_prompt(lone)
    html = ops_client.get(reverse("registry:prompt_diff", args=[lone.slug])).content.decode()
    assert "Nothing to compare yet" in html


# --- API keys -----------------------------------------------------------------------------------


def test_create_api_key_shows_the_token_once_with_usage_lines(ops_client, ops_user, agent):
    posted = ops_client.post(reverse("registry:apikey_create"), {"label": "billing prod", "agent": agent.pk})
    key = ApiKey.objects.get(label="billing prod")
    assert posted.status_code == 302 and posted.url == reverse("registry:apikey_created", args=[key.pk])
    response = ops_client.get(posted.url)
    html = response.content.decode()
    token = html.split('<div class="secret" id="api-token" tabindex="0">')[1].split("</div>")[0]
    assert ApiKey.authenticate(token) == key and key.agent == agent and key.created_by == ops_user
    assert f"Authorization=Bearer%20{token}" in html and f'-H "Authorization: Bearer {token}"' in html
    assert "no-store" in response["Cache-Control"]
    assert token not in ops_client.get(reverse("registry:apikey_list")).content.decode()
    # Reloading the page after creation neither creates a second key nor shows the token again.
    again = ops_client.get(posted.url).content.decode()
    assert token not in again and 'id="token-gone"' in again
    assert ApiKey.objects.filter(label="billing prod").count() == 1


def test_create_api_key_without_label_is_a_field_error(ops_client):
    response = ops_client.post(reverse("registry:apikey_create"), {"label": "", "agent": ""})
    assert response.status_code == 200 and 'id="id_label_errors"' in response.content.decode()
    assert not ApiKey.objects.exists()


def test_api_key_list_shows_prefix_agent_and_status(ops_client, agent):
    key, _ = make_api_key("billing prod", agent=agent)
    revoked, _ = make_api_key("old key")
    revoked.revoke()
    html = ops_client.get(reverse("registry:apikey_list")).content.decode()
    assert f"ao_{key.prefix}_…" in html and "Billing Agent" in html and "revoked" in html


def test_api_key_list_empty_state(ops_client):
    assert "No API keys yet" in ops_client.get(reverse("registry:apikey_list")).content.decode()


def test_revoke_api_key_needs_post_and_then_revokes(ops_client):
    key, token = make_api_key()
    assert ops_client.get(reverse("registry:apikey_revoke", args=[key.pk])).status_code == 200
    assert ApiKey.authenticate(token) is not None  # GET only asks for confirmation
    response = ops_client.post(reverse("registry:apikey_revoke", args=[key.pk]))
    assert response.status_code == 302 and ApiKey.authenticate(token) is None


# --- model prices -------------------------------------------------------------------------------


def test_model_prices_are_grouped_by_model_with_history(ops_client):
    make_price("gpt-4o", "5.00", "15.00")
    make_price("gpt-4o", "2.50", "10.00", effective_from=timezone.now() - timedelta(days=1))
    make_price("gpt-4o-mini")
    html = ops_client.get(reverse("registry:modelprice_list")).content.decode()
    assert html.count('class="card price-group"') == 2 and "2.50 USD" in html and "5.00 USD" in html


def test_add_model_price(ops_client, ops_user):
    response = ops_client.post(reverse("registry:modelprice_list"), {
        "model_name": "gpt-4o", "input_per_mtok": "2.5", "output_per_mtok": "10", "currency": "USD",
        "effective_from": "2025-03-01T00:00",
    })
    price = ModelPrice.objects.get()
    assert response.status_code == 302 and price.created_by == ops_user and str(price.input_per_mtok) == "2.500000"


def test_add_model_price_with_negative_value_shows_field_error(ops_client):
    response = ops_client.post(reverse("registry:modelprice_list"), {
        "model_name": "gpt-4o", "input_per_mtok": "-1", "output_per_mtok": "10", "currency": "USD",
        "effective_from": "2025-03-01T00:00",
    })
    assert response.status_code == 200 and 'id="id_input_per_mtok_errors"' in response.content.decode()
    assert not ModelPrice.objects.exists()


def test_future_price_shows_delete_and_can_be_deleted(ops_client):
    future = make_price("gpt-4o", effective_from=timezone.now() + timedelta(days=7))
    past = make_price("gpt-4o")
    html = ops_client.get(reverse("registry:modelprice_list")).content.decode()
    assert reverse("registry:modelprice_delete", args=[future.pk]) in html
    assert reverse("registry:modelprice_delete", args=[past.pk]) not in html
    ops_client.post(reverse("registry:modelprice_delete", args=[future.pk]))
    assert list(ModelPrice.objects.all()) == [past]


def test_deleting_a_price_in_force_is_refused_with_a_message(ops_client):
    past = make_price("gpt-4o")
    response = ops_client.post(reverse("registry:modelprice_delete", args=[past.pk]), follow=True)
    assert "already in force" in response.content.decode() and ModelPrice.objects.filter(pk=past.pk).exists()


def test_model_price_empty_state(ops_client):
    assert "No prices yet" in ops_client.get(reverse("registry:modelprice_list")).content.decode()


# --- departments --------------------------------------------------------------------------------


def test_department_list_shows_cost_center_and_agent_count(ops_client):
    sales = make_department("Sales", cost_center="CC-5100")
    make_agent("A1", department=sales)
    make_agent("A2", department=sales)
    html = ops_client.get(reverse("registry:department_list")).content.decode()
    assert "CC-5100" in html and f"?department={sales.pk}\">2</a>" in html


def test_create_and_edit_department(ops_client):
    ops_client.post(reverse("registry:department_create"), {"name": "Legal", "cost_center": "CC-7000"})
    dept = Department.objects.get(name="Legal")
    response = ops_client.post(reverse("registry:department_edit", args=[dept.pk]), {"name": "Legal", "cost_center": "CC-7001"})
    dept.refresh_from_db()
    assert response.status_code == 302 and dept.cost_center == "CC-7001"


def test_duplicate_department_name_is_a_field_error(ops_client):
    make_department("Legal")
    response = ops_client.post(reverse("registry:department_create"), {"name": "legal", "cost_center": ""})
    assert response.status_code == 200 and "already exists" in response.content.decode()


def test_department_empty_state(ops_client):
    assert "No departments yet" in ops_client.get(reverse("registry:department_list")).content.decode()
