"""Evals factories: endpoints on the in-process responder, datasets, evaluators, corrected tickets."""

from __future__ import annotations

import itertools

from evals import services
from evals.models import Dataset, Endpoint, Evaluator
from evals.services import NewCase
from handoffs import services as handoff_services
from tests.handoffs.factories import make_root_cause, make_ticket

_seq = itertools.count(1)

FACTS_V1 = "You are a support agent.\n- refund: Refunds take 5 business days.\n"
FACTS_V2 = FACTS_V1 + "- shipping: Standard shipping takes 3 days.\n- password: Use the reset link on the sign-in page.\n"


def make_endpoint(url: str, *, kind: str = Endpoint.Kind.CHAT, model: str = "demo-model", api_key: str = "",
                  timeout: float = 2.0, agent=None, name: str | None = None) -> Endpoint:
    endpoint = Endpoint(name=name or f"endpoint {next(_seq)}", kind=kind, base_url=url, model=model, agent=agent,
                        timeout_seconds=timeout)
    return services.save_endpoint(endpoint, api_key=api_key)


def make_dataset(texts: list[tuple[str, str]] | None = None, name: str | None = None) -> Dataset:
    dataset = services.create_dataset(name or f"dataset {next(_seq)}")
    if texts:
        services.add_cases(dataset, [NewCase(input_messages=[{"role": "user", "content": q}], expected_output=e)
                                     for q, e in texts])
    return dataset


def make_rule(kind: str, name: str | None = None, **config) -> Evaluator:
    return services.save_evaluator(Evaluator(name=name or f"{kind} {next(_seq)}", kind=kind, config=config))


def make_judge(endpoint: Endpoint, rubric: str = "correctness", name: str | None = None) -> Evaluator:
    return services.save_evaluator(Evaluator(name=name or f"judge {next(_seq)}", kind=Evaluator.Kind.JUDGE,
                                             config={"rubric": rubric}, judge_endpoint=endpoint))


def corrected_ticket(reviewer, *, answer: str = "Refunds take 5 business days.", **esc_kw):
    """A ticket resolved through the handoff services with a corrected agent answer."""
    ticket = make_ticket(**esc_kw)
    ticket = handoff_services.claim_ticket(ticket.pk, reviewer, ticket.version)
    return handoff_services.resolve_ticket(ticket.pk, reviewer, ticket.version, outcome="corrected_agent_answer",
                                           root_cause=make_root_cause(f"Cause {next(_seq)}"), corrected_answer=answer)
