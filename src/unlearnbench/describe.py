"""The registries in words: what ``unlearnbench methods | metrics | attacks | datasets | scenario-kinds``
lists and what the report's glossary (``report/index.html``) says about each registered component.

Everything comes from :meth:`Registry.describe <unlearnbench.registry.Registry.describe>` — parameters with
their defaults and constraints (:mod:`unlearnbench.params`), the docstring, and the facts each entry states
about itself (``describe_facts``: a method's forgetting and tuning grid, an attack's kind) — so nothing here is
a hand-kept list. :data:`REGISTRIES` says where each registry lives; each is imported on demand, inside the
function that lists it (none imports torch), so a report job that lists metrics does not depend on the method
modules.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from unlearnbench.params import Param
from unlearnbench.registry import Description, Registry, doc_text, first_sentence

__all__ = ["REGISTRIES", "Entry", "Param", "RegistryInfo", "attack_entries", "doc_text", "entries",
           "first_sentence", "method_entries", "metric_entries", "registry", "scenario_kinds"]

Entry = Description  # the name the CLI and glossary knew it by


@dataclass(frozen=True)
class RegistryInfo:
    """Where a registry lives (``module``, ``attr``), its CLI command and what a config calls its entries."""

    command: str
    module: str
    attr: str
    what: str
    configured: str


#: every registry, by the noun its CLI command lists (``unlearnbench <command> [NAME]``)
REGISTRIES = {info.command: info for info in (
    RegistryInfo("methods", "unlearnbench.methods", "METHODS", "unlearning methods",
                 "a config's `methods:` block names instances of them"),
    RegistryInfo("metrics", "unlearnbench.metrics", "METRICS", "metrics",
                 "parameters under `evaluation.metrics.<name>`"),
    RegistryInfo("attacks", "unlearnbench.attacks", "ATTACKS", "recovery attacks",
                 "parameters under `attacks.params.<name>`"),
    RegistryInfo("datasets", "unlearnbench.data", "DATASETS", "dataset adapters",
                 "`data.upstream` / `data.downstream.<name>`: `type: <name>` and its keys"),
    RegistryInfo("scenario-kinds", "unlearnbench.scenario_kinds", "SCENARIO_KINDS", "scenario kinds",
                 "`scenarios: [{name, kind: <name>, <keys>}]`"),
)}


def registry(command: str) -> Registry:
    """The registry a CLI command lists (imported now: importing it registers its members)."""
    info = REGISTRIES[command]
    return getattr(importlib.import_module(info.module), info.attr)


def entries(command: str) -> list[Description]:
    """Every entry of one registry, described, by name."""
    return registry(command).describe_all()


def method_entries() -> list[Description]:
    """Every registered unlearning algorithm: hyper-parameters (default, range, help), the scenario kinds it
    runs on, its tuning grid and its docstring."""
    return entries("methods")


def metric_entries() -> list[Description]:
    """Every registered metric: its keyword hyper-parameters with their defaults and its docstring."""
    return entries("metrics")


def attack_entries() -> list[Description]:
    """Every registered recovery attack: kind (``features``: on the feature cache, ``model``: fine-tunes a
    copy), the forgetting it is defined for, its keyword hyper-parameters and its docstring."""
    return entries("attacks")


def scenario_kinds() -> list[str]:
    """The registered scenario kinds (``scenarios[].kind``)."""
    return registry("scenario-kinds").names()
