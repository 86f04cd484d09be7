import pytest
from django.urls import reverse

from agentops.models import ApiKey
from tests.factories import make_agent, make_api_key, make_price, make_prompt

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["department", "agent", "promptversion", "apikey", "modelprice"])
def test_admin_changelist_renders_for_a_superuser(client, superuser, model):
    agent = make_agent()
    make_prompt(agent, is_active=True)
    make_api_key(agent=agent)
    make_price()
    client.force_login(superuser)
    assert client.get(reverse(f"admin:agentops_{model}_changelist")).status_code == 200


def test_admin_revoke_action_revokes_selected_keys(client, superuser):
    key, token = make_api_key()
    client.force_login(superuser)
    client.post(
        reverse("admin:agentops_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [key.pk]}
    )
    assert ApiKey.authenticate(token) is None


def test_admin_cannot_add_api_keys_whose_token_nobody_would_see(client, superuser):
    client.force_login(superuser)
    assert client.get(reverse("admin:agentops_apikey_add")).status_code == 403


def test_admin_shows_an_agents_stage_read_only_after_registration(client, superuser):
    # After registration the stage changes only through the lifecycle service (criteria and history).
    agent = make_agent(lifecycle_stage="pilot")
    client.force_login(superuser)
    html = client.get(reverse("admin:agentops_agent_change", args=[agent.pk])).content.decode()
    assert 'name="lifecycle_stage"' not in html and "Pilot" in html
    add = client.get(reverse("admin:agentops_agent_add")).content.decode()
    assert 'name="lifecycle_stage"' in add


def test_admin_lists_stage_events_read_only(client, superuser):
    client.force_login(superuser)
    assert client.get(reverse("admin:lifecycle_stageevent_changelist")).status_code == 200
    assert client.get(reverse("admin:lifecycle_stageevent_add")).status_code == 403
