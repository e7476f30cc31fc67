"""Parameter constraints: what a hyper-parameter accepts, said once and used everywhere (scikit-learn's
``_parameter_constraints`` in spirit).

A :class:`Param` is a name, a default (or :data:`REQUIRED`), a :class:`Constraint` and a help line. One
declaration serves four readers: validation (:meth:`Param.check` raises :class:`ParamError` naming the key),
the config schema (:meth:`Constraint.schema`), the CLI and report glossary (:meth:`Constraint.range`) and the
generic registry tests (:meth:`Constraint.invalid`, a value the constraint rejects).

Constraints: :class:`Interval` (an int or real number in a range, finite), :class:`Options` (one of fixed
values), :class:`InstanceOf` (a type: ``str``, ``bool``, ``None``), :class:`SequenceOf` (a list or tuple of
items that satisfy a constraint; a lone item is accepted as a one-item sequence) and :class:`AnyOf`.
:func:`from_annotation` reads a constraint from a type annotation (``int``, ``float | None``,
``Sequence[str]``), so a component whose ``__init__`` is annotated gets its type checks for free.
"""
from __future__ import annotations

import collections.abc
import inspect
import math
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterable

__all__ = ["REQUIRED", "AnyOf", "Constraint", "InstanceOf", "Interval", "Options", "Param", "ParamError",
           "SequenceOf", "check_choice", "check_float", "check_int", "checked", "from_annotation", "signature_params"]


class _Required:
    def __repr__(self) -> str:
        return "<required>"


#: the default of a parameter that has none (the config must give it)
REQUIRED: Any = _Required()


class ParamError(ValueError):
    """A parameter value its constraint rejects, a missing required one or an unknown key; the message starts
    with the key (``methods.ga.epochs: expected int, got 1.5``)."""


class _Invalid:
    """A value no constraint accepts (no type, no range): the last resort of :meth:`Constraint.invalid`."""

    def __repr__(self) -> str:
        return "<invalid value>"


def _is_number(value: Any, kind: type) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return kind is float or isinstance(value, numbers.Integral)


class Constraint:
    """What a parameter accepts. Subclasses implement :meth:`violation`, :meth:`range`, :meth:`schema` and
    :meth:`invalid`."""

    def violation(self, value: Any) -> str | None:
        """Why ``value`` is rejected (a phrase such as ``must be > 0, got -1``), or None when it is accepted."""
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        return self.violation(value) is None

    def range(self) -> str:
        """The accepted values, compactly (``[1, inf)``, ``['a', 'b']``, ``str``)."""
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """The JSON-schema fragment of the accepted values."""
        raise NotImplementedError

    def invalid(self) -> Any:
        """A value this constraint rejects (for the generic tests of every registry)."""
        return _Invalid()

    def __str__(self) -> str:
        return self.range()


class Interval(Constraint):
    """A finite ``int`` or real (``float``: ints accepted too) number within inclusive ``ge``/``le`` or exclusive
    ``gt``/``lt`` bounds (None: unbounded)."""

    def __init__(self, kind: type = float, *, ge: float | None = None, gt: float | None = None,
                 le: float | None = None, lt: float | None = None) -> None:
        if kind not in (int, float):
            raise TypeError(f"Interval kind must be int or float, got {kind!r}")
        self.kind, self.ge, self.gt, self.le, self.lt = kind, ge, gt, le, lt

    def violation(self, value: Any) -> str | None:
        if not _is_number(value, self.kind):
            return f"expected {self.kind.__name__}, got {value!r}"
        if not math.isfinite(value):
            return f"must be finite, got {value!r}"
        for bound, ok, sym in ((self.ge, lambda b: value >= b, ">="), (self.gt, lambda b: value > b, ">"),
                               (self.le, lambda b: value <= b, "<="), (self.lt, lambda b: value < b, "<")):
            if bound is not None and not ok(bound):
                return f"must be {sym} {bound}, got {value!r} (valid range: {self.range()})"
        return None

    def range(self) -> str:
        if all(b is None for b in (self.ge, self.gt, self.le, self.lt)):
            return self.kind.__name__
        lo = f"[{self.ge}" if self.ge is not None else f"({self.gt}" if self.gt is not None else "(-inf"
        hi = f"{self.le}]" if self.le is not None else f"{self.lt})" if self.lt is not None else "inf)"
        return f"{lo}, {hi}"

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer" if self.kind is int else "number"}
        for bound, key in ((self.ge, "minimum"), (self.gt, "exclusiveMinimum"), (self.le, "maximum"),
                           (self.lt, "exclusiveMaximum")):
            if bound is not None:
                out[key] = bound
        return out

    def invalid(self) -> Any:
        if self.ge is not None:
            return self.kind(self.ge - 1)
        if self.gt is not None:
            return self.kind(self.gt)
        if self.le is not None:
            return self.kind(self.le + 1)
        if self.lt is not None:
            return self.kind(self.lt)
        return "not a number"


