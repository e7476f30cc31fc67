"""One shape for every extension point: a :class:`Registry` of named entries — register, create, list,
validate, describe — and the :class:`Component` base whose hyper-parameters are its explicit ``__init__``
keywords (timm's ``@register_model``, scikit-learn's ``get_params`` and parameter constraints).

Every extension point is one registry: unlearning methods (``methods.METHODS``), metrics
(``metrics.METRICS``), dataset adapters (``data.DATASETS``), scenario kinds (``scenario_kinds.SCENARIO_KINDS``),
recovery attacks (``attacks.ATTACKS``) and report figures (``report.figures.FIGURES``). ``register(name)`` is
the class decorator; an entry declares its parameters as :class:`~unlearnbench.params.Param` s through a
``param_specs()`` classmethod (default: the annotated ``__init__`` keywords), which :meth:`Registry.validate`
checks (a :class:`~unlearnbench.params.ParamError` naming the key), :meth:`Registry.create` instantiates and
:meth:`Registry.describe` explains (with the docstring and the entry's ``describe_facts()``). The config
schema, the config checks, the CLI listings, the report glossary and the generic tests
(tests/test_registries.py) all iterate :meth:`Registry.names`: adding a component is one module with one
decorator, no central list.
"""
from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from unlearnbench.params import Param, ParamError, signature_params

__all__ = ["Component", "Description", "Registry", "doc_text", "first_sentence"]

C = TypeVar("C")
_NO_DEFAULT: Any = object()


def doc_text(obj: Any) -> str:
    """The object's docstring, dedented (empty when it has none)."""
    return inspect.cleandoc(getattr(obj, "__doc__", None) or "")


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph on one line, reST markup (````x````,
    ``:class:`x```) reduced to plain text."""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    para = re.sub(r":\w+:`~?([^`]+)`", r"\1", para).replace("``", "")
    match = re.search(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)\.(\s|$)", para)
    return para[:match.start() + 1] if match else para


@dataclass
class Description:
    """One registered entry in words: ``summary`` is its docstring's first sentence, ``doc`` the whole
    docstring, ``params`` its parameters (default, constraint, help), ``facts`` further label → text lines
    (supported scenario kinds, a tuning grid, the module that registers it, a plugin's distribution)."""

    name: str
    summary: str
    doc: str
    params: list[Param] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)


