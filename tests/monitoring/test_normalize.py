"""The GenAI semantic-convention mapping (pure, no database)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.intake.normalize import (
    TRUNCATION_MARKER,
    EventInput,
    SpanRejected,
    cap_text,
    normalize_span,
    normalize_spans,
    screen_spans,
)
from tests.monitoring.otlp_builders import T0, ns, span_input

NOW = T0 + timedelta(hours=1)


def test_chat_span_maps_to_llm_step_with_model_and_tokens():
    record = normalize_span(span_input(attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024",
        "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30}), now=NOW)
    assert (record.kind, record.model, record.input_tokens, record.output_tokens) == ("llm", "gpt-4o-2024", 120, 30)


def test_legacy_token_attribute_names_are_accepted():
    record = normalize_span(span_input(attributes={
        "gen_ai.operation.name": "text_completion", "gen_ai.usage.prompt_tokens": "40",
        "gen_ai.usage.completion_tokens": 8}), now=NOW)
    assert (record.kind, record.input_tokens, record.output_tokens) == ("llm", 40, 8)


@pytest.mark.parametrize("operation,kind", [
    ("execute_tool", "tool"), ("invoke_agent", "agent"), ("embeddings", "retrieval"), ("retrieval", "retrieval"),
    ("generate_content", "llm"), ("something_else", "other"),
])
def test_operation_name_decides_the_step_kind(operation, kind):
    assert normalize_span(span_input(attributes={"gen_ai.operation.name": operation}), now=NOW).kind == kind


def test_invoke_agent_span_declares_its_agent_and_others_fall_back_to_service_name():
    agent = normalize_span(span_input(attributes={"gen_ai.operation.name": "invoke_agent",
                                                  "gen_ai.agent.name": "Billing Agent"}), now=NOW)
    child = normalize_span(span_input(service="support-desk"), now=NOW)
    assert (agent.agent_key, agent.declared_agent) == ("billing-agent", True)
    assert (child.agent_key, child.declared_agent) == ("support-desk", False)


def test_error_status_with_exception_event_gives_error_type_and_message():
    record = normalize_span(span_input(status=2, events=[EventInput("exception", ns(T0), {
        "exception.type": "TimeoutError", "exception.message": "payment gateway timeout after 30s"})]), now=NOW)
    assert (record.status, record.error_type, record.error_message) == (
        "error", "TimeoutError", "payment gateway timeout after 30s")


def test_error_type_attribute_without_status_marks_the_step_failed():
    record = normalize_span(span_input(attributes={"error.type": "ValidationError"}), now=NOW)
    assert (record.status, record.error_type) == ("error", "ValidationError")


def test_evaluation_events_become_scores_keyed_by_span_and_index():
    span = span_input(events=[
        EventInput("gen_ai.evaluation.result", ns(T0), {"gen_ai.evaluation.name": "relevance",
                                                        "gen_ai.evaluation.score.value": 0.8}),
        EventInput("other", ns(T0), {}),
        EventInput("gen_ai.evaluation.result", ns(T0), {"gen_ai.evaluation.name": "tone", "score.label": "rude"}),
    ])
    scores = normalize_span(span, now=NOW).scores
    assert [(s.name, s.value, s.label, s.dedupe_key) for s in scores] == [
        ("relevance", 0.8, "", f"{span.span_id}:0"), ("tone", None, "rude", f"{span.span_id}:2")]


def test_escalation_event_is_mapped_with_reason_summary_priority():
    record = normalize_span(span_input(events=[EventInput("agentops.escalation", ns(T0 + timedelta(seconds=1)), {
        "agentops.escalation.reason": "policy_restriction", "agentops.escalation.summary": "Refund over limit",
        "agentops.escalation.priority": "high"})]), now=NOW)
    assert (record.escalation.reason, record.escalation.priority) == ("policy_restriction", "high")
    assert record.escalation.occurred_at == T0 + timedelta(seconds=1)


def test_sent_cost_is_decimal_and_prompt_version_and_session_are_read():
    record = normalize_span(span_input(attributes={"gen_ai.usage.cost": 0.0125, "agentops.prompt.version": 3,
                                                   "session.id": "s-9"}), now=NOW)
    assert (record.cost, record.prompt_version, record.session_id) == (Decimal("0.012500"), "3", "s-9")


def test_attribute_values_of_the_wrong_type_are_ignored_not_fatal():
    record = normalize_span(span_input(attributes={"gen_ai.usage.input_tokens": "lots", "gen_ai.usage.cost": "free",
                                                   "gen_ai.request.model": ["a", "b"], "x.unknown": {"k": 1}}), now=NOW)
    assert (record.input_tokens, record.cost, record.model) == (0, None, "")
    assert "x.unknown" in record.attributes


def test_huge_input_is_capped_with_a_marker():
    record = normalize_span(span_input(attributes={"gen_ai.input.messages": "x" * 50_000}), now=NOW, text_cap=1000)
    assert record.input.endswith(TRUNCATION_MARKER) and len(record.input) == 1000 + len(TRUNCATION_MARKER)


def test_cap_text_never_splits_a_multibyte_character():
    assert cap_text("é" * 10, 5) == "éé" + TRUNCATION_MARKER


@pytest.mark.parametrize("change,message", [
    ({"trace_id": "abc"}, "trace id"),
    ({"trace_id": "0" * 32}, "trace id"),
    ({"span_id": "zz" * 8}, "span id"),
    ({"parent_span_id": "1234"}, "parent span id"),
    ({"end_unix_nano": ns(T0) - 1}, "ends before it starts"),
    ({"start_unix_nano": 1_000, "end_unix_nano": 2_000}, "before 2000"),
    ({"start_unix_nano": ns(T0 + timedelta(days=400)), "end_unix_nano": ns(T0 + timedelta(days=400))}, "future"),
])
def test_invalid_spans_are_rejected_with_a_reason(change, message):
    span = span_input()
    for attr, value in change.items():
        setattr(span, attr, value)
    with pytest.raises(SpanRejected, match=message):
        normalize_span(span, now=NOW)


def test_batch_keeps_good_spans_and_counts_rejected_ones():
    bad = span_input()
    bad.span_id = "short"
    result = normalize_spans([span_input(), bad, span_input()], now=NOW)
    assert (len(result.records), result.rejected) == (2, 1)
    assert "1 span(s) rejected: span id" in result.message()


def test_restricted_key_rejects_spans_declaring_another_agent():
    other = span_input(attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing-agent"})
    own = span_input(service="whatever")
    result = normalize_spans([other, own], now=NOW, allowed_agent="refund-agent")
    assert result.rejected == 1 and "may only send for 'refund-agent'" in result.errors[0]
    assert [r.agent_key for r in result.records] == ["refund-agent"]


attribute_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=50),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
semconv_keys = st.sampled_from([
    "gen_ai.operation.name", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cost",
    "gen_ai.request.model", "gen_ai.agent.name", "error.type", "agentops.prompt.version", "session.id",
    "gen_ai.input.messages", "unknown.attr",
])


@settings(max_examples=150, deadline=None)
@given(attrs=st.dictionaries(semconv_keys, attribute_values, max_size=8),
       duration=st.integers(min_value=-10**9, max_value=10**12), status=st.integers(0, 2))
def test_any_attribute_values_either_normalize_or_reject_cleanly(attrs, duration, status):
    span = span_input(attributes=attrs, status=status)
    span.end_unix_nano = span.start_unix_nano + duration
    try:
        record = normalize_span(span, now=NOW)
    except SpanRejected:
        assert duration < 0 or span.end_unix_nano > ns(NOW + timedelta(hours=1))
        return
    assert record.input_tokens >= 0 and record.output_tokens >= 0
    assert record.cost is None or record.cost >= 0
    assert record.kind in {"llm", "tool", "agent", "retrieval", "other"} and record.agent_key


@settings(max_examples=100, deadline=None)
@given(attrs=st.dictionaries(semconv_keys, attribute_values, max_size=6),
       duration=st.integers(min_value=-10**9, max_value=10**13), allowed=st.sampled_from([None, "a-1"]))
def test_screening_makes_the_same_decision_as_normalizing(attrs, duration, allowed):
    span = span_input(attributes=attrs)
    span.end_unix_nano = span.start_unix_nano + duration
    screened = screen_spans([span], now=NOW, allowed_agent=allowed)
    normalized = normalize_spans([span], now=NOW, allowed_agent=allowed)
    assert (screened.rejected, screened.errors) == (normalized.rejected, normalized.errors)


def test_attributes_a_column_holds_are_not_stored_twice():
    record = normalize_span(span_input(attributes={
        "gen_ai.operation.name": "chat", "gen_ai.response.model": "gpt-4o-2024", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30, "gen_ai.usage.cost": 0.0125,
        "gen_ai.prompt": "Where is my order?", "gen_ai.completion": "On its way.", "gen_ai.system": "openai",
        "gen_ai.agent.name": "Support", "agentops.prompt.version": "v3", "session.id": "s-9"}), now=NOW)
    # The columns keep the values; the request model (not the stored one) and everything without a
    # column stay in the attributes.
    assert (record.operation, record.model, record.input_tokens, record.output_tokens, record.cost,
            record.input, record.output) == ("chat", "gpt-4o-2024", 120, 30, Decimal("0.012500"),
                                             "Where is my order?", "On its way.")
    assert record.attributes == {"gen_ai.request.model": "gpt-4o", "gen_ai.system": "openai",
                                 "gen_ai.agent.name": "Support", "agentops.prompt.version": "v3", "session.id": "s-9"}


def test_attributes_a_column_changed_on_the_way_in_are_kept_as_sent():
    long_model = "m" * 300  # capped in the column
    record = normalize_span(span_input(attributes={
        "gen_ai.request.model": long_model, "gen_ai.usage.input_tokens": "40", "gen_ai.usage.cost": "0.00000012",
        "error.type": "Timeout"}, status=1), now=NOW)  # status OK: the error type is not the step's
    assert record.model != long_model and record.status == "ok"
    assert record.attributes == {"gen_ai.request.model": long_model, "gen_ai.usage.input_tokens": "40",
                                 "gen_ai.usage.cost": "0.00000012", "error.type": "Timeout"}


def test_error_type_attribute_is_held_by_the_failed_step():
    record = normalize_span(span_input(attributes={"error.type": "Timeout"}, status=2), now=NOW)
    assert (record.error_type, record.attributes) == ("Timeout", {})
