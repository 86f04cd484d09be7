"""Rolling a candidate prompt out to a share of traffic: routing, rules, the registry API and pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agentops import routing, services
from agentops.models import ApiKey, PromptRollout
from tests.factories import make_agent, make_api_key, make_prompt

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing():
    agent = make_agent("Billing Agent")
    make_prompt(agent, 1, text="v1 text", is_active=True)
    make_prompt(agent, 2, text="v2 text")
    return agent


def _v(agent, number):
    return agent.prompt_versions.get(version=number)


# -- routing (pure) ----------------------------------------------------------------------------


def test_a_routing_key_always_gets_the_same_arm():
    assert len({routing.bucket("billing-agent", "sess-42") for _ in range(5)}) == 1


@pytest.mark.parametrize("share", [1, 10, 50, 90])
def test_the_candidate_gets_its_share_of_keys(share):
    keys = [f"sess-{n}" for n in range(20_000)]
    got = sum(routing.gets_candidate("billing-agent", k, share) for k in keys) / len(keys) * 100
    assert abs(got - share) < 1.2


def test_zero_never_and_hundred_always():
    keys = [f"k{n}" for n in range(1000)]
    assert not any(routing.gets_candidate("a", k, 0) for k in keys)
    assert all(routing.gets_candidate("a", k, 100) for k in keys)


def test_agents_split_independently():
    keys = [f"k{n}" for n in range(2000)]
    a = {k for k in keys if routing.gets_candidate("agent-a", k, 50)}
    b = {k for k in keys if routing.gets_candidate("agent-b", k, 50)}
    assert 0.4 < len(a & b) / len(a) < 0.6  # not the same half of the customers every time


# -- services ----------------------------------------------------------------------------------


def test_start_replace_and_roll_back(billing, ops_user):
    make_prompt(billing, 3)
    rollout = services.start_rollout(_v(billing, 2), 20, ops_user)
    assert (rollout.candidate.version, rollout.share, rollout.started_by) == (2, 20, ops_user)
    services.start_rollout(_v(billing, 3), 30)
    assert PromptRollout.objects.get(agent=billing).candidate.version == 3  # one rollout per agent
    ended = services.roll_back(billing)
    assert ended.candidate.version == 3 and not PromptRollout.objects.exists()
    assert _v(billing, 1).is_active
    assert services.roll_back(billing) is None


def test_promote_activates_the_candidate_and_ends_the_rollout(billing):
    services.start_rollout(_v(billing, 2), 50)
    services.promote_candidate(billing)
    assert _v(billing, 2).is_active and not _v(billing, 1).is_active
    assert not PromptRollout.objects.exists()
    with pytest.raises(services.RegistryError, match="no rollout in progress"):
        services.promote_candidate(billing)


def test_activating_any_version_ends_the_rollout(billing):
    services.start_rollout(_v(billing, 2), 50)
    services.activate_prompt_version(_v(billing, 1))
    assert not PromptRollout.objects.exists()


@pytest.mark.parametrize("version, share, message", [
    (1, 10, "already the active prompt"), (2, 0, "between 1 and 99"), (2, 100, "between 1 and 99"),
])
def test_rollouts_that_make_no_sense_are_refused(billing, version, share, message):
    with pytest.raises(services.RegistryError, match=message):
        services.start_rollout(_v(billing, version), share)
    assert not PromptRollout.objects.exists()


def test_no_rollout_without_an_active_version():
    agent = make_agent("Unstarted")
    draft = make_prompt(agent, 1)
    with pytest.raises(services.RegistryError, match="no active prompt"):
        services.start_rollout(draft, 10)


# -- registry API ------------------------------------------------------------------------------


def _get(client, slug, token=None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get(reverse("api_agent_prompt", args=[slug]), params, **headers)


def test_api_serves_the_active_version_without_a_rollout(client, billing):
    key, token = make_api_key()
    body = _get(client, billing.slug, token, routing_key="sess-1").json()
    assert body == {"agent": billing.slug, "version": 1, "text": "v1 text", "arm": "active", "rollout": None}
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_api_splits_by_routing_key_during_a_rollout(client, billing):
    services.start_rollout(_v(billing, 2), 30)
    _key, token = make_api_key()
    keys = [f"sess-{n}" for n in range(60)]
    for routing_key in keys:
        body = _get(client, billing.slug, token, routing_key=routing_key).json()
        expected = 2 if routing.gets_candidate(billing.slug, routing_key, 30) else 1
        assert (body["version"], body["arm"]) == (expected, "candidate" if expected == 2 else "active")
        assert body["rollout"]["candidate_version"] == 2 and body["rollout"]["share"] == 30
    assert _get(client, billing.slug, token).json()["version"] == 1  # no key: the active version


@pytest.mark.parametrize("auth, status, message", [
    (None, 401, "missing Authorization header"), ("Bearer ao_nope", 401, "unknown or revoked API key"),
    ("Basic abc", 401, "Authorization header must be: Bearer <api key>"),
])
def test_api_refuses_missing_and_unknown_keys(client, billing, auth, status, message):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    response = client.get(reverse("api_agent_prompt", args=[billing.slug]), **headers)
    assert response.status_code == status and message in response.json()["error"]


def test_api_refuses_revoked_keys_and_keys_of_other_agents(client, billing):
    key, token = make_api_key()
    key.revoke()
    assert _get(client, billing.slug, token).status_code == 401
    _other, other_token = make_api_key(agent=make_agent("Other Agent"))
    response = _get(client, billing.slug, other_token)
    assert response.status_code == 403 and "restricted to the agent “other-agent”" in response.json()["error"]


def test_api_errors_name_the_problem(client, billing):
    _key, token = make_api_key()
    assert "no agent with the slug “ghost”" in _get(client, "ghost", token).json()["error"]
    assert _get(client, "ghost", token).status_code == 404
    empty = make_agent("No Prompts")
    response = _get(client, empty.slug, token)
    assert response.status_code == 404 and "no active prompt" in response.json()["error"]
    response = _get(client, billing.slug, token, routing_key="x" * 256)
    assert response.status_code == 400 and "longer than 255" in response.json()["error"]
    response = client.post(reverse("api_agent_prompt", args=[billing.slug]), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"


# -- pages -------------------------------------------------------------------------------------


def test_operator_starts_a_rollout_sees_it_and_rolls_back(ops_client, billing):
    url = reverse("registry:prompt_rollout", args=[billing.slug, 2])
    response = ops_client.post(url, {"share": "25"})
    assert response.status_code == 302
    page = ops_client.get(reverse("registry:prompt_list", args=[billing.slug])).content.decode()
    assert 'id="rollout"' in page and "<strong>25 %</strong>" in page
    assert "rollout 25 %</span>" in page  # the candidate's row says so too
    response = ops_client.post(reverse("registry:rollout_rollback", args=[billing.slug]), follow=True)
    assert "Rolled back" in response.content.decode() and not PromptRollout.objects.exists()


def test_operator_promotes_the_candidate(ops_client, billing):
    services.start_rollout(_v(billing, 2), 10)
    response = ops_client.post(reverse("registry:rollout_promote", args=[billing.slug]), follow=True)
    assert "Version 2 is now the active prompt" in response.content.decode()
    assert _v(billing, 2).is_active and not PromptRollout.objects.exists()


@pytest.mark.parametrize("share, message", [
    ("0", "at least 1 %"), ("100", "at most 99 %"), ("", "Enter the share"), ("ten", "Enter a whole number"),
])
def test_a_bad_share_is_a_form_error_on_the_page(ops_client, billing, share, message):
    response = ops_client.post(reverse("registry:prompt_rollout", args=[billing.slug, 2]), {"share": share})
    assert response.status_code == 400 and message in response.content.decode()
    assert not PromptRollout.objects.exists()


def test_rolling_out_the_active_version_is_explained(ops_client, billing):
    response = ops_client.post(reverse("registry:prompt_rollout", args=[billing.slug, 1]), {"share": "10"})
    assert response.status_code == 400 and "already the active prompt" in response.content.decode()


def test_only_operations_may_change_a_rollout(finance_client, reviewer_client, billing):
    services.start_rollout(_v(billing, 2), 10)
    for client in (finance_client, reviewer_client):
        assert client.post(reverse("registry:rollout_rollback", args=[billing.slug])).status_code == 403
        assert client.post(reverse("registry:prompt_rollout", args=[billing.slug, 2]), {"share": "5"}).status_code == 403
    assert PromptRollout.objects.get().share == 10
