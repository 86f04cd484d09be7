"""Demo data for handoffs: queues, the root-cause taxonomy, and tickets in every state.

Tickets come from the demo's escalations (monitoring's seed); if there are too few, a small set of
escalated runs is created here so each page has content. Tickets are opened through the same
service the ingest signal uses, then walked through claims, notes, pending spells, lease expiries,
reopen and resolution with explicit clocks, so metrics and ROI see realistic times.

Idempotent: queues, causes and synthetic runs are looked up by natural keys; a ticket's demo
script is chosen from its id and only applied to tickets that have not moved since creation.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agentops.models import Agent
from demo.roi import top_invocations
from handoffs import routing, services
from handoffs.models import Outcome, Queue, RootCause, Ticket, TicketStatus
from monitoring.models import Escalation, Run, RunStatus, Step, StepKind

User = get_user_model()

ROOT_CAUSES: list[tuple[str, str, str]] = [
    ("missing-knowledge", "Missing knowledge", "The answer was not in the agent's sources."),
    ("tool-failure", "Tool failure", "A tool or API the agent called failed or timed out."),
    ("policy-restriction", "Policy restriction", "Policy requires a human decision (limits, approvals)."),
    ("unsupported-request", "Unsupported request", "The request is outside what the agent is built for."),
    ("model-error", "Model error", "The model misunderstood, hallucinated or reasoned wrongly."),
    ("guardrail-block", "Guardrail block", "A safety or compliance guardrail stopped the answer."),
    ("customer-request", "Customer request", "The customer asked for a human."),
    ("data-quality", "Data quality", "Source data (orders, invoices, accounts) was wrong or incomplete."),
]

# slug: (name, description, agent slugs, reasons, extra fields)
QUEUES: dict[str, tuple[str, str, list[str], list[str], dict]] = {
    "support-escalations": (
        "Support escalations", "Customer chats the support agents handed over.",
        ["support-orchestrator", "billing-agent", "refund-agent", "kb-search-agent", "fraud-check-agent",
         "translation-agent", "legacy-faq-bot"],
        [], {"is_default": True, "position": 30, "open_on_low_quality": True, "sla_claim_minutes": 15,
             "sla_resolve_minutes": 240,
             "reason_priorities": {"refund over limit": 2, "customer angry": 1, "policy_restriction": 2}},
    ),
    "finance-ops": (
        "Finance ops", "Invoice and expense exceptions for the finance team.",
        ["invoice-processor", "expense-auditor"], [],
        {"position": 10, "open_on_run_failure": True, "sla_claim_minutes": 60, "sla_resolve_minutes": 480,
         "reopen_days": 3,
         "business_timezone": "Europe/Berlin", "business_start": time(9), "business_end": time(17)},
    ),
    "it": (
        "IT", "Employee IT and HR policy requests the helpdesk agents could not finish.",
        ["it-helpdesk-agent", "hr-policy-bot"], [],
        {"position": 20, "sla_claim_minutes": 30, "sla_resolve_minutes": 480, "lease_minutes": 20, "reopen_days": 2,
         "business_timezone": "Europe/Berlin", "business_start": time(8), "business_end": time(18)},
    ),
}

# Synthetic escalations (only when the demo has fewer than MIN_ESCALATIONS of its own).
MIN_ESCALATIONS = 40
SYNTHETIC_RUNS = 70
REASONS: dict[str, list[tuple[str, str, str]]] = {
    "support-orchestrator": [("customer angry", "Customer is upset about repeated delivery delays.", "high"),
                             ("customer asked for human", "Customer explicitly asked to talk to a person.", "")],
    "billing-agent": [("invoice dispute", "Customer disputes two charges on the March invoice.", ""),
                      ("payment method change", "Customer wants to pay by bank transfer; needs manual setup.", "low")],
    "refund-agent": [("refund over limit", "Refund of EUR 640 exceeds the agent's EUR 200 limit.", "high"),
                     ("policy exception", "Purchase is 45 days old; policy allows 30.", "")],
    "it-helpdesk-agent": [("vpn failure", "VPN client fails with certificate error after reset.", ""),
                          ("account locked", "MFA device lost; identity check needed.", "high")],
    "hr-policy-bot": [("policy unclear", "Question about parental leave in two countries.", "")],
    "invoice-processor": [("po mismatch", "Invoice total differs from the purchase order by 12%.", ""),
                          ("unreadable invoice", "Scanned invoice could not be parsed.", "low")],
    "expense-auditor": [("policy exception", "Hotel rate above travel policy cap.", "")],
}
TOOLS = {
    "refund-agent": ("issue_refund", "RefundLimitExceeded: amount above approval limit"),
    "billing-agent": ("get_invoice", "BillingAPIError: 503 Service Unavailable"),
    "it-helpdesk-agent": ("reset_vpn_profile", "CertificateError: issuer not trusted"),
    "invoice-processor": ("match_purchase_order", "NoMatch: no PO within tolerance"),
    "support-orchestrator": ("lookup_order", ""),
    "hr-policy-bot": ("search_policies", ""),
    "expense-auditor": ("fetch_receipt", "TimeoutError: receipt store timed out"),
}

NOTES = [
    "Called the customer, waiting for the order number.",
    "Checked the billing system; the second charge is a pre-authorisation.",
    "Policy team confirmed the exception.",
    "Asked the employee for a screenshot of the error.",
]


def seed(stdout) -> None:
    causes = seed_root_causes()
    queues = _seed_queues()
    synthetic = _seed_synthetic_escalations()
    esc_ids = list(Escalation.objects.values_list("pk", flat=True))
    with transaction.atomic():
        created = routing.open_tickets_for_escalations(esc_ids)
        created += routing.open_tickets_for_runs(_rule_candidate_runs())
    _empty_fallback_queue()
    moved = _play_tickets(list(causes.values()))
    stdout.write(
        f"handoffs: {len(queues)} queues, {len(causes)} root causes, {synthetic} demo escalations, "
        f"{len(created)} new tickets, {moved} tickets walked through their states"
    )


def seed_root_causes() -> dict[str, RootCause]:
    """The demo's root-cause taxonomy (reviewers and failure-group annotations share it), by slug."""
    causes = {}
    for position, (slug, name, description) in enumerate(ROOT_CAUSES, start=1):
        causes[slug], _ = RootCause.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position * 10}
        )
    return causes


