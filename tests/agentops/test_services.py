from datetime import timedelta

import pytest
from django.utils import timezone

from agentops import services
from agentops.models import ApiKey, PromptVersion
from tests.factories import make_agent, make_department, make_price, make_prompt

pytestmark = pytest.mark.django_db


def _active_versions(agent) -> list[int]:
    return list(PromptVersion.objects.filter(agent=agent, is_active=True).values_list("version", flat=True))


def test_first_prompt_version_is_numbered_one_and_made_active():
    agent = make_agent()
    prompt = services.create_prompt_version(agent, "Be brief.")
    assert (prompt.version, _active_versions(agent)) == (1, [1])


def test_next_prompt_version_takes_the_next_number_and_leaves_active_alone():
    agent = make_agent()
    services.create_prompt_version(agent, "v1")
    prompt = services.create_prompt_version(agent, "v2", change_note="tweak", make_active=False)
    assert (prompt.version, _active_versions(agent)) == (2, [1])


def test_new_version_made_active_deactivates_the_previous_one():
    agent = make_agent()
    services.create_prompt_version(agent, "v1")
    services.create_prompt_version(agent, "v2", make_active=True)
    assert _active_versions(agent) == [2]


def test_activating_an_older_version_keeps_exactly_one_active():
    agent = make_agent()
    v1 = make_prompt(agent, text="one", is_active=False)
    make_prompt(agent, text="two", is_active=True)
    make_prompt(agent, text="three")
    services.activate_prompt_version(v1)
    assert _active_versions(agent) == [1]


def test_activation_does_not_touch_other_agents():
    agent, other = make_agent(), make_agent()
    make_prompt(other, is_active=True)
    services.activate_prompt_version(make_prompt(agent))
    assert _active_versions(other) == [1]


def test_activating_the_active_version_again_is_harmless():
    agent = make_agent()
    prompt = services.create_prompt_version(agent, "v1")
    services.activate_prompt_version(prompt)
    assert _active_versions(agent) == [1]


def test_adopt_agent_sets_registry_fields_and_clears_discovered(ops_user):
    agent = make_agent(discovered=True, department=None, lifecycle_stage="pilot")
    dept = make_department("Claims")
    services.adopt_agent(agent, dept, ops_user, "integrate")
    agent.refresh_from_db()
    assert (agent.department, agent.owner, agent.lifecycle_stage, agent.discovered) == (
        dept, ops_user, "integrate", False,
    )


def test_created_api_key_authenticates_with_its_token_and_stores_only_a_hash(ops_user):
    agent = make_agent()
    key, token = services.create_api_key("prod", agent, ops_user)
    assert ApiKey.authenticate(token) == key
    assert token.startswith(f"ao_{key.prefix}_") and token not in key.key_hash


def test_authenticating_reads_the_key_and_its_agent_in_one_query(ops_user, django_assert_num_queries):
    agent = make_agent("Refund Bot", slug="refund-bot")
    key, token = services.create_api_key("prod", agent, ops_user)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())  # no last-used write now
    with django_assert_num_queries(1):
        found = ApiKey.from_authorization(f"Bearer {token}")
        assert (found.pk, found.label, found.agent.slug, found.agent.name) == (key.pk, "prod", "refund-bot", "Refund Bot")
    assert ApiKey.authenticate(token.replace(key.prefix, "0" * len(key.prefix))) is None  # unknown prefix
    assert ApiKey.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None  # wrong secret


def test_revoked_api_key_no_longer_authenticates():
    key, token = services.create_api_key("prod", None, None)
    services.revoke_api_key(key)
    assert ApiKey.authenticate(token) is None


def test_revoking_twice_keeps_the_first_revocation_time():
    key, _ = services.create_api_key("prod", None, None)
    services.revoke_api_key(key)
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    services.revoke_api_key(ApiKey.objects.get(pk=key.pk))
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first


def test_tampered_token_does_not_authenticate():
    _key, token = services.create_api_key("prod", None, None)
    assert ApiKey.authenticate(token[:-2] + "xx") is None


def test_future_price_can_be_deleted():
    price = make_price(effective_from=timezone.now() + timedelta(days=3))
    services.delete_model_price(price)
    assert not type(price).objects.filter(pk=price.pk).exists()


def test_price_in_force_cannot_be_deleted():
    price = make_price()
    with pytest.raises(services.RegistryError, match="already in force"):
        services.delete_model_price(price)


@pytest.mark.django_db(transaction=True)
def test_concurrent_new_versions_get_distinct_numbers_and_one_stays_active():
    """Two operators saving at once: the agent row lock serialises numbering and activation."""
    import threading

    from django.db import connection

    agent = make_agent()
    services.create_prompt_version(agent, "v1")
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def save(text: str) -> None:
        try:
            barrier.wait(timeout=60)
            services.create_prompt_version(agent, text, make_active=True)
        except Exception as exc:  # collected and asserted below: a thread's exception would be lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(agent.prompt_versions.values_list("version", flat=True)) == [1, 2, 3]
    assert len(_active_versions(agent)) == 1
