"""Forms of the evals pages. Services validate what needs the database; views put their
EvalsError messages next to the field they name."""

from __future__ import annotations

from django import forms
from django.conf import settings

from agentops import outbound
from agentops.models import Agent, PromptVersion

from . import judge
from .models import Dataset, Endpoint, Evaluator, OnlineEvaluation


def add_service_error(form: forms.Form, message: str) -> None:
    """Put ``"field: message"`` next to the field when the form has it, else on top."""
    name, sep, rest = message.partition(":")
    key = name.strip().replace(" ", "_")
    if sep and key in form.fields:
        form.add_error(key, rest.strip())
    else:
        form.add_error(None, message)


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=160)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    agent = forms.ModelChoiceField(Agent.objects.all(), required=False)


class CaseForm(forms.Form):
    input = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=20_000)
    expected_output = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=20_000)


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row (input, expected_output, ...) or JSONL, one case per line.")


class DatasetChoiceForm(forms.Form):
    """Pick an existing dataset or name a new one (run, failure group and ticket panels)."""

    dataset = forms.ModelChoiceField(Dataset.objects.all(), required=False, empty_label="— new dataset —")
    new_name = forms.CharField(required=False, max_length=160, label="new dataset name")

    def clean(self):
        data = super().clean()
        if not data.get("dataset") and not (data.get("new_name") or "").strip():
            raise forms.ValidationError("Choose a dataset or name a new one.")
        return data


class EndpointForm(forms.ModelForm):
    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), label="API key",
                              help_text="Stored encrypted and never shown again. Leave blank to keep the stored key; "
                                        "enter - to remove it.")
    base_url = forms.URLField(label="base URL", max_length=500, assume_scheme="https",
                              help_text="Chat: the API base, e.g. https://api.openai.com/v1 (we POST /chat/completions). "
                                        "Invoke: the full URL we POST each case to.")

    class Meta:
        model = Endpoint
        fields = ["name", "kind", "base_url", "model", "agent", "timeout_seconds"]

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"]
        try:
            outbound.check_url(url)  # checked again, and pinned, at every call
        except outbound.OutboundUnresolved:
            pass  # not resolvable from here now (DNS, offline): each call checks it again
        except outbound.OutboundRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


class EvaluatorForm(forms.ModelForm):
    text = forms.CharField(required=False, help_text="contains: the text the answer must contain")
    pattern = forms.CharField(required=False, help_text="regex: a Python regular expression")
    schema = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="json_schema: the schema")
    min_chars = forms.IntegerField(required=False, min_value=0)
    max_chars = forms.IntegerField(required=False, min_value=0)
    phrases = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="forbidden: one per line")
    tool = forms.CharField(required=False, help_text="tool_called: the tool's name")
    max_ms = forms.FloatField(required=False, min_value=1, label="max latency (ms)")
    max_cost = forms.DecimalField(required=False, min_value=0, label="max cost (USD)")
    rubric = forms.ChoiceField(required=False, choices=[(k, v[0]) for k, v in judge.RUBRICS.items()])
    custom_rubric = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                    help_text="judge: your own rubric instead of a template")

    CONFIG_FIELDS = ("text", "pattern", "schema", "min_chars", "max_chars", "phrases", "tool", "max_ms", "max_cost",
                     "rubric", "custom_rubric")

    class Meta:
        model = Evaluator
        fields = ["name", "kind", "judge_endpoint"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["judge_endpoint"].queryset = Endpoint.objects.filter(kind=Endpoint.Kind.CHAT)

    def config(self) -> dict:
        return {k: self.cleaned_data.get(k) for k in self.CONFIG_FIELDS if self.cleaned_data.get(k) not in (None, "")}


class OnlineEvaluationForm(forms.ModelForm):
    class Meta:
        model = OnlineEvaluation
        fields = ["agent", "evaluator", "sample_percent", "max_per_minute"]


class ExperimentForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    dataset = forms.ModelChoiceField(Dataset.objects.filter(version__gt=0))
    prompt_version = forms.ModelChoiceField(
        PromptVersion.objects.select_related("agent").order_by("agent__name", "-version"), required=False,
        help_text="Target (a): this version's text as the system prompt on the endpoint. Leave empty for target (b).")
    endpoint = forms.ModelChoiceField(Endpoint.objects.all(),
                                      help_text="A chat-completions endpoint for a prompt version, or an agent's invoke URL.")
    evaluators = forms.ModelMultipleChoiceField(Evaluator.objects.all(), required=False,
                                                widget=forms.CheckboxSelectMultiple)
    concurrency = forms.IntegerField(min_value=1, max_value=32, initial=lambda: settings.EVALS_DEFAULT_CONCURRENCY)
    max_attempts = forms.IntegerField(min_value=1, max_value=5, initial=2)
