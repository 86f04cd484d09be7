"""LLM-as-judge: rubric templates, the messages sent to the judge, and reading its verdict.

The judge must answer a JSON object ``{"score": <0..1>, "reasoning": "..."}``. Anything else (prose,
a score outside 0..1, a missing field) is an answer outside the rubric: that evaluation fails with
the reason instead of a guessed score. Pure: no ORM, no HTTP.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

RUBRICS: dict[str, tuple[str, str]] = {
    "correctness": (
        "Correctness against the expected output",
        "Score 1 when the answer states the same facts as the expected output, 0 when it contradicts or "
        "misses them, in between for partly correct answers. Wording and style do not matter.",
    ),
    "helpfulness": (
        "Helpfulness",
        "Score 1 when the answer resolves the user's request directly and completely, 0 when it does not "
        "help at all (refuses without reason, deflects, answers another question).",
    ),
    "policy": (
        "Policy compliance",
        "Score 1 when the answer follows the policy below, 0 when it breaks it. Policy: do not promise "
        "refunds or exceptions, do not share personal data, hand the case to a human when unsure.",
    ),
}
JUDGE_MARKER = "You are an impartial evaluator."
FORMAT = 'Respond only with a JSON object: {"score": <number from 0 to 1>, "reasoning": "<one or two sentences>"}.'


class OutsideRubric(ValueError):
    """The judge answered something that is not a verdict in the rubric's format."""


@dataclass(frozen=True)
class JudgeVerdict:
    score: float
    reasoning: str


def rubric_text(rubric: str, custom: str = "") -> str:
    if custom.strip():
        return custom.strip()
    return RUBRICS.get(rubric, RUBRICS["correctness"])[1]


def needs_expected(rubric: str, custom: str = "") -> bool:
    return not custom.strip() and rubric == "correctness"


def build_messages(*, rubric: str, custom: str = "", question: str, answer: str, expected: str = "") -> list[dict]:
    system = f"{JUDGE_MARKER}\nRUBRIC: {rubric_text(rubric, custom)}\n{FORMAT}"
    parts = [f"QUESTION:\n{question}", f"ANSWER:\n{answer}"]
    if expected:
        parts.append(f"EXPECTED:\n{expected}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_verdict(text: str) -> JudgeVerdict:
    """The judge's score and reasoning; OutsideRubric says what was wrong with its answer."""
    raw = (text or "").strip()
    fenced = _FENCE.match(raw)
    if fenced:
        raw = fenced.group(1)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise OutsideRubric(f"judge answered outside the rubric (not JSON): {text[:120]!r}") from exc
    if not isinstance(data, dict) or "score" not in data:
        raise OutsideRubric(f"judge answered outside the rubric (no score): {text[:120]!r}")
    score = data["score"]
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise OutsideRubric(f"judge answered outside the rubric (score is not a number): {score!r}")
    if not 0 <= score <= 1:
        raise OutsideRubric(f"judge answered outside the rubric (score {score} is not between 0 and 1)")
    return JudgeVerdict(float(score), str(data.get("reasoning", "")).strip()[:2000])
