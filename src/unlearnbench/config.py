"""Experiment configuration: JSON-schema validation with defaults, then semantic checks.

``validate_config(cfg)`` fills every default from ``configs/schema.yaml`` (the same schema mechanism as
``snakemake.utils.validate(set_default=True)``), rejects unknown keys and out-of-range values, then checks
what a schema cannot express: the architecture exists in timm, a pretrained weights file exists and is
safetensors, dataset adapters and their files, forget
set sizes against class counts, `top` scenarios naming a known downstream set, method instances against
the method registry (algorithm, hyper-parameters, ranges, scenario support), metric names and layers.
Every error is a :class:`ConfigError` whose message names the key and what was expected.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

from unlearnbench.report.layout import REFERENCE_ROWS

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "configs" / "schema.yaml"


class ConfigError(ValueError):
    """Invalid configuration; the message names the key and what was expected."""


def _with_defaults(base):
    set_props = base.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from set_props(validator, props, instance, schema)

    return validators.extend(base, {"properties": properties})


DefaultingValidator = _with_defaults(Draft202012Validator)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema with the `methods` section completed from the method registry."""
    from unlearnbench.methods import METHODS, method_schema

    schema = yaml.safe_load(Path(path).read_text())
    block = schema["properties"]["methods"]["additionalProperties"]
    block["properties"]["algorithm"] = {"enum": sorted(METHODS), "description": "a registered algorithm"}
    block["allOf"] = [{"if": {"properties": {"algorithm": {"const": name}}}, "then": method_schema(cls)}
                      for name, cls in sorted(METHODS.items())]
    return schema


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return data


