"""Experiment configuration: JSON-schema validation with defaults, then semantic checks.

``validate_config(cfg)`` fills every default from the package's ``schema.yaml`` (``src/unlearnbench/schema.yaml``,
package data read with :mod:`importlib.resources`, so an installed wheel validates too; the same schema
mechanism as ``snakemake.utils.validate(set_default=True)``), rejects unknown keys and out-of-range values,
then checks what a schema cannot express: the architecture exists in timm, a pretrained weights file exists
and is loadable as weights (safetensors, or a weights-only PyTorch state dict; so is every file of
``retrain.pretrained`` and of a method's ``input_files``, e.g. ``external``'s), dataset adapters and their files, forget set sizes against class counts and training-set
sizes, `top` scenarios naming a known downstream set, `classes` scenarios naming known classes, `indices`
forget-list files (parsed; indices unique and within the training set), method instances against
the method registry (algorithm, hyper-parameters, ranges, scenario support), metric names and layers.
Every error is a :class:`ConfigError` whose message names the key and what was expected.
"""
from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

from unlearnbench.params import ParamError
from unlearnbench.report.layout import REFERENCE_ROWS

#: the config schema, package data of ``unlearnbench`` (pyproject.toml ``[tool.setuptools.package-data]``)
SCHEMA_RESOURCE = "schema.yaml"
#: the schema's default of ``tuning.enabled`` (needed before defaults are filled in)
TUNING_DEFAULT = False


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


def schema_text() -> str:
    """The text of the packaged config schema (works from a source tree, an editable install or a wheel)."""
    return resources.files("unlearnbench").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


def load_schema(path: str | Path | None = None) -> dict[str, Any]:
    """The config schema (the packaged one unless ``path`` is given) completed from the registries: the
    `methods` blocks (each algorithm's hyper-parameters), the `scenarios` entries (each kind's keys) and the
    dataset `type`s (the registered adapters, each with its summary)."""
    from unlearnbench.config_scenarios import scenario_schema
    from unlearnbench.data import DATASETS
    from unlearnbench.methods import METHODS, method_schema

    schema = yaml.safe_load(Path(path).read_text() if path is not None else schema_text())
    block = schema["properties"]["methods"]["additionalProperties"]
    block["properties"]["algorithm"] = {"enum": METHODS.names(), "description": "a registered algorithm"}
    block["allOf"] = [{"if": {"properties": {"algorithm": {"const": name}}}, "then": method_schema(cls)}
                      for name, cls in METHODS.items()]
    scenarios = schema["properties"]["scenarios"]
    scenarios["items"] = scenario_schema(scenarios["items"])
    dataset_type = schema["$defs"]["dataset"]["properties"]["type"]
    dataset_type["enum"] = DATASETS.names()
    dataset_type["description"] += " " + " ".join(f"`{d.name}`: {d.summary}" for d in DATASETS.describe_all())
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
    """Method blocks get registry-specific messages (a oneOf failure says little).

    An instance named after a registered algorithm may leave ``algorithm`` out (``scrub: {lr: 0.001}``, or
    ``scrub:`` alone for the published recipe): the name is the algorithm. That is also what
    ``dvc exp run -S 'config.yaml:++methods.<algorithm>.<key>=…'`` creates for an instance config.yaml lacks."""
    from unlearnbench.methods import METHODS, MethodConfigError, create_method, grid_points

    methods = cfg.get("methods") or {}
    if not isinstance(methods, dict):
        raise ConfigError("methods: expected a mapping of instance name → {algorithm: …}")
    for name, spec in list(methods.items()):
        if name in REFERENCE_ROWS:
            raise ConfigError(f"methods.{name}: the name is reserved for the reference models {list(REFERENCE_ROWS)}")
        if spec is None and name in METHODS:
            spec = methods[name] = {}
        if isinstance(spec, dict) and "algorithm" not in spec and name in METHODS:
            spec["algorithm"] = name
        if not isinstance(spec, dict) or "algorithm" not in spec:
            raise ConfigError(f"methods.{name}: expected a mapping with an `algorithm` key (only an instance named "
                              f"after a registered algorithm may leave it out; registered: {sorted(METHODS)})")
        try:
            create_method(name, spec)
            for point in grid_points(name, spec):  # each point with the block's other values (cross-key rules)
                create_method(name, {**spec, **point})
        except MethodConfigError as exc:
            raise ConfigError(str(exc)) from None
    _check_tuned_keys(cfg)


