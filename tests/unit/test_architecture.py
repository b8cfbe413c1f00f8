"""The package's shape (docs/architecture.md): folders that show the architecture, imports
that flow one way, small modules. Read from the source with ``ast``, lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "harness"
GROUND = {"errors", "models", "fileio", "secret"}  # imported by every layer
# what each layer may import besides itself and the ground floor (docs/architecture.md)
ALLOWED: dict[str, set[str]] = {
    "ground": set(),
    "settings": set(),
    "local": set(),
    "engine": {"settings"},
    "checks": set(),
    "suites": {"checks"},
    "gate": {"checks", "suites"},
    "reports": {"checks", "gate"},
    "doctor": {"settings", "engine", "local"},
    "plugin": {"settings", "local", "engine", "checks", "suites", "gate", "reports"},
    "cli": {"settings", "local", "engine", "checks", "suites", "gate", "reports", "doctor"},
}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = ["harness", *path.relative_to(HARNESS).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(HARNESS.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The harness modules ``name`` imports, anywhere in it (inside functions too)."""
    found: set[str] = set()

    def known(dotted: str) -> str:
        while dotted not in MODULES:
            dotted = dotted.rpartition(".")[0]
        return dotted

    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else known(node.module))
        elif isinstance(node, ast.Import):
            found |= {known(a.name) for a in node.names if a.name.startswith("harness")}
    return found - {name}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in GROUND or name == "harness.__init__":
        return "ground"
    return parts[1]


def test_the_top_holds_few_modules_and_the_rest_lives_in_subpackages() -> None:
    top = sorted(p.name for p in HARNESS.glob("*.py"))
    packages = sorted(p.name for p in HARNESS.iterdir() if (p / "__init__.py").is_file())
    assert len(top) <= 8, top
    assert len(packages) >= 5, packages
    assert set(packages) == set(ALLOWED) - {"ground", "cli"}


def test_no_family_hides_behind_a_name_prefix() -> None:
    for folder in [HARNESS, *(p for p in HARNESS.iterdir() if p.is_dir())]:
        stems = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        prefixes = [s.split("_")[0] for s in stems if "_" in s]
        families = {p for p in prefixes if prefixes.count(p) > 1 or p in stems}
        assert families == set(), (folder.name, families)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_are_small(name: str) -> None:
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{name}: {lines} lines"


def test_every_subpackage_says_what_lives_there_and_what_it_may_import() -> None:
    for init in HARNESS.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import:" in doc, init
        for module in init.parent.glob("*.py"):
            if module.stem != "__init__":
                assert f"``{module.stem}``" in doc, (init.parent.name, module.stem)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_flow_down_the_layers(name: str) -> None:
    mine = layer(name)
    allowed = {mine, "ground"} | ALLOWED["cli" if name == "harness.cli" else mine]
    if mine == "ground":  # the ground floor imports only the ground floor
        allowed = {"ground"}
    wrong = sorted(d for d in GRAPH[name] if layer(d) not in allowed)
    assert wrong == [], f"{name} ({mine}) imports {wrong}"


def test_no_two_modules_import_each_other_and_there_is_no_cycle() -> None:
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        seen[name] = 1
        for dep in sorted(GRAPH[name]):
            if seen.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if dep not in seen:
                visit(dep, [*path, dep])
        seen[name] = 2

    for name in sorted(MODULES):
        if name not in seen:
            visit(name, [name])


def test_only_the_plugin_imports_pytest() -> None:
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if "pytest" in names or "_pytest" in names:
            assert layer(name) == "plugin", name
