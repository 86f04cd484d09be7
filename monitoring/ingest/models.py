"""Telemetry as stored: runs (traces), steps (spans), scores and escalations.

All timestamps are UTC. Rows written by the ingest pipeline are idempotent on OpenTelemetry ids:
steps on their span within the run, runs on trace_id, scores and escalations on their source span/event.

Each table is partitioned by day on a time column (``monitoring.storage.partitions``): keys include
it (a span's start, an event's time), and references to a run are plain ids (``db_constraint=False``)
because PostgreSQL only enforces foreign keys to a partitioned table on its full key."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from agentops.models import Agent, PromptVersion


class StepKind(models.TextChoices):
    LLM = "llm", "LLM"
    TOOL = "tool", "Tool"
    AGENT = "agent", "Agent"
    RETRIEVAL = "retrieval", "Retrieval"
    OTHER = "other", "Other"


class RunStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class Run(models.Model):
    """One trace. Totals (tokens, cost) sum the run's llm steps; status is the root's, else the worst."""

    # Unique per trace, enforced by the write path under a per-trace advisory lock: a unique index on
    # a partitioned table must include the partition column (started_at, which a late root moves).
    trace_id = models.CharField(max_length=32, db_index=True)
    # No index of its own: run_agent_time_idx (agent_id, started_at, id) leads with it (every run write
    # pays for each index, and ingest writes runs at the span rate).
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="runs", db_index=False)
    root_span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=255, blank=True)
    session_id = models.CharField(max_length=255, blank=True, db_index=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    duration_ms = models.FloatField(default=0)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.OK)
    error_type = models.CharField(max_length=255, blank=True)
    model = models.CharField(max_length=120, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    # Indexed only where set (run_prompt_idx): a run links a prompt version only when the agent
    # registered the version it sent.
    prompt = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs",
                               db_index=False)
    step_count = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    quality_score = models.FloatField(null=True, blank=True)  # mean of the run's evaluation scores, 0..1
    has_escalation = models.BooleanField(default=False)
    # Deterministic failure fingerprint (sha1 hex) of failed/escalated runs; blank for good runs. Indexed
    # only where set (run_fingerprint_idx): most runs succeed, and every run write pays for each index.
    fingerprint = models.CharField(max_length=40, blank=True)
    input_preview = models.TextField(blank=True)
    output_preview = models.TextField(blank=True)
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["agent", "-started_at", "-id"], name="run_agent_time_idx"),
            models.Index(fields=["-started_at", "-id"], name="run_time_idx"),
            # The run explorer's error filter; only failed runs (a few percent) are indexed: a query for
            # ok runs reads run_time_idx, which finds them among the first rows it scans.
            models.Index(fields=["-started_at", "-id"], name="run_error_time_idx", condition=models.Q(status="error")),
            models.Index(fields=["prompt"], name="run_prompt_idx", condition=models.Q(prompt__isnull=False)),
            # Failure groups: a group's runs, its first and latest run without reading the others. A
            # query uses it when the planner can tell its fingerprint is not blank (a literal, or
            # fingerprint <> '' spelled out).
            models.Index(fields=["fingerprint", "started_at", "id"], name="run_fingerprint_idx",
                         condition=~models.Q(fingerprint="")),
        ]

    def __str__(self) -> str:
        return f"run {self.trace_id}"

    @property
    def is_error(self) -> bool:
        return self.status == RunStatus.ERROR


class Step(models.Model):
    """One span. ``agent`` is the nearest agent ancestor's agent (or the run's).

    Kept narrow, since a span is the bulk of what is stored: the trace id is the run's (not repeated
    here); token counts fit an integer (a span's are capped at ``MAX_SPAN_TOKENS``); ``attributes``
    holds what the columns do not (the normaliser leaves out the keys it maps to columns)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False,
                            db_constraint=False)  # step_run_idx
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    # No index: no page reads steps by agent (they are read by run). Deleting an agent (PROTECT) scans
    # the kept days' steps once; an index would cost every span ≈ 10 bytes and an insert.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="steps", db_index=False)
    # True when the span named its agent itself (gen_ai.agent.*); otherwise ``agent`` is inherited from
    # the nearest such ancestor, re-derived by ingest as more spans of the trace arrive.
    declared_agent = models.BooleanField(default=True)
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=10, choices=StepKind.choices, default=StepKind.OTHER)
    operation = models.CharField(max_length=64, blank=True)  # raw gen_ai.operation.name
    model = models.CharField(max_length=120, blank=True)
    tool_name = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    duration_ms = models.FloatField(default=0)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.OK)
    error_type = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)
    input_tokens = models.IntegerField(default=0)
    output_tokens = models.IntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    input = models.TextField(blank=True)  # messages / tool arguments, capped; "…[truncated]" marker when cut
    output = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    events = models.JSONField(default=list, blank=True)

    class Meta:
        # Steps are read by run (a trace's steps, a run's recompute), so one index on run_id, which
        # PostgreSQL deduplicates: a run's steps share one index entry (≈ 8 bytes a span instead of
        # ≈ 58 for a unique (run_id, started_at, span_id) key). No unique index and no primary key in
        # the database: a span is stored once per run (on run, start and span id) by the write path,
        # which inserts a stored run's steps under its per-trace lock, skipping those already stored
        # (``write._insert_steps``), the way it keeps one run per trace. ``id`` stays the ORM's key.
        indexes = [models.Index(fields=["run"], name="step_run_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class Score(models.Model):
    """A quality score on a run: an evaluation event from telemetry, or feedback sent later."""

    class Source(models.TextChoices):
        EVALUATION = "evaluation", "Evaluation"
        FEEDBACK = "feedback", "Feedback"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="scores", db_index=False,
                            db_constraint=False)  # score_unique_key leads with it
    span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=120)
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=120, blank=True)
    comment = models.TextField(blank=True)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.EVALUATION)
    # Idempotency key: evaluation "<span_id>:<event index>", feedback the sender's id or a content hash.
    dedupe_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    # The partition column: the evaluated span's start (stable when a batch is resent), for feedback
    # the run's start, so a score is dropped with its run.
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "dedupe_key", "occurred_at"], name="score_unique_key")]

    def __str__(self) -> str:
        return f"{self.name}={self.value if self.value is not None else self.label}"


