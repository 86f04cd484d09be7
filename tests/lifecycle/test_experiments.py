"""The experiment criterion wired to the evals app: the latest completed experiment of the active prompt."""

from datetime import timedelta

import pytest

from evals.models import Endpoint, Experiment, ExperimentItem, ExperimentStatus, ItemStatus
from lifecycle import experiments
from lifecycle.evidence import measure
from lifecycle.models import StageCriteria
from tests.evals.factories import make_dataset
from tests.factories import make_agent, make_prompt

from .factories import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _experiments_not_required():
    """This module measures the experiment criterion: the stage defaults keep it on."""


def experiment(prompt, passed: int, failed: int, *, status=ExperimentStatus.COMPLETED, age_days: int = 1,
               name: str = "regression set"):
    dataset = make_dataset([(f"question {i}", "answer") for i in range(passed + failed)])
    endpoint = Endpoint.objects.create(name=f"ep {prompt.pk} {name} {age_days}", base_url="http://127.0.0.1:9/")
    exp = Experiment.objects.create(name=name, dataset=dataset, dataset_version=dataset.version, agent=prompt.agent,
                                    prompt_version=prompt, endpoint=endpoint, status=status,
                                    case_count=passed + failed, created_at=NOW - timedelta(days=age_days))
    for i, case in enumerate(dataset.cases.order_by("id")):
        ok = i < passed
        ExperimentItem.objects.create(experiment=exp, case=case, status=ItemStatus.OK if ok else ItemStatus.FAILED,
                                      passed=ok)
    return exp


def result(measured, agent):
    return next(r for r in measured[agent.id].results if r.key == "experiment")


def test_the_latest_completed_experiment_of_the_active_prompt_decides(frozen, ops_user):
    agent = make_agent(owner=ops_user, lifecycle_stage="pilot")
    old = make_prompt(agent, is_active=False)
    active = make_prompt(agent, is_active=True)
    experiment(old, 10, 0, name="old prompt")  # another version's experiment does not count
    experiment(active, 9, 1, age_days=5, name="earlier run")
    latest = experiment(active, 7, 3, age_days=1, name="latest run")
    experiment(active, 10, 0, age_days=0, status=ExperimentStatus.RUNNING, name="still running")
    r = result(measure([agent], {agent.id: "integrate"}), agent)
    assert r.passed is False and "70 % of 10 cases" in r.measured and "latest run" in r.measured
    assert r.evidence_url == latest.get_absolute_url()
    StageCriteria.objects.create(stage="integrate", agent=agent, min_experiment_pass_rate=70)
    assert result(measure([agent], {agent.id: "integrate"}), agent).passed is True


def test_without_an_experiment_or_an_active_prompt_the_criterion_fails(frozen, ops_user):
    no_prompt = make_agent(owner=ops_user, lifecycle_stage="pilot")
    no_experiment = make_agent(owner=ops_user, lifecycle_stage="pilot")
    make_prompt(no_experiment, is_active=True)
    measured = measure([no_prompt, no_experiment], {no_prompt.id: "integrate", no_experiment.id: "integrate"})
    assert result(measured, no_prompt).measured == "no active prompt version"
    assert result(measured, no_experiment).passed is False


def test_experiment_evidence_for_many_agents_takes_two_queries(frozen, ops_user, django_assert_num_queries):
    agents = []
    for _ in range(4):
        agent = make_agent(owner=ops_user)
        experiment(make_prompt(agent, is_active=True), 8, 2)
        agents.append(agent)
    with django_assert_num_queries(2):
        found = experiments.evidence_for(agents)
    assert {e.pass_rate for e in found.values()} == {80}
