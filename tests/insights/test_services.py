"""Insight services: marking failure groups, prompt drafts from a group."""

from __future__ import annotations

from datetime import timedelta

import pytest

from insights import queries as insight_queries
from insights import services as insights
from insights.models import PromptDraftCase
from tests.factories import make_agent, make_prompt
from tests.handoffs.factories import make_root_cause
from tests.insights.factories import FP_A, NOW, failing


@pytest.mark.django_db
def test_marking_a_group_applies_to_runs_arriving_later(ops_user):
    agent = make_agent()
    failing(agent)
    cause = make_root_cause("Tool failure")
    insights.mark_failure_group(FP_A, root_cause=cause, note="CRM flaky", owner=ops_user, by=ops_user)
    failing(agent)  # a new run with the same fingerprint
    (group,) = insight_queries.failure_groups(NOW - timedelta(days=7), NOW)
    assert group.runs == 2
    assert (group.annotation.root_cause, group.annotation.owner, group.annotation.note) == (
        cause, ops_user, "CRM flaky")


@pytest.mark.django_db
def test_marking_again_updates_the_same_group(ops_user):
    failing(make_agent())
    insights.mark_failure_group(FP_A, root_cause=make_root_cause("Tool failure"), note="", owner=None, by=ops_user)
    model_error = make_root_cause("Model error")
    group = insights.mark_failure_group(FP_A, root_cause=model_error, note="not the tool", owner=None, by=ops_user)
    assert insights.annotation_for_fingerprint(FP_A).pk == group.pk
    assert group.root_cause == model_error


@pytest.mark.django_db
def test_a_retired_root_cause_cannot_be_newly_chosen(ops_user):
    failing(make_agent())
    retired = make_root_cause("Old cause", is_active=False)
    with pytest.raises(insights.InsightError, match="retired"):
        insights.mark_failure_group(FP_A, root_cause=retired, note="", owner=None, by=ops_user)


@pytest.mark.django_db
def test_marking_an_unknown_fingerprint_is_refused(ops_user):
    with pytest.raises(insights.InsightError, match="No runs"):
        insights.mark_failure_group(FP_A, root_cause=None, note="x", owner=None, by=ops_user)


@pytest.mark.django_db
def test_draft_from_group_creates_an_inactive_version_linked_to_its_runs(ops_user):
    agent = make_agent()
    make_prompt(agent, text="Be concise.", is_active=True)
    runs = [failing(agent) for _ in range(3)]
    failing(make_agent())  # another agent's run in the same group is not linked
    draft = insights.start_draft_from_group(FP_A, agent, author=ops_user)
    assert (draft.version, draft.is_active, draft.text, draft.author) == (2, False, "Be concise.", ops_user)
    cases = insight_queries.cases_for_prompt_version(draft.id)
    assert {c["run"].id for c in cases} == {r.id for r in runs}
    assert all(c["group_url"].endswith(f"/root-causes/{FP_A}/") for c in cases)


@pytest.mark.django_db
def test_draft_from_group_refuses_an_agent_without_runs_in_it(ops_user):
    failing(make_agent())
    with pytest.raises(insights.InsightError):
        insights.start_draft_from_group(FP_A, make_agent(), author=ops_user)
    assert not PromptDraftCase.objects.exists()
