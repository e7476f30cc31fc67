"""Recovery attacks on unlearned models, with the retrained model as the control (docs/attacks.md).

Importing this package registers every attack module in it (one module per attack; see
:mod:`unlearnbench.attacks.base` for the two kinds). The imports are by name, so a job's code hash adds
the modules of the attacks it runs explicitly (:func:`attack_modules`).
"""
import importlib
import pkgutil

from unlearnbench.attacks.base import (ATTACKS, RELEARN, Attack, AttackTarget, FeatureAttack, ModelAttack,
                                       attack_config)
from unlearnbench.plugins import load_plugins

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod not in ("base", "stage"):
        importlib.import_module(f"{__name__}.{_mod}")

load_plugins("unlearnbench.attacks")  # attacks of installed packages (entry points; unlearnbench.plugins)

__all__ = ["ATTACKS", "RELEARN", "Attack", "AttackTarget", "FeatureAttack", "ModelAttack", "applies",
           "attack_config", "attack_modules", "model_attacks_apply"]


def applies(attack: Attack, fset) -> bool:
    """Whether ``attack`` is defined for a forget set (``class`` when whole classes are forgotten, else
    ``sample``)."""
    return ("class" if fset.forget_classes else "sample") in attack.scenarios


def attack_modules(kind: str) -> list[str]:
    """Module names of the registered attacks of ``kind`` (``features`` | ``model``), for code hashes."""
    return sorted({ATTACKS.get(n).__module__ for n in ATTACKS.names() if ATTACKS.get(n).kind == kind})


def model_attacks_apply(cfg_attacks: dict, scenario_kind: str) -> bool:
    """Whether any configured model attack runs on a scenario of ``scenario_kind`` (the workflow's job list)."""
    from unlearnbench.data.forget_sets import forget_mode

    kind = forget_mode(scenario_kind)
    return any(kind in a.scenarios for a in attack_config(cfg_attacks, kind="model").values())
