"""The lifecycle demo seed: a history ending in each agent's stage, idempotent."""

import io

import pytest

from agentops.models import Agent
from demo import lifecycle
from demo.registry import seed_registry
from lifecycle.models import StageCriteria, StageEvent

pytestmark = pytest.mark.django_db


def test_seed_gives_every_agent_a_history_ending_in_its_stage_and_runs_twice_safely(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed_registry(io.StringIO())
    lifecycle.seed(io.StringIO())
    events = StageEvent.objects.count()
    assert events > 0 and StageCriteria.objects.filter(department__name="Customer Support").exists()
    for agent in Agent.objects.filter(discovered=False):
        last = StageEvent.objects.filter(agent=agent).order_by("-occurred_at").first()
        if agent.lifecycle_stage == "pilot":
            assert last is None
        else:
            assert last.to_stage == agent.lifecycle_stage and last.occurred_at > agent.created_at
    lifecycle.seed(io.StringIO())
    assert StageEvent.objects.count() == events