def _seed_queues() -> list[Queue]:
    agents = {a.slug: a for a in Agent.objects.all()}
    fallback = Queue.objects.filter(slug=routing.FALLBACK_QUEUE_SLUG, is_default=True).first()
    if fallback is not None and not Queue.objects.filter(slug__in=list(QUEUES)).exists():
        # monitoring's seed ingested escalations before any queue existed, so they went to the
        # automatic fallback queue; the demo's default queue takes over its role.
        Queue.objects.filter(pk=fallback.pk).update(is_default=False, is_active=False)
    queues = []
    for slug, (name, description, agent_slugs, reasons, extra) in QUEUES.items():
        if extra.get("is_default") and Queue.objects.filter(is_default=True).exclude(slug=slug).exists():
            extra = {**extra, "is_default": False}  # an operator already chose a default; keep theirs
        queue, created = Queue.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "reasons": reasons, **extra}
        )
        if created:
            queue.agents.set([agents[s] for s in agent_slugs if s in agents])
        queues.append(queue)
    return queues


RULE_RUNS = 40


def _rule_candidate_runs() -> list[int]:
    """Recent failed or low-quality runs of agents whose queue opens rule tickets: monitoring's seed
    ingested them before the queues existed, so the rules apply now (once per run, as always)."""
    agent_ids = Queue.objects.filter(
        Q(open_on_run_failure=True) | Q(open_on_low_quality=True), is_active=True
    ).values("agents")
    since = timezone.now() - timedelta(days=3)
    failed_or_scored = Q(status=RunStatus.ERROR) | Q(quality_score__lt=0.6)
    return list(
        Run.objects.filter(failed_or_scored, agent__in=agent_ids, started_at__gte=since, has_escalation=False)
        .order_by("-started_at")
        .values_list("pk", flat=True)[:RULE_RUNS]
    )


