"""Every package module, edited in a copy, reruns exactly the jobs whose code imports it — no more, no fewer.

For each ``src/unlearnbench/**.py`` (one at a time, in a copy of the quick run with its own package) a dry run
lists the jobs Snakemake would rerun. They must be exactly the jobs whose entry point reaches the module — the
import closure of the job's workflow script plus the components the job looks up by name (:func:`rule_code`, the
oracle, written from what each job runs) — and the jobs downstream of those (they read changed outputs); a job
not reached may rerun only because a job upstream of it does. A module no job reaches must leave the dry run
empty. The closures themselves are checked against what real jobs load in ``test_codegraph.py``.

About 140 dry runs, two at a time (≈ 5 min on 2 cores): not part of ``make test``; ``make test-edits`` runs it
(and CI, after the suite).
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

import unlearnbench
from conftest import REPO, package_copy, package_dry_run
from unlearnbench.attacks import attack_modules
from unlearnbench.codegraph import import_closure, script_entries
from unlearnbench.methods import method_module
from unlearnbench.plugins import plugin_modules
from unlearnbench.report.figures import figure_modules
from unlearnbench.scenario_kinds import kind_modules

pytestmark = pytest.mark.exhaustive

#: the package the quick run executed (the installed one: its source tree is what the copies edit)
PACKAGE = Path(unlearnbench.__file__).resolve().parent
WORKERS = 2


def _algorithm(cfg: dict):
    return lambda w: (method_module(cfg["methods"][w["method"]]["algorithm"]),)


def rule_code(cfg: dict) -> dict[str, tuple[str, object]]:
    """Rule → (workflow script, the entries it looks up by name: a tuple or a function of the job's wildcards)."""
    kinds = tuple(kind_modules())
    return {
        "prepare_data": ("prepare_data", tuple(plugin_modules("unlearnbench.datasets"))),
        "train_original": ("train", ()),
        "train_original_prime": ("train", ()),
        "train_retrain": ("train", ()),
        "select_forget_set": ("select_forget_set", kinds),
        "tune": ("tune", _algorithm(cfg)),
        "unlearn": ("unlearn", _algorithm(cfg)),
        "extract_features": ("extract_features", ()),
        "evaluate": ("evaluate", (*attack_modules("features"), *plugin_modules("unlearnbench.metrics"))),
        "attack": ("attack", tuple(attack_modules("model"))),
        "aggregate": ("aggregate", ()),
        "leaderboard": ("report_leaderboard", (*attack_modules("features"), *attack_modules("model"), *kinds)),
        "plots": ("report_plots", (*kinds, *figure_modules())),
        "exports": ("report_exports", kinds),
    }


def package_modules() -> list[str]:
    mods = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        mods.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return mods


def module_path(work: Path, module: str) -> Path:
    base = work / "src" / Path(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


_RULE = re.compile(r"^(?:local)?rule (\w+):$")


def planned_jobs(stdout: str) -> list[dict]:
    """Every job a dry run lists: its rule, wildcards (sorted pairs), input and output files and reason."""
    jobs, current = [], None
    for line in stdout.splitlines():
        text = line.strip()
        if m := _RULE.match(text):
            current = {"rule": m.group(1), "wildcards": (), "input": (), "output": (), "reason": ""}
            jobs.append(current)
        elif current is not None and ":" in text:
            key, _, value = text.partition(":")
            value = value.strip()
            if key == "wildcards":
                current["wildcards"] = tuple(sorted(tuple(p.split("=", 1)) for p in value.split(", ")))
            elif key in ("input", "output"):
                current[key] = tuple(value.split(", ")) if value else ()
            elif key == "reason":
                current["reason"] = value
    return [j for j in jobs if j["rule"] != "all"]


def job_id(job: dict) -> tuple:
    return job["rule"], job["wildcards"]


def downstream(jobs: list[dict], start: set[tuple]) -> set[tuple]:
    """``start`` and every job that consumes, directly or not, an output of one of them."""
    producer = {path: job_id(j) for j in jobs for path in j["output"]}
    consumers: dict[tuple, set[tuple]] = {}
    for j in jobs:
        for path in j["input"]:
            if path in producer:
                consumers.setdefault(producer[path], set()).add(job_id(j))
    seen, todo = set(start), list(start)
    while todo:
        for nxt in consumers.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_parses_the_dry_run_listing_and_follows_outputs_downstream():
    text = ("rule unlearn:\n    input: a.pt, data.npz\n    output: m.pt\n    jobid: 3\n"
            "    reason: Params have changed since last execution\n"
            "    wildcards: scenario=random1, seed=0, method=ga\n    resources: tmpdir=x\n\n"
            "localrule aggregate:\n    input: m.pt\n    output: r.parquet\n"
            "    reason: Input files updated by another job: m.pt\n\n"
            "rule plots:\n    input: other.parquet\n    output: p.png\n\nlocalrule all:\n    input: p.png\n")
    jobs = planned_jobs(text)
    assert [(job_id(j), j["reason"]) for j in jobs] == [
        (("unlearn", (("method", "ga"), ("scenario", "random1"), ("seed", "0"))),
         "Params have changed since last execution"),
        (("aggregate", ()), "Input files updated by another job: m.pt"), (("plots", ()), "")]
    assert jobs[0]["input"] == ("a.pt", "data.npz") and jobs[1]["output"] == ("r.parquet",)
    assert downstream(jobs, {job_id(jobs[0])}) == {job_id(jobs[0]), ("aggregate", ())}


def test_an_edit_to_any_module_reruns_exactly_the_jobs_whose_code_imports_it(quick_run, tmp_path):
    cfg = yaml.safe_load((quick_run / "configs" / "quick.yaml").read_text())
    code = rule_code(cfg)
    works = [package_copy(quick_run, tmp_path / f"work{i}") for i in range(WORKERS)]
    baseline = planned_jobs(package_dry_run(works[0]))
    assert baseline == [], f"the unedited copy is not up to date: {baseline[:5]}"
    # every job of the experiment, with its inputs and outputs: a forced dry run lists them all
    listing = package_dry_run(works[0], "--forceall")
    every_job = planned_jobs(listing)
    assert {j["rule"] for j in every_job} == set(code), "rule_code must name every rule of the workflow"

    closures: dict[tuple, set[str]] = {}

    def reached_by(rule: str, wildcards: tuple) -> set[str]:
        script, entries = code[rule]
        entries = entries(dict(wildcards)) if callable(entries) else entries
        key = (script, tuple(entries))
        if key not in closures:
            closures[key] = import_closure([*script_entries(REPO / "workflow_scripts" / f"{script}.py"), *entries])
        return closures[key]

    def check(worker: int, modules: list[str]) -> list[str]:
        work, failures = works[worker], []
        for module in modules:
            path = module_path(work, module)
            original = path.read_text()
            path.write_text(original + "\n# an edit\n")
            try:
                planned = planned_jobs(package_dry_run(work))
            finally:
                path.write_text(original)
            reran = {job_id(j) for j in planned}
            changed = {job_id(j) for j in every_job if module in reached_by(j["rule"], j["wildcards"])}
            expected = downstream(every_job, changed)
            # the changed jobs themselves, and whatever reads their outputs: nothing else, for no other reason
            others = [(job_id(j), j["reason"]) for j in planned if job_id(j) not in changed
                      and not j["reason"].startswith("Input files updated by another job")]
            if reran != expected or others:
                failures.append(f"{module}: rerun but not reached {sorted(reran - expected)[:3]}; reached but not "
                                f"rerun {sorted(expected - reran)[:3]}; rerun for another reason {others[:3]}")
        return failures

    modules = package_modules()
    assert len(modules) > 50
    with ThreadPoolExecutor(WORKERS) as pool:
        results = pool.map(check, range(WORKERS), [modules[i::WORKERS] for i in range(WORKERS)])
        failures = [f for part in results for f in part]
    assert not failures, "\n".join(failures)
