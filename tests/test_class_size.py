"""No class in taskhub/ or worker/ defines more than 20 methods: a class that does holds several jobs
(style.md "split by responsibility"). Methods are counted by name in the class body (the ``@overload``
stubs of one method count once; nested functions and inherited methods do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_METHODS = 20

ALLOWED: set[str] = set()
"""Classes allowed over the limit for now (each with why and the issue that splits it); none today."""


def _methods(node: ast.ClassDef) -> int:
    """The methods ``node`` defines, by name."""
    return len({n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)})


def _classes() -> dict[str, tuple[str, int]]:
    """``{path::class: (path, methods)}`` of every class in the two packages."""
    found = {}
    for package in ("taskhub", "worker"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef):
                    found[f"{path.relative_to(ROOT)}::{node.name}"] = (node.name, _methods(node))
    return found


def test_no_class_defines_more_than_20_methods() -> None:
    over = {where: n for where, (name, n) in _classes().items() if n > MAX_METHODS and name not in ALLOWED}
    assert over == {}, f"classes over {MAX_METHODS} methods (split them by job): {over}"


def test_the_allow_list_names_only_classes_still_over_the_limit() -> None:
    classes = _classes().values()
    stale = sorted(a for a in ALLOWED if not any(name == a and n > MAX_METHODS for name, n in classes))
    assert stale == [], f"no longer over {MAX_METHODS} methods (or gone): remove from ALLOWED: {stale}"


def test_methods_are_counted_by_name_in_the_class_body() -> None:
    source = (
        "class Big(Base):\n"
        "    @overload\n    def f(self, x: int) -> int: ...\n"
        "    @overload\n    def f(self, x: str) -> str: ...\n"
        "    def f(self, x): return x\n"
        "    async def g(self):\n        def nested(): ...\n"
        "    @property\n    def h(self): ...\n"
        "    class Inner:\n        def i(self): ...\n"
    )
    big = ast.parse(source).body[0]
    assert isinstance(big, ast.ClassDef) and _methods(big) == 3  # f, g, h
