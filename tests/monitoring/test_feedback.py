"""Feedback after the fact: a score once per feedback id, and only for the key's agent."""


from __future__ import annotations

import pytest

from monitoring.ingest import feedback
from monitoring.models import Run
from tests.factories import make_agent, make_api_key
from tests.monitoring.ingest_helpers import write
from tests.monitoring.otlp_builders import agent_trace

pytestmark = pytest.mark.django_db


def test_feedback_adds_a_score_once_and_updates_quality():
    spans = agent_trace()
    write(spans)
    trace_id = spans[0].trace_id
    first = feedback.record_feedback(trace_id, name="thumbs", value=0.0, label="down", feedback_id="c-1")
    again = feedback.record_feedback(trace_id, name="thumbs", value=0.0, label="down", feedback_id="c-1")
    assert first.created and not again.created
    run = Run.objects.get(trace_id=trace_id)
    assert run.quality_score == 0.0 and run.scores.get().source == "feedback"


def test_feedback_from_a_key_restricted_to_another_agent_is_refused():
    spans = agent_trace("billing-agent")
    write(spans)
    key, _ = make_api_key(agent=make_agent("Refund", slug="refund-agent"))
    with pytest.raises(PermissionError):
        feedback.record_feedback(spans[0].trace_id, name="thumbs", value=1.0, api_key=key)
