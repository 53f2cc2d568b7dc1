"""Every import between trustrec's packages follows the table of ``docs/architecture.md``
(issue 17, point 8), and no two packages import each other, directly or in a ring."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "trustrec"
DOC = ROOT / "docs" / "architecture.md"
FOUNDATION = {"trustrec", "errors", "_runtime", "progress"}


def _rows(section: str) -> list[list[str]]:
    """Body rows of the first Markdown table under the ``### section`` heading."""
    text = DOC.read_text(encoding="utf-8").split(f"### {section}\n", 1)[1]
    text = text.split("\n### ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def allowed_table() -> dict[str, set[str]]:
    """``unit → units it may import`` from the document's package table."""
    table = {}
    for unit, _job, may in _rows("Packages"):
        (name,) = _names(unit)
        table[name] = _names(may)
    return table


def lazy_exceptions() -> set[tuple[str, str]]:
    """``(module, unit)`` pairs the document allows as imports inside a function."""
    return {(_names(module).pop(), _names(unit).pop()) for module, unit, _why in
            _rows("Lazy exceptions")}


def unit_of(module: str) -> str:
    """The unit of ``trustrec.a.b``: ``a`` (a package or top-level module); ``foundation``
    for the package itself and the foundation modules."""
    parts = module.split(".")
    return "foundation" if len(parts) == 1 or parts[1] in FOUNDATION else parts[1]


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """``(imported trustrec module, inside a function)`` for every import in ``path``."""
    def walk(node: ast.AST, lazy: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                if child.module == "trustrec":  # a submodule, or a name of the package
                    yield from ((f"trustrec.{a.name}" if (SRC / a.name).exists() or
                                 (SRC / f"{a.name}.py").exists() else "trustrec", inner)
                                for a in child.names)
                elif child.module.startswith("trustrec."):
                    yield child.module, inner
            elif isinstance(child, ast.Import):
                yield from ((a.name, inner) for a in child.names
                            if a.name.startswith("trustrec."))
            yield from walk(child, inner)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), False)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_edges() -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """``(from unit, to unit) → [(module, lazy), …]`` over all modules of ``src/trustrec``."""
    edges: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        source = module_name(path)
        for target, lazy in imports(path):
            pair = (unit_of(source), unit_of(target))
            if pair[0] != pair[1] and pair[1] != "foundation":
                edges.setdefault(pair, []).append((source, lazy))
    return edges


def test_the_table_names_every_package_and_module() -> None:
    table = allowed_table()
    units = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    units |= {p.stem for p in SRC.glob("*.py") if p.stem not in FOUNDATION | {"__init__"}}
    assert units | {"foundation"} == set(table), "docs/architecture.md lists other units"
    for unit, may in table.items():
        assert may <= set(table), f"{unit} may import unknown units {may - set(table)}"


def test_every_import_follows_the_table() -> None:
    table, exceptions = allowed_table(), lazy_exceptions()
    wrong = [f"{module} imports {target}{' (lazily)' if lazy else ''}"
             for (source, target), sites in package_edges().items()
             if target not in table[source]
             for module, lazy in sites if not (lazy and (module, target) in exceptions)]
    assert wrong == [], "imports against docs/architecture.md:\n" + "\n".join(wrong)


def test_no_package_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for source, target in package_edges():
        graph.setdefault(source, set()).add(target)
    done: set[str] = set()

    def visit(unit: str, path: tuple[str, ...]) -> None:
        if unit in path:
            pytest.fail("package cycle: " + " → ".join((*path[path.index(unit):], unit)))
        if unit not in done:
            for target in sorted(graph.get(unit, ())):
                visit(target, (*path, unit))
            done.add(unit)

    for unit in sorted(graph):
        visit(unit, ())


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The import walker finds module-level and in-function imports alike."""
    module = tmp_path / "m.py"
    module.write_text("from trustrec.models import create_model\n\n"
                      "def f():\n    import trustrec.serve.app\n")
    assert list(imports(module)) == [("trustrec.models", False), ("trustrec.serve.app", True)]
    assert unit_of("trustrec.serve.app") == "serve" and unit_of("trustrec.errors") == "foundation"
