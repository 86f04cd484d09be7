"""Evals writes: endpoints, datasets and their cases, evaluators. Each service owns its transaction.

Experiments live in ``evals.runner``, online evaluation in ``evals.online``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from agentops.models import Agent
from handoffs.models import Outcome, Ticket, TicketStatus
from monitoring.models import Run

from . import crypto, judge, rules
from .models import CaseSource, Dataset, DatasetCase, Endpoint, Evaluator, OnlineEvaluation

MAX_CASES_PER_ADD = 500
MAX_MESSAGE_CHARS = 20_000


class EvalsError(ValueError):
    """A request the evals services refuse, with a message fit to show the user."""


# --- endpoints ------------------------------------------------------------------------------------


def check_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EvalsError("base URL: must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise EvalsError("base URL: must not contain credentials (use the API key field)")
    if parts.query or parts.fragment:
        raise EvalsError("base URL: must not have a query string or fragment")
    return url.strip().rstrip("/")


def save_endpoint(endpoint: Endpoint, *, api_key: str | None, by=None) -> Endpoint:
    """Create or update ``endpoint``; ``api_key`` None or "" keeps the stored key, "-" clears it."""
    endpoint.base_url = check_base_url(endpoint.base_url)
    if endpoint.kind == Endpoint.Kind.CHAT and not endpoint.model.strip():
        raise EvalsError("model: required for a chat-completions endpoint")
    if endpoint.kind == Endpoint.Kind.INVOKE and endpoint.agent_id is None:
        raise EvalsError("agent: an invoke URL belongs to an agent")
    if api_key == "-":
        endpoint.api_key_encrypted, endpoint.api_key_hint = b"", ""
    elif api_key:
        endpoint.api_key_encrypted = crypto.encrypt(api_key.strip())
        endpoint.api_key_hint = "…" + api_key.strip()[-4:]
    if endpoint.pk is None and by is not None:
        endpoint.created_by = by
    endpoint.save()
    return endpoint


def endpoint_key(endpoint: Endpoint) -> str:
    return crypto.decrypt(endpoint.api_key_encrypted)


# --- datasets and cases ---------------------------------------------------------------------------


@dataclass
class NewCase:
    input_messages: list[dict]
    expected_output: str = ""
    metadata: dict = field(default_factory=dict)
    source: str = CaseSource.MANUAL
    source_ref: str = ""
    run_id: int | None = None
    ticket_id: int | None = None


def create_dataset(name: str, *, description: str = "", agent: Agent | None = None, by=None) -> Dataset:
    name = name.strip()
    if not name:
        raise EvalsError("name: required")
    if Dataset.objects.filter(name__iexact=name).exists():
        raise EvalsError(f"name: a dataset called {name!r} already exists")
    return Dataset.objects.create(name=name, description=description.strip(), agent=agent, created_by=by)


def add_cases(dataset: Dataset, cases: list[NewCase]) -> int:
    """Add ``cases`` as a new dataset version; returns how many were added (0: version unchanged).

    Cases from the same source already in the current version (same run, ticket or upload line)
    are skipped, so adding a failure group twice adds only its new runs. The dataset row is locked
    while the version number moves, so concurrent adds get consecutive versions.
    """
    if len(cases) > MAX_CASES_PER_ADD:
        raise EvalsError(f"at most {MAX_CASES_PER_ADD} cases at once ({len(cases)} given)")
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        current = DatasetCase.objects.filter(dataset=locked).in_version(locked.version)
        seen = {(s, r) for s, r in current.exclude(source_ref="").values_list("source", "source_ref")}
        fresh = [c for c in cases if not c.source_ref or (c.source, c.source_ref) not in seen]
        if not fresh:
            return 0
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save(update_fields=["version", "updated_at"])
        DatasetCase.objects.bulk_create(
            DatasetCase(dataset=locked, input_messages=c.input_messages, expected_output=c.expected_output,
                        metadata=c.metadata, source=c.source, source_ref=c.source_ref[:120], run_id=c.run_id,
                        ticket_id=c.ticket_id, added_in_version=locked.version)
            for c in fresh
        )
    dataset.version = locked.version
    return len(fresh)


def remove_case(dataset: Dataset, case_id: int) -> None:
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        case = DatasetCase.objects.filter(dataset=locked, pk=case_id).in_version(locked.version).first()
        if case is None:
            raise EvalsError("That case is not in the dataset's current version.")
        locked.version += 1
        locked.updated_at = timezone.now()
        locked.save(update_fields=["version", "updated_at"])
        DatasetCase.objects.filter(pk=case.pk).update(removed_in_version=locked.version)
    dataset.version = locked.version


def messages_from_text(text: str) -> list[dict]:
    """Chat messages from a run's input: OpenTelemetry GenAI messages (``content`` or ``parts``) when
    it is such a JSON list, else one user message with the text."""
    text = (text or "").strip()
    try:
        data = json.loads(text) if text.startswith("[") else None
    except ValueError:
        data = None
    messages = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            continue
        content = item.get("content")
        if content is None and isinstance(item.get("parts"), list):
            content = "\n".join(str(p.get("content", "")) for p in item["parts"] if isinstance(p, dict))
        if isinstance(content, str):
            messages.append({"role": item["role"], "content": content[:MAX_MESSAGE_CHARS]})
    return messages or [{"role": "user", "content": text[:MAX_MESSAGE_CHARS]}]


def _run_case(run: Run, source: str, expected: str = "", **extra) -> NewCase:
    metadata = {"trace_id": run.trace_id, "agent": run.agent.slug, "status": run.status,
                "prompt_version": run.prompt_version, "error_type": run.error_type, **extra}
    return NewCase(input_messages=messages_from_text(run.input_preview), expected_output=expected,
                   metadata={k: v for k, v in metadata.items() if v not in ("", None)}, source=source,
                   source_ref=run.trace_id, run_id=run.pk)


def cases_from_runs(run_ids: list[int]) -> list[NewCase]:
    runs = Run.objects.filter(pk__in=run_ids[:MAX_CASES_PER_ADD]).select_related("agent").order_by("-started_at", "-id")
    return [_run_case(run, CaseSource.RUN) for run in runs if run.input_preview.strip()]


def cases_from_failure_group(fingerprint: str, *, agent: Agent | None = None, limit: int = 50) -> list[NewCase]:
    if not fingerprint:
        raise EvalsError("No failure group given.")
    runs = Run.objects.filter(fingerprint=fingerprint).select_related("agent").order_by("-started_at", "-id")
    if agent is not None:
        runs = runs.filter(agent=agent)
    found = [_run_case(run, CaseSource.FAILURE_GROUP, fingerprint=fingerprint) for run in runs[:limit]]
    if not found:
        raise EvalsError("This failure group has no runs to add.")
    return [c for c in found if c.input_messages[0]["content"]] or found


def correctable_tickets():
    """Resolved (or closed) tickets whose outcome is a corrected agent answer."""
    return Ticket.objects.filter(
        status__in=(TicketStatus.RESOLVED, TicketStatus.CLOSED), outcome=Outcome.CORRECTED_AGENT_ANSWER,
    ).exclude(corrected_answer="")


def cases_from_tickets(ticket_ids: list[int]) -> list[NewCase]:
    """The reviewer's corrected answer becomes the expected output; the input is the run's input
    (or the ticket's summary when the run is gone)."""
    tickets = list(correctable_tickets().filter(pk__in=ticket_ids[:MAX_CASES_PER_ADD])
                   .select_related("run", "run__agent", "agent").order_by("-resolved_at", "-id"))
    if not tickets:
        raise EvalsError("None of these tickets was resolved with a corrected agent answer.")
    cases = []
    for t in tickets:
        text = t.run.input_preview if t.run and t.run.input_preview.strip() else t.summary
        cases.append(NewCase(
            input_messages=messages_from_text(text), expected_output=t.corrected_answer,
            metadata={k: v for k, v in {"ticket": t.pk, "agent": t.agent.slug, "reason": t.reason,
                                        "trace_id": t.run.trace_id if t.run else ""}.items() if v},
            source=CaseSource.TICKET, source_ref=str(t.pk), run_id=t.run_id, ticket_id=t.pk,
        ))
    return cases


# --- evaluators -----------------------------------------------------------------------------------


def save_evaluator(evaluator: Evaluator, *, by=None) -> Evaluator:
    """Validate the kind's parameters (EvalsError names the field) and save."""
    if evaluator.kind == Evaluator.Kind.JUDGE:
        if evaluator.judge_endpoint_id is None:
            raise EvalsError("judge endpoint: an LLM judge needs a chat-completions endpoint")
        if evaluator.judge_endpoint.kind != Endpoint.Kind.CHAT:
            raise EvalsError("judge endpoint: must be a chat-completions endpoint, not an invoke URL")
        rubric = (evaluator.config or {}).get("rubric", "correctness")
        custom = str((evaluator.config or {}).get("custom_rubric", ""))
        if rubric not in judge.RUBRICS and not custom.strip():
            raise EvalsError(f"rubric: choose one of {', '.join(judge.RUBRICS)} or write your own")
        evaluator.config = {"rubric": rubric, "custom_rubric": custom.strip()}
    else:
        try:
            evaluator.config = rules.validate_config(evaluator.kind, evaluator.config)
        except rules.ConfigError as exc:
            raise EvalsError(str(exc)) from exc
        evaluator.judge_endpoint = None
    if evaluator.pk is None and by is not None:
        evaluator.created_by = by
    evaluator.save()
    return evaluator


def save_online_evaluation(online: OnlineEvaluation, *, by=None) -> OnlineEvaluation:
    if online.evaluator.kind == Evaluator.Kind.JUDGE and judge.needs_expected(
        online.evaluator.config.get("rubric", ""), online.evaluator.config.get("custom_rubric", "")
    ):
        raise EvalsError("evaluator: production runs have no expected output; use a rubric without one "
                         "(helpfulness, policy) or a rule")
    if online.evaluator.kind in (Evaluator.Kind.EXACT,):
        raise EvalsError("evaluator: exact match needs an expected output, which production runs lack")
    if online.pk is None and by is not None:
        online.created_by = by
    online.save()
    return online
