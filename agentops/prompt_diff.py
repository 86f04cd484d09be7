"""Line diffs between two prompt texts, shaped for templates (pure computation, no ORM).

Two layouts share one input: ``unified_diff`` yields classed lines (``hunk``/``add``/``del``/``ctx``)
like ``diff -u``; ``side_by_side`` yields rows pairing the old and new line so reviewers can read a
rewrite in place. Both come from :mod:`difflib`, so they agree on what changed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

CONTEXT_LINES = 3


@dataclass(frozen=True)
class DiffLine:
    css: str  # "hunk", "add", "del" or "ctx"
    text: str


@dataclass(frozen=True)
class SideBySideRow:
    left: str | None
    right: str | None
    left_css: str  # "del", "ctx" or "" (no line on this side)
    right_css: str  # "add", "ctx" or ""


def _lines(text: str) -> list[str]:
    # Normalise Windows line endings so a pasted prompt doesn't show every line as changed.
    return text.replace("\r\n", "\n").split("\n")


def unified_diff(old: str, new: str, old_label: str = "a", new_label: str = "b") -> list[DiffLine]:
    """The unified diff of ``old`` -> ``new``; empty when the texts are equal."""
    raw = difflib.unified_diff(
        _lines(old), _lines(new), fromfile=old_label, tofile=new_label, n=CONTEXT_LINES, lineterm=""
    )
    result: list[DiffLine] = []
    for line in raw:
        if line.startswith(("---", "+++")):
            continue  # the file headers repeat what the page title already says
        if line.startswith("@@"):
            result.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            result.append(DiffLine("add", line[1:]))
        elif line.startswith("-"):
            result.append(DiffLine("del", line[1:]))
        else:
            result.append(DiffLine("ctx", line[1:]))
    return result


def side_by_side(old: str, new: str) -> list[SideBySideRow]:
    """Every line of both texts, aligned; replaced blocks are paired line by line."""
    a, b = _lines(old), _lines(new)
    rows: list[SideBySideRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows.extend(SideBySideRow(a[i], b[j], "ctx", "ctx") for i, j in zip(range(i1, i2), range(j1, j2), strict=True))
            continue
        left, right = a[i1:i2], b[j1:j2]
        for k in range(max(len(left), len(right))):
            lt = left[k] if k < len(left) else None
            rt = right[k] if k < len(right) else None
            rows.append(SideBySideRow(lt, rt, "del" if lt is not None else "", "add" if rt is not None else ""))
    return rows


def change_counts(lines: list[DiffLine]) -> tuple[int, int]:
    """(added, removed) line counts of a unified diff."""
    return sum(1 for x in lines if x.css == "add"), sum(1 for x in lines if x.css == "del")
