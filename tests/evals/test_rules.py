from decimal import Decimal

import pytest

from evals.rules import ConfigError, Observation, evaluate, validate_config


def score(kind, output, expected="", **config):
    return evaluate(kind, validate_config(kind, config), Observation(output=output, expected=expected,
                                                                     tool_calls=["lookup_order"], latency_ms=120,
                                                                     cost=Decimal("0.002")))


def test_exact_compares_with_the_expected_output_ignoring_surrounding_space():
    assert score("exact", " yes ", "yes").value == 1.0
    assert score("exact", "no", "yes").value == 0.0


def test_exact_without_expected_output_is_not_applicable():
    verdict = score("exact", "yes")
    assert verdict.value is None and not verdict.error and "not applicable" in verdict.reasoning


@pytest.mark.parametrize(("kind", "config", "output", "value"), [
    ("contains", {"text": "Refund"}, "refunds take days", 1.0),
    ("contains", {"text": "Refund", "case_sensitive": True}, "refunds take days", 0.0),
    ("regex", {"pattern": r"\d+ days"}, "in 5 days", 1.0),
    ("json_valid", {}, '{"a": 1}', 1.0),
    ("json_valid", {}, "{a: 1}", 0.0),
    ("json_schema", {"schema": '{"type": "object", "required": ["a"]}'}, '{"b": 1}', 0.0),
    ("json_schema", {"schema": {"type": "object", "required": ["a"]}}, '{"a": 1}', 1.0),
    ("length", {"max_chars": 5}, "too long", 0.0),
    ("length", {"min_chars": 2, "max_chars": 10}, "fine", 1.0),
    ("forbidden", {"phrases": "guarantee\nrefund you twice"}, "We guarantee it", 0.0),
    ("tool_called", {"tool": "lookup_order"}, "", 1.0),
    ("tool_called", {"tool": "issue_refund"}, "", 0.0),
    ("latency", {"max_ms": 100}, "", 0.0),
    ("cost", {"max_cost": "0.01"}, "", 1.0),
])
def test_rules_score_zero_or_one(kind, config, output, value):
    assert score(kind, output, **config).value == value


def test_schema_failure_names_where():
    verdict = score("json_schema", '{"a": "x"}', schema={"type": "object", "properties": {"a": {"type": "integer"}}})
    assert verdict.value == 0.0 and "at a:" in verdict.reasoning


@pytest.mark.parametrize(("kind", "config", "field"), [
    ("regex", {"pattern": "("}, "pattern"),
    ("json_schema", {"schema": "{not json"}, "schema"),
    ("json_schema", {"schema": {"type": "nonsense"}}, "schema"),
    ("length", {"min_chars": 10, "max_chars": 2}, "max_chars"),
    ("latency", {"max_ms": "fast"}, "max_ms"),
    ("forbidden", {"phrases": ""}, "phrases"),
])
def test_bad_parameters_name_the_field(kind, config, field):
    with pytest.raises(ConfigError, match=field):
        validate_config(kind, config)
