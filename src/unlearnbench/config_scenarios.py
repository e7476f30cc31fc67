"""Config checks of the scenarios (forget sets), dispatched to their kinds (:mod:`unlearnbench.scenario_kinds`):
each kind's keys and what they name — class counts and names, the training-set size a `samples` set is drawn
from, a downstream set, a forget-list file — read cheaply from the config, label arrays or folder listings,
before any job runs. Called by :func:`unlearnbench.config.validate_config`; every error is a
:class:`~unlearnbench.config.ConfigError`. :func:`scenario_schema` derives the schema's ``scenarios`` items."""
from __future__ import annotations

from typing import Any

from unlearnbench.config import ConfigError

__all__ = ["check_scenario", "scenario_keys", "scenario_schema", "upstream_class_names", "upstream_train_size"]


def scenario_keys() -> dict[str, tuple[str, ...]]:
    """The keys each registered scenario kind takes besides name, kind and seed."""
    from unlearnbench.scenario_kinds import SCENARIO_KINDS

    return {name: tuple(p.name for p in SCENARIO_KINDS[name].keys) for name in SCENARIO_KINDS}


def check_scenario(cfg: dict[str, Any], where: str, sc: dict[str, Any], n_classes: int,
                   memo: dict[str, Any]) -> None:
    """One scenario: its kind's keys and what they name (:meth:`ScenarioKind.check
    <unlearnbench.scenario_kinds.ScenarioKind.check>`: class counts, class names, the training-set size, a
    downstream set, a forget-list file — read and checked here, before any job)."""
    from unlearnbench.scenario_kinds import CheckContext, ScenarioKind

    ctx = CheckContext(cfg, where, n_classes, lambda carved: upstream_train_size(cfg, carved=carved, memo=memo),
                       lambda: upstream_class_names(cfg))
    try:
        ScenarioKind.from_spec(sc, where).check(ctx)
    except (ValueError, KeyError) as exc:  # ParamError, ForgetSetError, an unknown kind
        raise ConfigError(exc.args[0] if isinstance(exc, KeyError) else str(exc)) from None


def scenario_schema(base: dict[str, Any]) -> dict[str, Any]:
    """The schema of one ``scenarios`` entry: ``base`` (name, seed) plus ``kind`` (the registered kinds, each
    described by its docstring's first sentence) and every kind's keys (the first declaration of a key shared by
    several kinds gives its schema; which kinds take it is in its help line). Which keys a kind requires or
    refuses is checked by :func:`check_scenario`, with messages naming the kind."""
    from unlearnbench.scenario_kinds import SCENARIO_KINDS

    props = dict(base.get("properties", {}))
    kinds = [SCENARIO_KINDS.describe(n) for n in SCENARIO_KINDS]
    props["kind"] = {"enum": [d.name for d in kinds],
                     "description": " ".join(f"`{d.name}` ({d.facts['forgetting']} forgetting): {d.summary}"
                                             for d in kinds)}
    for name in SCENARIO_KINDS:
        for p in SCENARIO_KINDS[name].keys:
            if p.name not in props:
                props[p.name] = {**p.constraint.schema(), "description": p.help}
    return {**base, "properties": props}


def upstream_class_names(cfg: dict[str, Any]) -> list[str] | None:
    """The upstream class names in label order, read cheaply (config, metadata, listing; nothing decoded); None
    when the dataset adapter cannot tell (then a `classes` scenario's names are checked by its forget-set job)."""
    from unlearnbench.data import DatasetError, dataset_class_names

    try:
        return dataset_class_names("data.upstream", cfg["data"]["upstream"])
    except DatasetError as exc:
        raise ConfigError(str(exc)) from None


def upstream_train_size(cfg: dict[str, Any], carved: bool = True,
                        memo: dict[str, Any] | None = None) -> tuple[int, str] | None:
    """``(images, how)``: the upstream training images a `samples` forget set is drawn from — after the dataset's
    class restriction and caps and, when tuning carves a validation split, after that split (``carved=False``:
    before it, the numbering an `indices` forget list uses) — and a phrase saying how it was counted; None when
    the dataset adapter cannot tell cheaply. Nothing is decoded: the count comes from the config (generated
    data), the label array of an ``.npz`` or a folder listing. ``memo`` (a dict) keeps the count between calls of
    one validation, so that a folder is listed once however many scenarios ask."""
    from unlearnbench.data import DatasetError, train_class_counts
    from unlearnbench.data.arrays import carved_count

    upstream = cfg["data"]["upstream"]
    memo = {} if memo is None else memo
    if "counts" not in memo:
        try:
            memo["counts"] = train_class_counts("data.upstream", upstream)
        except DatasetError as exc:
            raise ConfigError(str(exc)) from None
    counts = memo["counts"]
    if counts is None:
        return None
    total = int(counts.sum())
    tuning = cfg.get("tuning", {})
    fraction = float(tuning.get("validation_fraction", 0)) if tuning.get("enabled") else 0.0
    if fraction > 0 and carved:
        carved_n = sum(carved_count(int(c), fraction) for c in counts)
        return total - carved_n, (f"data.upstream ({upstream['type']}) has {total}, minus {carved_n} carved into "
                                  f"the tuning validation split by tuning.validation_fraction: {fraction:g}")
    return total, f"data.upstream ({upstream['type']}) has {total}"
