"""The demo dates prompt versions no later than their first run, so version markers land in history."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.utils import timezone

from agentops.models import PromptVersion
from demo import prompts as prompt_seed
from tests.factories import make_agent, make_prompt
from tests.monitoring.factories import make_run

pytestmark = pytest.mark.django_db


def test_versions_move_to_an_hour_before_their_first_run_and_only_earlier():
    agent = make_agent("Versioned")
    now = timezone.now()
    v1, v2, unused = make_prompt(agent, 1), make_prompt(agent, 2), make_prompt(agent, 3)
    for days, prompt in [(20, v1), (12, v1), (5, v2), (2, v2)]:
        make_run(agent, started_at=now - timedelta(days=days), prompt=prompt, prompt_version=str(prompt.version))
    early = make_prompt(make_agent("Early"), 1, created_at=now - timedelta(days=90))
    make_run(early.agent, started_at=now - timedelta(days=1), prompt=early)

    out = StringIO()
    prompt_seed.seed(out)
    dates = dict(PromptVersion.objects.values_list("pk", "created_at"))
    assert dates[v1.pk] == now - timedelta(days=20) - prompt_seed.LEAD_TIME
    assert dates[v2.pk] == now - timedelta(days=5) - prompt_seed.LEAD_TIME
    assert dates[unused.pk] == unused.created_at  # never ran: left alone
    assert dates[early.pk] == early.created_at  # already older than its first run: never moved later
    assert "2 prompt versions dated" in out.getvalue()

    again = StringIO()
    prompt_seed.seed(again)
    assert "0 prompt versions dated" in again.getvalue()


def test_the_activation_the_registry_seed_recorded_moves_back_with_its_version():
    from agentops import services
    from agentops.models import PromptEvent

    agent = make_agent("Activated")
    now = timezone.now()
    v1 = make_prompt(agent, 1)
    services.activate_prompt_version(v1)
    make_run(agent, started_at=now - timedelta(days=8), prompt=v1, prompt_version="1")
    prompt_seed.seed(StringIO())
    event = PromptEvent.objects.get(agent=agent)
    assert (event.kind, event.at) == ("activated", now - timedelta(days=8) - prompt_seed.LEAD_TIME)
