"""Config checks of the scenarios (forget sets): each kind's keys and what they name — class counts and names,
the training-set size a `samples` set is drawn from, a downstream set, a forget-list file — read cheaply from
the config, label arrays or folder listings, before any job runs. Called by
:func:`unlearnbench.config.validate_config`; every error is a :class:`~unlearnbench.config.ConfigError`."""
from __future__ import annotations

from typing import Any

from unlearnbench.config import ConfigError

__all__ = ["SCENARIO_KEYS", "check_scenario", "upstream_class_names", "upstream_train_size"]


#: the keys each scenario kind takes besides name, kind and seed (`samples`: exactly one of n, fraction)
SCENARIO_KEYS = {"random": ("k",), "top": ("k", "downstream"), "classes": ("classes",), "samples": ("n", "fraction"),
                 "indices": ("file",)}


def check_scenario(cfg: dict[str, Any], where: str, sc: dict[str, Any], n_classes: int,
                    memo: dict[str, Any]) -> None:
    """One scenario: its kind's keys (:data:`SCENARIO_KEYS`) and what they name — class counts, class names, the
    training-set size, a downstream set, a forget-list file (read and checked here, before any job)."""
    from unlearnbench.data.forget_sets import ForgetSetError, check_index_range, read_index_file, resolve_classes

    kind, keys = sc["kind"], SCENARIO_KEYS[sc["kind"]]
    if kind == "samples" and "n" not in sc and "fraction" not in sc:
        raise ConfigError(f"{where}.n: required for kind 'samples' (or `fraction`: a fraction of the training samples)")
    if kind == "samples" and "n" in sc and "fraction" in sc:
        raise ConfigError(f"{where}: key(s) ['fraction', 'n']: give exactly one of `n` (a count) or `fraction` "
                          "for kind 'samples'")
    for key in keys:
        if key not in sc and kind != "samples" and key != "downstream":  # `top` without downstream: see below
            raise ConfigError(f"{where}.{key}: required for kind {kind!r}")
    extra = sorted(({k for ks in SCENARIO_KEYS.values() for k in ks} - set(keys)) & set(sc))
    if extra:
        raise ConfigError(f"{where}: key(s) {extra} do not apply to kind {kind!r}")
    if "k" in keys and sc["k"] >= n_classes:
        raise ConfigError(f"{where}.k: {sc['k']} classes requested but the upstream dataset has {n_classes}; "
                          f"expected 1 ≤ k < {n_classes} (something must be retained)")
    try:
        if kind == "samples" and "n" in sc:
            _check_sample_count(f"{where}.n", sc["n"], upstream_train_size(cfg, memo=memo))
        elif kind == "samples":
            _check_sample_fraction(f"{where}.fraction", sc["fraction"], upstream_train_size(cfg, memo=memo))
        elif kind == "classes":
            resolve_classes(sc["classes"], upstream_class_names(cfg), n_classes, f"{where}.classes")
        elif kind == "indices":
            listed = read_index_file(sc["file"], f"{where}.file")
            size = upstream_train_size(cfg, carved=False, memo=memo)
            if size is not None:
                check_index_range(listed, size[0], f"{where}.file", sc["file"], f" ({size[1]})")
    except ForgetSetError as exc:
        raise ConfigError(str(exc)) from None
    if kind == "top":
        if "downstream" not in sc:
            raise ConfigError(f"{where}.downstream: a `top` scenario names the downstream dataset that ranks classes")
        if sc["downstream"] not in cfg["data"]["downstream"]:
            raise ConfigError(f"{where}.downstream: unknown downstream dataset {sc['downstream']!r}; "
                              f"configured: {sorted(cfg['data']['downstream'])}")


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


def _check_sample_count(key: str, n: int, size: tuple[int, str] | None) -> None:
    """A `samples` forget set must leave something to retain: 1 ≤ n < the training images it is drawn from
    (``size``: :func:`upstream_train_size`)."""
    if size is not None and n >= size[0]:
        raise ConfigError(f"{key}: {n} training samples requested but only {size[0]} upstream training images are "
                          f"available ({size[1]}); expected 1 ≤ n < {size[0]} (something must be retained)")


def _check_sample_fraction(key: str, fraction: float, size: tuple[int, str] | None) -> None:
    """``round(fraction × available)`` samples are drawn: at least one, and not all of them."""
    from unlearnbench.data.forget_sets import sample_count

    if size is None:
        return
    n = sample_count({"fraction": fraction}, size[0])
    if not 1 <= n < size[0]:
        raise ConfigError(f"{key}: {fraction:g} × {size[0]} upstream training images ({size[1]}) rounds to {n} "
                          f"samples; expected 1 ≤ round(fraction × {size[0]}) < {size[0]}")
