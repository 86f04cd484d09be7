"""``{% panels "slot" name=value ... %}``: the panels higher apps registered for a slot, rendered
in place (see agentops/extensions.py). Lets a lower app's template offer a slot without its view
knowing who fills it."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from agentops.extensions import render_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def panels(context, slot: str, **objects) -> str:
    request = context.get("request")
    return mark_safe("".join(render_panels(slot, request, **objects)))  # noqa: S308 - renderers return template output
