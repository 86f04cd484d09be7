"""Nothing below lifecycle imports it: lower apps show its content only through their extension hooks."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOWER = ("agentops", "monitoring", "handoffs", "insights", "roi")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_lower_app_imports_lifecycle():
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for app in LOWER if (ROOT / app).is_dir()
        for path in (ROOT / app).rglob("*.py")
        for name in _imports(path) if name == "lifecycle" or name.startswith("lifecycle.")
    ]
    assert not offenders, offenders


def test_lower_templates_do_not_link_lifecycle_pages_by_name():
    templates = [p for app in LOWER for p in (ROOT / "templates" / app).rglob("*.html")
                 if (ROOT / "templates" / app).is_dir()]
    assert not [str(p) for p in templates if "'lifecycle:" in p.read_text() or '"lifecycle:' in p.read_text()]