def _empty_fallback_queue() -> None:
    fallback = Queue.objects.filter(slug=routing.FALLBACK_QUEUE_SLUG, is_default=False).first()
    if fallback is None:
        return
    routing.reroute_unclaimed_tickets(fallback)
    if not fallback.tickets.exists():
        fallback.delete()


def _trace_id(n: int) -> str:
    return hashlib.sha256(f"handoffs-demo-{n}".encode()).hexdigest()[:32]


def _seed_synthetic_escalations() -> int:
    """A few weeks of escalated runs with tool steps, when monitoring's demo has too few."""
    if Escalation.objects.count() >= MIN_ESCALATIONS:
        return 0
    agents = {a.slug: a for a in Agent.objects.filter(slug__in=list(REASONS))}
    if not agents:
        return 0
    rng = random.Random(7)
    now = timezone.now()
    made = 0
    slugs = sorted(agents)
    for n in range(SYNTHETIC_RUNS):
        trace_id = _trace_id(n)
        slug = slugs[n % len(slugs)]
        reason, summary, priority = rng.choice(REASONS[slug])
        # Spread over 21 days, denser recently; the last few land in the past hours (open work).
        age = timedelta(hours=rng.uniform(0.2, 6)) if n >= SYNTHETIC_RUNS - 12 else timedelta(days=rng.uniform(1, 21))
        if Run.objects.filter(trace_id=trace_id).exists():
            continue
        with transaction.atomic():
            _make_escalated_run(agents[slug], trace_id, now - age, reason, summary, priority, n, rng)
        made += 1
    return made


def _make_escalated_run(agent: Agent, trace_id: str, started: datetime, reason: str, summary: str, priority: str,
                        n: int, rng: random.Random) -> None:
    failed = rng.random() < 0.25
    run = Run.objects.create(
        trace_id=trace_id, agent=agent, root_span_id=trace_id[:16], name=f"invoke_agent {agent.slug}",
        session_id=f"demo-session-{n % 23}", started_at=started, ended_at=started + timedelta(seconds=9),
        duration_ms=9000, status=RunStatus.ERROR if failed else RunStatus.OK,
        error_type="ToolError" if failed else "", model=agent.model, prompt_version=str(1 + n % 3),
        step_count=3, input_tokens=1800, output_tokens=420, quality_score=round(rng.uniform(0.4, 0.95), 2),
        has_escalation=True, input_preview=f"Customer: {summary}",
        output_preview="I'm handing this to a colleague who can help further.",
    )
    tool, error = TOOLS.get(agent.slug, ("lookup", ""))
    steps = [
        (StepKind.LLM, "chat", "", "", "Classify the request and decide the next tool."),
        (StepKind.TOOL, tool, "error" if error else "ok", error, ""),
        (StepKind.LLM, "chat", "", "", "I can't complete this myself; escalating to a human reviewer."),
    ]
    for i, (kind, name, status, err, output) in enumerate(steps):
        at = started + timedelta(seconds=1 + i * 2.5)
        Step.objects.create(
            run=run, span_id=f"{trace_id[16:28]}{i:04d}", parent_span_id=run.root_span_id,
            agent=agent, name=name, kind=kind, tool_name=name if kind == StepKind.TOOL else "", started_at=at,
            ended_at=at + timedelta(seconds=2), duration_ms=2000, status=RunStatus.ERROR if status == "error" else "ok",
            error_type=err.split(":")[0] if err else "", error_message=err, model=agent.model if kind == StepKind.LLM else "",
            output=output,
        )
    Escalation.objects.create(
        run=run, agent=agent, trace_id=trace_id, span_id=f"{trace_id[16:28]}esc0", reason=reason, summary=summary,
        priority=priority, occurred_at=run.ended_at,
    )
    top_invocations([run])


# --- walking tickets through their states ---------------------------------------------------------

MAX_PLAYED = 400


