"""The command line (``unlearnbench``, :mod:`unlearnbench.cli`) and the notebook API (``unlearnbench.load``) on
hand-written experiment folders (tests/fake_experiment.py): every subcommand, its exit codes and its error
messages, ``compare`` reading differences against their noise band, and a ``load()`` round trip."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from fake_experiment import make_experiment, shift
from unlearnbench import cli
from unlearnbench.aggregate import difference_band
from unlearnbench.report import layout


@pytest.fixture(scope="module")
def exp_a(tmp_path_factory) -> Path:
    return make_experiment(tmp_path_factory.mktemp("a") / "exp_a")


@pytest.fixture(scope="module")
def exp_b(tmp_path_factory) -> Path:
    """``exp_a`` with method ``good`` (scenario cls) forgetting worse (+0.2 forget-test accuracy: far beyond the
    noise band) and a k-NN value moved by 0.01 (inside it)."""
    shift_forget = shift("cls", "good", 0.2, metric="accuracy", split="forget_test")
    shift_knn = shift("cls", "good", 0.01, metric="knn", evalset="far")
    return make_experiment(tmp_path_factory.mktemp("b") / "exp_b", edit=lambda r: shift_knn(shift_forget(r)))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# --- entry point --------------------------------------------------------------------------------------------
def test_console_script_and_module_entry_point():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("unlearnbench") == "unlearnbench.cli:main"
    proc = subprocess.run([sys.executable, "-m", "unlearnbench.cli", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    for command in ("run", "where", "methods", "metrics", "attacks", "show", "compare"):
        assert command in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "unlearnbench", "show"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "OUT" in proc.stderr  # usage error: argparse's exit status


# --- registries ---------------------------------------------------------------------------------------------
def test_methods_listing_is_derived_from_the_registry(capsys):
    from unlearnbench.describe import first_sentence
    from unlearnbench.methods import METHODS

    rc, out, _ = run_cli(capsys, "methods")
    assert rc == 0 and f"{len(METHODS)} registered methods" in out
    for name, cls in METHODS.items():
        assert f"\n{name} — {first_sentence(cls.__doc__)}" in out
    scrub = METHODS["scrub"]
    block = out.split("\nscrub — ")[1].split("\n\n")[0]
    for key, values in scrub.tuning_grid.items():
        assert f"{key} ∈ {{{', '.join(map(str, values))}}}" in block
    assert "lr=0.0005 (0, inf)" in block  # default and declared range
    assert "forgetting: class, sample" in out.split("\nboundary_shrink — ")[0] + block
    assert "forgetting: class (scenario kinds: classes, random, top" in out.split("\nboundary_shrink — ")[1]

    rc, out, _ = run_cli(capsys, "methods", "scrub")
    assert rc == 0 and scrub.__doc__.strip().split("\n")[0] in out and "cells counted from 0" in out  # full doc
    assert "temperature = 4.0  range (0, inf)  — distillation temperature" in out


def test_metrics_and_attacks_listings(capsys):
    from unlearnbench.attacks import ATTACKS
    from unlearnbench.metrics import METRICS

    rc, out, _ = run_cli(capsys, "metrics")
    assert rc == 0 and all(f"\n{name} — " in out for name in METRICS)
    assert "k=5" in out.split("\nknn — ")[1].split("\n\n")[0]
    rc, out, _ = run_cli(capsys, "attacks")
    assert rc == 0 and all(f"\n{name} — " in out for name in ATTACKS.names())
    assert "kind: model" in out.split("\nfewshot_relearn — ")[1] and "forgetting: class, sample" in out
    rc, out, _ = run_cli(capsys, "attacks", "prototype_relearn")
    assert rc == 0 and "per_class = 5" in out and "kind: features" in out


@pytest.mark.parametrize("kind", ["methods", "metrics", "attacks"])
def test_unknown_registry_name_is_an_error(capsys, kind):
    rc, out, err = run_cli(capsys, kind, "no_such_thing")
    assert rc == 1 and out == ""
    assert f"unknown {kind[:-1]} 'no_such_thing'; registered: " in err


# --- show ---------------------------------------------------------------------------------------------------
def test_show_prints_the_leaderboards(capsys, exp_a):
    rc, out, _ = run_cli(capsys, "show", str(exp_a))
    assert rc == 0
    for sc in ("cls", "smp"):
        assert layout.leaderboard_file(exp_a, sc, "md").read_text().strip() in out
    rc, out, _ = run_cli(capsys, "show", str(exp_a), "--scenario", "smp")
    assert rc == 0 and "scenario smp" in out and "scenario cls" not in out
    rc, out, _ = run_cli(capsys, "show", str(exp_a), "--scenario", "cls", "--format", "tex")
    assert rc == 0 and "\\toprule" in out and str(layout.leaderboard_file(exp_a, "cls", "tex")) in out


def test_show_errors(capsys, exp_a, tmp_path):
    rc, out, err = run_cli(capsys, "show", str(tmp_path / "missing"))
    assert rc == 1 and out == "" and f"{tmp_path / 'missing'}: no such folder" in err
    rc, _, err = run_cli(capsys, "show", str(tmp_path))
    assert rc == 1 and f"{tmp_path} is not an unlearnbench experiment folder" in err
    rc, _, err = run_cli(capsys, "show", str(exp_a.parent))  # the folder above an experiment: named as a hint
    assert rc == 1 and f"experiment folders under it: {exp_a}" in err
    bare = tmp_path / "bare"  # aggregated, but the report jobs have not run
    layout.summary_dir(bare).mkdir(parents=True)
    pd.DataFrame({"scenario": ["s"]}).to_parquet(layout.summary_table(bare))
    rc, _, err = run_cli(capsys, "show", str(bare))
    assert rc == 1 and f"{bare} has no leaderboards yet" in err
    rc, _, err = run_cli(capsys, "show", str(exp_a), "--scenario", "nope")
    assert rc == 1 and "no leaderboard for scenario 'nope'; scenarios: cls, smp" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["show", str(exp_a), "--unknown-flag"])
    assert exc.value.code == 2
    capsys.readouterr()


# --- compare ------------------------------------------------------------------------------------------------
def test_compare_flags_a_difference_beyond_the_band_and_not_one_within(capsys, exp_a, exp_b, tmp_path):
    csv = tmp_path / "out" / "cmp.csv"
    rc, out, _ = run_cli(capsys, "compare", str(exp_a), str(exp_b), "--csv", str(csv))
    assert rc == 0
    table = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    rows = table.set_index(["scenario", "method", "quantity"])
    forget = rows.loc[("cls", "good", "forget_test_acc")]
    knn = rows.loc[("cls", "good", "knn_far")]
    assert forget["diff"] == pytest.approx(0.2) and bool(forget["beyond_band"])
    assert knn["diff"] == pytest.approx(0.01) and not bool(knn["beyond_band"])
    # the band is aggregate.difference_band of the two summary rows (the verdicts' rule)
    sa, sb = (pd.read_parquet(layout.summary_table(o)).set_index(["scenario", "method", "quantity"])
              for o in (exp_a, exp_b))
    key = ("cls", "good", "knn_far")
    assert knn["band"] == pytest.approx(difference_band(sa.loc[key], sb.loc[key]))
    assert 0.01 < knn["band"] < 0.2
    # nothing else moved but the scores the shifted rows feed (the gaps, harmonic: no noise of their own here)
    beyond = table[table["beyond_band"].astype(bool)]
    assert set(beyond["method"]) == {"good"}
    assert set(beyond["quantity"]) <= {"forget_test_acc", "gap_logit", "gap_repr", "harmonic"}
    others = table[(table["method"] != "good") | (table["scenario"] != "cls")]
    assert (others["diff"].fillna(0) == 0).all() and not others["beyond_band"].astype(bool).any()
    # printed: the rows beyond the band and the verdict change of `good`
    line = next(ln for ln in out.splitlines() if "forget_test_acc" in ln)
    assert line.split()[:3] == ["cls", "good", "forget_test_acc"] and "+0.200" in line and "yes" in line
    assert "knn_far" not in out  # within the band: not printed without --all
    assert "1 verdict change(s)" in out and "close to retrain" in out and "did not forget" in out
    assert forget["verdict_a"] == "close to retrain" and forget["verdict_b"] == "did not forget"
    assert f"wrote {csv}" in out


def test_compare_all_scenario_filter_and_errors(capsys, exp_a, exp_b, tmp_path):
    rc, out, _ = run_cli(capsys, "compare", str(exp_a), str(exp_b), "--all", "--scenario", "cls")
    assert rc == 0 and "knn_far" in out and "\nsmp " not in out
    rc, out, _ = run_cli(capsys, "compare", str(exp_a), str(exp_a))
    assert rc == 0 and " 0 differ beyond" in out and "0 verdict change(s)" in out
    rc, _, err = run_cli(capsys, "compare", str(exp_a), str(tmp_path / "nope"))
    assert rc == 1 and f"{tmp_path / 'nope'}: no such folder" in err
    rc, _, err = run_cli(capsys, "compare", str(exp_a), str(exp_b), "--scenario", "zzz")
    assert rc == 1 and "scenario 'zzz' is in neither summary" in err


def test_compare_noise_not_estimated_counts_as_zero_band():
    a = pd.DataFrame([{"scenario": "s", "method": "m", "quantity": "q", "mean": 0.5, "ci95": math.nan,
                       "se_seeds": math.nan, "se_eval": math.nan, "n_seeds": 1}])
    b = a.assign(mean=0.6)
    c = pd.concat([a, a.assign(quantity="only_a")])
    row = cli.compare_summaries(a, b).iloc[0]
    assert row["band"] == 0 and row["beyond_band"] and row["note"] == "noise not estimated"
    both = cli.compare_summaries(c, b).set_index("quantity")
    assert both.loc["only_a", "note"] == "only in A" and not both.loc["only_a", "beyond_band"]


# --- run / where --------------------------------------------------------------------------------------------
def test_run_needs_the_workflow_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli(capsys, "run")
    assert rc == 1 and f"no Snakefile in {tmp_path}" in err


def test_run_passes_snakemake_arguments_and_prints_where(capsys, tmp_path, monkeypatch):
    from unlearnbench import resume, where

    (tmp_path / "Snakefile").write_text("")
    (tmp_path / "profiles" / "default").mkdir(parents=True)
    (tmp_path / "my.yaml").write_text("experiment: x\n")
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(resume, "main", lambda argv: calls.append(("snakemake", argv)) or 0)
    monkeypatch.setattr(where, "main", lambda argv: calls.append(("where", argv)) or 0)
    assert cli.main(["run", "--configfile", "my.yaml", "--cores", "3", "--forcerun", "aggregate"]) == 0
    assert calls == [("snakemake", ["--workflow-profile", "profiles/default", "--configfile", "my.yaml", "--cores",
                                    "3", "--forcerun", "aggregate"]),
                     ("where", ["--configfile", "my.yaml"])]
    calls.clear()
    assert cli.main(["run", "--configfile", "my.yaml", "-n", "--config", "seed=1"]) == 0  # dry run: no "where"
    assert calls == [("snakemake", ["--workflow-profile", "profiles/default", "--configfile", "my.yaml", "-n",
                                    "--config", "seed=1"])]
    calls.clear()
    monkeypatch.setattr(resume, "main", lambda argv: calls.append(("snakemake", argv)) or 1)
    assert cli.main(["run", "--configfile", "my.yaml"]) == 1 and [c for c, _ in calls] == ["snakemake"]
    rc, _, err = run_cli(capsys, "run", "--configfile", "other.yaml")
    assert rc == 1 and "config file other.yaml does not exist" in err
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_where(capsys):
    rc, out, _ = run_cli(capsys, "where", "--configfile", "configs/quick.yaml", "--directory", str(REPO))
    assert rc == 0 and "outputs/quick/report/index.html" in out and "leaderboard/" in out


# --- notebook API -------------------------------------------------------------------------------------------
def test_load_round_trip(exp_a):
    import unlearnbench

    exp = unlearnbench.load(exp_a)
    results = pd.read_parquet(layout.results_table(exp_a))
    key = ["scenario", "seed", "method", "metric", "variant", "split", "evalset", "layer", "reference"]
    got = exp.results.sort_values(key).reset_index(drop=True)
    want = results.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want) > 100 and set(got.columns) == set(want.columns)
    pd.testing.assert_series_equal(got["value"], want["value"])
    pd.testing.assert_frame_equal(exp.summary, pd.read_parquet(layout.summary_table(exp_a)))
    pd.testing.assert_frame_equal(exp.leaderboard, pd.read_csv(layout.combined_leaderboard(exp_a)))
    assert exp.scenarios == ["cls", "smp"] and exp.board("cls")["method"].iloc[0] == "retrain"
    runs = exp.runs.set_index(["scenario", "seed", "method"])
    assert len(runs) == 2 * 3 * 8 and runs.loc[("cls", 1, "good"), "wall_time_s"] == 11.0
    assert runs.loc[("cls", 0, "div"), "status"] == "diverged" and runs.loc[("cls", 2, "good"), "model"] == \
        "unlearn/cls/seed2/good"
    meta = exp.meta
    assert meta["experiment"] == "exp_a" and meta["config_hash"] == "cfg0" and meta["code_version"] == "0.1.0+test"
    assert meta["seeds"] == [0, 1, 2] and meta["scenarios"]["smp"]["kind"] == "samples"
    assert meta["scenarios"]["smp"]["n_forget_samples"] == 3 and meta["data"]["upstream"]["data_hash"] == "dh"
    assert "retrain" in meta["methods"]["cls"] and json.dumps(meta)  # JSON-friendly
    assert "exp_a" in repr(exp) and "630 result rows" in repr(exp)


def test_load_errors_name_the_folder(tmp_path, exp_a):
    import unlearnbench

    with pytest.raises(unlearnbench.NotAnExperimentError, match=f"{tmp_path / 'nope'}: no such folder"):
        unlearnbench.load(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="is not an unlearnbench experiment folder: it has neither results/"):
        unlearnbench.load(tmp_path)
    with pytest.raises(unlearnbench.NotAnExperimentError, match=f"experiment folders under it: {exp_a}"):
        unlearnbench.load(exp_a.parent)


def test_load_is_a_lazy_attribute_without_torch():
    code = ("import sys, unlearnbench; assert 'unlearnbench.api' not in sys.modules; unlearnbench.load; "
            "import unlearnbench.cli; print('torch' in sys.modules, 'unlearnbench.api' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]