def _check_semantics(cfg: dict[str, Any]) -> None:
    from unlearnbench.data import DatasetError, check_spec
    from unlearnbench.archs import known_layers
    from unlearnbench.data.forget_sets import forget_mode
    from unlearnbench.methods import METHODS

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

    _check_train(cfg["train"])
    if cfg["floor_seeds"] is not None and cfg["floor_seeds"] > len(cfg["seeds"]):
        raise ConfigError(f"floor_seeds: {cfg['floor_seeds']} is more than the {len(cfg['seeds'])} replicate seeds "
                          f"(seeds: {cfg['seeds']}); expected at most {len(cfg['seeds'])}, or null for every seed")

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
    from unlearnbench.config_scenarios import check_scenario

    memo: dict[str, Any] = {}  # the training-set count, read once and only when a scenario needs it
    for i, sc in enumerate(cfg["scenarios"]):
        check_scenario(cfg, f"scenarios[{i}] ({sc['name']})", sc, n_classes, memo)

    kinds = {s["name"]: s["kind"] for s in cfg["scenarios"]}
    for inst, spec in cfg["methods"].items():
        cls = METHODS[spec["algorithm"]]
        if "surrogate_set" in spec and spec["surrogate_set"] not in cfg["data"]["downstream"]:
            raise ConfigError(f"methods.{inst}.surrogate_set: unknown downstream dataset {spec['surrogate_set']!r}; "
                              f"configured: {sorted(cfg['data']['downstream'])}")
        for sc in spec.get("scenarios", []):
            if sc not in kinds:
                raise ConfigError(f"methods.{inst}.scenarios: unknown scenario {sc!r}; configured: {sorted(kinds)}")
            if forget_mode(kinds[sc]) not in cls.supports:  # the kind's registered mode
                raise ConfigError(f"methods.{inst}.scenarios: {spec['algorithm']} supports {sorted(cls.supports)} "
                                  f"forgetting only, but scenario {sc!r} is {kinds[sc]!r} "
                                  f"({forget_mode(kinds[sc])}) forgetting")

    _check_imported_weights(cfg)

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
    _check_attacks(cfg)


def _check_imported_weights(cfg: dict[str, Any]) -> None:
    """Every per-run file a config names exists and is loadable: ``retrain.pretrained`` for each scenario and
    replicate seed, and each method instance's :meth:`~unlearnbench.methods.UnlearningMethod.input_files` for
    each run it takes part in (``external``'s ``weights``). Two runs of different scenarios or seeds may not read
    one file (a template lacking ``{scenario}`` or ``{seed}``): they would be one run reported as several."""
    from unlearnbench.checkpoints import check_template, check_weights_file, expand_weights_path
    from unlearnbench.methods import create_method

    seeds = [int(s) for s in cfg["seeds"]]

    def check_runs(key: str, runs: list[tuple[str, int]], path_of, check) -> None:
        seen: dict[str, tuple[str, int]] = {}
        for scenario_name, seed in runs:
            path = path_of(scenario_name, seed)
            if path in seen:
                raise ConfigError(f"{key}: scenario {seen[path][0]!r} seed {seen[path][1]} and scenario "
                                  f"{scenario_name!r} seed {seed} would both read {path}; name {{scenario}} and "
                                  "{seed} in the path template")
            seen[path] = (scenario_name, seed)
            try:
                check(path)
            except ValueError as exc:  # CheckpointError included
                raise ConfigError(f"{key}: {exc}") from None

    template = cfg["retrain"]["pretrained"]
    if template:
        try:
            check_template(template)
        except ValueError as exc:
            raise ConfigError(f"retrain.pretrained: {exc}") from None
        runs = [(s["name"], seed) for s in cfg["scenarios"] for seed in seeds]
        check_runs("retrain.pretrained", runs,
                   lambda sc, seed: expand_weights_path(template, scenario=sc, seed=seed), check_weights_file)
    for inst, spec in cfg["methods"].items():
        method = create_method(inst, spec)
        runs = [(sc, seed) for sc in method_scenarios(cfg, inst) for seed in seeds]
        for key in (method.input_files(*runs[0]) if runs else {}):
            check_runs(f"methods.{inst}.{key}", runs, lambda sc, seed, key=key: method.input_files(sc, seed)[key],
                       lambda path, key=key: method.check_input_file(key, path))


