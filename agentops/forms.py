"""Registry forms. Every rule produces a message next to the field it concerns."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.utils.text import slugify

from .models import Agent, ApiKey, Department, LifecycleStage, ModelPrice

# Path segments under /registry/agents/ that are pages, so no agent may take them as its slug.
RESERVED_SLUGS = frozenset({"new"})

CHOICE_ERRORS = {"invalid_choice": "That choice no longer exists; pick one from the list."}


def _users():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


class AgentForm(forms.ModelForm):
    """Create or edit an agent. A blank slug is derived from the name (and made unique).

    The lifecycle stage is chosen when the agent is registered; afterwards it is read-only here and
    changes only through the lifecycle app's promotion and demotion (with criteria and a record).
    """

    owner = UserChoiceField(queryset=_users(), required=False, error_messages=CHOICE_ERRORS)

    class Meta:
        model = Agent
        fields = [
            "name", "slug", "description", "department", "owner", "lifecycle_stage", "model",
            "slo_p95_latency_ms", "slo_min_success_rate", "slo_min_quality", "slo_max_cost_per_run",
            "baseline_human_minutes", "is_test",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {"slo_p95_latency_ms": "p95 latency target (ms)"}  # not "P95": Django capitalises
        help_texts = {
            "slug": "Used in URLs and telemetry (gen_ai.agent.id). Leave blank to derive it from the name.",
            "model": "e.g. gpt-4o-mini; used when a span does not name its model.",
        }
        error_messages = {"department": CHOICE_ERRORS}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["owner"].queryset = _users()
        self.fields["department"].empty_label = "No department"
        self.fields["owner"].empty_label = "No owner"
        if self.instance.pk:
            del self.fields["lifecycle_stage"]

    def clean_slug(self) -> str:
        slug = self.cleaned_data.get("slug", "")
        if not slug:
            return ""  # derived from the name in clean(), once the name is known to be valid
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(f"“{slug}” is reserved for a page address; choose another slug.")
        taken = Agent.objects.filter(slug=slug).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(
                f"The slug “{slug}” is already used by the agent “{taken.first().name}”; choose another."
            )
        return slug

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("slug") and cleaned.get("name") and "slug" not in self.errors:
            cleaned["slug"] = suggest_slug(cleaned["name"], exclude_pk=self.instance.pk)
            if not cleaned["slug"]:
                self.add_error("slug", "The name has no letters or digits to make a slug from; enter one.")
        return cleaned


def suggest_slug(name: str, exclude_pk: int | None = None) -> str:
    """``slugify(name)``, with -2, -3… appended until no other agent uses it."""
    base = slugify(name)[:110]
    if not base:
        return ""
    taken = set(Agent.objects.filter(slug__startswith=base).exclude(pk=exclude_pk).values_list("slug", flat=True))
    taken |= RESERVED_SLUGS
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


class AdoptAgentForm(forms.Form):
    """Adopting a discovered agent: it needs a department, an owner and a stage."""

    department = forms.ModelChoiceField(
        queryset=Department.objects.all(), empty_label="Choose a department", error_messages=CHOICE_ERRORS
    )
    owner = UserChoiceField(queryset=_users(), empty_label="Choose an owner", error_messages=CHOICE_ERRORS)
    lifecycle_stage = forms.ChoiceField(choices=LifecycleStage.choices, initial=LifecycleStage.PILOT)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _users()


DISCOVERED_CHOICES = [("", "All agents"), ("yes", "Discovered only"), ("no", "Registered only")]


class AgentFilterForm(forms.Form):
    """The agent list's GET filters; an invalid value is reported and that filter ignored."""

    q = forms.CharField(required=False, max_length=120, label="Search")
    department = forms.ModelChoiceField(
        queryset=Department.objects.all(), required=False, empty_label="All departments",
        error_messages={"invalid_choice": "Unknown department; showing all departments."},
    )
    stage = forms.ChoiceField(
        choices=[("", "All stages"), *LifecycleStage.choices], required=False, label="Lifecycle stage",
        error_messages={"invalid_choice": "Unknown stage “%(value)s”; showing all stages."},
    )
    discovered = forms.ChoiceField(
        choices=DISCOVERED_CHOICES, required=False, label="Origin",
        error_messages={"invalid_choice": "Unknown origin filter; showing all agents."},
    )

    def filters(self):
        """The valid filters as an AgentFilters (call after is_valid())."""
        from .queries import AgentFilters

        data = getattr(self, "cleaned_data", {})
        discovered = {"yes": True, "no": False}.get(data.get("discovered") or "")
        return AgentFilters(
            q=(data.get("q") or "").strip(),
            department=data.get("department"),
            lifecycle_stage=data.get("stage") or "",
            discovered=discovered,
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        # Keep the valid filters even when another one is invalid (is_valid() only gates messages).
        for name in self.errors:
            cleaned.pop(name, None)
        return cleaned


class RolloutForm(forms.Form):
    share = forms.IntegerField(
        min_value=1, max_value=99, label="Share of traffic (%)", initial=10,
        help_text="Routing keys (sessions) that get this version; the rest keep the active one.",
        # "%%": Django formats these messages with the limit as a parameter
        error_messages={"min_value": "The share must be at least 1 %%.",
                        "max_value": "The share must be at most 99 %%; to serve everyone, make the version active.",
                        "required": "Enter the share of traffic, 1 to 99 %."},
    )


class PromptVersionForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 14}), strip=False, label="Prompt text")
    change_note = forms.CharField(
        max_length=500, required=False, help_text="What changed and why (shown in lists and diffs)."
    )
    make_active = forms.BooleanField(required=False, label="Make this the active version")

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError("The prompt text is empty.")
        return text


