"""Registry API for agents (Bearer API key, JSON, no session): which prompt version to use.

An agent that reads its prompt here can take part in a rollout: while a candidate version is rolled
out, the registry answers with the candidate for the rollout's share of routing keys and with the
active version otherwise (``agentops.routing``). Documented in docs/registry.md and the OpenAPI file.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from . import queries
from .models import Agent, ApiKey, ApiKeyRefused

MAX_ROUTING_KEY = 255


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def agent_prompt(request: HttpRequest, slug: str) -> JsonResponse:
    """GET /api/v1/agents/<slug>/prompt?routing_key=<session id>"""
    if request.method not in ("GET", "HEAD"):
        response = _error(405, f"{request.method} is not allowed here; use GET")
        response["Allow"] = "GET, HEAD"
        return response
    try:
        key = ApiKey.from_authorization(request.headers.get("Authorization", ""))
    except ApiKeyRefused as exc:
        return _error(401, str(exc))
    routing_key = request.GET.get("routing_key", "")
    if len(routing_key) > MAX_ROUTING_KEY:
        return _error(400, f"routing_key is longer than {MAX_ROUTING_KEY} characters")
    agent = Agent.objects.filter(slug=slug).first()
    if agent is None:
        return _error(404, f"no agent with the slug “{slug}” in the registry")
    if key.agent_id and key.agent_id != agent.pk:
        return _error(403, f"this API key is restricted to the agent “{key.agent.slug}”")
    served = queries.served_prompt(agent, routing_key)
    if served is None:
        return _error(404, f"{agent.name} has no active prompt version yet")
    rollout = served.rollout
    return JsonResponse({
        "agent": agent.slug,
        "version": served.prompt.version,
        "text": served.prompt.text,
        "arm": served.arm,
        "rollout": None if rollout is None else {
            "candidate_version": rollout.candidate.version, "share": rollout.share,
            "started_at": rollout.started_at.isoformat(),
        },
    })
