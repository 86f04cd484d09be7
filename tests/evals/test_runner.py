"""Experiments through the real parts: Postgres, a Celery worker on Redis, the HTTP responder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from evals import queries, runner, tasks
from evals.models import Experiment, ExperimentItem, ExperimentStatus, ItemStatus
from evals.responder import serve
from tests.evals.factories import FACTS_V1, FACTS_V2, make_dataset, make_endpoint, make_judge, make_rule
from tests.factories import make_agent, make_price, make_prompt
from tests.monitoring.celery_helpers import thread_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CASES = [
    ("How long does a refund take?", "Refunds take 5 business days."),
    ("What about shipping times?", "Standard shipping takes 3 days."),
    ("I forgot my password", "Use the reset link on the sign-in page."),
]


def start(**kwargs) -> Experiment:
    experiment = runner.start_experiment(**kwargs)
    tasks.enqueue_experiment(experiment)
    return experiment


def finished(experiment: Experiment) -> bool:
    experiment.refresh_from_db()
    return not experiment.is_running


def test_two_prompt_versions_run_through_celery_and_compare_case_by_case(responder):
    agent = make_agent("Support")
    v1, v2 = make_prompt(agent, text=FACTS_V1, is_active=True), make_prompt(agent, text=FACTS_V2)
    make_price("demo-model", inp="1.00", out="2.00")
    dataset = make_dataset(CASES)
    endpoint = make_endpoint(responder.url)
    evaluators = [make_rule("contains", text="days"), make_judge(endpoint)]
    with thread_worker():
        a = start(name="v1", dataset=dataset, endpoint=endpoint, evaluators=evaluators, prompt_version=v1)
        b = start(name="v2", dataset=dataset, endpoint=endpoint, evaluators=evaluators, prompt_version=v2)
        wait_for(lambda: finished(a) and finished(b), what="both experiments")
    assert a.status == b.status == ExperimentStatus.COMPLETED and a.dataset_version == 1
    assert queries.progress(b).ok == 3
    assert sum(1 for i in b.items.all() if i.passed) == 2  # the password answer has no "days"
    item = a.items.get(case__expected_output__startswith="Refunds")
    assert item.output == "Refunds take 5 business days." and item.cost > 0 and item.latency_ms > 0
    assert item.scores.get(evaluator=evaluators[1]).reasoning  # the judge's reasoning is kept
    result = queries.compare(a, b)
    assert result.aggregate.counts["newly_passing"] == 1  # shipping: fallback under v1, answered under v2
    assert result.aggregate.counts["better"] == 1  # password: judge score rises, "days" still missing
    assert result.aggregate.a.passed == 1 and result.aggregate.b.passed == 2
    check = queries.rollout_check(v2)
    assert check.candidate == b and check.active == a and check.comparison is not None


def test_bad_cases_fail_with_their_reason_and_the_experiment_completes(responder):
    agent = make_agent("Support")
    prompt = make_prompt(agent, text=FACTS_V1)
    dataset = make_dataset([
        ("refund [fail:401]", ""), ("refund [fail:malformed]", ""), ("refund [fail:timeout]", ""),
        ("refund [fail:offrubric]", "Refunds take 5 business days."), ("refund", "Refunds take 5 business days."),
    ])
    # Long enough for the cases that answer on a busy machine; the hanging one (5 s) still times out.
    endpoint = make_endpoint(responder.url, timeout=2)
    with thread_worker():
        experiment = start(name="bad", dataset=dataset, endpoint=endpoint,
                                             evaluators=[make_judge(endpoint)], prompt_version=prompt, max_attempts=2)
        wait_for(lambda: finished(experiment), what="the experiment")
    assert experiment.status == ExperimentStatus.COMPLETED
    errors = {i.case.input_text: i for i in experiment.items.select_related("case")}
    assert "refused the API key" in errors["refund [fail:401]"].error
    assert "malformed response" in errors["refund [fail:malformed]"].error
    assert errors["refund [fail:timeout]"].error.startswith("timeout") and errors["refund [fail:timeout]"].attempts == 2
    assert "outside the rubric" in errors["refund [fail:offrubric]"].error
    assert errors["refund [fail:offrubric]"].status == ItemStatus.FAILED and errors["refund [fail:offrubric]"].output
    assert errors["refund"].status == ItemStatus.OK and errors["refund"].passed


def test_unreachable_endpoint_fails_every_case_and_completes():
    with serve() as gone:
        url = gone.url
    agent = make_agent("Support")
    dataset = make_dataset(CASES)
    endpoint = make_endpoint(url, timeout=0.3)
    with thread_worker():
        experiment = start(name="down", dataset=dataset, endpoint=endpoint, evaluators=[],
                                             prompt_version=make_prompt(agent), max_attempts=1)
        wait_for(lambda: finished(experiment), what="the experiment")
    assert experiment.status == ExperimentStatus.COMPLETED
    assert {i.status for i in experiment.items.all()} == {ItemStatus.FAILED}
    assert all("unreachable" in i.error for i in experiment.items.all())


def test_invoke_url_target(responder):
    agent = make_agent("Support")
    endpoint = make_endpoint(responder.invoke_url, kind="invoke", agent=agent)
    with thread_worker():
        experiment = start(name="agent", dataset=make_dataset(CASES[:1]), endpoint=endpoint,
                                             evaluators=[make_rule("length", min_chars=5)])
        wait_for(lambda: finished(experiment), what="the experiment")
    item = experiment.items.get()
    assert experiment.agent == agent and item.status == ItemStatus.OK and item.passed


def test_cancel_stops_pending_items(responder):
    agent = make_agent("Support")
    experiment = runner.start_experiment(name="c", dataset=make_dataset(CASES), endpoint=make_endpoint(responder.url),
                                         evaluators=[], prompt_version=make_prompt(agent))
    assert runner.cancel_experiment(experiment) and not runner.cancel_experiment(experiment)
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.CANCELLED
    assert set(experiment.items.values_list("status", flat=True)) == {ItemStatus.CANCELLED}
    assert runner.run_slot(experiment.pk).items == 0


def test_sweeper_releases_items_whose_slot_died_and_slots_finish_them(responder):
    agent = make_agent("Support")
    experiment = runner.start_experiment(name="s", dataset=make_dataset(CASES[:2]), endpoint=make_endpoint(responder.url),
                                         evaluators=[], prompt_version=make_prompt(agent))
    claimed = runner.claim_item(experiment.pk, timedelta(seconds=-1))  # a slot that died holding an item
    assert claimed is not None
    ExperimentItem.objects.filter(experiment=experiment).update(
        finished_at=None, lease_until=timezone.now() - timedelta(seconds=5))
    result = runner.sweep_experiments(idle=timedelta(0))
    assert result.released >= 1
    runner.run_slot(experiment.pk)
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.COMPLETED
    assert set(experiment.items.values_list("status", flat=True)) == {ItemStatus.OK}