class PromptDiffForm(forms.Form):
    a = forms.IntegerField(min_value=1, label="From version")
    b = forms.IntegerField(min_value=1, label="To version")
    mode = forms.ChoiceField(
        choices=[("unified", "Unified"), ("split", "Side by side")], required=False, initial="unified"
    )


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["label", "agent"]
        help_texts = {"label": "Where the key is used, e.g. “billing-agent production”."}
        error_messages = {"agent": CHOICE_ERRORS}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agent"].empty_label = "Any agent"
        self.fields["agent"].queryset = Agent.objects.order_by("name")


class ModelPriceForm(forms.ModelForm):
    """A new effective-dated price row. Prices are never edited in place: history prices past runs."""

    class Meta:
        model = ModelPrice
        fields = ["model_name", "input_per_mtok", "output_per_mtok", "currency", "effective_from"]
        widgets = {
            "effective_from": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        }
        labels = {"model_name": "Model"}
        help_texts = {"effective_from": "In your local time; the price applies to spans from this moment."}

    def clean_model_name(self) -> str:
        return self.cleaned_data["model_name"].strip()

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise forms.ValidationError("Use a three-letter ISO currency code, such as USD or EUR.")
        return currency

    def clean(self) -> dict:
        cleaned = super().clean()
        name, start = cleaned.get("model_name"), cleaned.get("effective_from")
        if name and start and ModelPrice.objects.filter(model_name=name, effective_from=start).exists():
            # Reported next to the field; it also drops effective_from from cleaned_data, so the
            # model's unique constraint is skipped and the error is not repeated form-wide.
            self.add_error(
                "effective_from", f"{name} already has a price starting at this moment; pick another time."
            )
        return cleaned


class DepartmentForm(forms.ModelForm):
    class Meta:
        model = Department
        fields = ["name", "cost_center"]
        help_texts = {"cost_center": "Finance's cost centre code, e.g. CC-4100."}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        clash = Department.objects.filter(name__iexact=name).exclude(pk=self.instance.pk).first()
        if clash:
            raise forms.ValidationError(f"A department named “{clash.name}” already exists.")
        return name
