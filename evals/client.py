"""Outbound calls to configured endpoints only: OpenAI-compatible chat completions and agent invoke URLs.

The URL always comes from an ``Endpoint`` row that operations saved; nothing a case, a dataset or a
model answer contains ever becomes a URL. Every call goes through the outbound guard
(``agentops.outbound``): private, loopback and link-local targets are refused unless allow-listed in
``OUTBOUND_ALLOWED_HOSTS``, the connection goes to the address that was checked, redirects are not
followed and proxies from the environment are not used. Every failure becomes ``CallFailed`` with a reason fit to show next to the case, and says
whether trying again could help (timeouts, refused connections, 429 and 5xx) or not (401, 4xx,
malformed answers).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from agentops import outbound

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
_local = threading.local()


class CallFailed(Exception):
    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass
class Answer:
    output: str
    tool_calls: list[str] = field(default_factory=list)  # names of the tools the answer called
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


def _sessions() -> dict[str, requests.Session]:
    # Keep-alive sessions per thread and host: a new TCP connection per case would dominate local runs.
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    return sessions


def chat_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def post_json(url: str, payload: dict, *, api_key: str = "", timeout: float = 30) -> tuple[dict, float]:
    """POST ``payload``; the decoded JSON object and the elapsed milliseconds, or CallFailed."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    host = urlsplit(url).netloc
    started = time.perf_counter()
    try:
        response = outbound.send(url, data=json.dumps(payload), headers=headers, timeout=timeout,
                                 sessions=_sessions())
    except outbound.OutboundRefused as exc:
        raise CallFailed(f"refused: {exc}") from exc
    except requests.Timeout as exc:
        raise CallFailed(f"timeout: no answer from {host} within {timeout:g} s", transient=True) from exc
    except requests.ConnectionError as exc:
        raise CallFailed(f"unreachable: could not connect to {host}", transient=True) from exc
    except requests.RequestException as exc:
        raise CallFailed(f"request to {host} failed: {exc.__class__.__name__}") from exc
    elapsed = (time.perf_counter() - started) * 1000
    status = response.status_code
    if status in (401, 403):
        raise CallFailed(f"{status} from {host}: the endpoint refused the API key (check the endpoint's key)")
    if 300 <= status < 400:
        raise CallFailed(f"{status} redirect from {host}: redirects are not followed, configure the final URL")
    if status == 429 or status >= 500:
        raise CallFailed(f"{status} from {host}: {response.text[:200]}", transient=True)
    if status >= 400:
        raise CallFailed(f"{status} from {host}: {response.text[:200]}")
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise CallFailed(f"malformed response from {host}: larger than {MAX_RESPONSE_BYTES // 1024} KiB")
    try:
        body = response.json()
    except ValueError as exc:
        raise CallFailed(f"malformed response from {host}: not JSON ({response.text[:80]!r})") from exc
    if not isinstance(body, dict):
        raise CallFailed(f"malformed response from {host}: expected a JSON object")
    return body, elapsed


def chat(base_url: str, model: str, messages: list[dict], *, api_key: str = "", timeout: float = 30) -> Answer:
    """One chat-completions call (temperature 0)."""
    payload = {"model": model, "messages": messages, "temperature": 0}
    body, elapsed = post_json(chat_url(base_url), payload, api_key=api_key, timeout=timeout)
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise CallFailed("malformed response: no choices[0].message in the answer") from exc
    if not isinstance(message, dict):
        raise CallFailed("malformed response: choices[0].message is not an object")
    content = message.get("content")
    tools = _tool_names(message.get("tool_calls"))
    if content is None and not tools:
        raise CallFailed("malformed response: the message has neither content nor tool calls")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return Answer(
        output=content if isinstance(content, str) else json.dumps(content) if content is not None else "",
        tool_calls=tools, input_tokens=_int(usage.get("prompt_tokens")), output_tokens=_int(usage.get("completion_tokens")),
        latency_ms=elapsed,
    )


def invoke(url: str, payload: dict, *, api_key: str = "", timeout: float = 30) -> Answer:
    """POST a case to an agent's invoke URL; expects ``{"output": "...", "usage": {...}, "tool_calls": [...]}``."""
    body, elapsed = post_json(url, payload, api_key=api_key, timeout=timeout)
    output = body.get("output")
    if not isinstance(output, str):
        raise CallFailed('malformed response: the agent\'s answer has no "output" string')
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return Answer(
        output=output, tool_calls=_tool_names(body.get("tool_calls")),
        input_tokens=_int(usage.get("input_tokens", usage.get("prompt_tokens"))),
        output_tokens=_int(usage.get("output_tokens", usage.get("completion_tokens"))), latency_ms=elapsed,
    )


def _tool_names(calls) -> list[str]:
    names = []
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, str):
            names.append(call)
        elif isinstance(call, dict):
            fn = call.get("function") if isinstance(call.get("function"), dict) else call
            if isinstance(fn.get("name"), str):
                names.append(fn["name"])
    return names


def _int(value) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
