"""Datasets of test cases, evaluators, model endpoints, experiments and online evaluation.

Dataset versions: a dataset's ``version`` grows by one with every change (cases added or removed).
Cases are never edited: a case belongs to versions ``added_in_version`` up to (not including)
``removed_in_version``, so an experiment that recorded version N can always list the cases it ran on.
All timestamps are UTC.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from agentops.models import Agent, PromptVersion


class Endpoint(models.Model):
    """An outbound target operations configured: the only URLs the product ever calls (SSRF guard).

    ``chat``: an OpenAI-compatible chat-completions API (OpenAI, Azure, vLLM, Ollama, the demo
    responder): ``base_url`` + ``/chat/completions``. ``invoke``: an agent's own invoke URL, POSTed a
    case as JSON. The API key is stored encrypted (``evals.crypto``) and never shown again.
    """

    class Kind(models.TextChoices):
        CHAT = "chat", "OpenAI-compatible chat completions"
        INVOKE = "invoke", "Agent invoke URL"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CHAT)
    base_url = models.URLField("base URL", max_length=500)
    model = models.CharField(max_length=120, blank=True, help_text="Model name sent in chat requests.")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="eval_endpoints",
                              help_text="For invoke URLs: the agent this URL runs.")
    api_key_encrypted = models.BinaryField(blank=True, default=b"", editable=False)
    api_key_hint = models.CharField(max_length=12, blank=True, editable=False)  # last 4 characters, for recognition
    timeout_seconds = models.FloatField(default=30, validators=[MinValueValidator(0.1), MaxValueValidator(600)])
    is_demo = models.BooleanField(default=False, help_text="The local deterministic demo model.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (demo model)" if self.is_demo else self.name

    @property
    def has_key(self) -> bool:
        return bool(self.api_key_encrypted)


class Dataset(models.Model):
    name = models.CharField(max_length=160, unique=True)
    description = models.TextField(blank=True)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_datasets")
    version = models.PositiveIntegerField(default=0)  # 0: no cases yet
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("evals:dataset_detail", args=[self.pk])


class CaseSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    RUN = "run", "Production run"
    FAILURE_GROUP = "failure_group", "Failure group"
    TICKET = "ticket", "Corrected handoff ticket"
    UPLOAD = "upload", "Upload"


class CaseQuerySet(models.QuerySet):
    def in_version(self, version: int) -> CaseQuerySet:
        return self.filter(added_in_version__lte=version).filter(
            models.Q(removed_in_version__isnull=True) | models.Q(removed_in_version__gt=version)
        )


class DatasetCase(models.Model):
    """One test case: input messages, optional expected output, metadata and where it came from."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="cases")
    input_messages = models.JSONField(default=list)  # [{"role": "user", "content": "..."}]
    expected_output = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=CaseSource.choices, default=CaseSource.MANUAL)
    source_ref = models.CharField(max_length=120, blank=True)  # trace id, fingerprint, ticket id, file:line
    # No database constraint: runs are partitioned by day (monitoring.storage.partitions).
    run = models.ForeignKey("monitoring.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                            db_constraint=False)
    ticket = models.ForeignKey("handoffs.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    added_in_version = models.PositiveIntegerField()
    removed_in_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["dataset", "added_in_version"], name="evals_case_version_idx")]

    def __str__(self) -> str:
        return f"case {self.pk} of {self.dataset_id}"

    @property
    def input_text(self) -> str:
        """The last user message (what a person would call the question)."""
        for message in reversed(self.input_messages or []):
            if message.get("role") == "user":
                return str(message.get("content", ""))
        return ""


class Evaluator(models.Model):
    """A scoring rule or an LLM judge; ``config`` holds the kind's parameters (see evals.rules)."""

    class Kind(models.TextChoices):
        EXACT = "exact", "Exact match (expected output)"
        CONTAINS = "contains", "Contains text"
        REGEX = "regex", "Matches regular expression"
        JSON_VALID = "json_valid", "Valid JSON"
        JSON_SCHEMA = "json_schema", "Matches JSON schema"
        LENGTH = "length", "Length within limits"
        FORBIDDEN = "forbidden", "No forbidden phrases"
        TOOL_CALLED = "tool_called", "Named tool was called"
        LATENCY = "latency", "Latency limit"
        COST = "cost", "Cost limit"
        JUDGE = "judge", "LLM as judge"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    judge_endpoint = models.ForeignKey(Endpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="judges")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_judge(self) -> bool:
        return self.kind == self.Kind.JUDGE


class OnlineEvaluation(models.Model):
    """Score a sampled share of an agent's production runs with an evaluator (scores become run scores)."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="online_evaluations")
    evaluator = models.ForeignKey(Evaluator, on_delete=models.CASCADE, related_name="online")
    sample_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("10"),
                                         validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))])
    max_per_minute = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1), MaxValueValidator(10_000)])
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "evaluator"], name="evals_online_unique")]

    def __str__(self) -> str:
        return f"{self.evaluator} on {self.agent} ({self.sample_percent} %)"


class ExperimentStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Experiment(models.Model):
    """A dataset version run against a target: a prompt version on a chat endpoint, or an agent's
    invoke URL. Items are processed by at most ``concurrency`` Celery slot tasks at once."""

    class Target(models.TextChoices):
        PROMPT = "prompt", "Prompt version on a model endpoint"
        AGENT = "agent", "The agent's invoke URL"

    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="experiments")
    dataset_version = models.PositiveIntegerField()
    target = models.CharField(max_length=8, choices=Target.choices, default=Target.PROMPT)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments")
    prompt_version = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="experiments")
    evaluators = models.ManyToManyField(Evaluator, blank=True, related_name="experiments")
    concurrency = models.PositiveSmallIntegerField(default=4, validators=[MinValueValidator(1), MaxValueValidator(32)])
    max_attempts = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1), MaxValueValidator(5)])
    status = models.CharField(max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.RUNNING)
    case_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["prompt_version", "-created_at"], name="evals_exp_prompt_idx")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("evals:experiment_detail", args=[self.pk])

    @property
    def is_running(self) -> bool:
        return self.status == ExperimentStatus.RUNNING


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_ITEM_STATUSES = (ItemStatus.OK, ItemStatus.FAILED, ItemStatus.CANCELLED)


class ExperimentItem(models.Model):
    """One case of an experiment: the target's output, cost and timing, or the reason it failed."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="items")
    case = models.ForeignKey(DatasetCase, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)  # a running item whose lease passed is retaken
    output = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.FloatField(null=True, blank=True)  # the target's answer time
    overhead_ms = models.FloatField(null=True, blank=True)  # the product's own time for this case
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    score = models.FloatField(null=True, blank=True)  # mean of the evaluators' scores, 0..1
    passed = models.BooleanField(null=True)  # output received and every evaluator passed
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["experiment", "case"], name="evals_item_unique_case")]
        indexes = [models.Index(fields=["experiment", "status"], name="evals_item_status_idx")]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.status})"


class ItemScore(models.Model):
    """One evaluator's verdict on one item: 0-1 with the reasoning kept, or the reason it could not score."""

    item = models.ForeignKey(ExperimentItem, on_delete=models.CASCADE, related_name="scores")
    evaluator = models.ForeignKey(Evaluator, on_delete=models.CASCADE, related_name="+")
    value = models.FloatField(null=True, blank=True)
    passed = models.BooleanField(default=False)
    reasoning = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "evaluator"], name="evals_score_unique")]

    def __str__(self) -> str:
        return f"{self.evaluator_id}={self.value}"
