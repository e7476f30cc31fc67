"""Scenario kinds: a self-registering set, one module per kind (:mod:`.base` for the contract).

Importing this package registers every kind module in it and the kinds of installed packages (entry-point
group ``unlearnbench.scenario_kinds``). The imports are by name, so a job's code hash adds the kind modules
explicitly (:func:`kind_modules`, as for attacks and methods).
"""
import importlib
import pkgutil

from unlearnbench.plugins import load_plugins
from unlearnbench.scenario_kinds.base import (SCENARIO_KINDS, CheckContext, Drawn, ForgetInputs, ScenarioKind,
                                              register_scenario_kind)

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod != "base":
        importlib.import_module(f"{__name__}.{_mod}")

load_plugins("unlearnbench.scenario_kinds")  # kinds of installed packages (entry points; unlearnbench.plugins)


def kind_modules() -> list[str]:
    """Modules of every registered kind (built-in and plugin), for the code hashes of the jobs that dispatch on
    a scenario's kind (the import graph does not see registry lookups by name)."""
    return sorted({SCENARIO_KINDS[name].__module__ for name in SCENARIO_KINDS})


__all__ = ["SCENARIO_KINDS", "CheckContext", "Drawn", "ForgetInputs", "ScenarioKind", "kind_modules",
           "register_scenario_kind"]
