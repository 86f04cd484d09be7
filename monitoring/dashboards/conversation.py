"""An LLM step's messages as a conversation (pure, no ORM): what the trace view shows instead of raw
JSON. Accepts the shapes GenAI instrumentations record: a list of messages, ``{"messages": [...]}``,
OpenAI-style choices, parts lists (``[{"type": "text", "text": ...}]``), tool calls and tool results.
Anything else is not a conversation (None) and the page shows the text as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str


@dataclass(frozen=True)
class Turn:
    role: str  # system, user, assistant, tool
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str = ""


def _text(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text") or part.get("content") or part.get("result") or ""))
            else:
                parts.append(str(part))
        return "\n".join(p for p in parts if p)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or json.dumps(content, indent=2))
    return str(content)


def _tool_calls(message: dict) -> list[ToolCall]:
    calls = []
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else call
        args = fn.get("arguments", "")
        calls.append(ToolCall(str(fn.get("name", "tool")), args if isinstance(args, str) else json.dumps(args)))
    return calls


def _messages(data) -> list | None:
    if isinstance(data, dict):
        if isinstance(data.get("messages"), list):
            return data["messages"]
        if isinstance(data.get("choices"), list):
            return [c.get("message") for c in data["choices"] if isinstance(c, dict) and c.get("message")]
        if "role" in data:
            return [data]
        return None
    if isinstance(data, list) and data and all(isinstance(m, dict) for m in data):
        if all("message" in m for m in data):  # choices
            return [m["message"] for m in data if isinstance(m.get("message"), dict)]
        return data if any("role" in m for m in data) else None
    return None


def conversation(raw: str) -> list[Turn] | None:
    """The turns in ``raw`` (a step's input or output), or None when it is not a message list."""
    if not raw or raw[:1] not in "[{":
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    messages = _messages(data)
    if not messages:
        return None
    turns = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        turns.append(Turn(role=str(message.get("role", "message")), text=_text(message.get("content")),
                          tool_calls=_tool_calls(message), tool_call_id=str(message.get("tool_call_id", ""))))
    return turns or None
