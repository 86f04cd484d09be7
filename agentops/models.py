"""Agent registry: departments, agents, prompt versions and their history, API keys, model prices."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models, router
from django.urls import reverse
from django.utils import timezone

ROLE_OPERATIONS = "Operations"
ROLE_REVIEWERS = "Reviewers"
ROLE_FINANCE = "Finance"
ROLES = (ROLE_OPERATIONS, ROLE_REVIEWERS, ROLE_FINANCE)


class Department(models.Model):
    name = models.CharField(max_length=120, unique=True)
    cost_center = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LifecycleStage(models.TextChoices):
    PILOT = "pilot", "Pilot"
    INTEGRATE = "integrate", "Integrate"
    SCALE = "scale", "Scale"
    OPTIMIZE = "optimize", "Optimize"
    RETIRED = "retired", "Retired"


class Agent(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="agents")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_agents"
    )
    lifecycle_stage = models.CharField(max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.PILOT)
    # Agents first seen in telemetry are registered automatically and wait for an operator to adopt them.
    discovered = models.BooleanField(default=False)
    # Kept for history, hidden from the overview and lists unless asked for (see UserPreference).
    archived_at = models.DateTimeField(null=True, blank=True)
    is_test = models.BooleanField("test agent", default=False,
                                  help_text="A test or staging agent: hidden from the overview unless asked for.")
    model = models.CharField("default model", max_length=120, blank=True)
    slo_p95_latency_ms = models.PositiveIntegerField(
        "p95 latency target (ms)", null=True, blank=True, validators=[MinValueValidator(1)]
    )
    slo_min_success_rate = models.DecimalField(
        "minimum success rate (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    slo_min_quality = models.DecimalField(
        "minimum quality score (0-1)",
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    slo_max_cost_per_run = models.DecimalField(
        "maximum cost per run (USD)",
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    baseline_human_minutes = models.DecimalField(
        "baseline human minutes per task",
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:agent_detail", args=[self.slug])

    def active_prompt(self) -> PromptVersion | None:
        return self.prompt_versions.filter(is_active=True).first()


class PromptVersion(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="prompt_versions")
    version = models.PositiveIntegerField()
    text = models.TextField()
    change_note = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    is_active = models.BooleanField(default=False)

    class Meta:
        ordering = ["agent", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "version"], name="prompt_version_unique_per_agent"),
            models.UniqueConstraint(
                fields=["agent"], condition=models.Q(is_active=True), name="prompt_one_active_per_agent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug} v{self.version}"


class PromptRollout(models.Model):
    """A candidate prompt version served to a share of an agent's traffic (at most one per agent).

    Agents that read their prompt from the registry API get the candidate for ``share`` % of routing
    keys (see ``agentops.routing``) and the active version otherwise. Rolling back deletes the row;
    promoting activates the candidate and deletes it."""

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, related_name="rollout")
    candidate = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="rollouts")
    share = models.PositiveSmallIntegerField(
        "share of traffic (%)", validators=[MinValueValidator(1), MaxValueValidator(99)]
    )
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(share__gte=1, share__lte=99), name="rollout_share_1_to_99"),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug}: v{self.candidate.version} at {self.share} %"


class PromptEvent(models.Model):
    """Append-only history of which prompt version an agent served, and since when: a version made
    active, and a rollout of a candidate started, changed (another share or candidate) or ended.

    Written by the registry services in the transaction that makes the change (``agentops.services``);
    the agent charts mark versions where these happened, not where a version was written."""

    class Kind(models.TextChoices):
        ACTIVATED = "activated", "made active"
        ROLLOUT_STARTED = "rollout_started", "rollout started"
        ROLLOUT_CHANGED = "rollout_changed", "rollout changed"
        ROLLOUT_ENDED = "rollout_ended", "rollout ended"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="prompt_events", db_index=False)
    prompt = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    version = models.PositiveIntegerField()  # kept with the event: the version row may be deleted later
    kind = models.CharField(max_length=20, choices=Kind.choices)
    share = models.PositiveSmallIntegerField(null=True, blank=True)  # rollouts: % of traffic on the candidate
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["agent", "at"], name="prompt_event_agent_time_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} v{self.version} {self.kind} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Prompt events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Prompt events are append-only.")

    @property
    def label(self) -> str:
        """The chart marker's text: "v3 active", "v4 rollout 20 %", "v4 rollout ended"."""
        if self.kind == self.Kind.ACTIVATED:
            return f"v{self.version} active"
        if self.kind == self.Kind.ROLLOUT_ENDED:
            return f"v{self.version} rollout ended"
        return f"v{self.version} rollout {self.share} %"


API_KEY_PREFIX_LEN = 10


class ApiKeyRefused(Exception):
    """A request's API key is missing, malformed, unknown or revoked; the message says which."""


