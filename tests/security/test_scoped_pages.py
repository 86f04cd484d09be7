"""A user limited to one department sees nothing of the others, on any page or export.

The demo data is seeded, a user with every role is limited to Customer Support, and every GET page
of the site (found from the URL configuration, like tests/test_every_page.py) is rendered for them,
plain and under htmx, with URL arguments taken from their own department. No page may name an agent
of another department (by name or slug), in HTML, CSV or XLSX. Addresses of other departments'
agents, runs, tickets and evals objects answer 404.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse

from agentops.models import ROLE_FINANCE, ROLE_OPERATIONS, ROLE_REVIEWERS, Agent, Department, UserDepartment
from tests.conftest import make_user
from tests.test_every_page import SKIP_PREFIXES, _patterns

pytestmark = pytest.mark.django_db

HOME = "Customer Support"


def _body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    if raw[:2] == b"PK":  # XLSX: every XML part of the workbook
        with zipfile.ZipFile(io.BytesIO(raw)) as book:
            return "".join(book.read(n).decode("utf-8", "replace") for n in book.namelist() if n.endswith(".xml"))
    return raw.decode("utf-8", "replace")


def _agent_for(scope: str) -> Agent:
    inside = Agent.objects.filter(department__name=HOME)
    outside = Agent.objects.exclude(department__name=HOME)
    agents = inside if scope == "in" else outside
    return agents.filter(prompt_versions__isnull=False).order_by("pk").first() or agents.order_by("pk").first()


def _first(label: str, scope: str, agent_path: str | None, **filters):
    model = apps.get_model(label)
    rows = model.objects.filter(**filters).order_by("pk")
    if agent_path:
        home = {f"{agent_path}__department__name": HOME}
        rows = rows.filter(**home) if scope == "in" else rows.exclude(**home).exclude(**{f"{agent_path}__isnull": True})
    return rows.first()


PK_MODELS = {
    "handoffs:ticket": ("handoffs.Ticket", "agent"), "handoffs:ticket_action": ("handoffs.Ticket", "agent"),
    "evals:dataset_detail": ("evals.Dataset", "agent"), "evals:experiment_detail": ("evals.Experiment", "agent"),
    "evals:experiment_progress": ("evals.Experiment", "agent"),
}


def _kwargs(name: str, params: list[str], scope: str) -> dict | None:
    ns = name.split(":")[0]
    agent = _agent_for(scope)
    values: dict[str, object] = {}
    for param in params:
        if param == "slug" and ns == "handoffs":
            if scope == "out":
                return None  # queues are shared: their pages list only the user's tickets
            values[param] = _first("handoffs.Queue", "in", None).slug
        elif param == "slug":
            values[param] = agent.slug
        elif param == "version":
            version = agent.prompt_versions.order_by("version").last()
            values[param] = version.version if version else None
        elif param == "trace_id":
            run = _first("monitoring.Run", scope, "agent", steps__isnull=False)
            values[param] = run.trace_id if run else None
        elif param == "fingerprint":
            # A failure group belongs to the agent whose invocation failed (docs/insights.md).
            # From the outside: a fingerprint only other departments' invocations carry (a group that also
            # fails in the user's own agents is theirs to see, with only their agents' figures).
            shared = {} if scope == "in" else {"fingerprint__in": apps.get_model("monitoring.Invocation").objects.filter(
                agent__department__name=HOME, fingerprint__gt="").values("fingerprint")}
            failed = _first("monitoring.Invocation", scope, "agent", fingerprint__gt="")
            if shared:
                failed = apps.get_model("monitoring.Invocation").objects.filter(fingerprint__gt="").exclude(
                    agent__department__name=HOME).exclude(**shared).order_by("started_at").first()
            values[param] = failed.fingerprint if failed else None
        elif param in ("ticket_id", "pk") and name in PK_MODELS or param == "ticket_id":
            label, path = PK_MODELS.get(name, ("handoffs.Ticket", "agent"))
            obj = _first(label, scope, path)
            values[param] = obj.pk if obj else None
        elif scope == "out":
            return None  # only agent-bound addresses are checked from the outside
        elif param == "batch_id":
            batch = _first("monitoring.InboxBatch", "in", None)
            values[param] = batch.pk if batch else 1
        elif param == "pk":
            model = {
                "registry:department_edit": "agentops.Department", "handoffs:root_cause_edit": "handoffs.RootCause",
                "lifecycle:override_edit": "lifecycle.StageCriteria", "evals:endpoint_edit": "evals.Endpoint",
            }.get(name)
            if model is None and "alert_rule" in name:
                model = "monitoring.AlertRule"
            obj = apps.get_model(model).objects.order_by("pk").first() if model else None
            values[param] = obj.pk if obj else 1
        elif param == "action":
            values[param] = "claim"
        elif param == "stage":
            values[param] = "scale"
        else:
            values[param] = 1
    if any(v is None for v in values.values()):
        return None
    return values


def _urls(scope: str) -> list[str]:
    urls = []
    for name, params in _patterns():
        if name.split(":")[0].startswith(SKIP_PREFIXES) or name.startswith(SKIP_PREFIXES):
            continue
        if scope == "out" and not params:
            continue
        kwargs = _kwargs(name, params, scope)
        if kwargs is None:
            continue
        try:
            urls.append(reverse(name, kwargs=kwargs))
        except NoReverseMatch:
            continue
    return urls


@pytest.fixture
def scoped_world():
    call_command("seed_demo", "--force", stdout=open("/dev/null", "w"))  # noqa: SIM115 - closed at exit
    user = make_user("scopedsue", ROLE_OPERATIONS, ROLE_REVIEWERS, ROLE_FINANCE)
    UserDepartment.objects.create(user=user, department=Department.objects.get(name=HOME))
    outside = Agent.objects.exclude(department__name=HOME)
    words = sorted({a.name for a in outside} | {a.slug for a in outside}, key=len, reverse=True)
    assert words and Agent.objects.filter(department__name=HOME).exists()
    client = Client()
    client.force_login(user)
    return client, re.compile("|".join(re.escape(w) for w in words), re.I)


def test_no_page_or_export_names_another_departments_agent(scoped_world):
    client, foreign = scoped_world
    urls = _urls("in")
    assert len(urls) > 40, urls
    problems = []
    for url in urls:
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(url, **headers)
            label = f"GET {url}{' (htmx)' if headers else ''}"
            if response.status_code >= 500:
                problems.append(f"{label}: {response.status_code}")
                continue
            body = _body(response)
            for m in foreign.finditer(body):
                problems.append(f"{label}: {body[max(m.start() - 80, 0):m.end() + 40]!r}")
                break
    assert not problems, "\n".join(problems)


def test_other_departments_objects_answer_404(scoped_world):
    client, _ = scoped_world
    urls = _urls("out")
    assert len(urls) > 10, urls
    wrong = [f"{url}: {status}" for url in urls if (status := client.get(url).status_code) not in (404, 405)]
    assert not wrong, "\n".join(wrong)