def _play_tickets(causes: list[RootCause]) -> int:
    reviewers = list(User.objects.filter(username__in=["rita", "ravi"]).order_by("username"))
    ops = User.objects.filter(username="olivia").first()
    if not reviewers or not causes:
        return 0
    # Untouched by a human so far; a ticket's script is fixed by its id, so reruns change nothing.
    untouched = (
        Ticket.objects.filter(status=TicketStatus.OPEN, reopen_count=0, first_claimed_at__isnull=True)
        .select_related("queue")
        .order_by("-created_at")[:MAX_PLAYED]
    )
    now = timezone.now()
    moved = 0
    # Oldest first: history is resolved before today's claims take up the reviewers' capacity.
    for ticket in sorted(untouched, key=lambda t: t.created_at):
        with transaction.atomic():
            moved += _play_one(ticket, reviewers, ops, causes, now)
    services.close_resolved_tickets(now=now)
    return moved


def _play_one(ticket: Ticket, reviewers: list, ops, causes: list[RootCause], now: datetime) -> int:
    rng = random.Random(ticket.pk)  # the script depends on the ticket only: reruns choose the same
    age = now - ticket.created_at
    who = reviewers[ticket.pk % len(reviewers)]
    other = reviewers[(ticket.pk + 1) % len(reviewers)]
    cause = causes[rng.randrange(len(causes))]
    outcome = rng.choice(Outcome.values)
    t0 = ticket.created_at
    try:
        if age < timedelta(hours=6):
            return _play_recent(ticket, who, rng, now)
        roll = rng.random()
        claim_at = t0 + timedelta(minutes=rng.uniform(2, 50))
        t = services.claim_ticket(ticket.pk, who, ticket.version, now=claim_at)
        clock = claim_at + timedelta(minutes=rng.uniform(3, 20))
        if roll < 0.12:  # abandoned claim: the lease expires, a colleague takes over
            expiry = t.lease_expires_at
            services.expire_leases(now=expiry + timedelta(seconds=1))
            t = Ticket.objects.get(pk=t.pk)
            clock = expiry + timedelta(minutes=rng.uniform(5, 30))
            t = services.claim_ticket(t.pk, other, t.version, now=clock)
            who, clock = other, clock + timedelta(minutes=rng.uniform(4, 15))
        elif roll < 0.3:
            t = services.add_note(t.pk, who, t.version, rng.choice(NOTES), now=clock)
            t = services.set_pending(t.pk, who, t.version, until=clock + timedelta(hours=3), now=clock)
            clock += timedelta(hours=rng.uniform(0.5, 3))
            t = services.resume_ticket(t.pk, who, t.version, now=clock)
            clock += timedelta(minutes=rng.uniform(2, 10))
        elif roll < 0.36 and ops is not None:
            t = services.cancel_ticket(t.pk, ops, t.version, note="Duplicate of an earlier chat.", now=clock)
            return 1
        corrected = "Corrected answer: the refund was approved by the team lead." if outcome == Outcome.CORRECTED_AGENT_ANSWER else ""
        t = services.resolve_ticket(t.pk, who, t.version, outcome=outcome, root_cause=cause,
                                    corrected_answer=corrected, now=clock)
        if roll > 0.92 and age > timedelta(days=2):  # reopened by the customer, solved again
            clock += timedelta(hours=rng.uniform(5, 30))
            t = services.reopen_ticket(t.pk, ops or who, t.version, note="Customer wrote back.", now=clock)
            clock += timedelta(minutes=rng.uniform(10, 60))
            t = services.claim_ticket(t.pk, who, t.version, now=clock)
            t = services.resolve_ticket(t.pk, who, t.version, outcome=Outcome.ACTION_TAKEN, root_cause=cause,
                                        now=clock + timedelta(minutes=rng.uniform(3, 12)))
        return 1
    except services.HandoffError:
        return 0  # capacity or timing did not allow this script; the ticket stays as it is


def _play_recent(ticket: Ticket, who, rng: random.Random, now: datetime) -> int:
    """Today's work: some open, some claimed right now, some pending until tomorrow."""
    roll = rng.random()
    if roll < 0.45:
        return 0
    claim_at = now - timedelta(minutes=rng.uniform(1, 8))
    t = services.claim_ticket(ticket.pk, who, ticket.version, now=max(claim_at, ticket.created_at))
    if roll > 0.8:
        services.set_pending(t.pk, who, t.version, until=now + timedelta(hours=18),
                             note="Waiting for the customer's reply.", now=now)
    return 1
