"""Demo data for evals: the demo model endpoint, evaluators, a dataset built from production (a
knowledge-gap failure group and tickets whose reviewer corrected the agent), a prompt draft with the
missing knowledge, experiments of the active version and the draft, and online evaluation.

The demo model is ``evals.responder`` (deterministic, local): ``make demo`` serves it on
127.0.0.1:DEMO_RESPONDER_PORT, and the endpoint row points there. The seeded experiments are run
right here against an in-process responder (same answers), so seeding needs no running server.
Idempotent: everything is looked up by name first.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TextIO

from django.contrib.auth.models import User
from django.db.models import Count

from agentops import outbound
from agentops.models import Agent, PromptVersion
from evals import runner, services
from evals.models import Dataset, Endpoint, Evaluator, Experiment, OnlineEvaluation
from evals.responder import DEMO_MODEL, serve
from insights.services import InsightError, start_draft_from_group
from monitoring.models import Run

RESPONDER_PORT = int(os.environ.get("DEMO_RESPONDER_PORT", "8765"))
DATASET = "Support: knowledge gaps and corrections"
AGENT = "support-orchestrator"
KNOWLEDGE = """
Knowledge base (answer from it; hand over only what it does not cover):
- delivery address: Change the delivery address under Orders > Edit until the parcel ships.
- ship: We ship to every EU country and to Norway; delivery takes 3-5 business days.
- two-factor: Open Settings > Security > Reset two-factor; we email you a confirmation link.
- refund: Refunds over the approval limit go to a team lead; once approved by the team lead, the refund reaches you within 5 business days.
"""


def demo_endpoint() -> Endpoint:
    endpoint = Endpoint.objects.filter(name="Demo model").first()
    if endpoint is None:
        endpoint = services.save_endpoint(Endpoint(
            name="Demo model", kind=Endpoint.Kind.CHAT, base_url=f"http://127.0.0.1:{RESPONDER_PORT}/v1",
            model=DEMO_MODEL, timeout_seconds=10, is_demo=True), api_key="")
    return endpoint


def _evaluators(endpoint: Endpoint) -> list[Evaluator]:
    specs = [
        ("Helpfulness (judge)", Evaluator.Kind.JUDGE, {"rubric": "helpfulness"}),
        ("Correctness vs. expected (judge)", Evaluator.Kind.JUDGE, {"rubric": "correctness"}),
        ("No promises", Evaluator.Kind.FORBIDDEN, {"phrases": ["guarantee", "we promise"]}),
    ]
    found = []
    for name, kind, config in specs:
        evaluator = Evaluator.objects.filter(name=name).first() or services.save_evaluator(
            Evaluator(name=name, kind=kind, config=config, judge_endpoint=endpoint if kind == "judge" else None))
        found.append(evaluator)
    return found


def _knowledge_group(agent: Agent) -> str | None:
    """The agent's failure group about questions the help centre does not answer."""
    row = (Run.objects.filter(agent=agent, input_preview__icontains="ship").exclude(fingerprint="")
           .values("fingerprint").annotate(n=Count("id")).order_by("-n", "fingerprint").first())
    return row["fingerprint"] if row else None


def _dataset(fingerprint: str, agent: Agent, olivia) -> Dataset:
    dataset = Dataset.objects.filter(name=DATASET).first()
    if dataset is not None:
        return dataset
    dataset = services.create_dataset(DATASET, agent=agent, by=olivia, description=(
        "Questions the support orchestrator handed over for lack of knowledge (a failure group), and refund "
        "requests a reviewer corrected (the correction is the expected answer)."))
    seen, cases = set(), []
    for case in services.cases_from_failure_group(fingerprint):
        if case.input_messages[0]["content"] not in seen:
            seen.add(case.input_messages[0]["content"])
            cases.append(case)
    tickets = list(services.correctable_tickets().filter(run__input_preview__icontains="refund")
                   .order_by("pk").values_list("pk", flat=True)[:8])
    if tickets:
        cases += services.cases_from_tickets(tickets)
    services.add_cases(dataset, cases)
    return dataset


def _draft(agent: Agent, fingerprint: str, olivia) -> PromptVersion | None:
    existing = agent.prompt_versions.filter(text__contains="Knowledge base (answer from it").first()
    if existing:
        return existing
    try:
        draft = start_draft_from_group(fingerprint, agent, author=olivia,
                                       change_note="Add the help-centre answers the knowledge-gap group lacked.")
    except InsightError:
        return None
    PromptVersion.objects.filter(pk=draft.pk).update(text=draft.text.rstrip() + "\n" + KNOWLEDGE)
    draft.refresh_from_db()
    return draft


def run_in_process(experiment: Experiment, url: str) -> None:
    """Run every item now, against the responder at ``url`` instead of the endpoint's stored URL."""
    target = runner.load_target(experiment)
    target.endpoint.base_url = url
    for evaluator in target.evaluators:
        if evaluator.judge_endpoint is not None:
            evaluator.judge_endpoint.base_url = url
    cases = {c.pk: c for c in experiment.dataset.cases.in_version(experiment.dataset_version)}
    while (claimed := runner.claim_item(experiment.pk, timedelta(minutes=5))) is not None:
        runner.process_item(target, claimed[0], cases[claimed[1]], retaken=claimed[2] > 1)
    runner.finish_if_done(experiment.pk)


def seed(stdout: TextIO) -> None:
    agent = Agent.objects.filter(slug=AGENT).first()
    olivia = User.objects.filter(username="olivia").first()
    fingerprint = _knowledge_group(agent) if agent else None
    if agent is None or fingerprint is None:
        stdout.write("evals demo: the support orchestrator or its knowledge-gap group is missing, skipped")
        return
    endpoint = demo_endpoint()
    evaluators = _evaluators(endpoint)
    dataset = _dataset(fingerprint, agent, olivia)
    draft = _draft(agent, fingerprint, olivia)
    active = agent.active_prompt()
    created = 0
    with serve() as responder, outbound.allowing(responder.host_port):  # exactly the seeder's own model
        for prompt in (active, draft):
            if prompt is None or Experiment.objects.filter(dataset=dataset, prompt_version=prompt).exists():
                continue
            experiment = runner.start_experiment(name=f"{agent.name} v{prompt.version} on knowledge gaps",
                                                 dataset=dataset, endpoint=endpoint, evaluators=evaluators,
                                                 prompt_version=prompt, by=olivia)
            run_in_process(experiment, responder.url)
            created += 1
    no_promises = evaluators[2]
    _online, online_created = OnlineEvaluation.objects.get_or_create(
        agent=agent, evaluator=no_promises, defaults={"sample_percent": 20, "max_per_minute": 60, "created_by": olivia})
    stdout.write(f"evals demo: dataset {dataset.name!r} v{dataset.version}, {created} experiments, "
                 f"{int(online_created)} online evaluation")
