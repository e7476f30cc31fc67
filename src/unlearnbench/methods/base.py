"""Registry and common interface of unlearning methods.

A method is a dataclass whose fields are its hyper-parameters (explicit keyword arguments with defaults
and valid ranges, declared with :func:`hparam` as :mod:`unlearnbench.params` constraints), registered by name
in :data:`METHODS` (a :class:`~unlearnbench.registry.Registry`) with :func:`register_method` in the style of
timm's ``@register_model``. The config schema, the ``method`` wildcard constraint and the
validation of method instances are all derived from this registry; there is no central dispatch.

    @register_method("gradient_ascent")
    @dataclass
    class GradientAscent(UnlearningMethod):
        '''Docstring citing the paper.'''
        epochs: int = hparam(5, ge=1, help="passes over the forget set")
        lr: float = hparam(1e-4, gt=0)

        def unlearn(self, model, task): ...
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from unlearnbench._lazy import torch  # imported when a method runs

from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.methods.accounting import RunCounters, track
from unlearnbench.params import Constraint, InstanceOf, Interval, Options, Param, ParamError
from unlearnbench.registry import Registry
from unlearnbench.report.layout import REFERENCE_ROWS
from unlearnbench.training import Diverged

RESERVED = REFERENCE_ROWS  # instance and algorithm names taken by the reference rows
#: most points a tuning grid may have (a config override included): each point is a full unlearning run
MAX_GRID_POINTS = 12
#: keys of a method's config block that are not hyper-parameters
BLOCK_KEYS = ("algorithm", "scenarios", "grid", "tune", "surrogate_set")
#: outcome of a run: finished and changed the model | NaN/inf loss or weights | finished without changing a
#: single weight or buffer (nothing was unlearned, e.g. SSD selecting no parameter) — never reported as success
STATUSES = ("ok", "diverged", "no_op")
_PY_TYPES = {"int": int, "float": float, "bool": bool, "str": str}
_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


class MethodConfigError(ParamError):
    """An unknown algorithm, hyper-parameter or value; the message names the instance and key."""


def hparam(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None, choices: tuple | None = None, help: str = "") -> Any:
    """A hyper-parameter field with a default and a valid range (inclusive ``ge/le``, exclusive ``gt/lt``) or
    ``choices``; the field's type annotation completes the constraint (:func:`field_constraint`)."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "help": help}
    return field(default=default, metadata=meta)


def field_type(f: dataclasses.Field) -> type:
    return f.type if isinstance(f.type, type) else _PY_TYPES.get(str(f.type), object)


def field_constraint(f: dataclasses.Field) -> Constraint:
    """The :mod:`unlearnbench.params` constraint of a hyper-parameter field: its type, range and choices."""
    m, py = f.metadata, field_type(f)
    if m.get("choices"):
        return Options(m["choices"], kind=py)
    if py in (int, float):
        return Interval(py, ge=m.get("ge"), gt=m.get("gt"), le=m.get("le"), lt=m.get("lt"))
    return InstanceOf(py)


def _check_method_class(name: str, cls: Any) -> None:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"method {name!r} must be a dataclass (hyper-parameters are its fields)")


@dataclass
class UnlearnTask:
    """Everything a method may use. ``forget``/``retain`` are the forget- and retain-train sets.

    ``counters`` accumulate what the run consumes (:mod:`unlearnbench.methods.accounting`); inside
    :meth:`UnlearningMethod.run` ``forget``/``retain`` are tracked views counting into them."""

    forget: ImageArraySet
    retain: ImageArraySet
    num_classes: int
    forget_classes: list[int] | None  # None for sample forgetting
    device: torch.device
    seed: int
    monitor: dict[str, ImageArraySet] = field(default_factory=dict)  # logged each epoch (e.g. forget/retain acc)
    counters: RunCounters = field(default_factory=RunCounters)
    #: out-of-distribution images a method may use as surrogate data (methods.<instance>.surrogate_set)
    surrogate: ImageArraySet | None = None
    #: the scenario's name (the ``scenario`` wildcard); None outside the workflow
    scenario: str | None = None


@dataclass
class UnlearnOutcome:
    """What a run produced: the (possibly new) model object and a log for the checkpoint sidecar."""

    model: torch.nn.Module
    status: str  # one of STATUSES: "ok" | "diverged" | "no_op"
    log: dict[str, Any]


