"""Every page, for every role, renders without leaking template syntax or unseparated numbers.

A multi-line ``{# #}`` comment is not a comment in Django templates: it is printed as text. This
test renders every GET page of the site (with the demo data, so lists and details have rows) as each
persona, plain and under htmx, and fails when ``{#``, ``{%`` or ``{{`` reaches the HTML outside
scripts and text areas. It also fails on a server error (a 5xx) for any page and role.

The same pass checks that every number of 1,000 or more in a page's visible text carries thousands
separators (tests/visible_numbers.py says what is not a figure: ids, years, times, attribute values,
code). The demo data is topped up so that counts, tokens, costs and ROI figures pass 1,000
(``_large_figures``), and the test requires separated numbers to have been seen on the pages.

Pages are found by walking the URL configuration, so a new page is covered without editing this
file; its URL arguments come from the demo data by argument name (see ``_kwargs``).
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from agentops.models import (
    ROLE_FINANCE,
    ROLE_OPERATIONS,
    ROLE_REVIEWERS,
    Agent,
    ApiKey,
    Department,
    ModelPrice,
)
from tests.conftest import make_user
from tests.visible_numbers import bare_numbers, grouped_numbers

pytestmark = pytest.mark.django_db

SKIP_PREFIXES = ("admin", "api", "otlp", "logout", "healthz")
TEMPLATE_SYNTAX = re.compile(r"\{#|\{%|\{\{")
HIDDEN = re.compile(r"<script\b.*?</script>|<textarea\b.*?</textarea>", re.S | re.I)


def _patterns(resolver=None, ns: str = ""):
    resolver = resolver or get_resolver()
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p, f"{ns}{p.namespace}:" if p.namespace else ns)
        elif isinstance(p, URLPattern) and p.name:
            yield f"{ns}{p.name}", list(p.pattern.regex.groupindex)


def _first(model_label: str, **filters):
    model = apps.get_model(model_label)
    return model.objects.filter(**filters).order_by("pk").first()


def _kwargs(name: str, params: list[str]) -> dict | None:
    """URL arguments for ``name`` from the demo data; None when the data has nothing to show there."""
    ns = name.split(":")[0] if ":" in name else ""
    agent = Agent.objects.filter(prompt_versions__isnull=False).order_by("pk").first()
    values: dict[str, object] = {}
    for param in params:
        if param == "slug":
            obj = _first("handoffs.Queue") if ns == "handoffs" else agent
            values[param] = obj.slug if obj else None
        elif param == "version":
            values[param] = agent.prompt_versions.order_by("version").last().version
        elif param == "trace_id":
            run = _first("monitoring.Run", steps__isnull=False)
            values[param] = run.trace_id if run else None
        elif param == "fingerprint":
            run = _first("monitoring.Run", fingerprint__gt="")
            values[param] = run.fingerprint if run else None
        elif param == "ticket_id":
            values[param] = _first("handoffs.Ticket").pk
        elif param == "batch_id":
            batch = _first("monitoring.InboxBatch")
            values[param] = batch.pk if batch else 1
        elif param == "pk":
            model = {
                "registry:apikey_revoke": ApiKey, "registry:modelprice_delete": ModelPrice,
                "registry:department_edit": Department, "handoffs:root_cause_edit": "handoffs.RootCause",
                "handoffs:ticket": "handoffs.Ticket", "handoffs:ticket_action": "handoffs.Ticket",
                "lifecycle:override_edit": "lifecycle.StageCriteria",
                "evals:dataset_detail": "evals.Dataset", "evals:endpoint_edit": "evals.Endpoint",
                "evals:experiment_detail": "evals.Experiment", "evals:experiment_progress": "evals.Experiment",
            }.get(name)
            if model is None and "alert_rule" in name:
                model = "monitoring.AlertRule"
            if isinstance(model, str):
                model = apps.get_model(model)
            obj = model.objects.order_by("pk").first() if model else None
            values[param] = obj.pk if obj else 1
        elif param == "action":
            values[param] = "claim"
        elif param == "stage":
            values[param] = "scale"
        else:
            values[param] = 1  # an argument this table does not know yet: the page may answer 404
    if any(v is None for v in values.values()):
        return None
    return values


def _pages() -> list[str]:
    urls = []
    for name, params in _patterns():
        if name.split(":")[0].startswith(SKIP_PREFIXES) or name.startswith(SKIP_PREFIXES):
            continue
        kwargs = _kwargs(name, params)
        if kwargs is not None:
            urls.append(reverse(name, kwargs=kwargs))
    return urls


def _large_figures() -> None:
    """Figures past 1,000 wherever pages count, sum or price: a run of the agent the pages show with
    1.2 million tokens, 12.3 s and $1,234.57 on each step (so its trace, the dashboards, ROI and the
    lifecycle figures pass 1,000), and more than a thousand open tickets in a queue."""
    from handoffs.models import Ticket
    from monitoring.rollups import cells
    from tests.monitoring.factories import make_run

    agent = Agent.objects.filter(prompt_versions__isnull=False).order_by("pk").first()
    steps = [{"kind": "llm", "name": "answer", "input_tokens": 1_234_567, "output_tokens": 23_456,
              "cost": "1234.5678", "duration_ms": 12_345}]
    runs = [make_run(agent, duration_ms=12_345, cost="1234.5678", input_tokens=1_234_567, output_tokens=23_456,
                     steps=steps) for _ in range(3)]
    cells.refresh_for_runs([r.id for r in runs])
    template = Ticket.objects.filter(status="open").order_by("pk").first()
    values = {f.attname: getattr(template, f.attname) for f in Ticket._meta.concrete_fields if not f.primary_key}
    values.update(escalation_id=None, run_id=None)  # one ticket per escalation / rule ticket per run
    Ticket.objects.bulk_create([Ticket(**values) for _ in range(1100)])


def _leaks(html: str) -> list[str]:
    visible = HIDDEN.sub("", html)
    return [visible[max(m.start() - 60, 0): m.end() + 60] for m in TEMPLATE_SYNTAX.finditer(visible)]


def test_no_page_leaks_template_syntax_or_unseparated_numbers_or_fails_for_any_role():
    call_command("seed_demo", "--force", stdout=open("/dev/null", "w"))  # noqa: SIM115 - closed at exit
    _large_figures()
    users = {
        "operations": make_user("pageops", ROLE_OPERATIONS),
        "reviewer": make_user("pagereviewer", ROLE_REVIEWERS),
        "finance": make_user("pagefinance", ROLE_FINANCE),
        "superuser": make_user("pagesuper", superuser=True),
        "no role": make_user("pagenobody"),
    }
    pages = _pages()
    assert len(pages) > 40, pages
    problems = []
    separated = 0
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        for url in pages:
            for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
                response = client.get(url, **headers)
                label = f"{role} GET {url}{' (htmx)' if headers else ''}"
                if response.status_code >= 500:
                    problems.append(f"{label}: {response.status_code}")
                    continue
                if "html" not in response.get("Content-Type", ""):
                    continue
                html = response.content.decode()
                for leak in _leaks(html):
                    problems.append(f"{label}: template syntax in output: {leak!r}")
                for number in bare_numbers(html):
                    problems.append(f"{label}: number without thousands separators: {number!r}")
                separated += grouped_numbers(html)
    assert not problems, "\n".join(problems)
    assert separated > 200, separated  # large figures were on the pages, so the check had work to do


def test_the_leak_check_sees_a_multiline_template_comment():
    from django.template import engines

    html = engines["django"].from_string("<p>{# one\n two #}</p>").render({})
    assert _leaks(html)
    assert not _leaks("<script>var a = '{{x}}';</script><textarea>{% x %}</textarea><p>ok</p>")


def test_no_template_has_a_multiline_short_comment():
    """``{# #}`` must open and close on one line; longer comments use ``{% comment %}``."""
    from pathlib import Path

    from django.conf import settings

    offenders = []
    for root in settings.TEMPLATES[0]["DIRS"]:
        for path in Path(root).rglob("*.html"):
            for m in re.finditer(r"\{#(.*?)#\}", path.read_text(), re.S):
                if "\n" in m.group(1):
                    offenders.append(str(path))
    assert not offenders
