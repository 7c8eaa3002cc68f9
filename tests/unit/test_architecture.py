"""The shape of the code, read from the source with ast (nothing here imports it).

- no import cycle among the modules of iotwatch, iotwatch_cli, iotwatch_local and infra
  (module-level and function-level imports; those under ``if TYPE_CHECKING:`` never run);
- the layers point one way: the Lambda package imports none of the parts built on it, the
  CDK app neither the CLI nor the harness, the CLI not the CDK app (it installs without it),
  and the harness only the app it synthesizes;
- inside the Lambda package, lowest first: domain < plan < service (ports included) <
  adapters < handlers; a module imports its own layer and the ones below, never one above
  (`telemetry` and `stack_outputs` are contracts any layer may import);
- no module outside the tests is longer than 450 lines.

Known violations are listed below, each with its reason; the lists may only shrink: an entry
that no longer matches anything fails the test, so it is removed with the code it excused.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = {
    "iotwatch": REPO / "lambdas" / "iotwatch",
    "iotwatch_cli": REPO / "iotwatch_cli",
    "iotwatch_local": REPO / "iotwatch_local",
    "infra": REPO / "infra",
}
SOURCE_ROOTS = [*PACKAGE_DIRS.values(), REPO / "bench", REPO / "app.py"]
MAX_MODULE_LINES = 450

# (importer, imported) edges left out of the cycle search
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {}
# (importer, imported) edges that cross a layer the wrong way
ALLOWED_LAYER_EDGES: dict[tuple[str, str], str] = {}
# modules (path from the repository root) longer than MAX_MODULE_LINES
ALLOWED_LONG_MODULES: dict[str, str] = {}


@dataclass(frozen=True)
class LayerRule:
    """Modules of ``importer`` may import modules of ``imported`` only under ``except_under``."""

    importer: str
    imported: str
    why: str
    except_under: str | None = None

    def forbids(self, source: str, target: str) -> bool:
        if not _within(source, self.importer) or not _within(target, self.imported):
            return False
        return self.except_under is None or not _within(target, self.except_under)


LAYER_RULES = [
    LayerRule("iotwatch", "infra", "the Lambda package runs without the CDK app"),
    LayerRule("iotwatch", "iotwatch_cli", "the Lambda package runs without the operator CLI"),
    LayerRule("iotwatch", "iotwatch_local", "the Lambda package runs without the local harness"),
    LayerRule("infra", "iotwatch_cli", "the CDK app builds the stack without the operator CLI"),
    LayerRule("infra", "iotwatch_local", "the CDK app builds the stack without the local harness"),
    LayerRule("iotwatch_cli", "infra", "the CLI installs without the CDK app (extra `cli`)"),
    LayerRule(
        "iotwatch_local",
        "infra",
        "the harness needs the CDK app only to synthesize it",
        except_under="infra.app",
    ),
]


# inside iotwatch, lowest first (docs/architecture.md, "Package layout")
LAMBDA_LAYERS = ("domain", "plan", "service", "adapters", "handlers")
LAMBDA_LAYER_WHY = {
    "domain": "domain is pure: it knows no plan file, use case or AWS call",
    "plan": "the plan is read by the use cases and the AWS edge, not built on them",
    "service": "use cases reach AWS only through service/ports.py, never an adapter",
    "adapters": "adapters implement the ports; handlers wire them, not the other way",
}
LAYER_RULES += [
    LayerRule(f"iotwatch.{low}", f"iotwatch.{high}", LAMBDA_LAYER_WHY[low])
    for i, low in enumerate(LAMBDA_LAYERS[:-1])
    for high in LAMBDA_LAYERS[i + 1 :]
]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _modules() -> dict[str, Path]:
    """Every module of the four packages, by dotted name."""
    found: dict[str, Path] = {}
    for package, directory in PACKAGE_DIRS.items():
        for path in sorted(directory.rglob("*.py")):
            parts = [package, *path.relative_to(directory).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import under ``node``, at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        runs = child.orelse if isinstance(child, ast.If) and _is_type_checking(child.test) else [child]
        for statement in runs:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                yield statement
            else:
                yield from _import_nodes(statement)


def _imported(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the four packages that ``module`` imports, by dotted name."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            targets.add(submodule if submodule in modules else base)
    return {t for t in targets if t in modules and t != module}


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def _describe(graph: dict[str, set[str]], component: list[str]) -> str:
    """A cycle's modules and the imports between them: cutting one of those breaks it."""
    members = set(component)
    edges = [f"{s} -> {t}" for s in component for t in sorted(graph[s] & members)]
    return f"{', '.join(component)}: " + "; ".join(edges)


def _without(graph: dict[str, set[str]], edges: dict[tuple[str, str], str]) -> dict[str, set[str]]:
    return {source: {t for t in targets if (source, t) not in edges} for source, targets in graph.items()}


def _source_files() -> Iterator[Path]:
    for root in SOURCE_ROOTS:
        yield from [root] if root.is_file() else sorted(root.rglob("*.py"))


def _stale(allowed: dict[tuple[str, str], str], graph: dict[str, set[str]]) -> list[str]:
    return [f"{s} -> {t}" for s, t in allowed if t not in graph.get(s, set())]


# --------------------------------------------------------------------------------------------


def test_the_import_graph_is_read_from_every_package() -> None:
    graph = _import_graph()
    assert {name.partition(".")[0] for name in graph} == set(PACKAGE_DIRS)
    # a function-level import and a module-level one are both edges
    assert "iotwatch_local.demo" in graph["iotwatch_cli.demo"]
    assert "iotwatch.plan.loader" in graph["infra.naming"]


