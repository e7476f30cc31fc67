"""Registry members found by reading source, not by a hand-kept import list.

A registry package (``unlearnbench.metrics``, ``unlearnbench.data``) imports every module of its own directory
that registers something — a top-level class or function decorated with a call of its decorator
(``@register_metric("knn")``) — so adding a component is one new file. :func:`registering_modules` finds them
with :mod:`ast` (nothing is imported), which :mod:`unlearnbench.codegraph` also uses: a module-level
``import_registering(__name__, "<decorator>")`` is an import of exactly those modules for the code hashes.
"""
from __future__ import annotations

import ast
import functools
import importlib
import sys
from pathlib import Path

__all__ = ["import_registering", "registering_modules"]


def _decorator_name(node: ast.expr) -> str | None:
    call = node.func if isinstance(node, ast.Call) else node
    return call.id if isinstance(call, ast.Name) else call.attr if isinstance(call, ast.Attribute) else None


@functools.lru_cache(maxsize=None)
def registering_modules(package: str, directory: str, decorator: str) -> tuple[str, ...]:
    """Sorted modules ``package.<name>`` of ``directory`` (not sub-packages) with a top-level definition
    decorated by ``decorator`` (``@decorator(...)`` or ``@module.decorator(...)``)."""
    out = []
    for path in sorted(Path(directory).glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(_decorator_name(d) == decorator for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for d in node.decorator_list):
            out.append(f"{package}.{path.stem}")
    return tuple(out)


def import_registering(package: str, decorator: str) -> tuple[str, ...]:
    """Import every module of ``package`` that registers with ``decorator``; returns their names."""
    modules = registering_modules(package, str(Path(sys.modules[package].__file__).parent), decorator)
    for name in modules:
        importlib.import_module(name)
    return modules
