"""An LLM step's messages read as a conversation; other text is left as it is."""

from __future__ import annotations

import json

from monitoring.dashboards.conversation import conversation


def test_a_message_list_with_a_tool_call_and_its_result():
    raw = json.dumps([
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": [{"type": "text", "text": "Where is my parcel?"}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "function": {"name": "track", "arguments": "{\"id\": 7}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "in transit"},
    ])
    turns = conversation(raw)
    assert [t.role for t in turns] == ["system", "user", "assistant", "tool"]
    assert turns[1].text == "Where is my parcel?"
    assert turns[2].tool_calls[0].name == "track" and turns[2].tool_calls[0].arguments == '{"id": 7}'
    assert turns[3].tool_call_id == "c1" and turns[3].text == "in transit"


def test_openai_choices_and_a_messages_object():
    assert conversation(json.dumps({"choices": [{"message": {"role": "assistant", "content": "Hi"}}]}))[0].text == "Hi"
    assert conversation(json.dumps({"messages": [{"role": "user", "content": "Yo"}]}))[0].role == "user"


def test_plain_text_and_other_json_are_not_a_conversation():
    assert conversation("Hello there") is None
    assert conversation('{"order": 7}') is None
    assert conversation("[1, 2]") is None
    assert conversation("{not json") is None
    assert conversation("") is None