def test_there_is_no_import_cycle() -> None:
    graph = _import_graph()
    remaining = _without(graph, ALLOWED_CYCLE_EDGES)
    cycles = [_describe(remaining, c) for c in _cycles(remaining)]
    assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)
    assert not _stale(ALLOWED_CYCLE_EDGES, graph), "remove from ALLOWED_CYCLE_EDGES: no longer imported"


def _crossings(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{source} -> {target}: {rule.why}"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        for rule in LAYER_RULES
        if rule.forbids(source, target) and (source, target) not in ALLOWED_LAYER_EDGES
    ]


def test_the_layers_point_one_way() -> None:
    graph = _import_graph()
    crossings = _crossings(graph)
    assert not crossings, "imports against the layers:\n  " + "\n  ".join(crossings)
    assert not _stale(ALLOWED_LAYER_EDGES, graph), "remove from ALLOWED_LAYER_EDGES: no longer imported"


def test_no_module_outside_the_tests_is_over_450_lines() -> None:
    lengths = {
        path.relative_to(REPO).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in _source_files()
    }
    long_modules = [
        f"{path}: {lines} lines"
        for path, lines in sorted(lengths.items())
        if lines > MAX_MODULE_LINES and path not in ALLOWED_LONG_MODULES
    ]
    assert not long_modules, f"modules over {MAX_MODULE_LINES} lines:\n  " + "\n  ".join(long_modules)
    stale = [p for p in ALLOWED_LONG_MODULES if lengths.get(p, 0) <= MAX_MODULE_LINES]
    assert not stale, f"remove from ALLOWED_LONG_MODULES: now {MAX_MODULE_LINES} lines or fewer: {stale}"


def test_the_cycle_search_finds_a_cycle_and_ignores_type_checking_imports(tmp_path: Path) -> None:
    """The checks above can fail: a made-up package with one cycle through a function-level
    import, and one that exists only for the type checker."""
    package = tmp_path / "iotwatch"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from iotwatch.b import run\n")
    (package / "b.py").write_text("def run():\n    from iotwatch import c\n")
    (package / "c.py").write_text("from . import a\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from iotwatch import a\n"
    )
    (package / "e.py").write_text("import iotwatch.d\n")
    modules = {f"iotwatch.{p.stem}": p for p in package.glob("?.py")}
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    assert graph["iotwatch.d"] == set() and graph["iotwatch.e"] == {"iotwatch.d"}
    [component] = _cycles(graph)
    assert component == ["iotwatch.a", "iotwatch.b", "iotwatch.c"]
    assert _describe(graph, component) == (
        "iotwatch.a, iotwatch.b, iotwatch.c: iotwatch.a -> iotwatch.b; iotwatch.b -> iotwatch.c; iotwatch.c -> iotwatch.a"
    )


def test_the_layer_rules_tell_a_crossing_from_an_allowed_import() -> None:
    def crossing(source: str, target: str) -> bool:
        return any(rule.forbids(source, target) for rule in LAYER_RULES)

    assert crossing("iotwatch.handlers.evaluator", "infra.naming")
    assert crossing("iotwatch.plan", "iotwatch_cli.main")
    assert crossing("infra.stack", "iotwatch_local.deploy")
    assert crossing("iotwatch_cli.main", "infra")
    assert crossing("iotwatch_local.demo", "infra.naming")
    assert not crossing("iotwatch_local.demo", "infra.app")
    assert not crossing("infra.stack", "iotwatch.plan.model")
    assert not crossing("iotwatch_cli.main", "iotwatch_local.demo")
    assert not crossing("iotwatch_clipboard", "infra")  # a prefix of a name is not the package
    # inside iotwatch: one layer up is refused, any layer down (and the contracts) allowed
    assert crossing("iotwatch.service.ports", "iotwatch.adapters.cloudwatch")
    assert crossing("iotwatch.plan.runtime", "iotwatch.service.baselines")
    assert crossing("iotwatch.domain.sharding", "iotwatch.plan.fanout")
    assert crossing("iotwatch.adapters.where", "iotwatch.handlers.evaluator")
    assert not crossing("iotwatch.adapters.where", "iotwatch.service.where")
    assert not crossing("iotwatch.handlers.evaluator", "iotwatch.domain.series")
    assert not crossing("iotwatch.domain.series", "iotwatch.telemetry")
    assert not crossing("iotwatch.telemetry", "iotwatch.stack_outputs")
    assert not crossing("iotwatch.service.fanout", "iotwatch.service.ports")


def test_a_wrong_way_import_inside_the_lambda_package_is_caught(tmp_path: Path) -> None:
    """A made-up iotwatch whose service imports an adapter, at function level: the check fails
    on that edge alone (the adapter importing the service, and both importing the domain, pass)."""
    package = tmp_path / "iotwatch"
    for layer in ("domain", "service", "adapters"):
        (package / layer).mkdir(parents=True)
        (package / layer / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "domain" / "limits.py").write_text("MAX = 500\n")
    (package / "service" / "fanout.py").write_text(
        "from iotwatch.domain.limits import MAX\n\ndef size():\n    from iotwatch.adapters.reader import Reader\n"
    )
    (package / "adapters" / "reader.py").write_text(
        "from iotwatch.domain import limits\nfrom iotwatch.service import fanout\n\nclass Reader: ...\n"
    )
    modules = {
        ".".join(["iotwatch", *p.relative_to(package).with_suffix("").parts]): p
        for p in package.rglob("*.py")
        if p.name != "__init__.py"
    }
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    assert graph["iotwatch.adapters.reader"] == {"iotwatch.domain.limits", "iotwatch.service.fanout"}
    assert _crossings(graph) == [
        "iotwatch.service.fanout -> iotwatch.adapters.reader: " + LAMBDA_LAYER_WHY["service"]
    ]
