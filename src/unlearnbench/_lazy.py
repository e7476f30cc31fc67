"""torch as a lazily imported module, for modules that must import cheaply (the method registry).

The Snakefile imports the method registry to validate the config and build the schema; every
``snakemake`` invocation (a dry run, a no-op, each cluster job) would otherwise pay for ``import torch``
(seconds on a small machine) before doing anything. Method modules therefore write
``from unlearnbench._lazy import torch, F, nn``: the names behave like the modules, and torch is imported
on the first attribute access, i.e. when a method actually runs. ``@no_grad`` replaces
``@torch.no_grad()`` on module-level functions (a decorator is evaluated at import time).
"""
from __future__ import annotations

import functools
import importlib
import types
from typing import Any, Callable, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


class LazyModule(types.ModuleType):
    """Stands for the module ``name``; imports it on the first attribute access."""

    def __init__(self, name: str):
        super().__init__(name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attr)


torch = LazyModule("torch")
nn = LazyModule("torch.nn")
F = LazyModule("torch.nn.functional")


def no_grad(fn: _F) -> _F:
    """``@torch.no_grad()`` for module-level functions, without importing torch at decoration time."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