def hash_secret(secret: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A bearer key for telemetry intake. Format: ``ao_<prefix>_<secret>``; only a hash is stored."""

    label = models.CharField(max_length=120)
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys",
        help_text="If set, the key may only send telemetry for this agent.",
    )
    prefix = models.CharField(max_length=API_KEY_PREFIX_LEN, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.label} (ao_{self.prefix}_…)"

    @classmethod
    def generate(cls, label: str, agent: Agent | None = None, created_by=None) -> tuple[ApiKey, str]:
        """Create a key; returns the row and the plaintext token, which is never stored."""
        prefix = secrets.token_hex(API_KEY_PREFIX_LEN // 2)
        secret = secrets.token_urlsafe(32)
        token = f"ao_{prefix}_{secret}"
        key = cls.objects.create(
            label=label, agent=agent, prefix=prefix, key_hash=hash_secret(token), created_by=created_by
        )
        return key, token

    @classmethod
    def authenticate(cls, token: str) -> ApiKey | None:
        """The active key matching ``token``, or None. Constant-time comparison of the hash."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "ao" or len(parts[1]) != API_KEY_PREFIX_LEN:
            return None
        key = cls._active_by_prefix(parts[1])
        if key is None or not hmac.compare_digest(key.key_hash, hash_secret(token)):
            return None
        return key

    @classmethod
    def _active_by_prefix(cls, prefix: str) -> ApiKey | None:
        """The active key with ``prefix``, its agent's id, name and slug loaded (the rest of the agent
        deferred). One plain statement: every machine request authenticates, and compiling the
        equivalent ORM query cost more than running it."""
        columns = [f.attname for f in cls._meta.concrete_fields]
        db = router.db_for_read(cls)
        with connections[db].cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join('k.' + f.column for f in cls._meta.concrete_fields)}, a.name, a.slug"  # noqa: S608
                f" FROM {cls._meta.db_table} k LEFT JOIN {Agent._meta.db_table} a ON a.id = k.agent_id"
                " WHERE k.prefix = %s AND k.revoked_at IS NULL",
                [prefix],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        key = cls.from_db(db, columns, row[: len(columns)])
        if key.agent_id is not None:
            # from_db takes a partial row in the model's field order: id, name, slug.
            agent = Agent.from_db(db, ["id", "name", "slug"], (key.agent_id, *row[len(columns):]))
            key._state.fields_cache["agent"] = agent
        return key

    @classmethod
    def from_authorization(cls, header: str) -> ApiKey:
        """The key of an ``Authorization: Bearer <key>`` header, its use recorded. Every machine
        endpoint authenticates through here; ApiKeyRefused says what was wrong (for a 401)."""
        if not header:
            raise ApiKeyRefused("missing Authorization header (expected: Bearer <api key>)")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiKeyRefused("Authorization header must be: Bearer <api key>")
        key = cls.authenticate(token.strip())
        if key is None:
            raise ApiKeyRefused("unknown or revoked API key")
        key.mark_used()
        return key

    def mark_used(self, throttle: timedelta = timedelta(minutes=1)) -> None:
        """Record use at most once per ``throttle`` (a write per request would dominate busy endpoints)."""
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < throttle:
            return
        ApiKey.objects.filter(pk=self.pk).filter(
            models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=now - throttle)
        ).update(last_used_at=now)
        self.last_used_at = now

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class ModelPrice(models.Model):
    """Price of a model, per million tokens, in force from ``effective_from`` until the next row."""

    model_name = models.CharField(max_length=120)
    input_per_mtok = models.DecimalField(
        "input price per 1M tokens", max_digits=12, decimal_places=6, validators=[MinValueValidator(Decimal("0"))]
    )
    output_per_mtok = models.DecimalField(
        "output price per 1M tokens", max_digits=12, decimal_places=6, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["model_name", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["model_name", "effective_from"], name="model_price_unique_from"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} from {self.effective_from:%Y-%m-%d}"

    @classmethod
    def in_force(cls, model_name: str, at: datetime) -> ModelPrice | None:
        return cls.objects.filter(model_name=model_name, effective_from__lte=at).order_by("-effective_from").first()

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (Decimal(input_tokens) * self.input_per_mtok + Decimal(output_tokens) * self.output_per_mtok) / million


class UserDepartment(models.Model):
    """Limits a user to some departments: a user with rows here sees only those departments' agents,
    runs, tickets and ROI rows (``agentops.scoping``). A user without rows is not limited."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="department_scopes")
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="scoped_users")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "department"], name="uniq_user_department")]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.department_id}"


class AuditEvent(models.Model):
    """Append-only record of a configuration change: who, when, what, before and after.

    Written by ``agentops.audit`` only. The actor is kept by id and name, not by foreign key, so the
    history outlives the account; a trigger refuses UPDATE and DELETE (migration 0005).
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)  # blank: the system (telemetry, a task)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=60, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")

    def changed_fields(self) -> list[tuple[str, object, object]]:
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before, *after]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class UserPreference(models.Model):
    """A choice a user made once and expects to find again (per user, across sessions), e.g. whether
    the overview shows retired, archived and test agents."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    key = models.CharField(max_length=60)
    value = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="user_preference_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} of {self.user_id}"