class Escalation(models.Model):
    """An ``agentops.escalation`` span event: the agent handed the case to a human."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="escalations", db_constraint=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="escalations")
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    reason = models.CharField(max_length=255, blank=True)
    summary = models.TextField(blank=True)
    priority = models.CharField(max_length=20, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trace_id", "span_id", "occurred_at"], name="escalation_unique_span")]
        indexes = [models.Index(fields=["agent", "-occurred_at"], name="escalation_agent_time_idx")]

    def __str__(self) -> str:
        return f"escalation {self.reason} on {self.trace_id}"


class Announcement(models.Model):
    """Outbox: ids an ingest transaction stored, for the receivers of ``monitoring.announcements``.

    Written in the ingest transaction (so it exists exactly when the telemetry does) and delivered
    after commit by ``monitoring/ingest/outbox.py``, which deletes it once every receiver has taken
    it. A row that fails stays pending with its error until its next attempt, and after
    ``outbox.MAX_DELIVERY_ATTEMPTS`` is kept as failed (dead-letters page, retryable)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        FAILED = "failed", "Failed"

    run_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    escalation_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The delivery task's and the beat's question: which pending rows are due?
            models.Index(fields=["next_attempt_at", "id"], name="announcement_due_idx",
                         condition=models.Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"announcement {self.pk}: {len(self.run_ids)} runs, {len(self.escalation_ids)} escalations"


class Invocation(models.Model):
    """One agent's own run inside a trace: an ``invoke_agent`` span (root or nested), or any span whose
    agent differs from its parent's (and every top-level span of a trace).

    Derived at ingest from the run's stored steps (``monitoring.ingest.invocations``): a run's rows are
    replaced wholesale whenever its steps change, so a trace arriving in pieces, in any order, ends with
    the rows a derivation from the whole trace gives. ``parent_span_id`` names the calling invocation
    (its span) rather than a foreign key, so rows can be rebuilt without re-pointing references. The
    table is partitioned by day on ``started_at`` (the span's own start, which never moves), like the
    steps, and dropped with them by retention.

    Own figures (tokens, cost, steps, quality, escalations) cover the invocation's subtree without
    nested invocations; ``total_*`` include them. Per-agent rollups, SLOs and alerts count these rows.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="invocations", db_index=False,
                            db_constraint=False)  # invocation_run_idx
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)  # the calling invocation's span; blank at the top
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="invocations", db_index=False)  # invocation_agent_time_idx
    caller_agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                     db_index=False)  # the parent span's agent; NULL for a direct (top-level) call
    name = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    duration_ms = models.FloatField(default=0)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.OK)
    error_type = models.CharField(max_length=255, blank=True)
    model = models.CharField(max_length=120, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    prompt = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               db_index=False)
    step_count = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    total_input_tokens = models.BigIntegerField(default=0)
    total_output_tokens = models.BigIntegerField(default=0)
    total_cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    quality_score = models.FloatField(null=True, blank=True)  # mean of the evaluation scores on its own spans
    escalations = models.PositiveIntegerField(default=0)  # escalations raised by its own spans
    # The run's failure fingerprint on the one invocation where the run failed (the invocation of the
    # failing step, or of the escalating one): failure groups count and name that invocation's agent.
    fingerprint = models.CharField(max_length=40, blank=True, default="", db_default="")

    class Meta:
        # A run's invocations are replaced together (under its trace lock), so they are one per span
        # by construction: an index on run_id serves that, no unique key or primary key in the
        # database (``id`` stays the ORM's key).
        indexes = [
            models.Index(fields=["run"], name="invocation_run_idx"),
            # An agent's invocations over a range. It carries the by-caller breakdown's columns
            # (monitoring/dashboards/invocations.py), which then reads the index alone: an agent's rows
            # lie scattered over a day's heap pages (every agent's traffic interleaves), its index
            # entries side by side.
            models.Index(fields=["agent", "started_at"], name="invocation_agent_time_idx",
                         include=["caller_agent", "duration_ms", "status", "escalations", "cost", "input_tokens",
                                  "output_tokens"]),
            # An agent's failed invocations over a range (the agent page's recent failures, its runs
            # page filtered to errors): read and counted among the failures alone, however many
            # successful invocations the range holds.
            models.Index(fields=["agent", "started_at"], name="invocation_error_time_idx",
                         condition=models.Q(status="error")),
        ]

    def __str__(self) -> str:
        return f"invocation {self.trace_id}/{self.span_id}"

    @property
    def is_error(self) -> bool:
        return self.status == RunStatus.ERROR
