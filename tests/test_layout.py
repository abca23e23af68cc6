"""The house rules of style.md, checked on the source tree: where modules live, how big they grow, and
which way imports point. These break when someone adds a module in the wrong room, not at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("taskhub", "worker", "bench")
MAX_LINES = 450

# Modules that must stay pure: no storage SDK, no asyncio, no aiohttp (style.md "The house").
PURE = (
    "taskhub.format",
    "taskhub.model",
    "taskhub.hub.leases",
    "worker.replay",
    "worker.state",
    "worker.context",
    "worker.entities.sorter",
    "worker.entities.scheduler",
    "worker.entities.batch",
    "worker.entities.calls_state",
    "worker.entities.orchestration",
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()
MODULE_NAMES = set(MODULES)


def _imports(path: Path, *, with_type_checking: bool = False) -> set[str]:
    """Every module named by an import in the file, at any depth (lazy imports count too), except
    those under ``if TYPE_CHECKING:`` unless asked."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    if not with_type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip.update(id(n) for child in node.body for n in ast.walk(child))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from pkg import mod`` depends on ``pkg.mod``; ``from mod import name`` on ``mod``
            subs = {f"{node.module}.{alias.name}" for alias in node.names} & MODULE_NAMES
            names.update(subs or {node.module})
    return names




def _internal_graph() -> dict[str, set[str]]:
    return {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def test_taskhub_top_level_keeps_only_the_public_face() -> None:
    top = sorted(p.name for p in (ROOT / "taskhub").iterdir() if p.is_file() and p.suffix == ".py")
    assert top == ["__init__.py", "__main__.py", "errors.py"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_past_the_size_limit(package: str) -> None:
    big = {
        name: n
        for name, path in MODULES.items()
        if name.split(".")[0] == package and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert big == {}, f"split these by responsibility (limit {MAX_LINES} lines): {big}"


def test_every_subpackage_says_what_it_holds() -> None:
    silent = [
        str(init.relative_to(ROOT))
        for package in ("taskhub", "worker")
        for init in (ROOT / package).rglob("__init__.py")
        if ast.get_docstring(ast.parse(init.read_text())) is None
    ]
    assert silent == []


def test_taskhub_never_imports_worker() -> None:
    offenders = {
        name: sorted(m for m in _imports(path, with_type_checking=True) if m.split(".")[0] == "worker")
        for name, path in MODULES.items()
        if name.startswith("taskhub")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pure_modules_import_no_storage_and_no_asyncio() -> None:
    forbidden = ("azure", "asyncio", "aiohttp", "taskhub.storage", "taskhub.hub.tracking", "taskhub.hub.queues")
    offenders = {}
    for name, path in MODULES.items():
        if any(name == p or name.startswith(p + ".") for p in PURE):
            bad = sorted(m for m in _imports(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
            if bad:
                offenders[name] = bad
    assert offenders == {}


def test_there_is_no_import_circle() -> None:
    graph = _internal_graph()
    # A package's __init__ re-exporting its own modules is not a circle; a module importing its parent
    # package (which then imports the module) is.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []
