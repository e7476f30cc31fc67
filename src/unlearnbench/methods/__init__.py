"""Unlearning methods: a self-registering zoo. Importing this package registers every method module."""
import importlib
import pkgutil

from unlearnbench.methods.base import (METHODS, MethodConfigError, UnlearningMethod, UnlearnOutcome, UnlearnTask,
                                       create_method, grid_points, hparam, method_schema, method_module,
                                       register_method, scenario_support)
from unlearnbench.plugins import load_plugins

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod not in ("base", "common"):
        importlib.import_module(f"{__name__}.{_mod}")

load_plugins("unlearnbench.methods")  # methods of installed packages (entry points; unlearnbench.plugins)

__all__ = ["METHODS", "MethodConfigError", "UnlearningMethod", "UnlearnOutcome", "UnlearnTask", "create_method",
           "grid_points", "hparam", "method_schema", "method_module", "register_method", "scenario_support"]
