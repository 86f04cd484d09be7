"""``{{ fig_json|script_json }}``: JSON text made safe to place inside a ``<script>`` element.

A chart's JSON carries telemetry text (agent names, reasons). Inside ``<script>`` the HTML parser
ends the element at the first ``</script>``, whatever JSON thinks, so ``<``, ``>`` and ``&`` are written
as JSON's ``\\u003c``-style escapes: the same data for ``JSON.parse``, no markup for the parser.
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
            ord("\u2028"): "\\u2028", ord("\u2029"): "\\u2029"}


def escape_script_json(text: str) -> SafeString:
    return mark_safe(str(text).translate(_ESCAPES))  # noqa: S308 - escaped above


@register.filter(name="script_json")
def script_json(text) -> SafeString:
    if text is None:
        return mark_safe("null")
    return escape_script_json(text)
