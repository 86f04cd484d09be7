"""Experiments: start, the slot loop that runs items, scoring, cancel, completion and the sweeper.

Concurrency: an experiment runs in ``concurrency`` Celery slot tasks. Each claims one pending item
at a time (``FOR UPDATE SKIP LOCKED``, so two slots never take the same item), calls the target,
scores the answer and stores it, until no item is left or its time budget is spent (then it enqueues
its successor). Whatever the number of workers, at most ``concurrency`` calls run at once.

Failures of one case (unreachable endpoint, 401, timeout, malformed answer, a judge outside its
rubric) mark that item failed with the reason and the slot moves on; transient ones (timeouts,
refused connections, 429, 5xx) are retried up to ``max_attempts`` times first. A claimed item holds
a lease; the sweeper puts items whose slot died back in the queue, so nothing hangs.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agentops.models import ModelPrice

from . import client, judge, rules
from .models import (
    Dataset,
    DatasetCase,
    Endpoint,
    Evaluator,
    Experiment,
    ExperimentItem,
    ExperimentStatus,
    ItemScore,
    ItemStatus,
)
from .services import EvalsError, endpoint_key

RETRY_BACKOFF_SECONDS = 0.2
LEASE_MARGIN_SECONDS = 30


@dataclass
class Target:
    """Everything a slot needs to call the target and score answers, read once per slot."""

    experiment: Experiment
    endpoint: Endpoint
    api_key: str
    system_prompt: str | None
    evaluators: list[Evaluator]
    judge_keys: dict[int, str]
    price: ModelPrice | None
    lease: timedelta


def start_experiment(*, name: str, dataset: Dataset, endpoint: Endpoint, evaluators: list[Evaluator],
                     prompt_version=None, concurrency: int | None = None, max_attempts: int = 2, by=None) -> Experiment:
    """Create the experiment on the dataset's current version, one item per case. The caller starts
    its slots (``tasks.enqueue_experiment``) once this has committed. With a prompt version the target is that text as system prompt on ``endpoint``
    (chat); without, ``endpoint`` must be an agent's invoke URL."""
    if dataset.version == 0:
        raise EvalsError("dataset: has no cases yet")
    if prompt_version is not None:
        if endpoint.kind != Endpoint.Kind.CHAT:
            raise EvalsError("endpoint: a prompt version runs on a chat-completions endpoint")
        target, agent = Experiment.Target.PROMPT, prompt_version.agent
    else:
        if endpoint.kind != Endpoint.Kind.INVOKE:
            raise EvalsError("endpoint: without a prompt version, choose an agent's invoke URL")
        target, agent = Experiment.Target.AGENT, endpoint.agent
    concurrency = concurrency or settings.EVALS_DEFAULT_CONCURRENCY
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        case_ids = list(DatasetCase.objects.filter(dataset=locked).in_version(locked.version).values_list("id", flat=True))
        experiment = Experiment.objects.create(
            name=name.strip() or f"{locked.name} v{locked.version}", dataset=locked, dataset_version=locked.version,
            target=target, agent=agent, prompt_version=prompt_version, endpoint=endpoint,
            concurrency=concurrency, max_attempts=max_attempts, case_count=len(case_ids), created_by=by,
        )
        experiment.evaluators.set(evaluators)
        ExperimentItem.objects.bulk_create(ExperimentItem(experiment=experiment, case_id=c) for c in case_ids)
    return experiment


def cancel_experiment(experiment: Experiment) -> bool:
    """Stop a running experiment: its pending items are cancelled, items already running finish."""
    now = timezone.now()
    with transaction.atomic():
        changed = Experiment.objects.filter(pk=experiment.pk, status=ExperimentStatus.RUNNING).update(
            status=ExperimentStatus.CANCELLED, finished_at=now)
        if changed:
            ExperimentItem.objects.filter(experiment=experiment, status=ItemStatus.PENDING).update(
                status=ItemStatus.CANCELLED, finished_at=now, error="cancelled")
    return bool(changed)


