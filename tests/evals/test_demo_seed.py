"""The evals demo seeder: a dataset from a knowledge-gap failure group and corrected tickets, a draft
with the missing knowledge, and experiments of the active version and the draft (run in-process
against the responder); idempotent."""

from __future__ import annotations

import io

import pytest

from demo import evals as demo_evals
from evals.models import Dataset, Endpoint, Experiment, ExperimentStatus, OnlineEvaluation
from tests.conftest import make_user
from tests.evals.factories import corrected_ticket
from tests.factories import make_agent, make_prompt
from tests.handoffs.factories import make_run

pytestmark = pytest.mark.django_db


def test_demo_seed_builds_the_loop_once(reviewer):
    make_user("olivia")
    agent = make_agent("Support Orchestrator", slug="support-orchestrator")
    make_prompt(agent, text="You are the support orchestrator.", is_active=True)
    for text in ("Do you ship to Norway?", "How do I reset two-factor login?", "Do you ship to Norway?"):
        make_run(agent, status="error", fingerprint="d" * 40, input_preview=text)
    ticket = corrected_ticket(reviewer, answer="The refund was approved by the team lead.", agent=agent)
    ticket.run.input_preview = "I want a refund for order 42."
    ticket.run.save(update_fields=["input_preview"])

    demo_evals.seed(io.StringIO())
    demo_evals.seed(io.StringIO())

    dataset = Dataset.objects.get()
    assert dataset.version == 1 and dataset.cases.count() == 3  # two distinct questions, one ticket
    assert Endpoint.objects.get().is_demo
    active, draft = (Experiment.objects.get(prompt_version__is_active=active) for active in (True, False))
    assert {active.status, draft.status} == {ExperimentStatus.COMPLETED}
    passed = {e: e.items.filter(passed=True).count() for e in (active, draft)}
    assert passed[active] == 0 and passed[draft] == 3
    assert OnlineEvaluation.objects.count() == 1
