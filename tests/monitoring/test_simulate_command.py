"""manage.py simulate streams through the real endpoint with the OpenTelemetry SDK."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from monitoring.models import InboxBatch
from tests.factories import make_api_key
from tests.monitoring.celery_helpers import purge_broker


@pytest.mark.django_db(transaction=True)
def test_simulate_sends_otlp_batches_to_the_endpoint(live_server):
    _, token = make_api_key("simulator test")
    out = io.StringIO()
    call_command("simulate", "--rate", "20", "--duration", "0.5", "--endpoint", live_server.url, "--key", token,
                 "--seed", "1", stdout=out)
    assert "sent " in out.getvalue()
    batches = InboxBatch.objects.all()
    assert batches.exists() and all(b.kind == "otlp_protobuf" and b.span_count > 0 for b in batches)
    purge_broker()  # no worker in this test; drop the queued messages


@pytest.mark.django_db
def test_simulate_refuses_a_non_positive_rate():
    with pytest.raises(CommandError, match="--rate"):
        call_command("simulate", "--rate", "0", "--key", "x")


@pytest.mark.django_db(transaction=True)
def test_simulated_sessions_follow_the_registrys_rollout(live_server):
    """The simulator asks the registry API which version a session gets, like a rollout-aware agent."""
    from agentops import routing, services
    from demo.simulator import RegistryPromptRouter, TraceGenerator
    from tests.factories import make_agent, make_prompt

    agent = make_agent("Billing Agent", slug="billing-agent")
    make_prompt(agent, 1, is_active=True)
    candidate = make_prompt(agent, 2)
    services.start_rollout(candidate, 40)
    _, token = make_api_key("router test")
    router = RegistryPromptRouter(live_server.url, token, ttl=0)
    sessions = [f"sess-{n}" for n in range(40)]
    for session in sessions:
        expected = 2 if routing.gets_candidate("billing-agent", session, 40) else 1
        assert router("billing-agent", session) == expected
    assert {router("billing-agent", s) for s in sessions} == {1, 2}

    services.roll_back(agent)
    assert {router("billing-agent", s) for s in sessions} == {1}
    assert router("not-in-registry", "sess-1") is None  # falls back to the built-in versions
    assert RegistryPromptRouter("http://127.0.0.1:9", token, timeout=0.2)("billing-agent", "s") is None

    generator = TraceGenerator(3, prompt_router=lambda _agent, _session: 7)
    plan = generator.trace(timezone.now())
    versions = {s.attributes.get("agentops.prompt.version") for s in plan.root.walk()} - {None}
    assert versions == {7}
