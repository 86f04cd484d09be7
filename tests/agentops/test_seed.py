from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.test import RequestFactory

from agentops.models import Agent, ApiKey, Department, LifecycleStage, ModelPrice, PromptVersion
from agentops.permissions import user_roles
from demo.registry import DEMO_PASSWORD, seed_registry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The seed hashes five passwords and the tests check them; PBKDF2's cost adds seconds per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

SIMULATOR_SLUGS = {
    "support-orchestrator", "billing-agent", "refund-agent", "kb-search-agent", "fraud-check-agent",
    "it-helpdesk-agent",
    "invoice-processor", "sales-qualifier", "contract-reviewer", "hr-policy-bot", "expense-auditor",
    "translation-agent", "legacy-faq-bot",
}


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (User, Department, Agent, PromptVersion, ModelPrice, ApiKey))


def test_seed_creates_the_agents_the_simulator_uses_across_all_stages():
    seed_registry(StringIO())
    assert set(Agent.objects.values_list("slug", flat=True)) == SIMULATOR_SLUGS
    assert set(Agent.objects.values_list("lifecycle_stage", flat=True)) == set(LifecycleStage.values)
    assert Agent.objects.get(slug="legacy-faq-bot").lifecycle_stage == LifecycleStage.RETIRED
    assert Department.objects.count() == 4


def test_seed_returns_working_logins_with_roles():
    result = seed_registry(StringIO())
    assert set(result["users"]) == {"olivia", "rita", "ravi", "fiona", "admin"}
    for username, login in result["users"].items():
        user = authenticate(RequestFactory().post("/login/"), username=username, password=login["password"])
        assert user is not None, username
    assert user_roles(User.objects.get(username="olivia")) == {"Operations"}
    assert User.objects.get(username="admin").is_superuser


def test_seed_gives_every_agent_model_a_price_and_one_active_prompt_where_prompted():
    seed_registry(StringIO())
    models = set(Agent.objects.values_list("model", flat=True))
    assert models <= set(ModelPrice.objects.values_list("model_name", flat=True))
    prompted = Agent.objects.filter(prompt_versions__isnull=False).distinct()
    assert prompted.count() >= 3
    for agent in prompted:
        assert agent.prompt_versions.filter(is_active=True).count() == 1


def test_second_seed_adds_nothing():
    seed_registry(StringIO())
    before = counts()
    out = StringIO()
    seed_registry(out)
    assert counts() == before
    assert "0 users, 0 departments, 0 agents, 0 prompt versions, 0 model prices created" in out.getvalue()


def test_seed_keeps_an_existing_users_password():
    User.objects.create_user("olivia", password="my-own-secret-pass")
    seed_registry(StringIO())
    assert authenticate(RequestFactory().post("/login/"), username="olivia", password="my-own-secret-pass") is not None
    assert authenticate(RequestFactory().post("/login/"), username="olivia", password=DEMO_PASSWORD) is None
