"""Code hashes from the import graph: the closures hold what jobs really import (checked against the
modules a real job loads), the cases hand-kept lists got wrong are covered, and an edit to a module reruns
exactly the jobs whose code reaches it (dry runs on a copy of the package)."""
from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, job_counts, package_copy, package_dry_run
from unlearnbench.codegraph import import_closure, script_entries
from unlearnbench.layout import Layout, model_id
from unlearnbench.attacks import ATTACKS, attack_modules
from unlearnbench.methods import METHODS, method_module
from unlearnbench.scenario_kinds import kind_modules

SCRIPTS = REPO / "workflow_scripts"


def closure(script: str, *entries: str) -> set[str]:
    return import_closure([*script_entries(SCRIPTS / f"{script}.py"), *entries])


def test_closures_hold_the_cases_hand_kept_lists_missed():
    salun, scrub = closure("unlearn", method_module("salun")), closure("unlearn", method_module("scrub"))
    assert "unlearnbench.methods.random_label" in salun  # SalUn subclasses RL: editing RL reruns SalUn
    assert "unlearnbench.methods.random_label" not in scrub and "unlearnbench.methods.salun" not in scrub
    assert "unlearnbench.data.forget_sets" in closure("train")  # the retrained model reads the forget set
    assert {"unlearnbench.training", "unlearnbench.models"} <= closure("extract_features")
    assert "unlearnbench.features" in closure("select_forget_set")  # `top` ranks on the original's features
    assert "unlearnbench.attacks.relearn" not in closure("evaluate")
    light = closure("report_plots") | closure("aggregate") | closure("evaluate")
    assert not {"unlearnbench.training", "unlearnbench.references", "unlearnbench.methods"} & light
    assert "unlearnbench.data.prepare" not in closure("train") and "unlearnbench.references" not in closure("unlearn")
    assert not {m for m in closure("train") if m.startswith("unlearnbench.report.p")}


def test_an_algorithm_reaches_other_algorithms_only_through_its_own_imports():
    import re

    algorithms = {method_module(a) for a in METHODS}
    for algorithm in METHODS:
        own = method_module(algorithm)
        reached = algorithms & closure("unlearn", own)
        source = (REPO / "src" / (own.replace(".", "/") + ".py")).read_text()
        imported = {f"unlearnbench.methods.{m}" for m in re.findall(r"unlearnbench\.methods\.(\w+) import", source)}
        assert own in reached and reached - {own} <= imported, (algorithm, reached)


def _modules_loaded(code: str) -> set[str]:
    """unlearnbench modules a fresh interpreter has loaded after running ``code``."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('unlearnbench'))))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_jobs_load_no_module_outside_their_closure(quick_out, tmp_path):
    """The static closure over-approximates what a real job imports (lazy imports included)."""
    q = Layout(quick_out)
    original, forget, data = q.checkpoint("original"), q.forget_set("random1"), q.data_files("upstream")
    npz, manifest = data["npz"], data["meta"]
    feats = {role: {ev: str(q.features(model_id("random1", 0, m), ev)) for ev in ("train", "test", "similar", "unrelated")}
             for role, m in (("model", "original"), ("original", "original"), ("retrain", "retrain"))}
    jobs = {
        "unlearn": (f"""from unlearnbench.stages import unlearn
unlearn("ga", {{"algorithm": "gradient_ascent", "epochs": 1}}, "{original}",
        "{npz}", "{manifest}", "{forget}",
        "{tmp_path}/ga.safetensors", seed=0, threads=2, device="cpu")""", (method_module("gradient_ascent"),)),
        "extract_features": (f"""from unlearnbench.stages import extract_features
extract_features("{original}", [("test", "{npz}")],
                 ["{tmp_path}/test.safetensors"], layers="all", batch_size=512, max_per_class=None, dtype="float32",
                 seed=0, threads=2, device="cpu", gram_per_class=16, gram_max_bytes=1 << 30)""", ()),
        "evaluate": (f"""from unlearnbench.stages import evaluate
