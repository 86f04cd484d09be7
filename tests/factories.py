"""Factories for registry objects. Each app keeps its own in tests/<app>/factories.py."""

from __future__ import annotations

import itertools
from datetime import UTC
from decimal import Decimal

from agentops.models import Agent, ApiKey, Department, ModelPrice, PromptVersion

_seq = itertools.count(1)


def make_department(name: str | None = None, **kw) -> Department:
    n = next(_seq)
    return Department.objects.create(name=name or f"Department {n}", cost_center=kw.pop("cost_center", f"CC-{n:03d}"), **kw)


def make_agent(name: str | None = None, **kw) -> Agent:
    n = next(_seq)
    name = name or f"Agent {n}"
    kw.setdefault("slug", name.lower().replace(" ", "-"))
    if "department" not in kw:
        kw["department"] = make_department()
    kw.setdefault("lifecycle_stage", "scale")
    kw.setdefault("model", "gpt-4o-mini")
    kw.setdefault("slo_p95_latency_ms", 4000)
    kw.setdefault("slo_min_success_rate", Decimal("95"))
    kw.setdefault("slo_min_quality", Decimal("0.8"))
    kw.setdefault("slo_max_cost_per_run", Decimal("0.05"))
    kw.setdefault("baseline_human_minutes", Decimal("6"))
    return Agent.objects.create(name=name, **kw)


def make_prompt(agent: Agent, version: int | None = None, text: str = "You are a helpful agent.", **kw) -> PromptVersion:
    if version is None:
        version = (agent.prompt_versions.order_by("-version").values_list("version", flat=True).first() or 0) + 1
    return PromptVersion.objects.create(agent=agent, version=version, text=text, **kw)


def make_api_key(label: str = "test key", agent: Agent | None = None) -> tuple[ApiKey, str]:
    return ApiKey.generate(label=label, agent=agent)


def make_price(model_name: str = "gpt-4o-mini", inp: str = "0.15", out: str = "0.60", **kw) -> ModelPrice:
    from datetime import datetime

    kw.setdefault("effective_from", datetime(2020, 1, 1, tzinfo=UTC))
    return ModelPrice.objects.create(model_name=model_name, input_per_mtok=Decimal(inp), output_per_mtok=Decimal(out), **kw)
