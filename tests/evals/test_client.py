"""The HTTP client against the real responder: answers and every failure mode."""

import pytest

from evals import client
from evals.responder import FALLBACK, serve


def test_chat_answers_from_the_system_prompt_facts(responder):
    answer = client.chat(responder.url, "demo-model", [
        {"role": "system", "content": "- refund: Five days."}, {"role": "user", "content": "refund please"}])
    assert answer.output == "Five days." and answer.input_tokens > 0 and answer.latency_ms > 0


def test_unknown_questions_get_the_fallback(responder):
    assert client.chat(responder.url, "m", [{"role": "user", "content": "weather?"}]).output == FALLBACK


@pytest.mark.parametrize(("marker", "reason", "transient"), [
    ("401", "refused the API key", False),
    ("500", "500 from", True),
    ("malformed", "malformed response", False),
    ("timeout", "timeout", True),
])
def test_failure_modes_give_a_reason(responder, marker, reason, transient):
    with pytest.raises(client.CallFailed, match=reason) as info:
        # Only the hanging case may time out: the others answer at once, and a busy machine must not
        # turn their answer into a timeout.
        client.chat(responder.url, "m", [{"role": "user", "content": f"hi [fail:{marker}]"}],
                    timeout=0.5 if marker == "timeout" else 30)
    assert info.value.transient is transient


def test_unreachable_endpoint_is_transient_failure():
    with serve() as r:
        url = r.url
    with pytest.raises(client.CallFailed, match="unreachable") as info:
        client.chat(url, "m", [{"role": "user", "content": "hi"}], timeout=0.5)
    assert info.value.transient


def test_api_key_is_sent_as_bearer():
    with serve(api_key="sk-test") as r:
        with pytest.raises(client.CallFailed, match="401"):
            client.chat(r.url, "m", [{"role": "user", "content": "hi"}])
        assert client.chat(r.url, "m", [{"role": "user", "content": "hi"}], api_key="sk-test").output


def test_invoke_url_answers(responder):
    answer = client.invoke(responder.invoke_url, {"input": "hello"})
    assert answer.output == FALLBACK
