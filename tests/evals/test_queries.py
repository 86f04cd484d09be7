"""Selectors run a fixed number of queries whatever the number of cases."""

from __future__ import annotations

import pytest

from evals import queries, runner
from tests.evals.factories import FACTS_V1, FACTS_V2, make_dataset, make_endpoint, make_rule
from tests.factories import make_agent, make_prompt

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_experiments(responder):
    agent = make_agent("Support")
    dataset = make_dataset([(f"refund {i}?", "Refunds take 5 business days.") for i in range(6)]
                           + [("shipping?", "Standard shipping takes 3 days.")])
    endpoint = make_endpoint(responder.url)
    evaluators = [make_rule("contains", text="days"), make_rule("length", max_chars=500)]
    experiments = []
    for text in (FACTS_V1, FACTS_V2):
        experiment = runner.start_experiment(name=text[:5], dataset=dataset, endpoint=endpoint, evaluators=evaluators,
                                             prompt_version=make_prompt(agent, text=text))
        runner.run_slot(experiment.pk)
        experiments.append(experiment)
    return experiments


def test_pages_selectors_query_counts(two_experiments, django_assert_num_queries):
    a, b = two_experiments
    with django_assert_num_queries(1):
        assert queries.progress(b).ok == 7
    with django_assert_num_queries(2):
        assert queries.summary(b).passed == 7
    with django_assert_num_queries(2):
        rows = list(queries.items(b))
        assert all(len(item.scores.all()) == 2 for item in rows)
    with django_assert_num_queries(2):
        result = queries.compare(a, b)
    assert result.aggregate.counts["newly_passing"] == 1 and result.aggregate.counts["same"] == 6
    with django_assert_num_queries(1):
        assert [d.case_total for d in queries.datasets()] == [7]
