"""Demo registry: users per role, departments, thirteen agents, prompt history and model prices.

Idempotent: rows are looked up by their natural keys (username, department name, agent slug,
(agent, version), (model, effective_from)) and only missing ones are created; nothing existing is
overwritten, so an operator's edits and changed passwords survive a re-seed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TextIO

from django.contrib.auth.models import Group, User
from django.db import transaction

from agentops.models import (
    ROLE_FINANCE,
    ROLE_OPERATIONS,
    ROLE_REVIEWERS,
    Agent,
    Department,
    LifecycleStage,
    ModelPrice,
    PromptVersion,
)
from agentops.services import activate_prompt_version

DEMO_PASSWORD = "demo-pass-2026"

# username: (first name, last name, role or None for the superuser)
USERS: dict[str, tuple[str, str, str | None]] = {
    "olivia": ("Olivia", "Ortega", ROLE_OPERATIONS),
    "rita": ("Rita", "Reyes", ROLE_REVIEWERS),
    "ravi": ("Ravi", "Raman", ROLE_REVIEWERS),
    "fiona": ("Fiona", "Fischer", ROLE_FINANCE),
    "admin": ("Ada", "Admin", None),
}

DEPARTMENTS: dict[str, str] = {
    "Customer Support": "CC-4100",
    "Finance Ops": "CC-2200",
    "IT Service Desk": "CC-3300",
    "Sales": "CC-5100",
}

S = LifecycleStage
# slug: (name, department, stage, model, description, p95 ms, success %, quality, max cost/run, baseline min)
AGENTS: dict[str, tuple] = {
    "support-orchestrator": (
        "Support Orchestrator", "Customer Support", S.SCALE, "claude-3-5-sonnet",
        "Front door for customer chats: classifies the request and routes it to billing, refunds or the "
        "knowledge base; escalates to a human when policy or confidence requires.",
        20000, "93", "0.80", "0.080", "9",
    ),
    "billing-agent": (
        "Billing Agent", "Customer Support", S.SCALE, "gpt-4o-mini",
        "Answers invoice and payment questions using the billing system's read-only API.",
        3500, "94", "0.85", "0.015", "6",
    ),
    "refund-agent": (
        "Refund Agent", "Customer Support", S.INTEGRATE, "gpt-4o",
        "Checks refund eligibility against policy and prepares refunds up to the approval limit.",
        8000, "95", "0.80", "0.060", "12",
    ),
    "kb-search-agent": (
        "Knowledge Base Search", "Customer Support", S.OPTIMIZE, "gpt-4o-mini",
        "Retrieves and summarises help-centre articles for other agents (embeddings + re-ranking).",
        3500, "98", "0.80", "0.005", "3",
    ),
    "fraud-check-agent": (
        "Fraud Check Agent", "Customer Support", S.INTEGRATE, "gpt-4o-mini",
        "Scores an order's refund risk for the refund agent and flags refund-abuse patterns to a fraud "
        "analyst; only ever called by the refund agent.",
        2500, "95", "0.80", "0.004", "4",
    ),
    "it-helpdesk-agent": (
        "IT Helpdesk Agent", "IT Service Desk", S.SCALE, "gpt-4o",
        "Resets passwords, unlocks accounts and troubleshoots VPN and laptop issues for employees.",
        10000, "96", "0.80", "0.040", "15",
    ),
    "invoice-processor": (
        "Invoice Processor", "Finance Ops", S.OPTIMIZE, "gpt-4o-mini",
        "Extracts supplier invoice fields, matches them to purchase orders and flags mismatches.",
        12000, "97", "0.80", "0.020", "8",
    ),
    "sales-qualifier": (
        "Sales Lead Qualifier", "Sales", S.PILOT, "claude-3-5-haiku",
        "Scores inbound leads against the ideal customer profile and drafts a first reply.",
        6000, "95", "0.70", "0.010", "10",
    ),
    "contract-reviewer": (
        "Contract Reviewer", "Sales", S.INTEGRATE, "claude-3-5-sonnet",
        "Compares customer contract redlines with the standard terms and lists risky clauses.",
        30000, "93", "0.80", "0.250", "45",
    ),
    "hr-policy-bot": (
        "HR Policy Assistant", "IT Service Desk", S.PILOT, "gpt-4o-mini",
        "Answers employee questions about leave, expenses and travel policy with citations.",
        6000, "97", "0.80", "0.008", "5",
    ),
    "expense-auditor": (
        "Expense Auditor", "Finance Ops", S.PILOT, "gpt-4o",
        "Reviews expense reports against policy and explains each flagged line.",
        25000, "95", "0.80", "0.050", "7",
    ),
    "translation-agent": (
        "Translation Agent", "Customer Support", S.SCALE, "gpt-4o-mini",
        "Translates customer messages and agent replies (EN, DE, FR, ES) preserving tone.",
        6000, "98", "0.80", "0.004", "4",
    ),
    "legacy-faq-bot": (
        "Legacy FAQ Bot", "Customer Support", S.RETIRED, "gpt-3.5-turbo",
        "The first FAQ bot; replaced by the support orchestrator and kept for its history.",
        None, None, None, None, "3",
    ),
}

# slug: ([(text, change note)] in version order, the version number that is active)
PROMPTS: dict[str, tuple[list[tuple[str, str]], int]] = {
    "support-orchestrator": (
        [
            ("You are the support orchestrator for Acme.\nRoute each customer message to one of: billing-agent, "
             "refund-agent, kb-search-agent.\nIf unsure, ask one clarifying question.", "Initial routing prompt"),
            ("You are the support orchestrator for Acme.\nRoute each customer message to one of: billing-agent, "
             "refund-agent, kb-search-agent.\nIf unsure, ask one clarifying question.\nEscalate to a human when the "
             "customer asks for one or mentions legal action.", "Escalate on request or legal threats"),
            ("You are the support orchestrator for Acme.\nRoute each customer message to one of: billing-agent, "
             "refund-agent, kb-search-agent.\nNever guess: if the intent is unclear after one question, escalate.\n"
             "Escalate to a human when the customer asks for one or mentions legal action.\nKeep replies under 80 "
             "words.", "Stricter escalation, shorter replies"),
        ],
        3,
    ),
    "billing-agent": (
        [
            ("You answer billing questions for Acme customers.\nUse the get_invoice and get_payments tools.",
             "Initial version"),
            ("You answer billing questions for Acme customers.\nUse the get_invoice and get_payments tools.\n"
             "Quote amounts with currency and the invoice number.", "Always cite invoice number"),
            ("You answer billing questions for Acme customers.\nAlways call get_invoice before quoting an amount; "
             "never infer it from the conversation.\nQuote amounts with currency and the invoice number.\n"
             "If the payment status is unknown, say so and offer a human follow-up.",
             "Verify with get_invoice before quoting; admit unknown payment status"),
        ],
        3,
    ),
    "refund-agent": (
        [
            ("You decide refund eligibility.\nRefunds over 200 EUR need human approval.", "Initial version"),
            ("You decide refund eligibility using the refund policy tool.\nRefunds over 200 EUR need human approval: "
             "escalate with a summary.", "Use policy tool; escalate with summary"),
            ("You decide refund eligibility using the refund policy tool.\nRefunds over 500 EUR need human approval: "
             "escalate with a summary.", "Raise approval limit to 500 EUR (draft)"),
        ],
        2,
    ),
    "it-helpdesk-agent": (
        [
            ("You are the IT helpdesk. Verify the employee's identity before any account change.", "Initial version"),
            ("You are the IT helpdesk. Verify the employee's identity with two factors before any account change.\n"
             "Never reveal passwords; send reset links.", "Two-factor identity check"),
        ],
        2,
    ),
}

SEED_PRICES_FROM = datetime(2025, 1, 1, tzinfo=UTC)
# model: (input, output) USD per 1M tokens, list prices at the start of 2025.
PRICES: dict[str, tuple[str, str]] = {
    "gpt-4o": ("2.50", "10.00"),
    "gpt-4o-mini": ("0.15", "0.60"),
    "gpt-3.5-turbo": ("0.50", "1.50"),
    "claude-3-5-sonnet": ("3.00", "15.00"),
    "claude-3-5-haiku": ("0.80", "4.00"),
    "text-embedding-3-small": ("0.02", "0.00"),  # kb-search-agent's retrieval steps
}


def _seed_users() -> tuple[dict[str, dict], int]:
    logins: dict[str, dict] = {}
    created_count = 0
    for username, (first, last, role) in USERS.items():
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first, "last_name": last, "email": f"{username}@example.com",
                "is_staff": role is None, "is_superuser": role is None,
            },
        )
        if created:  # never reset the password of an existing account
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            created_count += 1
        if role:
            user.groups.add(Group.objects.get(name=role))
        logins[username] = {"password": DEMO_PASSWORD, "role": role or "superuser"}
    return logins, created_count


def _seed_departments() -> tuple[dict[str, Department], int]:
    departments, created_count = {}, 0
    for name, cost_center in DEPARTMENTS.items():
        departments[name], created = Department.objects.get_or_create(name=name, defaults={"cost_center": cost_center})
        created_count += created
    return departments, created_count


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _seed_agents(departments: dict[str, Department], owner: User) -> int:
    created_count = 0
    for slug, (name, dept, stage, model, desc, p95, success, quality, cost, baseline) in AGENTS.items():
        _agent, created = Agent.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name, "department": departments[dept], "owner": owner, "lifecycle_stage": stage,
                "model": model, "description": desc, "slo_p95_latency_ms": p95,
                "slo_min_success_rate": _decimal(success), "slo_min_quality": _decimal(quality),
                "slo_max_cost_per_run": _decimal(cost), "baseline_human_minutes": _decimal(baseline),
            },
        )
        created_count += created
    return created_count


def _seed_prompts(author: User) -> int:
    created_count = 0
    agents = Agent.objects.in_bulk(list(PROMPTS), field_name="slug")
    for slug, (versions, active_version) in PROMPTS.items():
        agent = agents[slug]
        for number, (text, note) in enumerate(versions, start=1):
            _prompt, created = PromptVersion.objects.get_or_create(
                agent=agent, version=number, defaults={"text": text, "change_note": note, "author": author}
            )
            created_count += created
        if not agent.prompt_versions.filter(is_active=True).exists():
            activate_prompt_version(agent.prompt_versions.get(version=active_version))
    # Every other live agent starts from a first version built from its description, so each
    # version the simulator reports is a registered one.
    for agent in Agent.objects.exclude(slug__in=list(PROMPTS)).exclude(lifecycle_stage="retired"):
        text = f"You are the {agent.name} at Acme.\n{agent.description}\nAsk for missing details; never guess."
        prompt, created = PromptVersion.objects.get_or_create(
            agent=agent, version=1, defaults={"text": text, "change_note": "Initial version", "author": author}
        )
        created_count += created
        if created:
            activate_prompt_version(prompt)
    return created_count


def _seed_prices() -> int:
    created_count = 0
    for model, (inp, out) in PRICES.items():
        _price, created = ModelPrice.objects.get_or_create(
            model_name=model, effective_from=SEED_PRICES_FROM,
            defaults={"input_per_mtok": Decimal(inp), "output_per_mtok": Decimal(out), "currency": "USD"},
        )
        created_count += created
    return created_count


@transaction.atomic
def seed_registry(stdout: TextIO) -> dict:
    """Create whatever part of the demo registry is missing; returns the demo logins."""
    logins, users = _seed_users()
    departments, depts = _seed_departments()
    olivia = User.objects.get(username="olivia")
    agents = _seed_agents(departments, owner=olivia)
    prompts = _seed_prompts(author=olivia)
    prices = _seed_prices()
    stdout.write(
        f"registry: {users} users, {depts} departments, {agents} agents, {prompts} prompt versions, "
        f"{prices} model prices created\n"
    )
    return {"users": logins}
