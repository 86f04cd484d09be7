"""Online evaluation: score a sampled share of agents' production runs; scores become run scores.

Monitoring's ``RUNS_RECORDED`` announcement (delivered after the ingest transaction committed) reaches
``evals.receivers``, where ``pick_runs`` picks runs by a hash of their trace id (the same run is always in or out of the sample, however
often its spans arrive) and enqueues them after commit. The task scores them with the evaluator and
stores a ``monitoring.Score`` per run (source evaluation, keyed ``evals:<evaluator id>``), then has
monitoring recompute the runs' quality and rollup cells, as for feedback. At most ``max_per_minute``
runs per online evaluation are scored each minute (Redis counter); the rest of the sample is skipped.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction

from agentops import counters
from monitoring.ingest import invocations, outbox
from monitoring.ingest.recompute import recompute_runs
from monitoring.ingest.write import failures_of
from monitoring.models import Run, Score, Step, StepKind
from monitoring.rollups import cells as rollups

from . import client, judge, rules
from .models import Evaluator, OnlineEvaluation
from .services import endpoint_key

ACTIVE_CACHE_KEY = "evals:online:active"
ACTIVE_CACHE_SECONDS = 30


def in_sample(trace_id: str, online_id: int, percent: Decimal) -> bool:
    bucket = int(hashlib.blake2b(f"{online_id}:{trace_id}".encode(), digest_size=4).hexdigest(), 16) % 10_000
    return bucket < float(percent) * 100


def dedupe_key(evaluator_id: int) -> str:
    return f"evals:{evaluator_id}"


def active_configs() -> list[tuple[int, int, int, Decimal]]:
    """(online id, agent id, evaluator id, percent) of enabled online evaluations, cached briefly:
    every ingest transaction asks."""
    found = cache.get(ACTIVE_CACHE_KEY)
    if found is None:
        found = list(OnlineEvaluation.objects.filter(enabled=True).values_list("id", "agent_id", "evaluator_id",
                                                                                "sample_percent"))
        cache.set(ACTIVE_CACHE_KEY, found, ACTIVE_CACHE_SECONDS)
    return found


def forget_active() -> None:
    cache.delete(ACTIVE_CACHE_KEY)


def pick_runs(run_ids: list[int]) -> dict[int, list[int]]:
    """The runs of ``run_ids`` each enabled online evaluation samples and has not scored yet, by
    online evaluation id (three small queries at most; none when nothing is enabled)."""
    configs = active_configs()
    if not configs or not run_ids:
        return {}
    by_agent = defaultdict(list)
    for online_id, agent_id, evaluator_id, percent in configs:
        by_agent[agent_id].append((online_id, evaluator_id, percent))
    runs = list(Run.objects.filter(pk__in=run_ids, agent_id__in=by_agent).values_list("id", "agent_id", "trace_id"))
    if not runs:
        return {}
    scored = set(Score.objects.filter(run_id__in=[r[0] for r in runs], dedupe_key__startswith="evals:")
                 .values_list("run_id", "dedupe_key"))
    picked: dict[int, list[int]] = defaultdict(list)
    for run_id, agent_id, trace_id in runs:
        for online_id, evaluator_id, percent in by_agent[agent_id]:
            if (run_id, dedupe_key(evaluator_id)) not in scored and in_sample(trace_id, online_id, percent):
                picked[online_id].append(run_id)
    return dict(picked)


def budget_key(online_id: int, at: float | None = None) -> str:
    return f"evals:online:{online_id}:{int((time.time() if at is None else at) // 60)}"


def _take_budget(online: OnlineEvaluation, wanted: int) -> int:
    """How many of ``wanted`` runs this minute's budget allows (Redis counter per minute)."""
    _added, used = counters.take(budget_key(online.pk), wanted, expire_seconds=120)
    allowed = online.max_per_minute - (used - wanted)
    return max(0, min(wanted, allowed))


@dataclass
class OnlineResult:
    scored: int
    skipped: int


def evaluate_runs(online_id: int, run_ids: list[int]) -> OnlineResult:
    online = OnlineEvaluation.objects.select_related("evaluator", "evaluator__judge_endpoint").filter(
        pk=online_id, enabled=True).first()
    if online is None:
        return OnlineResult(0, len(run_ids))
    evaluator = online.evaluator
    key = dedupe_key(evaluator.pk)
    done = set(Score.objects.filter(run_id__in=run_ids, dedupe_key=key).values_list("run_id", flat=True))
    todo = [r for r in run_ids if r not in done]
    budget = _take_budget(online, len(todo)) if todo else 0
    runs = list(Run.objects.filter(pk__in=todo[:budget]).only(
        "id", "input_preview", "output_preview", "duration_ms", "cost"))
    tools = defaultdict(list)
    for run_id, name in Step.objects.filter(run_id__in=[r.pk for r in runs], kind=StepKind.TOOL).values_list(
            "run_id", "tool_name"):
        tools[run_id].append(name)
    verdicts = {run.pk: _verdict(evaluator, run, tools[run.pk]) for run in runs}
    scores = [
        Score(run_id=run_id, name=evaluator.name[:120], value=v.value, label="pass" if v.passed else "fail",
              comment=v.reasoning or v.error, source=Score.Source.EVALUATION, dedupe_key=key)
        for run_id, v in verdicts.items() if v.value is not None
    ]
    if scores:
        with transaction.atomic():
            locked = list(Run.objects.select_for_update().filter(pk__in=[s.run_id for s in scores]).order_by("id"))
            Score.objects.bulk_create(scores, ignore_conflicts=True)
            ids = [r.pk for r in locked]
            # The scores are the invocations' quality too: re-derive them (and their cells), as feedback does.
            left = invocations.refresh_for_runs({r.pk: r.trace_id for r in locked}, recompute_runs(locked),
                                                replace=ids, failures=failures_of(locked))
            rollups.refresh_for_runs(ids, previous_invocations=left)
            outbox.announce(run_ids=[r.pk for r in locked])
    return OnlineResult(len(scores), len(run_ids) - len(scores))


def _verdict(evaluator: Evaluator, run: Run, tool_calls: list[str]) -> rules.Verdict:
    obs = rules.Observation(output=run.output_preview, input_text=run.input_preview, tool_calls=tool_calls,
                            latency_ms=run.duration_ms, cost=run.cost)
    if not evaluator.is_judge:
        return rules.evaluate(evaluator.kind, evaluator.config, obs)
    ep = evaluator.judge_endpoint
    messages = judge.build_messages(rubric=evaluator.config.get("rubric", "helpfulness"),
                                    custom=evaluator.config.get("custom_rubric", ""),
                                    question=obs.input_text, answer=obs.output)
    try:
        answer = client.chat(ep.base_url, ep.model, messages, api_key=endpoint_key(ep), timeout=ep.timeout_seconds)
        verdict = judge.parse_verdict(answer.output)
    except (client.CallFailed, judge.OutsideRubric) as exc:
        return rules.Verdict(None, error=str(exc))
    return rules.Verdict(verdict.score, verdict.reasoning)