class Options(Constraint):
    """One of fixed ``values`` (of type ``kind`` when given: ``True`` is no ``1``)."""

    def __init__(self, values: Iterable[Any], kind: type | None = None) -> None:
        self.values, self.kind = tuple(values), kind

    def violation(self, value: Any) -> str | None:
        if self.kind is not None and not (_is_number(value, self.kind) if self.kind in (int, float)
                                          else isinstance(value, self.kind)):
            return f"expected {self.kind.__name__}, got {value!r}"
        if isinstance(value, bool) != any(isinstance(v, bool) for v in self.values) or value not in self.values:
            return f"must be one of {list(self.values)}, got {value!r}"
        return None

    def range(self) -> str:
        return str(list(self.values))

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.values)}

    def invalid(self) -> Any:
        return "not-" + "-".join(map(str, self.values)) if self.kind in (None, str) else _Invalid()


class InstanceOf(Constraint):
    """An instance of ``kind`` (``bool`` is no ``int``; ``type(None)`` is None)."""

    _JSON = {bool: "boolean", str: "string", type(None): "null", dict: "object"}

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def violation(self, value: Any) -> str | None:
        ok = isinstance(value, self.kind) and not (self.kind in (int, float) and isinstance(value, bool))
        return None if ok else f"expected {self.range()}, got {value!r}"

    def range(self) -> str:
        return "None" if self.kind is type(None) else self.kind.__name__

    def schema(self) -> dict[str, Any]:
        return {"type": self._JSON[self.kind]} if self.kind in self._JSON else {}

    def invalid(self) -> Any:
        return 0.5 if self.kind is not float else "not a number"


class SequenceOf(Constraint):
    """A list or tuple of at least ``min_items`` items that each satisfy ``item``; with ``lone_item`` a single
    item counts as a one-item sequence (``variants="svc"`` for ``variants=("svc",)``)."""

    def __init__(self, item: Constraint | None, *, min_items: int = 0, lone_item: bool = True) -> None:
        self.item, self.min_items, self.lone_item = item, min_items, lone_item

    def violation(self, value: Any) -> str | None:
        if not isinstance(value, (list, tuple)):
            if not self.lone_item:
                return f"expected a list, got {value!r}"
            value = [value]
        if len(value) < self.min_items:
            return f"expected at least {self.min_items} item(s), got {list(value)!r}"
        if self.item is not None:
            for v in value:
                if (why := self.item.violation(v)) is not None:
                    return f"every item: {why}"
        return None

    def range(self) -> str:
        return f"list of {self.item.range() if self.item else 'any'}"

    def schema(self) -> dict[str, Any]:
        items = self.item.schema() if self.item else {}
        array = {"type": "array", "items": items, **({"minItems": self.min_items} if self.min_items else {})}
        return {"anyOf": [array, items]} if self.lone_item and items else array

    def invalid(self) -> Any:
        return [self.item.invalid() if self.item else _Invalid()]


