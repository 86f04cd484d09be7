"""Rule evaluators: pure functions from what a target answered to a 0-1 score with its reasoning.

No ORM here. ``validate_config`` checks an evaluator's parameters when it is saved, so evaluation
itself never meets a bad regex or schema; ``evaluate`` scores one observation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import jsonschema

PASS_THRESHOLD = 0.5  # a score at or above this passes (rules give 0 or 1; judges anywhere in 0..1)
RULE_KINDS = ("exact", "contains", "regex", "json_valid", "json_schema", "length", "forbidden", "tool_called",
              "latency", "cost")


@dataclass(frozen=True)
class Observation:
    output: str
    expected: str = ""
    input_text: str = ""
    tool_calls: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    cost: Decimal | None = None


@dataclass(frozen=True)
class Verdict:
    """0-1 with the reasoning; ``value`` None with ``error``: could not score (the case fails); ``value``
    None without error: not applicable to this case (e.g. no expected output), left out of the mean."""

    value: float | None
    reasoning: str = ""
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.value is not None and self.value >= PASS_THRESHOLD


class ConfigError(ValueError):
    """An evaluator's parameters are invalid; the message names the field."""


def _number(config: dict, key: str, *, required: bool = False, minimum: float = 0) -> float | None:
    raw = config.get(key)
    if raw in (None, ""):
        if required:
            raise ConfigError(f"{key}: required")
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: must be a number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum:g}")
    return value


def validate_config(kind: str, config: dict) -> dict:
    """The cleaned parameters for ``kind``; ConfigError names the field that is wrong."""
    config = dict(config or {})
    if kind == "contains":
        if not str(config.get("text", "")).strip():
            raise ConfigError("text: required (the text the answer must contain)")
        return {"text": str(config["text"]), "case_sensitive": bool(config.get("case_sensitive"))}
    if kind == "regex":
        pattern = str(config.get("pattern", ""))
        if not pattern:
            raise ConfigError("pattern: required")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"pattern: not a valid regular expression ({exc})") from exc
        return {"pattern": pattern}
    if kind == "json_schema":
        schema = config.get("schema")
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError as exc:
                raise ConfigError(f"schema: not JSON ({exc})") from exc
        if not isinstance(schema, dict):
            raise ConfigError("schema: must be a JSON object")
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(f"schema: not a valid JSON schema ({exc.message})") from exc
        return {"schema": schema}
    if kind == "length":
        low, high = _number(config, "min_chars"), _number(config, "max_chars")
        if low is None and high is None:
            raise ConfigError("min_chars / max_chars: set at least one")
        if low is not None and high is not None and low > high:
            raise ConfigError("max_chars: must not be below min_chars")
        return {"min_chars": int(low) if low is not None else None, "max_chars": int(high) if high is not None else None}
    if kind == "forbidden":
        phrases = config.get("phrases", [])
        if isinstance(phrases, str):
            phrases = [p.strip() for p in phrases.splitlines()]
        phrases = [p for p in phrases if p]
        if not phrases:
            raise ConfigError("phrases: list at least one phrase (one per line)")
        return {"phrases": phrases}
    if kind == "tool_called":
        if not str(config.get("tool", "")).strip():
            raise ConfigError("tool: required (the tool's name)")
        return {"tool": str(config["tool"]).strip()}
    if kind == "latency":
        return {"max_ms": _number(config, "max_ms", required=True, minimum=1)}
    if kind == "cost":
        raw = config.get("max_cost")
        try:
            value = Decimal(str(raw))
        except (InvalidOperation, ValueError) as exc:
            raise ConfigError(f"max_cost: must be a number, got {raw!r}") from exc
        if value < 0:
            raise ConfigError("max_cost: must not be negative")
        return {"max_cost": str(value)}
    if kind in ("exact", "json_valid"):
        return {"strip": bool(config.get("strip", True))} if kind == "exact" else {}
    raise ConfigError(f"kind: unknown rule {kind!r}")


def _yes(ok: bool, why_ok: str, why_not: str) -> Verdict:
    return Verdict(1.0 if ok else 0.0, why_ok if ok else why_not)


def evaluate(kind: str, config: dict, obs: Observation) -> Verdict:  # noqa: C901 - one branch per rule
    output = obs.output or ""
    if kind == "exact":
        if not obs.expected:
            return Verdict(None, "not applicable: the case has no expected output")
        a, b = (output.strip(), obs.expected.strip()) if config.get("strip", True) else (output, obs.expected)
        return _yes(a == b, "answer equals the expected output", "answer differs from the expected output")
    if kind == "contains":
        text = config["text"]
        hay, needle = (output, text) if config.get("case_sensitive") else (output.lower(), text.lower())
        return _yes(needle in hay, f"answer contains {text!r}", f"answer does not contain {text!r}")
    if kind == "regex":
        found = re.search(config["pattern"], output)
        return _yes(found is not None, f"matches /{config['pattern']}/", f"no match for /{config['pattern']}/")
    if kind in ("json_valid", "json_schema"):
        try:
            document = json.loads(output)
        except ValueError as exc:
            return Verdict(0.0, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        if kind == "json_valid":
            return Verdict(1.0, "valid JSON")
        errors = sorted(jsonschema.validators.validator_for(config["schema"])(config["schema"]).iter_errors(document),
                        key=lambda e: list(e.path))
        if not errors:
            return Verdict(1.0, "matches the schema")
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        return Verdict(0.0, f"{len(errors)} schema error(s); first at {where}: {errors[0].message}")
    if kind == "length":
        n, low, high = len(output), config.get("min_chars"), config.get("max_chars")
        ok = (low is None or n >= low) and (high is None or n <= high)
        return _yes(ok, f"{n} characters, within limits", f"{n} characters, outside {low or 0}-{high or '∞'}")
    if kind == "forbidden":
        hits = [p for p in config["phrases"] if p.lower() in output.lower()]
        return _yes(not hits, "no forbidden phrase", f"contains forbidden: {', '.join(repr(h) for h in hits)}")
    if kind == "tool_called":
        tool = config["tool"]
        called = ", ".join(obs.tool_calls) or "none"
        return _yes(tool in obs.tool_calls, f"called {tool}", f"did not call {tool} (called: {called})")
    if kind == "latency":
        if obs.latency_ms is None:
            return Verdict(None, error="no latency measured")
        limit = config["max_ms"]
        return _yes(obs.latency_ms <= limit, f"{obs.latency_ms:.0f} ms <= {limit:g} ms",
                    f"{obs.latency_ms:.0f} ms over the {limit:g} ms limit")
    if kind == "cost":
        if obs.cost is None:
            return Verdict(None, error="no cost known")
        limit = Decimal(config["max_cost"])
        return _yes(obs.cost <= limit, f"cost {obs.cost} <= {limit}", f"cost {obs.cost} over the {limit} limit")
    return Verdict(None, error=f"unknown rule {kind!r}")
