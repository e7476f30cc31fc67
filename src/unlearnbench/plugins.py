"""Components from installed packages: entry-point plugins of the registries (:mod:`unlearnbench.registry`).

A distribution extends unlearnbench by declaring entry points in one of :data:`GROUPS`; each entry point's
value names a module (``name = "my_package.my_method"``) whose import registers its components with the
usual decorators (``@register_method``, ``@register_metric``, ``@register_dataset``, ``@ATTACKS.register``,
``@register_scenario_kind``).
Each registry package calls :func:`load_plugins` at the end of its own import, so a plugin component is
listed, validated and code-hashed (by its module's source file: :func:`unlearnbench.codegraph.closure_hash`)
exactly like a built-in. A plugin that fails to import raises :class:`PluginError` naming the entry point and
its distribution — never silently skipped; a name clashing with a built-in fails with the registry's
"already registered" error, wrapped the same way. ``examples/unlearnbench-example-plugin`` is a complete one.
"""
from __future__ import annotations

import importlib
import importlib.metadata

__all__ = ["GROUPS", "PluginError", "load_plugins", "plugin_modules", "plugin_source"]

#: entry-point group → the registry package that loads it
GROUPS = {"unlearnbench.methods": "unlearnbench.methods", "unlearnbench.metrics": "unlearnbench.metrics",
          "unlearnbench.datasets": "unlearnbench.data", "unlearnbench.attacks": "unlearnbench.attacks",
          "unlearnbench.scenario_kinds": "unlearnbench.scenario_kinds"}

_LOADED: dict[str, dict[str, str]] = {}  # group -> {module: "entry point (distribution)"}, complete groups only
_LOADING: set[str] = set()  # groups being loaded (a plugin importing its registry package again)


class PluginError(RuntimeError):
    """A plugin entry point could not be imported (the message names it, its distribution and the cause)."""


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=group), key=lambda ep: (ep.name, ep.value))


def _describe(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    where = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"entry point {ep.name!r} = {ep.value!r} of {where}"


def load_plugins(group: str) -> dict[str, str]:
    """Import every entry point of ``group`` once (idempotent); return ``{module: description}``.

    Raises :class:`PluginError` (naming the entry point, its distribution and the original error, chained)
    when one fails to import; the group is then not marked loaded, so the next call raises again."""
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; groups: {sorted(GROUPS)}")
    if group in _LOADED:
        return dict(_LOADED[group])
    if group in _LOADING:  # re-entered from a plugin's own import of the registry package
        return {}
    _LOADING.add(group)
    try:
        found: dict[str, str] = {}
        for ep in _entry_points(group):
            module = ep.value.partition(":")[0].strip()
            try:
                importlib.import_module(module)
            except Exception as exc:
                raise PluginError(f"plugin {_describe(ep)} (group {group!r}) failed to import: "
                                  f"{type(exc).__name__}: {exc}") from exc
            found[module] = _describe(ep)
        _LOADED[group] = found
    finally:
        _LOADING.discard(group)
    return dict(found)


def plugin_modules(group: str) -> list[str]:
    """Sorted modules the entry points of ``group`` name: for reports and code hashes. Imports the group's
    registry package first (which loads them), so built-ins are registered before any plugin."""
    importlib.import_module(GROUPS[group])
    return sorted(load_plugins(group))


def plugin_source(module: str) -> str | None:
    """Which plugin entry point provides ``module`` (or a module under it); None when none does (a built-in)."""
    for found in _LOADED.values():
        for mod, desc in found.items():
            if module == mod or module.startswith(mod + "."):
                return desc
    return None
