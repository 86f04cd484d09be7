"""The import rule (docs/development.md): apps and monitoring's sub-packages depend one way, no cycles."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture.import_rules import (
    APP_LAYERS,
    MONITORING_LAYERS,
    MONITORING_SUBPACKAGES,
    cycles,
    import_graph,
    layer_violations,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT)


def _report(violations) -> str:
    return "\n".join(str(v) for v in violations)


def test_the_graph_covers_every_app_and_sub_package(graph):
    importers = {imp.importer.split(".")[0] for imp in graph}
    assert {"agentops", "monitoring", "handoffs", "insights", "roi", "demo"} <= importers
    for name in MONITORING_SUBPACKAGES:
        assert any(imp.importer.startswith(f"monitoring.{name}.") for imp in graph), name


def test_apps_import_only_apps_below_them(graph):
    violations = layer_violations(graph, APP_LAYERS)
    assert not violations, "upward or sideways imports between apps:\n" + _report(violations)


def test_monitoring_sub_packages_import_only_sub_packages_below_them(graph):
    violations = layer_violations(graph, MONITORING_LAYERS, container="monitoring")
    assert not violations, "upward or sideways imports inside monitoring:\n" + _report(violations)


def test_there_is_no_import_cycle(graph):
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in found)


# The checker itself, on a small tree written for the purpose.


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_finds_an_upward_import_between_apps_even_inside_a_function(tmp_path):
    root = _write(tmp_path, {
        "agentops/__init__.py": "",
        "agentops/navigation.py": "def badge():\n    from handoffs.models import Ticket\n    return Ticket\n",
        "handoffs/__init__.py": "",
        "handoffs/models.py": "from agentops import navigation\n",
        "agentops/migrations/0001_initial.py": "from roi.models import X\n",  # migrations are not judged
    })
    violations = layer_violations(import_graph(root), APP_LAYERS)
    assert [(v.importer, v.imported, v.line) for v in violations] == [
        ("agentops.navigation", "handoffs.models.Ticket", 2)
    ]


def test_checker_finds_a_sideways_import_between_sibling_apps(tmp_path):
    root = _write(tmp_path, {"roi/__init__.py": "", "roi/views.py": "import insights.queries\n",
                             "insights/__init__.py": "", "insights/queries.py": ""})
    assert [v.imported for v in layer_violations(import_graph(root), APP_LAYERS)] == ["insights.queries"]


def test_checker_judges_monitoring_sub_packages_and_lets_top_level_modules_compose_them(tmp_path):
    root = _write(tmp_path, {
        "monitoring/__init__.py": "",
        "monitoring/timerange.py": "",
        "monitoring/urls.py": "from monitoring.dashboards import views\nfrom monitoring.ingest import views as v\n",
        "monitoring/rollups/__init__.py": "",
        "monitoring/rollups/queries.py": "from monitoring.timerange import TimeRange\n",
        "monitoring/ingest/__init__.py": "",
        "monitoring/ingest/write.py": "from ..rollups import queries\nfrom ..dashboards.views import x\n",
        "monitoring/dashboards/__init__.py": "",
        "monitoring/dashboards/views.py": "from monitoring.ingest.write import y\n",
        "monitoring/alerts/__init__.py": "",
        "monitoring/alerts/services.py": "from monitoring import urls\n",  # a composer, above every sub-package
    })
    violations = layer_violations(import_graph(root), MONITORING_LAYERS, container="monitoring")
    assert sorted((v.importer, v.imported) for v in violations) == [
        ("monitoring.alerts.services", "monitoring.urls"),
        ("monitoring.ingest.write", "monitoring.dashboards.views.x"),
    ]


def test_checker_finds_an_import_cycle_through_a_from_import_of_a_module(tmp_path):
    root = _write(tmp_path, {
        "monitoring/__init__.py": "",
        "monitoring/alerts/__init__.py": "",
        "monitoring/alerts/services.py": "from monitoring.alerts import tasks\n",
        "monitoring/alerts/tasks.py": "def run():\n    from .services import evaluate\n",
        "monitoring/alerts/models.py": "",
        "monitoring/alerts/views.py": "from . import models\n",  # no cycle: one way
    })
    assert cycles(import_graph(root)) == [["monitoring.alerts.services", "monitoring.alerts.tasks"]]