class AnyOf(Constraint):
    """Accepted by at least one of ``options`` (``float | None``: ``AnyOf(Interval(float), InstanceOf(NoneType))``)."""

    def __init__(self, *options: Constraint) -> None:
        self.options = options

    def violation(self, value: Any) -> str | None:
        if any(o.accepts(value) for o in self.options):
            return None
        return f"expected {self.range()}, got {value!r}"

    def range(self) -> str:
        return " or ".join(o.range() for o in self.options)

    def schema(self) -> dict[str, Any]:
        parts = [o.schema() for o in self.options]
        if all(list(part) == ["type"] for part in parts):  # plain types: one `type: [..]` (clearer errors)
            return {"type": [part["type"] for part in parts]}
        return {"anyOf": parts} if all(parts) else {}

    def invalid(self) -> Any:
        for candidate in [o.invalid() for o in self.options] + ["not a number", 0.5, _Invalid()]:
            if not self.accepts(candidate):
                return candidate
        return _Invalid()


_SEQUENCES = (collections.abc.Sequence, list, tuple, typing.Sequence)


def from_annotation(hint: Any) -> Constraint | None:
    """The type constraint of an annotation (``int``, ``str | None``, ``Sequence[str]``, ``tuple[int, ...]``);
    None for ``Any`` and for what it cannot express."""
    if hint in (int, float):
        return Interval(hint)
    if hint in (bool, str, type(None), dict):
        return InstanceOf(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [from_annotation(a) for a in args]
        return None if any(o is None for o in options) else AnyOf(*options)
    if origin in _SEQUENCES:
        return SequenceOf(from_annotation(args[0]) if args else None)
    return None


@dataclass(frozen=True)
class Param:
    """One parameter: ``default`` is :data:`REQUIRED` when the config must give it; ``constraint`` None when
    anything is accepted."""

    name: str
    default: Any = REQUIRED
    constraint: Constraint | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def range(self) -> str:
        return self.constraint.range() if self.constraint is not None else ""

    def check(self, value: Any, where: str) -> None:
        """Raise :class:`ParamError` (``{where}.{name}: …``) unless the constraint accepts ``value``."""
        why = self.constraint.violation(value) if self.constraint is not None else None
        if why is not None:
            raise ParamError(f"{where}.{self.name}: {why}")


def checked(name: str, value: Any, constraint: Constraint) -> Any:
    """``value`` if ``constraint`` accepts it (an :class:`Interval`'s number as a Python ``int``/``float``: numpy
    scalars pass), else :class:`ParamError` ``{name}: {why}``. The one validator of scalar arguments that are
    not registry parameters (a metric's ``__init__``, a generator's keyword)."""
    why = constraint.violation(value)
    if why is not None:
        raise ParamError(f"{name}: {why}")
    return constraint.kind(value) if isinstance(constraint, Interval) else value


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """An integer in ``[lo, hi]`` (``hi`` None: unbounded)."""
    return checked(name, value, Interval(int, ge=lo, le=hi))


def check_float(name: str, value: Any, lo: float, hi: float | None = None, *, lo_open: bool = False,
                hi_open: bool = False) -> float:
    """A finite real number in ``[lo, hi]`` (``hi`` None: unbounded; open ends with ``lo_open`` / ``hi_open``)."""
    lower = {"gt": lo} if lo_open else {"ge": lo}
    upper = {} if hi is None else {"lt": hi} if hi_open else {"le": hi}
    return checked(name, value, Interval(float, **lower, **upper))


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """One of ``choices``."""
    return checked(name, value, Options(choices))


def signature_params(fn: Callable, *, skip: int = 0, constraints: dict[str, Constraint] | None = None,
                     helps: dict[str, str] | None = None) -> list[Param]:
    """The keyword parameters of ``fn`` (after the first ``skip`` positional ones, e.g. ``self``), with
    constraints from ``constraints`` or else from the annotations. ``**kwargs`` is left out."""
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError, AttributeError):  # an annotation that does not resolve: no type checks
        hints = {}
    constraints, helps = constraints or {}, helps or {}
    out = []
    for p in list(inspect.signature(fn).parameters.values())[skip:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = REQUIRED if p.default is p.empty else p.default
        constraint = constraints.get(p.name) or (from_annotation(hints[p.name]) if p.name in hints else None)
        given = default is not REQUIRED and default is not None
        if constraint is not None and given and not constraint.accepts(default):
            constraint = None  # an annotation narrower than the default it documents: trust the code
        out.append(Param(p.name, default, constraint, helps.get(p.name, "")))
    return out
