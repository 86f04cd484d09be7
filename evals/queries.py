"""Read-only selectors for the evals pages. Each runs a fixed number of queries (asserted in tests)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Avg, Count, F, Max, Prefetch, Q, Sum

from agentops.models import PromptVersion

from . import calculations
from .models import (
    FINISHED_ITEM_STATUSES,
    Dataset,
    DatasetCase,
    Experiment,
    ExperimentItem,
    ExperimentStatus,
    ItemScore,
    ItemStatus,
)

_IN_CURRENT = Q(cases__added_in_version__lte=F("version")) & (
    Q(cases__removed_in_version__isnull=True) | Q(cases__removed_in_version__gt=F("version")))


def datasets():
    return (Dataset.objects.select_related("agent")
            .annotate(case_total=Count("cases", filter=_IN_CURRENT, distinct=True),
                      experiment_total=Count("experiments", distinct=True))
            .order_by("name"))


def dataset_cases(dataset: Dataset, version: int | None = None):
    version = dataset.version if version is None else version
    return DatasetCase.objects.filter(dataset=dataset).in_version(version).select_related("run").order_by("id")


def experiments(dataset: Dataset | None = None, prompt: PromptVersion | None = None):
    qs = Experiment.objects.select_related("dataset", "prompt_version", "agent", "endpoint")
    if dataset is not None:
        qs = qs.filter(dataset=dataset)
    if prompt is not None:
        qs = qs.filter(prompt_version=prompt)
    return qs.annotate(
        done=Count("items", filter=Q(items__status__in=FINISHED_ITEM_STATUSES)),
        passed_total=Count("items", filter=Q(items__passed=True)),
        failed_total=Count("items", filter=Q(items__status=ItemStatus.FAILED)),
        mean_score=Avg("items__score"),
    ).order_by("-created_at", "-id")


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    ok: int
    failed: int
    cancelled: int
    running: int

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 100


def progress(experiment: Experiment) -> Progress:
    counts = dict(ExperimentItem.objects.filter(experiment=experiment).values_list("status").annotate(n=Count("id")))
    ok, failed, cancelled = (counts.get(s, 0) for s in (ItemStatus.OK, ItemStatus.FAILED, ItemStatus.CANCELLED))
    return Progress(total=experiment.case_count, done=ok + failed + cancelled, ok=ok, failed=failed,
                    cancelled=cancelled, running=counts.get(ItemStatus.RUNNING, 0))


@dataclass(frozen=True)
class Summary:
    passed: int
    scored: int
    mean_score: float | None
    mean_latency_ms: float | None
    max_latency_ms: float | None
    mean_overhead_ms: float | None
    input_tokens: int
    output_tokens: int
    cost: object
    per_evaluator: list[dict]


def summary(experiment: Experiment) -> Summary:
    items = ExperimentItem.objects.filter(experiment=experiment)
    agg = items.aggregate(
        passed=Count("id", filter=Q(passed=True)), scored=Count("score"), mean_score=Avg("score"),
        mean_latency=Avg("latency_ms"), max_latency=Max("latency_ms"), overhead=Avg("overhead_ms"),
        tin=Sum("input_tokens"), tout=Sum("output_tokens"), cost=Sum("cost"),
    )
    per_evaluator = list(
        ItemScore.objects.filter(item__experiment=experiment).values("evaluator__name")
        .annotate(mean=Avg("value"), passed=Count("id", filter=Q(passed=True)), errors=Count("id", filter=~Q(error="")),
                  n=Count("id"))
        .order_by("evaluator__name")
    )
    return Summary(agg["passed"], agg["scored"], agg["mean_score"], agg["mean_latency"], agg["max_latency"],
                   agg["overhead"], agg["tin"] or 0, agg["tout"] or 0, agg["cost"] or 0, per_evaluator)


def items(experiment: Experiment, status: str = ""):
    qs = (ExperimentItem.objects.filter(experiment=experiment).select_related("case")
          .prefetch_related(Prefetch("scores", queryset=ItemScore.objects.select_related("evaluator").order_by("evaluator__name")))
          .order_by("id"))
    if status in ItemStatus.values:
        qs = qs.filter(status=status)
    return qs


@dataclass(frozen=True)
class CaseRow:
    case: DatasetCase
    a: ExperimentItem
    b: ExperimentItem
    change: str

    @property
    def label(self) -> str:
        return self.change.replace("_", " ")


@dataclass(frozen=True)
class ComparisonResult:
    a: Experiment
    b: Experiment
    rows: list[CaseRow]
    aggregate: calculations.Aggregate
    only_a: int
    only_b: int


def _outcome(item: ExperimentItem) -> calculations.Outcome:
    return calculations.Outcome(passed=bool(item.passed) and item.status == ItemStatus.OK, score=item.score)


def compare(a: Experiment, b: Experiment) -> ComparisonResult:
    """Both experiments on the cases they share, worst changes first."""
    a_items = {i.case_id: i for i in ExperimentItem.objects.filter(experiment=a).select_related("case")}
    b_items = {i.case_id: i for i in ExperimentItem.objects.filter(experiment=b)}
    common = [cid for cid in a_items if cid in b_items]
    rows = [CaseRow(a_items[c].case, a_items[c], b_items[c], calculations.classify(_outcome(a_items[c]),
                                                                                     _outcome(b_items[c])))
            for c in common]
    rows.sort(key=lambda r: (calculations.ORDER.index(r.change), r.case.pk))
    pairs = [(_outcome(a_items[c]), _outcome(b_items[c])) for c in common]
    return ComparisonResult(a, b, rows, calculations.aggregate(pairs), len(a_items) - len(common),
                            len(b_items) - len(common))


def latest_finished(prompt: PromptVersion | None) -> Experiment | None:
    if prompt is None:
        return None
    return (experiments(prompt=prompt).filter(status=ExperimentStatus.COMPLETED).first())


@dataclass(frozen=True)
class RolloutCheck:
    candidate: Experiment | None
    active: Experiment | None
    comparison: ComparisonResult | None


def rollout_check(candidate: PromptVersion) -> RolloutCheck:
    """The candidate's latest finished experiment against the active version's, on the same dataset
    when there is one."""
    active_prompt = candidate.agent.prompt_versions.filter(is_active=True).first()
    mine = latest_finished(candidate)
    theirs = None
    if active_prompt is not None and active_prompt.pk != candidate.pk:
        pool = experiments(prompt=active_prompt).filter(status=ExperimentStatus.COMPLETED)
        theirs = (pool.filter(dataset_id=mine.dataset_id).first() if mine else None) or pool.first()
    comparison = compare(theirs, mine) if mine and theirs and mine.dataset_id == theirs.dataset_id else None
    return RolloutCheck(mine, theirs, comparison)


def percent(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{100 * value:.0f} %"