class Registry(Mapping):
    """Named entries (classes of ``base``, or objects made by a registration helper); ``kind`` names the
    extension point in messages. Iterating, ``keys()`` and ``items()`` go by sorted name. ``reserved``: names
    no entry may take; ``check``: called with ``(name, entry)`` before registering (raise to refuse)."""

    def __init__(self, kind: str, base: type | None = None, *, reserved: tuple[str, ...] = (),
                 check: Callable[[str, Any], None] | None = None) -> None:
        self.kind, self.base, self.reserved, self._check = kind, base, tuple(reserved), check
        self._entries: dict[str, Any] = {}

    # --- register ---------------------------------------------------------------------------------------
    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: register a ``base`` subclass under ``name`` (also set as ``cls.name``)."""
        self._check_name(name)

        def deco(cls: C) -> C:
            if self.base is not None and not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise TypeError(f"@register({name!r}) needs a {self.base.__name__} subclass, got {cls!r}")
            self.add(name, cls)
            cls.name = name
            return cls

        return deco

    def add(self, name: str, entry: Any) -> Any:
        """Register ``entry`` (a class, or an object a registration helper built) under ``name``."""
        self._check_name(name)
        if name in self._entries:
            old = _origin_of(self._entries[name])
            raise ValueError(f"{self.kind} {name!r} is already registered by {old}; cannot register "
                             f"{_origin_of(entry)}")
        if self._check is not None:
            self._check(name, entry)
        self._entries[name] = entry
        return entry

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{self.kind} name must be a Python identifier, got {name!r}")
        if name in self.reserved:
            raise ValueError(f"{name!r} is reserved for the reference models {list(self.reserved)}")

    # --- list -------------------------------------------------------------------------------------------
    def get(self, name: str, default: Any = _NO_DEFAULT) -> Any:
        """The entry ``name``; without ``default`` an unknown name is a KeyError listing the registered ones."""
        if name in self._entries:
            return self._entries[name]
        if default is not _NO_DEFAULT:
            return default
        raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}")

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"

    # --- validate, create -------------------------------------------------------------------------------
    def params(self, name: str) -> list[Param]:
        """The declared parameters of ``name``: its ``param_specs()``, else its annotated ``__init__`` keywords."""
        entry = self.get(name)
        if hasattr(entry, "param_specs"):
            return list(entry.param_specs())
        return signature_params(entry.__init__, skip=1) if isinstance(entry, type) else []

    def validate(self, name: str, params: Mapping[str, Any], where: str | None = None) -> dict[str, Any]:
        """``params`` checked against the declared parameters of ``name`` — no unknown key, every required
        one given, every value within its constraint — with the defaults filled in. The :class:`ParamError`
        names ``{where}.{key}`` (``where`` defaults to ``name``)."""
        where = name if where is None else where
        specs = {p.name: p for p in self.params(name)}
        unknown = sorted(set(params) - set(specs))
        if unknown and not getattr(self.get(name), "accepts_extra_params", False):
            raise ParamError(f"{where}: unknown parameter(s) {unknown} for {self.kind} {name!r}; "
                             f"valid: {sorted(specs)}")
        missing = [k for k, p in specs.items() if p.required and k not in params]  # in declaration order
        if missing:
            raise ParamError(f"{where}.{missing[0]}: required by {self.kind} {name!r} (missing: {missing})")
        for key, value in params.items():
            if key in specs:
                specs[key].check(value, where)
        return {**{k: p.default for k, p in specs.items() if not p.required}, **params}

    def create(self, name: str, **params: Any) -> Any:
        """An instance of the class registered as ``name`` with keyword hyper-parameters ``params``, validated
        first (:meth:`validate`), then by the class itself."""
        self.validate(name, params)
        return self.get(name)(**params)

    # --- describe ---------------------------------------------------------------------------------------
    def describe(self, name: str) -> Description:
        """``name`` in words: docstring summary, parameters (defaults, constraints, help) and facts."""
        entry = self.get(name)
        doc = doc_text(inspect.unwrap(entry))
        facts = dict(entry.describe_facts()) if hasattr(entry, "describe_facts") else {}
        return Description(name, first_sentence(doc), doc, self.params(name), {**facts, **origin_facts(entry)})

    def describe_all(self) -> list[Description]:
        return [self.describe(n) for n in self.names()]


def _origin_of(entry: Any) -> str:
    target = inspect.unwrap(entry)  # a dataset adapter names its build function
    return f"{target.__module__}.{target.__qualname__}"


def origin_facts(entry: Any) -> dict[str, str]:
    """``module`` (where it is registered) and, for a component of an installed package, ``plugin`` (entry
    point and distribution: :mod:`unlearnbench.plugins`)."""
    from unlearnbench.plugins import plugin_source

    module = getattr(inspect.unwrap(entry), "__module__", "")
    source = plugin_source(module)
    return {"module": module, **({"plugin": source} if source else {})}


class Component:
    """Base of registered components: hyper-parameters are the explicit ``__init__`` keywords, stored on the
    instance under the same names, reported by :meth:`get_params` into result rows. ``param_constraints``
    (name → :class:`~unlearnbench.params.Constraint`) overrides what the annotations say."""

    name: str = ""
    param_constraints: dict[str, Any] = {}

    @classmethod
    def param_names(cls) -> list[str]:
        names = []
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__qualname__}.__init__ must list its hyper-parameters explicitly "
                                "(no *args/**kwargs)")
            names.append(p.name)
        return names

    @classmethod
    def param_specs(cls) -> list[Param]:
        """The ``__init__`` keywords with their defaults and constraints (declared, else from annotations)."""
        cls.param_names()  # no *args/**kwargs
        return signature_params(cls.__init__, skip=1, constraints=cls.param_constraints)

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
