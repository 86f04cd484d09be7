"""Reading uploaded cases: CSV (header row) and JSONL (one object per line). Pure: no ORM.

Fields: ``input`` (text) or ``messages`` (a JSON list of {role, content}), optional
``expected_output`` and ``metadata`` (a JSON object; in CSV, any other column becomes metadata).
Errors name the line and the field; a file with any error adds nothing.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 500
MAX_ERRORS_SHOWN = 20


@dataclass
class ParsedCase:
    line: int
    input_messages: list[dict]
    expected_output: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass
class ParseResult:
    cases: list[ParsedCase]
    errors: list[str]


def _messages(value, line: int, errors: list[str]) -> list[dict] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            errors.append(f"line {line}, field messages: not JSON ({exc.msg})")
            return None
    if not isinstance(value, list) or not value:
        errors.append(f"line {line}, field messages: must be a non-empty list of {{role, content}}")
        return None
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool") \
                or not isinstance(m.get("content"), str):
            errors.append(f"line {line}, field messages[{i}]: needs a role (system/user/assistant/tool) "
                          "and a string content")
            return None
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _case(row: dict, line: int, errors: list[str], extra_metadata: dict) -> ParsedCase | None:
    text, messages = row.get("input"), row.get("messages")
    if messages not in (None, ""):
        parsed = _messages(messages, line, errors)
        if parsed is None:
            return None
    elif isinstance(text, str) and text.strip():
        parsed = [{"role": "user", "content": text}]
    else:
        errors.append(f"line {line}, field input: required (or give messages)")
        return None
    expected = row.get("expected_output", "")
    if expected is None:
        expected = ""
    if not isinstance(expected, str):
        errors.append(f"line {line}, field expected_output: must be text")
        return None
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            errors.append(f"line {line}, field metadata: not JSON")
            return None
    if not isinstance(metadata, dict):
        errors.append(f"line {line}, field metadata: must be a JSON object")
        return None
    return ParsedCase(line, parsed, expected, {**extra_metadata, **metadata})


def parse(filename: str, data: bytes) -> ParseResult:
    if len(data) > MAX_UPLOAD_BYTES:
        return ParseResult([], [f"file: larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ParseResult([], [f"file: not UTF-8 text (byte {exc.start})"])
    name = filename.lower()
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        result = _parse_jsonl(text)
    elif name.endswith(".csv"):
        result = _parse_csv(text)
    else:
        return ParseResult([], ["file: use a .csv or .jsonl file"])
    if not result.cases and not result.errors:
        result.errors.append("file: no cases found")
    if len(result.cases) + len(result.errors) > MAX_ROWS:
        result.errors.insert(0, f"file: at most {MAX_ROWS} cases per upload")
    result.errors = result.errors[:MAX_ERRORS_SHOWN]
    return result


def _parse_jsonl(text: str) -> ParseResult:
    cases, errors = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError as exc:
            errors.append(f"line {number}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {number}: must be a JSON object")
            continue
        case = _case(row, number, errors, {})
        if case:
            cases.append(case)
    return ParseResult(cases, errors)


def _parse_csv(text: str) -> ParseResult:
    reader = csv.DictReader(io.StringIO(text))
    fields = reader.fieldnames or []
    if "input" not in fields and "messages" not in fields:
        return ParseResult([], ["line 1: the header needs an input (or messages) column"])
    cases, errors = [], []
    known = {"input", "messages", "expected_output", "metadata"}
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                errors.append(f"line {line}: more values than header columns")
                continue
            extra = {k: v for k, v in row.items() if k not in known and v not in (None, "")}
            case = _case(row, line, errors, extra)
            if case:
                cases.append(case)
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: {exc}")
    return ParseResult(cases, errors)
