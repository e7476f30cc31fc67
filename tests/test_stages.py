"""``stages`` is the one module of stage entry points: every workflow script calls one entry by name, the module
imports nothing of the package at module level (so a job's code hash reaches its own stage's modules only),
no module of the stages takes part in an import cycle, and test scaffolding never runs in a job."""
from __future__ import annotations

import ast

from conftest import REPO
from unlearnbench import stages
from unlearnbench.codegraph import import_closure, module_file, script_entries

SCRIPTS = sorted((REPO / "workflow_scripts").glob("*.py"))
#: the stage modules this refactoring keeps acyclic (entries, implementations, the shared loops)
STAGE_MODULES = ["unlearnbench.stages", "unlearnbench.references", "unlearnbench.runs", "unlearnbench.heads",
                 "unlearnbench.training", "unlearnbench.features", "unlearnbench.forget_selection",
                 "unlearnbench.data.prepare", "unlearnbench.unlearning", "unlearnbench.tuning"]


def test_every_workflow_script_calls_stage_entries_by_name():
    called = set()
    for script in SCRIPTS:
        entries = dict(script_entries(script))
        assert set(entries) - {"unlearnbench", "unlearnbench.workflow"} == {"unlearnbench.stages"}, script.name
        names = entries["unlearnbench.stages"]
        assert names and names <= set(stages.__all__), script.name  # `import unlearnbench.stages` would reach all
        called |= names
    assert called == set(stages.__all__)  # no entry without a job


def test_stages_imports_nothing_of_the_package_at_module_level():
    tree = ast.parse(module_file("unlearnbench.stages").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    modules += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    assert not [m for m in modules if m.startswith("unlearnbench")]


def test_no_stage_module_is_part_of_an_import_cycle():
    for name in STAGE_MODULES:
        for other in import_closure([name]) - {name}:
            assert name not in import_closure([other]), f"{name} -> {other} -> {name}"


def test_test_scaffolding_is_no_stage_code():
    for script in SCRIPTS:
        assert not {m for m in import_closure(script_entries(script)) if m.startswith("unlearnbench.testing")}
