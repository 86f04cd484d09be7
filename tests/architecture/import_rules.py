"""The import rule between apps and between monitoring's sub-packages, checked over the import graph.

The graph is read from the source with ``ast`` (nothing is imported): every ``import`` and
``from ... import`` statement counts, at module level or inside a function (an import inside
``AppConfig.ready()`` is still a dependency). Migrations are left out: they name apps by label.

A rule is a list of layers, lowest first. A layer is a tuple of sibling packages (or modules) that
may not import each other. A module may import its own layer's package and anything in a lower
layer; importing a higher layer or a sibling is a violation.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

APPS = ("agentops", "monitoring", "handoffs", "insights", "evals", "roi", "lifecycle", "demo")

# agentops <- monitoring <- handoffs <- insights, evals, roi <- lifecycle <- demo
APP_LAYERS: list[tuple[str, ...]] = [
    ("agentops",),
    ("monitoring",),
    ("handoffs",),
    ("insights", "evals", "roi"),
    ("lifecycle",),
    ("demo",),
]

# Inside monitoring, lowest first. timerange, signals, announcements (the hook registry) and sqlbuild are
# shared vocabulary that the sub-packages use, so they import none of them; every other module of
# monitoring (models, urls, api_urls, apps, extensions, templatetags, management commands) composes the
# sub-packages and sits above them all: the last layer, "monitoring", holds whatever no other member names.
MONITORING_BASE = ("monitoring.timerange", "monitoring.signals", "monitoring.announcements", "monitoring.sqlbuild")
MONITORING_SUBPACKAGES = ("storage", "rollups", "intake", "ingest", "alerts", "dashboards")
MONITORING_LAYERS: list[tuple[str, ...]] = [
    MONITORING_BASE,
    *[(f"monitoring.{name}",) for name in MONITORING_SUBPACKAGES],
    ("monitoring",),
]


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module (or module.attribute) name
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def python_files(root: Path, packages=APPS):
    for package in packages:
        base = root / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if "migrations" in path.relative_to(root).parts:
                continue
            yield path


def imports_of(root: Path, path: Path, packages=APPS) -> list[Import]:
    """Every import of one of ``packages`` in the file at ``path``."""
    importer = module_name(root, path)
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from monitoring import timerange`` imports monitoring.timerange, not just monitoring.
            names = [f"{module}.{alias.name}" for alias in node.names if alias.name != "*"] or [module]
        for name in names:
            if name.split(".")[0] in packages:
                found.append(Import(importer, name, path, node.lineno))
    return found


def import_graph(root: Path, packages=APPS) -> list[Import]:
    return [imp for path in python_files(root, packages) for imp in imports_of(root, path, packages)]


def _layer_of(name: str, layers: list[tuple[str, ...]]) -> tuple[int, str] | None:
    """(layer index, member) of the longest member that is ``name`` or a package containing it."""
    best = None
    for index, members in enumerate(layers):
        for member in members:
            if (name == member or name.startswith(member + ".")) and (best is None or len(member) > len(best[1])):
                best = (index, member)
    return best


def layer_violations(imports: list[Import], layers: list[tuple[str, ...]], container: str = "") -> list[Import]:
    """Imports that point up the layers or sideways between siblings.

    A module belongs to the longest layer member that names it or a package containing it. With a
    ``container`` (e.g. "monitoring"), imports from outside the container are not judged here.
    """
    bad = []
    for imp in imports:
        if container and not (imp.importer + ".").startswith(container + "."):
            continue
        source = _layer_of(imp.importer, layers)
        target = _layer_of(imp.imported, layers)
        if target is None or source is None:
            continue  # the importer composes the layers, or the target is outside them
        if target[0] > source[0] or (target[0] == source[0] and target[1] != source[1]):
            bad.append(imp)
    return bad


def cycles(imports: list[Import]) -> list[list[str]]:
    """Import cycles between modules (each found once, as the list of modules around it).

    An import of ``package.name`` counts as an import of the module ``package.name`` when that module
    exists, else of ``package`` (``name`` is then an attribute).
    """
    modules = {imp.importer for imp in imports}
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for imp in imports:
        target = imp.imported
        while target and target not in modules:
            target = target.rpartition(".")[0]
        # A package's __init__ being imported by its own submodule is Python's normal import order.
        if target and target != imp.importer and not imp.importer.startswith(target + "."):
            graph[imp.importer].add(target)
    # Tarjan's strongly connected components; any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
