"""Template filters for numbers and durations, the same on every page ({% load units %}); the rules
live in agentops/formatting.py."""

from __future__ import annotations

from django import template

from agentops import formatting

register = template.Library()


@register.filter
def latency(value):
    return formatting.format_latency(value)


@register.filter
def count(value):
    return formatting.format_count(value)


@register.filter
def usd(value):
    return formatting.format_usd(value)


@register.filter
def work_time(value):
    return formatting.format_work_time(value)


@register.filter
def money(value):
    return formatting.format_money(value)


@register.filter
def decimal(value, places=1):
    return formatting.format_decimal(value, places)
