"""The registries in words: what ``unlearnbench methods | metrics | attacks`` lists and what the report's
glossary (``report/index.html``) says about each registered component.

Everything is derived from the registries — :data:`unlearnbench.methods.METHODS` (hyper-parameter fields
with their defaults and ranges, ``supports``, ``tuning_grid``), :data:`unlearnbench.metrics.METRICS` and
:data:`unlearnbench.attacks.ATTACKS` (explicit ``__init__`` keywords) — and from each class's docstring;
nothing here is a hand-kept list. The registries are imported on demand, inside the function that lists
them (none imports torch), so a report job that lists metrics does not depend on the method modules.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Entry", "Param", "attack_entries", "doc_text", "first_sentence", "method_entries", "metric_entries",
           "scenario_kinds"]


@dataclass
class Param:
    """One hyper-parameter: its name, default, valid range (when the registry declares one) and help."""

    name: str
    default: Any
    range: str = ""
    help: str = ""


@dataclass
class Entry:
    """One registered component: ``summary`` is its docstring's first sentence, ``doc`` the whole docstring,
    ``facts`` further (label → text) lines such as supported scenario kinds or a tuning grid."""

    name: str
    summary: str
    doc: str
    params: list[Param] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)


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


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def scenario_kinds() -> list[str]:
    """Scenario kinds the config schema accepts (``scenarios[].kind``), in its order."""
    import yaml

    from unlearnbench.config import schema_text

    try:
        return list(yaml.safe_load(schema_text())["properties"]["scenarios"]["items"]["properties"]["kind"]["enum"])
    except (KeyError, TypeError):  # a schema without a kind enum: the registry's own words below
        return []


def method_entries() -> list[Entry]:
    """Every registered unlearning algorithm: hyper-parameters (default, range, help), the scenario kinds
    it runs on, its tuning grid and its docstring."""
    import dataclasses

    from unlearnbench.methods import METHODS, scenario_support
    from unlearnbench.methods.base import describe_range

    kinds = scenario_kinds()
    out = []
    for name, cls in sorted(METHODS.items()):
        params = [Param(f.name, f.default, _range(f, describe_range), f.metadata.get("help", ""))
                  for f in dataclasses.fields(cls)]
        supports = sorted(cls.supports)
        on = [k for k in kinds if scenario_support(k) in cls.supports]
        grid = "; ".join(f"{k} ∈ {{{', '.join(_fmt(v) for v in vals)}}}" for k, vals in cls.tuning_grid.items())
        doc = doc_text(cls)
        out.append(Entry(name, first_sentence(doc), doc, params, {
            "forgetting": ", ".join(supports) + (f" (scenario kinds: {', '.join(on)})" if on else ""),
            "tuning grid": grid or "none (nothing to tune)",
            **_origin(cls)}))
    return out


def _origin(cls: type) -> dict[str, str]:
    """The ``module`` fact, and ``plugin`` (entry point and distribution) for a component of an installed
    package (:mod:`unlearnbench.plugins`)."""
    from unlearnbench.plugins import plugin_source

    source = plugin_source(cls.__module__)
    return {"module": cls.__module__, **({"plugin": source} if source else {})}


def _range(f, describe_range) -> str:
    """A field's declared range or choices; empty when it declares neither (a flag, free text)."""
    m = f.metadata
    declared = m.get("choices") or any(m.get(k) is not None for k in ("ge", "gt", "le", "lt"))
    return describe_range(f) if declared else ""


def _init_params(cls: type) -> list[Param]:
    sig = inspect.signature(cls.__init__)
    return [Param(p, sig.parameters[p].default) for p in cls.param_names()]


def metric_entries() -> list[Entry]:
    """Every registered metric: its keyword hyper-parameters with their defaults and its docstring."""
    from unlearnbench.metrics import METRICS

    return [Entry(name, first_sentence(doc_text(cls)), doc_text(cls), _init_params(cls), _origin(cls))
            for name, cls in sorted(METRICS.items())]


def attack_entries() -> list[Entry]:
    """Every registered recovery attack: kind (``features``: on the feature cache, ``model``: fine-tunes a
    copy), the forgetting it is defined for, its keyword hyper-parameters and its docstring."""
    from unlearnbench.attacks import ATTACKS

    out = []
    for name in ATTACKS.names():
        cls = ATTACKS.get(name)
        doc = doc_text(cls)
        out.append(Entry(name, first_sentence(doc), doc, _init_params(cls),
                         {"kind": cls.kind, "forgetting": ", ".join(cls.scenarios),
                                                              **_origin(cls)}))
    return out