evaluate(scenario="random1", seed=0, method="original", algorithm="original",
         model_ckpt="{original}", features={feats!r}, forget_json="{forget}",
         data_npz="{npz}", data_json="{manifest}", downstream=["similar", "unrelated"],
         layers="all", metrics={{}}, data_seed=0, out="{tmp_path}/rows.parquet",
         attacks={{"enabled": True}})""", tuple(attack_modules("features"))),
        "attack": (f"""from unlearnbench.stages import attack
attack(scenario="random1", seed=0, method="retrain", algorithm="retrain",
       model_ckpt="{q.run_checkpoint("random1", 0, "retrain")}",
       original_features="{q.features("original", "test")}", data_npz="{npz}",
       data_json="{manifest}", forget_json="{forget}",
       attacks={{"enabled": True, "params": {{"fewshot_relearn": {{"steps": 1, "eval_every": 1}},
                                              "retain_relearn": {{"steps": 1, "eval_every": 1}}}}}},
       data_seed=0, threads=2, device="cpu", out="{tmp_path}/relearn.parquet")""",
                   tuple(attack_modules("model"))),
    }
    # importing a registry loads every member module; a job runs only its own (see codegraph)
    registry = {method_module(a) for a in METHODS} | {ATTACKS.get(a).__module__ for a in ATTACKS.names()}
    registry |= set(kind_modules())
    for script, (code, entries) in jobs.items():
        loaded = _modules_loaded(code)
        assert loaded - closure(script, *entries) - registry == set(), script


@pytest.mark.slow
def test_an_edit_reruns_exactly_the_jobs_whose_code_reaches_it(quick_run, tmp_path):
    cfg = yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())
    work = package_copy(quick_run, tmp_path / "work")
    assert job_counts(package_dry_run(work)) == {}  # the copy, unedited, is up to date
    evalsets = 2 + len(cfg["data"]["downstream"])
    reports = {"leaderboard": 1, "plots": 1, "exports": 1}
    cases = {
        "methods/boundary.py": {"unlearn": 1, "extract_features": evalsets, "evaluate": 1, "attack": 1, "aggregate": 1,
                                **reports},
        # model attacks run in the attack jobs only, feature-cache attacks in the evaluate jobs only
        "attacks/relearn.py": {"attack": 10, "aggregate": 1, **reports},
        "attacks/prototype.py": {"evaluate": 13, "aggregate": 1, **reports},
        "report/plot_maps.py": {"plots": 1},
        "report/verdicts.py": reports,
    }
    for module, expected in cases.items():
        path = work / "src" / "unlearnbench" / module
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        try:
            assert job_counts(package_dry_run(work)) == expected, module
        finally:
            path.write_text(original)


def test_registry_packages_discover_their_members_and_the_closures_see_the_same_scan(tmp_path):
    """Metrics and dataset adapters are found by reading the package folder (one new file is enough), and the
    import graph reaches exactly those modules through the package's ``import_registering`` call."""
    from unlearnbench.data import DATASETS
    from unlearnbench.discovery import registering_modules
    from unlearnbench.metrics import METRICS

    registered = {"unlearnbench.metrics": {METRICS.get(n).__module__ for n in METRICS.names()},
                  "unlearnbench.data": {DATASETS.get(n).build.__module__ for n in DATASETS.names()}}
    for package, decorator in (("unlearnbench.metrics", "register_metric"), ("unlearnbench.data", "register_dataset")):
        found = set(registering_modules(package, str(REPO / "src" / Path(*package.split("."))), decorator))
        assert found == registered[package]  # (no plugins installed in the test environment)
        assert found <= import_closure([package])
    (tmp_path / "fresh.py").write_text("from x import register_metric\n\n@register_metric('fresh')\nclass F: ...\n")
    (tmp_path / "helper.py").write_text("def register_metric(name): ...\n\nclass Helper: ...\n")
    (tmp_path / "dotted.py").write_text("import m\n\n@m.base.register_metric('d')\ndef build(): ...\n")
    assert registering_modules("pkg", str(tmp_path), "register_metric") == ("pkg.dotted", "pkg.fresh")