def finish_if_done(experiment_id: int) -> bool:
    """Mark a running experiment completed once no item is pending or running (one statement)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE evals_experiment SET status = %s, finished_at = now() WHERE id = %s AND status = %s"
            " AND NOT EXISTS (SELECT 1 FROM evals_experimentitem WHERE experiment_id = %s AND status IN (%s, %s))",
            [ExperimentStatus.COMPLETED, experiment_id, ExperimentStatus.RUNNING, experiment_id,
             ItemStatus.PENDING, ItemStatus.RUNNING],
        )
        return cursor.rowcount == 1


_CLAIM_SQL = """
UPDATE evals_experimentitem SET status = %s, attempts = attempts + 1, lease_until = %s
WHERE id = (
    SELECT i.id FROM evals_experimentitem i JOIN evals_experiment e ON e.id = i.experiment_id
    WHERE i.experiment_id = %s AND e.status = %s
      AND (i.status = %s OR (i.status = %s AND i.lease_until < %s))
    ORDER BY i.id LIMIT 1 FOR UPDATE OF i SKIP LOCKED
) RETURNING id, case_id, attempts
"""


def relax_commit() -> None:
    """Do not wait for this transaction's WAL flush at commit (this transaction only). Safe here: a
    database crash can lose only the last moments of claims and results, and an item whose claim is
    lost is still pending, one whose result is lost is still running until its lease passes and the
    sweeper queues it again. Waiting for the flush was most of the product's time per case."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


Claim = tuple[int, int, int]  # item id, case id, claims so far (including this one)


def _claim(experiment_id: int, lease: timedelta) -> Claim | None:
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [ItemStatus.RUNNING, now + lease, experiment_id, ExperimentStatus.RUNNING,
                                    ItemStatus.PENDING, ItemStatus.RUNNING, now])
        return cursor.fetchone()


def claim_item(experiment_id: int, lease: timedelta) -> Claim | None:
    """Take the next pending item (or one whose slot's lease ran out) of a running experiment."""
    with transaction.atomic():
        relax_commit()
        return _claim(experiment_id, lease)


@dataclass(frozen=True)
class NextClaim:
    """Claim the slot's next item in the transaction that stores this one (one commit per case)."""

    experiment_id: int
    lease: timedelta

    def __call__(self) -> Claim | None:
        return _claim(self.experiment_id, self.lease)


def load_target(experiment: Experiment) -> Target:
    endpoint = experiment.endpoint
    evaluators = list(experiment.evaluators.select_related("judge_endpoint").order_by("id"))
    judge_keys = {e.pk: endpoint_key(e.judge_endpoint) for e in evaluators if e.is_judge and e.judge_endpoint}
    calls_per_item = 1 + sum(1 for e in evaluators if e.is_judge)
    worst = experiment.max_attempts * calls_per_item * max(
        [endpoint.timeout_seconds, *(e.judge_endpoint.timeout_seconds for e in evaluators if e.is_judge)])
    price = ModelPrice.in_force(endpoint.model, timezone.now()) if endpoint.model else None
    return Target(
        experiment=experiment, endpoint=endpoint, api_key=endpoint_key(endpoint),
        system_prompt=experiment.prompt_version.text if experiment.prompt_version_id else None,
        evaluators=evaluators, judge_keys=judge_keys, price=price,
        lease=timedelta(seconds=worst + LEASE_MARGIN_SECONDS),
    )


@dataclass
class SlotResult:
    items: int
    more: bool  # stopped on its time budget with items left


def run_slot(experiment_id: int, *, seconds: float | None = None) -> SlotResult:
    """Process items of one experiment until none is left or ``seconds`` have passed."""
    seconds = settings.EVALS_SLOT_SECONDS if seconds is None else seconds
    experiment = Experiment.objects.select_related("endpoint", "prompt_version", "dataset").filter(pk=experiment_id).first()
    if experiment is None or not experiment.is_running:
        return SlotResult(0, False)
    try:
        target = load_target(experiment)
    except Exception as exc:  # noqa: BLE001 - e.g. an unreadable key: every item fails with the reason
        target = None
        setup_error = f"could not prepare the target: {exc}"
    cases = {c.pk: c for c in DatasetCase.objects.filter(dataset_id=experiment.dataset_id)
             .in_version(experiment.dataset_version).only("id", "input_messages", "expected_output")}
    deadline = time.monotonic() + seconds
    lease = target.lease if target else timedelta(minutes=5)
    done = 0
    claimed = claim_item(experiment_id, lease)
    while claimed is not None:
        item_id, case_id, claims = claimed
        claim_next = NextClaim(experiment_id, lease) if time.monotonic() < deadline else None
        if target is None:
            claimed = _store_failure(item_id, setup_error, attempts=1, claim_next=claim_next)
        else:
            claimed = process_item(target, item_id, cases[case_id], retaken=claims > 1, claim_next=claim_next)
        done += 1
        if claim_next is None:
            return SlotResult(done, True)
    finish_if_done(experiment_id)
    return SlotResult(done, False)