def _check_tuned_keys(cfg: dict[str, Any]) -> None:
    """With tuning on, the tune stage sets every key of an instance's grid: a value given for such a key in the
    block would never be used, so it is an error (not a silent override). Checked on the blocks as written,
    before schema defaults fill every hyper-parameter."""
    from unlearnbench.methods import grid_points

    tuning = cfg.get("tuning") or {}
    if not (tuning.get("enabled", TUNING_DEFAULT) if isinstance(tuning, dict) else TUNING_DEFAULT):
        return
    for name, spec in (cfg.get("methods") or {}).items():
        points = grid_points(name, spec)
        for key in (points[0] if points else {}):
            if key in spec:
                values = sorted({p[key] for p in points})
                raise ConfigError(f"methods.{name}.{key}: the tune stage searches {key} over {values} and sets it, so "
                                  f"this value ({spec[key]!r}) would never be used; remove it, give the values to "
                                  f"search as `grid: {{{key}: [...]}}`, or fix it with `methods.{name}.tune: false`")


def _check_train(train: dict[str, Any]) -> None:
    """The rules of :class:`unlearnbench.training.TrainConfig` a schema cannot express (checked here, not first
    when a training job starts): warm-up within the epochs, ``milestones`` required by and only for
    ``schedule: multistep``, strictly increasing and within the epochs."""
    epochs, milestones = train["epochs"], list(train["milestones"])
    if train["warmup_epochs"] > epochs:
        raise ConfigError(f"train.warmup_epochs: {train['warmup_epochs']} is longer than training; expected "
                          f"0 ≤ warmup_epochs ≤ train.epochs ({epochs})")
    if (train["schedule"] == "multistep") != bool(milestones):
        raise ConfigError(f"train.milestones: required by, and only for, `schedule: multistep`; got schedule "
                          f"{train['schedule']!r} with milestones {milestones}")
    if milestones and (milestones != sorted(set(milestones)) or milestones[-1] > epochs):
        raise ConfigError(f"train.milestones: expected strictly increasing epochs in [1, train.epochs = {epochs}], "
                          f"got {milestones}")
    from unlearnbench.training import TrainConfig

    try:
        TrainConfig(**train)
    except ValueError as exc:
        raise ConfigError(f"train: {exc}") from None


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
        where = f"evaluation.metrics.{name}"
        try:
            METRICS.validate(name, params, where)
        except ParamError as exc:
            raise ConfigError(str(exc)) from None
        try:
            create_metric(name, **params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _check_attacks(cfg: dict[str, Any]) -> None:
    """Every ``attacks.params.<name>`` names a registered attack and its parameters validate."""
    from unlearnbench.attacks import ATTACKS

    for name, params in (cfg["attacks"].get("params") or {}).items():
        if name not in ATTACKS:
            raise ConfigError(f"attacks.params.{name}: unknown attack; registered: {ATTACKS.names()}")
        where = f"attacks.params.{name}"
        try:
            ATTACKS.validate(name, params, where)
        except ParamError as exc:
            raise ConfigError(str(exc)) from None
        try:
            ATTACKS.create(name, **params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from None


def method_scenarios(cfg: dict[str, Any], instance: str) -> list[str]:
    """Scenarios a method instance runs on: its explicit list, else every scenario it supports."""
    from unlearnbench.data.forget_sets import forget_mode
    from unlearnbench.methods import METHODS

    spec = cfg["methods"][instance]
    if "scenarios" in spec:
        return list(spec["scenarios"])
    cls = METHODS[spec["algorithm"]]
    return [s["name"] for s in cfg["scenarios"] if forget_mode(s["kind"]) in cls.supports]
