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
    "worker.engine",
    "worker.entities",
    "worker.executors.base",
    "worker.backends.base",
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


# The worker's core: it reaches storage only through the backend seam (worker.backends.base).
CORE = ("worker.engine", "worker.entities", "worker.executors", "worker.pipeline", "worker.backends.base", "worker.host")
STORAGE_ROOM = ("azure", "taskhub.storage", "taskhub.hub", "worker.backends.azure_storage")


def test_the_worker_core_reaches_storage_only_through_the_backend_seam() -> None:
    offenders = {}
    for name, path in MODULES.items():
        if any(name == c or name.startswith(c + ".") for c in CORE):
            bad = sorted(
                m
                for m in _imports(path, with_type_checking=True)
                if any(m == f or m.startswith(f + ".") for f in STORAGE_ROOM)
            )
            if bad:
                offenders[name] = bad
    assert offenders == {}


# The front doors: the client, `taskhub serve` (HTTP API, dashboard) and the CLI reach storage only through
# the client's backend seam (taskhub.client.service); its implementations are registered by name there.
FRONT_DOORS = ("taskhub.client", "taskhub.http", "taskhub.cli")
CLIENT_STORAGE_ROOM = ("azure", "taskhub.storage", "taskhub.hub")


def test_the_front_doors_reach_storage_only_through_the_client_seam() -> None:
    offenders = {}
    for name, path in MODULES.items():
        if any(name == d or name.startswith(d + ".") for d in FRONT_DOORS):
            bad = sorted(
                m
                for m in _imports(path, with_type_checking=True)
                if any(m == f or m.startswith(f + ".") for f in CLIENT_STORAGE_ROOM)
            )
            if bad:
                offenders[name] = bad
    assert offenders == {}


def test_every_registered_client_service_names_a_module_outside_the_front_doors() -> None:
    from taskhub.client.service import SERVICES

    for provider, target in SERVICES.items():
        module = target.partition(":")[0]
        assert module in MODULES, f"{provider}: {module} is not a module of this checkout"
        assert not any(module.startswith(d + ".") for d in FRONT_DOORS), f"{provider}: {module}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
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
    return cycles


def _folder(name: str) -> str:
    """The folder a module lives in: a package's ``__init__`` is in its own folder. The top of a package
    (``taskhub/errors.py``, ``worker/host.py``, the ``__main__`` modules) is the entrance hall, not a
    floor: each of its modules counts on its own."""
    folder = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    return name if folder in PACKAGES else folder


def test_there_is_no_import_circle_between_folders() -> None:
    """A folder is a floor of the house: its modules may use the floors below it, never one that uses
    it back (worker/entities/ once sat both under the replay core and above it)."""
    graph: dict[str, set[str]] = {}
    for name, deps in _internal_graph().items():
        here = _folder(name)
        if MODULES[name].name == "__init__.py":  # a package re-exporting what lives below it is its face
            deps = {d for d in deps if not d.startswith(name + ".")}
        graph.setdefault(here, set()).update(_folder(d) for d in deps if _folder(d) != here)
    for deps in list(graph.values()):
        for d in deps:
            graph.setdefault(d, set())
    assert _cycles(graph) == []


def test_there_is_no_import_circle() -> None:
    # A package's __init__ re-exporting its own modules is not a circle; a module importing its parent
    # package (which then imports the module) is.
    assert _cycles(_internal_graph()) == []
