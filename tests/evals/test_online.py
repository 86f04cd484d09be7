"""Online evaluation: sampled production runs scored by a worker; scores become run quality."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache

from evals.models import OnlineEvaluation
from evals.online import budget_key, in_sample
from monitoring.models import Run, Score
from tests.evals.factories import make_endpoint, make_judge, make_rule
from tests.factories import make_agent
from tests.handoffs.factories import make_run, record_runs
from tests.monitoring.celery_helpers import thread_worker, wait_for


def test_sampling_is_stable_per_trace_and_near_the_share():
    picked = sum(in_sample(f"{i:032x}", 1, Decimal("25")) for i in range(4000))
    assert 850 < picked < 1150
    assert in_sample("ab" * 16, 1, Decimal("25")) == in_sample("ab" * 16, 1, Decimal("25"))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sampled_runs_get_judge_scores_and_quality(responder):
    agent = make_agent("Support")
    judge = make_judge(make_endpoint(responder.url), rubric="helpfulness", name="helpfulness judge")
    OnlineEvaluation.objects.create(agent=agent, evaluator=judge, sample_percent=100, max_per_minute=100)
    runs = [make_run(agent, input_preview="refund?", output_preview=text)
            for text in ("Refunds take 5 days.", "I am not sure about that; let me hand this to a human colleague.")]
    with thread_worker():
        record_runs(*runs)
        wait_for(lambda: Score.objects.filter(dedupe_key=f"evals:{judge.pk}").count() == 2, what="online scores")
    good, unsure = (Run.objects.get(pk=r.pk) for r in runs)
    assert good.quality_score == 1.0 and unsure.quality_score == pytest.approx(0.3)
    score = Score.objects.get(run=good)
    assert score.source == Score.Source.EVALUATION and score.name == "helpfulness judge" and score.comment


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rate_limit_caps_runs_per_minute():
    agent = make_agent("Support")
    rule = make_rule("length", min_chars=1)
    online = OnlineEvaluation.objects.create(agent=agent, evaluator=rule, sample_percent=100, max_per_minute=2)
    minute = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    cache.delete(budget_key(online.pk, minute.timestamp()))  # ids repeat across test databases, Redis keys stay
    runs = [make_run(agent, output_preview="answer") for _ in range(5)]
    # At the start of a minute (ticking), so the whole test spends one minute's budget.
    with time_machine.travel(minute, tick=True), thread_worker():
        record_runs(*runs)
        wait_for(lambda: Score.objects.count() == 2, what="two scores")
        record_runs(*runs)  # recorded again: already scored runs are not sampled twice, the budget is spent
        wait_for(lambda: Score.objects.count() >= 2, what="the second pass")
    assert Score.objects.count() == 2