@dataclass
class UnlearningMethod:
    """Base class. Subclasses are dataclasses of hyper-parameters and implement :meth:`unlearn`."""

    name: ClassVar[str] = ""
    #: which scenario kinds the method supports: "class" (random/top) and/or "sample" (samples)
    supports: ClassVar[frozenset[str]] = frozenset({"class", "sample"})
    #: the small grid the ``tune`` stage searches (hyper-parameter → values; ≤ 6 points by default), from the
    #: published default up to a few times stronger (the selection asks how close to the retrained
    #: reference a method can get, so the grid must contain settings that forget); a config block's
    #: ``grid:`` replaces it. Empty: nothing to tune.
    tuning_grid: ClassVar[dict[str, tuple]] = {}
    #: False for a method that runs no unlearning algorithm of its own but imports a model unlearned elsewhere
    #: (``external``): the zoo's behaviour contracts (forgets on the tiny problem, a tuning grid) do not apply
    runs_algorithm: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_value(type(self).name or type(self).__name__, f, getattr(self, f.name))

    @classmethod
    def param_specs(cls) -> list[Param]:
        """The hyper-parameters (dataclass fields) with their defaults, constraints and help lines."""
        return [Param(f.name, f.default, field_constraint(f), f.metadata.get("help", ""))
                for f in dataclasses.fields(cls)]

    @classmethod
    def describe_facts(cls) -> dict[str, str]:
        """The forgetting it supports (and the scenario kinds that ask for it) and its tuning grid."""
        from unlearnbench.scenario_kinds import SCENARIO_KINDS

        on = [k for k in SCENARIO_KINDS.names() if SCENARIO_KINDS[k].mode in cls.supports]
        grid = "; ".join(f"{k} ∈ {{{', '.join(repr(v) if isinstance(v, str) else str(v) for v in vals)}}}"
                         for k, vals in cls.tuning_grid.items())
        return {"forgetting": ", ".join(sorted(cls.supports)) + (f" (scenario kinds: {', '.join(on)})" if on else ""),
                "tuning grid": grid or "none (nothing to tune)"}

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as a plain dict (written into checkpoints and result rows)."""
        return dataclasses.asdict(self)

    def effective_params(self) -> dict[str, Any]:
        """The hyper-parameters as the run uses them: two settings with equal effective parameters run the same
        computation, so the tune stage runs only the first (:mod:`unlearnbench.tuning`). Default: :meth:`get_params`;
        a method whose values can be redundant (SCRUB's ``max_epochs`` beyond ``epochs``) overrides it."""
        return self.get_params()

    def input_files(self, scenario: str, seed: int) -> dict[str, str]:
        """Files this instance reads for one scenario and replicate seed besides the original model and the
        data, by hyper-parameter name (``{"weights": path}``). The unlearn (and tune) rule lists them as inputs,
        so editing one reruns exactly the runs that read it; config validation checks each with
        :meth:`check_input_file`. Default: none."""
        return {}

    def check_input_file(self, key: str, path: str) -> None:
        """Raise ``ValueError`` (the message names the file) unless ``path`` (:meth:`input_files`, under
        hyper-parameter ``key``) is usable; cheap: it runs on every validation. Default: the file exists."""
        from pathlib import Path

        if not Path(path).is_file():
            raise ValueError(f"file {path} does not exist")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        """Unlearn in place (or return a new model); return ``(model, log)``. Raise ``Diverged`` on NaN."""
        raise NotImplementedError

    def run(self, model: torch.nn.Module, task: UnlearnTask) -> UnlearnOutcome:
        """Run :meth:`unlearn` with its budget recorded; a divergence becomes ``status: diverged`` (not an
        exception), a model left bit-identical (every parameter and buffer) ``status: no_op``.

        The log gets ``wall_time_s`` (the method alone: per-epoch monitoring excluded), ``monitor_seconds``,
        and ``forget_images_seen`` / ``retain_images_seen`` (every image of D_f / D_r the method forwarded,
        counted by tracked views of the sets: :mod:`unlearnbench.methods.accounting`). A no-op carries
        ``no_op_reason`` (the method's own, e.g. SSD's, or "every weight and buffer is unchanged")."""
        counters = RunCounters()
        task = dataclasses.replace(task, forget=track(task.forget, "forget", counters),
                                   retain=track(task.retain, "retain", counters), counters=counters)
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        t0 = time.perf_counter()
        try:
            model, log = self.unlearn(model, task)
            status = "ok"
            if any(not torch.isfinite(p).all() for p in model.parameters()):
                status, log = "diverged", {**log, "diverged_epoch": None, "reason": "non-finite weights"}
            elif unchanged(before, model):
                status = "no_op"
                log = {**log, "no_op_reason": log.get("no_op_reason") or "every weight and buffer is unchanged"}
            else:
                log.pop("no_op_reason", None)
        except Diverged as exc:
            status, log = "diverged", {"diverged_epoch": exc.epoch, "reason": str(exc)}
        elapsed = time.perf_counter() - t0
        log["wall_time_s"] = elapsed - counters.monitor_seconds
        log["monitor_seconds"] = counters.monitor_seconds
        log["forget_images_seen"] = counters.forget_images
        log["retain_images_seen"] = counters.retain_images
        return UnlearnOutcome(model=model, status=status, log=log)


def unchanged(before: dict[str, torch.Tensor], model: torch.nn.Module) -> bool:
    """Whether ``model``'s state (parameters and buffers) equals ``before`` exactly, key for key."""
    after = model.state_dict()
    return after.keys() == before.keys() and all(
        after[k].shape == before[k].shape and torch.equal(after[k].detach(), before[k]) for k in before)


def check_value(owner: str, f: dataclasses.Field, value: Any) -> None:
    """Validate one hyper-parameter value against its type and declared range (:func:`field_constraint`)."""
    why = field_constraint(f).violation(value)
    if why is not None:
        raise MethodConfigError(f"methods.{owner}.{f.name}: {why}")


def describe_range(f: dataclasses.Field) -> str:
    """A field's declared range or choices (``[1, inf)``, ``['a', 'b']``)."""
    return field_constraint(f).range()


def grid_points(instance: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The tuning grid of a method instance as a list of points (dicts of hyper-parameter values), in a
    fixed order (the product of the values as written; ties in the selection go to the first point).

    ``spec["grid"]`` replaces the algorithm's :attr:`UnlearningMethod.tuning_grid`; every key must be a
    hyper-parameter and every value valid for it (errors name ``methods.<instance>.grid.<key>``), and the
    product may have at most :data:`MAX_GRID_POINTS` points. No points when ``tune: false`` or no grid.
    """
    import itertools

    cls = METHODS[spec["algorithm"]]
    grid = spec.get("grid", cls.tuning_grid)
    if not spec.get("tune", True) or not grid:
        return []
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, values in grid.items():
        if key not in fields:
            raise MethodConfigError(f"methods.{instance}.grid.{key}: not a hyper-parameter of {cls.name}; "
                                    f"valid: {sorted(fields)}")
        if not isinstance(values, (list, tuple)) or not values:
            raise MethodConfigError(f"methods.{instance}.grid.{key}: expected a non-empty list of values")
        for v in values:
            try:
                check_value(instance, fields[key], v)
            except MethodConfigError as exc:
                where = f"methods.{instance}.{key}"
                raise MethodConfigError(str(exc).replace(where, f"methods.{instance}.grid.{key}")) from None
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    if len(points) > MAX_GRID_POINTS:
        raise MethodConfigError(f"methods.{instance}.grid: {len(points)} points; at most {MAX_GRID_POINTS} "
                                "(each point is a full unlearning run)")
    return points


def method_schema(cls: type[UnlearningMethod]) -> dict[str, Any]:
    """JSON schema of one algorithm's config block, derived from its dataclass fields."""
    props: dict[str, Any] = {"algorithm": {"const": cls.name},
                             "scenarios": {"type": "array", "items": {"type": "string"}},
                             "grid": {"type": "object", "additionalProperties": {"type": "array", "minItems": 1},
                                      "description": "tuning grid (hyper-parameter → values) replacing the "
                                                     "algorithm's own; see tuning"},
                             "tune": {"type": "boolean", "default": True,
                                      "description": "false: keep this instance's hyper-parameters fixed"},
                             "surrogate_set": {"type": "string",
                                               "description": "a configured downstream dataset whose training "
                                                              "images the method may use as surrogate "
                                                              "out-of-distribution data (task.surrogate; SCAR)"}}
    for p in cls.param_specs():
        py = field_type(cls.__dataclass_fields__[p.name])
        props[p.name] = {"type": _JSON_TYPES[py], **p.constraint.schema(), "default": p.default, "description": p.help}
    return {"type": "object", "additionalProperties": False, "required": ["algorithm"], "properties": props,
            "description": (cls.__doc__ or "").strip().split("\n")[0]}


def create_method(instance: str, spec: dict[str, Any]) -> UnlearningMethod:
    """Build a method from a config block ``{algorithm: name, <hyper-parameters>}``; errors name the key."""
    spec = dict(spec)
    algorithm = spec.pop("algorithm", None)
    for key in BLOCK_KEYS[1:]:
        spec.pop(key, None)
    if algorithm not in METHODS:
        raise MethodConfigError(f"methods.{instance}.algorithm: unknown algorithm {algorithm!r}; "
                                f"registered: {sorted(METHODS)}")
    cls = METHODS[algorithm]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(spec) - names)
    if unknown:
        raise MethodConfigError(f"methods.{instance}: unknown hyper-parameter(s) {unknown} for {algorithm}; "
                                f"valid: {sorted(names)}")
    try:
        return cls(**spec)
    except MethodConfigError as exc:
        raise MethodConfigError(str(exc).replace(f"methods.{algorithm}.", f"methods.{instance}.", 1)) from None


#: every registered unlearning algorithm, by name (:func:`register_method` on an :class:`UnlearningMethod` dataclass)
METHODS: Registry = Registry("method", UnlearningMethod, reserved=RESERVED, check=_check_method_class)
register_method = METHODS.register


def scenario_support(kind: str) -> str:
    """Map a scenario kind to the data a method needs: ``class`` or ``sample`` (:func:`forget_mode`)."""
    from unlearnbench.data.forget_sets import forget_mode

    return forget_mode(kind)


def method_module(algorithm: str) -> str:
    """The module that registers ``algorithm``: the entry the code hash of its jobs starts from
    (:mod:`unlearnbench.codegraph` follows its imports — base classes included — from there; the registry
    package imports its members dynamically, which no static analysis sees)."""
    return METHODS[algorithm].__module__
