"""Find numbers of 1,000 or more printed without a thousands separator in a page's visible text.

Used by tests/test_every_page.py over every page and role. Visible text is the text of ``<body>``
outside elements whose content is code or data rather than prose: ``script``, ``style``, ``template``,
``textarea``, ``pre``, ``code``, ``kbd``, ``samp``, anything with the ``mono`` class (trace ids,
fingerprints, keys) and anything with the ``verbatim`` class (text shown as it was written or
recorded: a customer's or an agent's words, "refund for order 36568", or an audit entry's stored
before and after values, are not figures the page formats). Attribute values (form values, URLs, data-* JSON, titles) are never text.

Within the text, these are not figures and are left alone: URLs and e-mail addresses, dates
(2026-03-15, 15/03/2026), times (12:34, 12:34:56), ISO timestamps, years (a four-digit 1900-2099 not
part of a longer number), ids written ``#1234`` or ``v1234``, digits inside a word or slug (``abc123``,
``agent-1234``), the decimals after a point (0.1234) and runs of 11 or more digits (ids, never a
count a page shows). What remains is a number a person reads; from 1,000 on it needs separators.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED_TAGS = {"script", "style", "template", "textarea", "pre", "code", "kbd", "samp", "head", "title"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
NOT_FIGURES = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+"                      # URLs
    r"|\S+@\S+\.\w+"                                  # e-mail addresses
    r"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"  # dates, timestamps
    r"|\d{1,2}/\d{1,2}/\d{2,4}"                       # day/month/year
    r"|\d{1,2}:\d{2}(?::\d{2})?",                     # times
    re.I,
)
# A run of digits (and no separators) that stands alone: not inside a word, slug, id, decimal or
# grouped number, and not followed by more digits after a separator or point.
BARE = re.compile(r"(?<![\w#.,/@])(?<!\w-)(\d+)(?![\w,]\d|[\w-])")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: does it hide its content?
        self.in_body = False
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.in_body = True
        if tag in VOID_TAGS:
            return
        classes = (dict(attrs).get("class") or "").split()
        self.stack.append(tag in SKIPPED_TAGS or "mono" in classes or "verbatim" in classes)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID_TAGS or not self.stack:
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.in_body and not any(self.stack):
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The visible text of a page (or fragment: a fragment without ``<body>`` counts as body)."""
    parser = _Text()
    parser.in_body = "<body" not in html.lower()
    parser.feed(html)
    parser.close()
    return " ".join(parser.parts)


def bare_numbers(html: str) -> list[str]:
    """Each number >= 1,000 printed without separators, with a little of its text around it."""
    text = NOT_FIGURES.sub(" ", re.sub(r"\s+", " ", visible_text(html)))
    found = []
    for m in BARE.finditer(text):
        digits = m.group(1)
        if len(digits) < 4 or len(digits) >= 11:
            continue
        if len(digits) == 4 and 1900 <= int(digits) <= 2100:
            continue  # a year
        if text[max(m.start() - 1, 0):m.start()] in ("v", "V"):
            continue
        found.append(text[max(m.start() - 40, 0): m.end() + 40].strip())
    return found


def grouped_numbers(html: str) -> int:
    """How many numbers of 1,000 or more with separators the visible text holds (so a check that found
    no bare number also shows that large figures were on the page)."""
    return len(re.findall(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])", visible_text(html)))