def _call_with_retries(attempts: int, call):
    """``call()`` retried on transient failures; returns (answer, attempts used, seconds spent waiting)."""
    waited = 0.0
    for attempt in range(1, attempts + 1):
        try:
            return call(), attempt, waited
        except client.CallFailed as exc:
            if not exc.transient or attempt == attempts:
                exc.attempts = attempt
                raise
            pause = RETRY_BACKOFF_SECONDS * attempt
            time.sleep(pause)
            waited += pause
    raise AssertionError("unreachable")


def call_target(target: Target, case: DatasetCase) -> client.Answer:
    endpoint = target.endpoint
    messages = [m for m in case.input_messages if m.get("role") != "system"] if target.system_prompt is not None \
        else list(case.input_messages)
    if target.system_prompt is not None:
        messages = [{"role": "system", "content": target.system_prompt}, *messages]
        return client.chat(endpoint.base_url, endpoint.model, messages, api_key=target.api_key,
                           timeout=endpoint.timeout_seconds)
    experiment = target.experiment
    payload = {"case_id": case.pk, "input": case.input_text, "messages": messages, "dataset": experiment.dataset.name,
               "experiment": experiment.pk}
    return client.invoke(endpoint.base_url, payload, api_key=target.api_key, timeout=endpoint.timeout_seconds)


def score(target: Target, evaluator: Evaluator, case: DatasetCase, obs: rules.Observation) -> tuple[rules.Verdict, float]:
    """One evaluator's verdict and the seconds spent on outbound calls for it."""
    if not evaluator.is_judge:
        return rules.evaluate(evaluator.kind, evaluator.config, obs), 0.0
    rubric, custom = evaluator.config.get("rubric", "correctness"), evaluator.config.get("custom_rubric", "")
    if judge.needs_expected(rubric, custom) and not obs.expected:
        return rules.Verdict(None, "not applicable: the case has no expected output"), 0.0
    messages = judge.build_messages(rubric=rubric, custom=custom, question=obs.input_text, answer=obs.output,
                                    expected=obs.expected)
    ep = evaluator.judge_endpoint
    started = time.perf_counter()
    try:
        answer, _n, _waited = _call_with_retries(target.experiment.max_attempts, lambda: client.chat(
            ep.base_url, ep.model, messages, api_key=target.judge_keys.get(evaluator.pk, ""), timeout=ep.timeout_seconds))
        verdict = judge.parse_verdict(answer.output)
    except client.CallFailed as exc:
        return rules.Verdict(None, error=f"judge call failed: {exc.reason}"), time.perf_counter() - started
    except judge.OutsideRubric as exc:
        return rules.Verdict(None, error=str(exc)), time.perf_counter() - started
    return rules.Verdict(verdict.score, verdict.reasoning), time.perf_counter() - started


def process_item(target: Target, item_id: int, case: DatasetCase, *, retaken: bool = True,
                 claim_next: NextClaim | None = None) -> Claim | None:
    """Call the target for one claimed item, score the answer, store both (precondition: item claimed;
    ``retaken``: claimed before, by a slot that died, so earlier verdicts may exist). With
    ``claim_next``, the next item is claimed in the same transaction and returned."""
    started = time.perf_counter()
    try:
        answer, attempts, waited = _call_with_retries(target.experiment.max_attempts, lambda: call_target(target, case))
    except client.CallFailed as exc:
        return _store_failure(item_id, exc.reason, attempts=getattr(exc, "attempts", 1), claim_next=claim_next)
    outbound = answer.latency_ms / 1000 + waited
    cost = target.price.cost(answer.input_tokens, answer.output_tokens) if target.price else Decimal("0")
    obs = rules.Observation(output=answer.output, expected=case.expected_output, input_text=case.input_text,
                            tool_calls=answer.tool_calls, latency_ms=answer.latency_ms, cost=cost)
    scores, errors = [], []
    for evaluator in target.evaluators:
        verdict, spent = score(target, evaluator, case, obs)
        outbound += spent
        scores.append(ItemScore(item_id=item_id, evaluator=evaluator, value=verdict.value, passed=verdict.passed,
                                reasoning=verdict.reasoning, error=verdict.error))
        if verdict.error:
            errors.append(f"{evaluator.name}: {verdict.error}")
    values = [s.value for s in scores if s.value is not None]
    overhead_ms = max(0.0, (time.perf_counter() - started - outbound) * 1000)
    fields = {
        "status": ItemStatus.FAILED if errors else ItemStatus.OK, "attempts": attempts, "output": answer.output,
        "tool_calls": json.dumps(answer.tool_calls), "error": "; ".join(errors), "latency_ms": answer.latency_ms,
        "overhead_ms": overhead_ms, "input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens,
        "cost": cost, "score": math.fsum(values) / len(values) if values else None,
        "passed": not errors and all(s.passed for s in scores if s.value is not None), "finished_at": timezone.now(),
    }
    return _store(item_id, fields, scores, retaken=retaken, claim_next=claim_next)


