"""Prompt history: every activation and rollout change appends a PromptEvent, which is append-only."""

from __future__ import annotations

import pytest

from agentops import services
from agentops.models import PromptEvent
from tests.factories import make_agent, make_prompt

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunds():
    agent = make_agent("Refund Agent")
    make_prompt(agent, 1, is_active=True)
    make_prompt(agent, 2)
    make_prompt(agent, 3)
    return agent


def _history(agent) -> list[tuple[str, int, int | None]]:
    return list(PromptEvent.objects.filter(agent=agent).order_by("at", "id").values_list("kind", "version", "share"))


def test_activating_a_version_records_when_it_became_active(refunds, ops_user):
    services.activate_prompt_version(refunds.prompt_versions.get(version=2))
    assert _history(refunds) == [("activated", 2, None)]


def test_activating_the_active_version_again_records_nothing(refunds):
    services.activate_prompt_version(refunds.prompt_versions.get(version=1))
    assert _history(refunds) == []


def test_creating_a_version_records_nothing_until_it_is_activated(refunds):
    services.create_prompt_version(refunds, "v4 text")
    assert _history(refunds) == []
    services.create_prompt_version(refunds, "v5 text", make_active=True)
    assert _history(refunds) == [("activated", 5, None)]


def test_a_rollout_records_its_start_each_change_and_its_end(refunds, ops_user):
    services.start_rollout(refunds.prompt_versions.get(version=2), 10, ops_user)
    services.start_rollout(refunds.prompt_versions.get(version=2), 10, ops_user)  # same split: no change
    services.start_rollout(refunds.prompt_versions.get(version=2), 40, ops_user)
    services.start_rollout(refunds.prompt_versions.get(version=3), 40, ops_user)
    services.roll_back(refunds)
    assert _history(refunds) == [("rollout_started", 2, 10), ("rollout_changed", 2, 40),
                                 ("rollout_changed", 3, 40), ("rollout_ended", 3, 40)]
    assert PromptEvent.objects.filter(agent=refunds).first().actor == ops_user


def test_promoting_the_candidate_ends_the_rollout_and_activates_it(refunds):
    services.start_rollout(refunds.prompt_versions.get(version=3), 25)
    services.promote_candidate(refunds)
    assert _history(refunds) == [("rollout_started", 3, 25), ("rollout_ended", 3, 25), ("activated", 3, None)]


def test_marker_labels_name_the_version_and_what_happened(refunds):
    services.start_rollout(refunds.prompt_versions.get(version=2), 20)
    services.promote_candidate(refunds)
    labels = [e.label for e in PromptEvent.objects.filter(agent=refunds).order_by("at", "id")]
    assert labels == ["v2 rollout 20 %", "v2 rollout ended", "v2 active"]


def test_prompt_events_are_append_only(refunds):
    services.activate_prompt_version(refunds.prompt_versions.get(version=2))
    event = PromptEvent.objects.get(agent=refunds)
    event.version = 9
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