def validate_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Return a validated copy of ``cfg`` with every default filled in; raise :class:`ConfigError`."""
    cfg = copy.deepcopy(dict(cfg))
    _check_methods_first(cfg)
    validator = DefaultingValidator(load_schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError(_format(errors[0]))
    validator.validate(cfg)  # second pass: defaults inside freshly defaulted objects
    _check_semantics(cfg)
    return cfg


def _format(err) -> str:
    path = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    msg = err.message
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        msg += f"; valid keys here: {allowed}"
    return f"{path}: {msg}"


def _check_methods_first(cfg: dict[str, Any]) -> None:
    """Method blocks get registry-specific messages (a oneOf failure says little)."""
    from unlearnbench.methods import MethodConfigError, create_method, grid_points

    methods = cfg.get("methods") or {}
    if not isinstance(methods, dict):
        raise ConfigError("methods: expected a mapping of instance name → {algorithm: …}")
    for name, spec in methods.items():
        if name in REFERENCE_ROWS:
            raise ConfigError(f"methods.{name}: the name is reserved for the reference models {list(REFERENCE_ROWS)}")
        if not isinstance(spec, dict) or "algorithm" not in spec:
            raise ConfigError(f"methods.{name}: expected a mapping with an `algorithm` key")
        try:
            create_method(name, spec)
            grid_points(name, spec)
        except MethodConfigError as exc:
            raise ConfigError(str(exc)) from None


def _check_semantics(cfg: dict[str, Any]) -> None:
    from unlearnbench.data import DatasetError, check_spec
    from unlearnbench.archs import known_layers
    from unlearnbench.methods import METHODS, scenario_support

    arch, kwargs = cfg["model"]["arch"], cfg["model"]["kwargs"]
    if known_layers(arch, kwargs) is None:  # only then import torch + timm (seconds): see archs.py
        from unlearnbench.models import ModelError, check_arch

        try:
            check_arch(arch)
        except ModelError as exc:
            raise ConfigError(str(exc)) from None
    if cfg["model"].get("pretrained"):
        from unlearnbench.checkpoints import CheckpointError, check_weights_file

        try:
            check_weights_file(cfg["model"]["pretrained"])
        except CheckpointError as exc:
            raise ConfigError(f"model.pretrained: {exc}") from None

    upstream = cfg["data"]["upstream"]
    try:
        n_classes = check_spec("data.upstream", upstream)
        for name, spec in cfg["data"]["downstream"].items():
            check_spec(f"data.downstream.{name}", spec, upstream)
    except DatasetError as exc:
        raise ConfigError(str(exc)) from None
    _check_heldout_parts(cfg["data"])

    names = [s["name"] for s in cfg["scenarios"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"scenarios: duplicate scenario names {dupes}")
    for i, sc in enumerate(cfg["scenarios"]):
        where = f"scenarios[{i}] ({sc['name']})"
        need = "n" if sc["kind"] == "samples" else "k"
        extra = {"k", "n", "downstream"} - {need} - ({"downstream"} if sc["kind"] == "top" else set())
        if need not in sc:
            raise ConfigError(f"{where}.{need}: required for kind {sc['kind']!r}")
        if extra & set(sc):
            raise ConfigError(f"{where}: key(s) {sorted(extra & set(sc))} do not apply to kind {sc['kind']!r}")
        if need == "k" and sc["k"] >= n_classes:
            raise ConfigError(f"{where}.k: {sc['k']} classes requested but the upstream dataset has {n_classes}; "
                              f"expected 1 ≤ k < {n_classes} (something must be retained)")
        if sc["kind"] == "top":
            if "downstream" not in sc:
                raise ConfigError(f"{where}.downstream: a `top` scenario names the downstream dataset that ranks classes")
            if sc["downstream"] not in cfg["data"]["downstream"]:
                raise ConfigError(f"{where}.downstream: unknown downstream dataset {sc['downstream']!r}; "
                                  f"configured: {sorted(cfg['data']['downstream'])}")

    kinds = {s["name"]: s["kind"] for s in cfg["scenarios"]}
    for inst, spec in cfg["methods"].items():
        cls = METHODS[spec["algorithm"]]
        if "surrogate_set" in spec and spec["surrogate_set"] not in cfg["data"]["downstream"]:
            raise ConfigError(f"methods.{inst}.surrogate_set: unknown downstream dataset {spec['surrogate_set']!r}; "
                              f"configured: {sorted(cfg['data']['downstream'])}")
        for sc in spec.get("scenarios", []):
            if sc not in kinds:
                raise ConfigError(f"methods.{inst}.scenarios: unknown scenario {sc!r}; configured: {sorted(kinds)}")
            if scenario_support(kinds[sc]) not in cls.supports:
                raise ConfigError(f"methods.{inst}.scenarios: {spec['algorithm']} supports {sorted(cls.supports)} "
                                  f"forgetting only, but scenario {sc!r} is {kinds[sc]!r} (sample) forgetting")

    layers = cfg["evaluation"]["layers"]
    valid = known_layers(arch, kwargs)
    if layers != "all" and valid is not None:
        bad = [name for name in layers if name not in valid]
        if bad:
            raise ConfigError(f"evaluation.layers: {bad} not in architecture {arch}; valid layers: {valid}")
    elif layers != "all":
        from unlearnbench.models import ModelError, check_layers, create_model

        try:
            check_layers(create_model(arch, n_classes, **kwargs), layers, arch)
        except ModelError as exc:
            raise ConfigError(str(exc)) from None
    _check_metrics(cfg)


def _check_heldout_parts(data: dict[str, Any]) -> None:
    """A CIFAR downstream set with ``part: heldout`` must hold out exactly what the upstream set leaves out."""
    up = data["upstream"]
    for name, spec in data["downstream"].items():
        if spec.get("type") in ("cifar10", "cifar100") and spec.get("part") == "heldout":
            keys = ("type", "path", "classes", "holdout", "holdout_seed")
            differ = [k for k in keys if spec.get(k, 0 if k == "holdout_seed" else None)
                      != up.get(k, 0 if k == "holdout_seed" else None)]
            if differ or up.get("part", "kept") != "kept":
                raise ConfigError(f"data.downstream.{name}: a `part: heldout` set must repeat the upstream's "
                                  f"{list(keys)} (upstream with `part: kept`); differs in {differ or ['part']}")


def _check_metrics(cfg: dict[str, Any]) -> None:
    try:
        from unlearnbench.metrics import METRICS, create_metric
    except ImportError:  # metrics package not installed yet
        return
    for name, params in cfg["evaluation"]["metrics"].items():
        if name not in METRICS:
            raise ConfigError(f"evaluation.metrics.{name}: unknown metric; registered: {sorted(METRICS)}")
        try:
            create_metric(name, **params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"evaluation.metrics.{name}: {exc}") from None


def method_scenarios(cfg: dict[str, Any], instance: str) -> list[str]:
    """Scenarios a method instance runs on: its explicit list, else every scenario it supports."""
    from unlearnbench.methods import METHODS, scenario_support

    spec = cfg["methods"][instance]
    if "scenarios" in spec:
        return list(spec["scenarios"])
    cls = METHODS[spec["algorithm"]]
    return [s["name"] for s in cfg["scenarios"] if scenario_support(s["kind"]) in cls.supports]


def scenario(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    for sc in cfg["scenarios"]:
        if sc["name"] == name:
            return sc
    raise ConfigError(f"unknown scenario {name!r}")