# The item's result, its verdicts and the next claim go to Postgres as one multi-statement string:
# two round trips per case (it and the commit) instead of six, most of the product's time per case.
_ITEM_COLUMNS = ("status", "attempts", "output", "tool_calls", "error", "latency_ms", "overhead_ms", "input_tokens",
                 "output_tokens", "cost", "score", "passed", "finished_at")
_SET_LIST = ", ".join(f"{c} = %s" + ("::jsonb" if c == "tool_calls" else "") for c in _ITEM_COLUMNS)
# Built from the constant column list above only (no input), hence the S608 exemption.
_STORE_SQL = f"SET LOCAL synchronous_commit = off; UPDATE evals_experimentitem SET {_SET_LIST}, lease_until = NULL WHERE id = %s;"  # noqa: S608
_DELETE_SCORES_SQL = "DELETE FROM evals_itemscore WHERE item_id = %s;"
_INSERT_SCORES_SQL = "INSERT INTO evals_itemscore (item_id, evaluator_id, value, passed, reasoning, error) VALUES "


def _store(item_id: int, fields: dict, scores: list[ItemScore], *, retaken: bool,
           claim_next: NextClaim | None) -> Claim | None:
    """Store a finished item (and its verdicts), claiming the next item in the same transaction
    (commit not waited for: see ``relax_commit``). Returns the next claim, if asked for."""
    sql, params = [_STORE_SQL], [*(fields[c] for c in _ITEM_COLUMNS), item_id]
    if retaken:
        sql.append(_DELETE_SCORES_SQL)  # replaces the verdicts of the slot that died holding it
        params.append(item_id)
    if scores:
        sql.append(_INSERT_SCORES_SQL + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(scores)) + ";")
        for v in scores:
            params += [item_id, v.evaluator_id, v.value, v.passed, v.reasoning, v.error]
    if claim_next is not None:
        now = timezone.now()
        sql.append(_CLAIM_SQL)
        params += [ItemStatus.RUNNING, now + claim_next.lease, claim_next.experiment_id, ExperimentStatus.RUNNING,
                   ItemStatus.PENDING, ItemStatus.RUNNING, now]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        return cursor.fetchone() if claim_next is not None else None


def _store_failure(item_id: int, reason: str, *, attempts: int, claim_next: NextClaim | None = None) -> Claim | None:
    fields = {"status": ItemStatus.FAILED, "attempts": attempts, "output": "", "tool_calls": "[]",
              "error": reason[:2000], "latency_ms": None, "overhead_ms": None, "input_tokens": 0, "output_tokens": 0,
              "cost": Decimal("0"), "score": None, "passed": False, "finished_at": timezone.now()}
    return _store(item_id, fields, [], retaken=True, claim_next=claim_next)


@dataclass
class SweepResult:
    released: int
    restarted: list[tuple[int, int]]  # (experiment id, slots to start): the task enqueues them
    finished: list[int]


def sweep_experiments(*, idle: timedelta = timedelta(minutes=2)) -> SweepResult:
    """Beat: release items whose slot died (lease passed), finish experiments with nothing left, and
    name the running experiments whose pending items nobody has touched for ``idle`` (to restart)."""
    now = timezone.now()
    released = ExperimentItem.objects.filter(status=ItemStatus.RUNNING, lease_until__lt=now,
                                             experiment__status=ExperimentStatus.RUNNING).update(status=ItemStatus.PENDING)
    restarted, finished = [], []
    for experiment in Experiment.objects.filter(status=ExperimentStatus.RUNNING).only("id", "concurrency", "created_at"):
        if finish_if_done(experiment.pk):
            finished.append(experiment.pk)
            continue
        items = ExperimentItem.objects.filter(experiment=experiment)
        busy = items.filter(status=ItemStatus.RUNNING).exists()
        last = items.exclude(finished_at=None).order_by("-finished_at").values_list("finished_at", flat=True).first()
        if not busy and (last or experiment.created_at) < now - idle:
            restarted.append((experiment.pk, experiment.concurrency))
    return SweepResult(released, restarted, finished)
