"""One shape for every extension point: a :class:`Registry` of named classes and the :class:`Component` base
whose hyper-parameters are its explicit ``__init__`` keywords (timm's ``@register_model``, scikit-learn's
``get_params``).

A registry maps a name to a class of one base type: ``register(name)`` is the class decorator, ``create``
instantiates with keyword hyper-parameters (validated by the class's ``__init__``: ``ValueError`` naming the
parameter and its range), ``names()`` lists what exists — the config checks, schema and generic tests derive
from it. Adding a component is one module with one decorator, no central list.
"""
from __future__ import annotations

import inspect
import json
from typing import Any, Callable, Generic, Iterator, TypeVar

import numpy as np

__all__ = ["Component", "Registry"]

C = TypeVar("C", bound=type)


class Registry(Generic[C]):
    """Named subclasses of ``base``; ``kind`` names the extension point in error messages."""

    def __init__(self, kind: str, base: type) -> None:
        self.kind, self.base = kind, base
        self._classes: dict[str, type] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: register a ``base`` subclass under ``name`` (also set as ``cls.name``)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{self.kind} name must be a Python identifier, got {name!r}")

        def deco(cls: C) -> C:
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise TypeError(f"@register({name!r}) needs a {self.base.__name__} subclass, got {cls!r}")
            if name in self._classes:
                old = self._classes[name]
                raise ValueError(f"{self.kind} {name!r} is already registered (by {old.__module__}.{old.__qualname__}); "
                                 f"cannot register {cls.__module__}.{cls.__qualname__}")
            cls.name = name
            self._classes[name] = cls
            return cls

        return deco

    def get(self, name: str) -> type:
        try:
            return self._classes[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}") from None

    def create(self, name: str, **params: Any) -> Any:
        """An instance of the class registered as ``name`` with keyword hyper-parameters ``params``."""
        return self.get(name)(**params)

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


class Component:
    """Base of registered components: hyper-parameters are the explicit ``__init__`` keywords, stored on the
    instance under the same names, reported by :meth:`get_params` into result rows."""

    name: str = ""

    @classmethod
    def param_names(cls) -> list[str]:
        names = []
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__qualname__}.__init__ must list its hyper-parameters explicitly "
                                "(no *args/**kwargs)")
            names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` keyword arguments as stored on the instance (JSON-friendly values)."""
        return {k: jsonable(getattr(self, k)) for k in self.param_names()}

    def params_json(self) -> str:
        return json.dumps(self.get_params(), sort_keys=True)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v
