"""Insights tests share monitoring's fixtures (a fresh settled-rollup generation per test)."""

from tests.monitoring.conftest import _fresh_settled_generation  # noqa: F401
