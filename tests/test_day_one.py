"""Day-one fixes (issue #16, part 1), each with its check:

1. every documented `dvc exp run -S` form applies to config.yaml and validates, an instance named after its
   algorithm may omit `algorithm`, and a real `dvc exp run -S` reruns only the touched branch;
2. atomically written files get the umask's mode (0644 under 022), not mkstemp's 0600;
3. `{OUT}/results/` is one readable Parquet dataset (aggregated tables live in `{OUT}/summary/`);
4. the config schema ships in the wheel and validates from a non-editable install;
5. a `samples` scenario larger than the training set is rejected at validation (generated, npz, imagefolder);
6. feature extraction reports progress in a job log (non-TTY);
7. `make bench` and the docs name only benchmark scripts that exist.

The tiny DVC experiment (fixture ``tiny_repo``) is a git + DVC repository whose config.yaml is a preset
smaller than configs/quick.yaml (1 scenario, 1 seed, no tuning, no floor): a cold `dvc repro`, then one
`dvc exp run -S`, in about a minute on 2 cores.
"""
from __future__ import annotations

import copy
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, copy_workflow, job_counts
from unlearnbench.config import ConfigError, load_schema, validate_config
from unlearnbench.layout import REPORT_DIR, SUMMARY_DIR, Layout, job_key
from unlearnbench.report import layout

BIN = Path(sys.executable).parent
DVC = BIN / "dvc"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
       "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.org", "DVC_NO_ANALYTICS": "1"}

#: smaller than configs/quick.yaml: 28 jobs, ~30 s cold on 2 cores
TINY = {
    "experiment": "tiny", "output_root": "outputs", "seeds": [0], "floor": False, "threads": 2,
    "data": {"upstream": {"type": "synthetic", "superclasses": 2, "fine_per_superclass": 2, "train_per_class": 24,
                          "test_per_class": 8, "seed": 0},
             "downstream": {"similar": {"type": "synthetic_downstream", "kind": "similar", "classes": 2,
                                        "train_per_class": 10, "test_per_class": 5, "seed": 1}}},
    "model": {"arch": "cifar_resnet8"},
    "train": {"epochs": 1, "batch_size": 32, "lr": 0.05},
    "scenarios": [{"name": "random1", "kind": "random", "k": 1}],
    "tuning": {"enabled": False},
    # `ga` leaves lr at its default: the documented `++` form adds it
    "methods": {"ga": {"algorithm": "gradient_ascent", "epochs": 1, "batch_size": 32},
                "bs": {"algorithm": "boundary_shrink", "epochs": 1, "lr": 0.0001}},
    "evaluation": {"layers": "all", "batch_size": 256},
}


def sh(cwd: Path, *cmd, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def tiny_config() -> dict:
    cfg = copy.deepcopy(TINY)
    if "attacks" in load_schema()["properties"]:  # recovery attacks are not what these tests are about
        cfg["attacks"] = {"enabled": False}
    return cfg


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "logs" not in p.parts and "benchmarks" not in p.parts}


# ------------------------------------------------------------------------------------ 1. dvc exp run -S
def documented_set_params() -> list[tuple[str, list[str]]]:
    """(command, [-S values]) of every `dvc exp run` line in the fenced code blocks of README.md and docs/dvc.md."""
    found = []
    for doc in (REPO / "README.md", REPO / "docs" / "dvc.md"):
        blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", doc.read_text(), flags=re.S)
        for line in "\n".join(blocks).splitlines():
            if "dvc exp run" not in line or "-S" not in line:
                continue
            cmd = line.split("#")[0] if " #" in line else line
            cmd = cmd.split("dvc exp run", 1)[1].split(";")[0]
            words = shlex.split(cmd.replace("$lr", "0.003"))
            sets = [words[i + 1] for i, w in enumerate(words) if w == "-S"]
            found.append((f"{doc.name}: {line.strip()}", sets))
    return found


def test_documented_exp_run_forms_apply_to_config_yaml_and_take_effect(tmp_path):
    """Every `-S` example of the docs, applied to config.yaml by DVC's own override code, gives a valid config;
    and every hyper-parameter it sets is one the run uses (not one the tune stage overrides from its grid)."""
    from dvc.utils.hydra import apply_overrides

    from unlearnbench.methods import METHODS, grid_points

    examples = documented_set_params()
    assert len(examples) >= 6, examples
    for where, sets in examples:
        params = tmp_path / "config.yaml"
        shutil.copy(REPO / "config.yaml", params)
        assert all(s.startswith("config.yaml:") for s in sets), where
        overrides = [s.removeprefix("config.yaml:") for s in sets]
        apply_overrides(params, overrides)
        cfg = validate_config(yaml.safe_load(params.read_text()))
        for ov in overrides:
            path, value = ov.lstrip("+").split("=", 1)
            parts = path.split(".")
            if parts[0] != "methods" or len(parts) != 3:
                continue
            inst, key = parts[1], parts[2]
            spec = cfg["methods"][inst]
            if key in {f for f in METHODS[spec["algorithm"]].__dataclass_fields__}:
                tuned = cfg["tuning"]["enabled"] and grid_points(inst, spec)
                assert not (tuned and key in tuned[0]), f"{where}: {inst}.{key} is chosen by the tune stage"
                assert spec[key] == yaml.safe_load(value), where


def test_set_param_without_plus_plus_needs_the_key_in_config_yaml(tmp_path):
    """What the docs say: without `++`, DVC rejects a key config.yaml leaves at its default."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "config.yaml"
    shutil.copy(REPO / "config.yaml", params)
    assert "alpha" not in yaml.safe_load(params.read_text())["methods"]["scrub"]
    with pytest.raises(InvalidArgumentError):
        apply_overrides(params, ["methods.scrub.alpha=0.01"])


def test_an_instance_named_after_its_algorithm_may_omit_algorithm():
    cfg = yaml.safe_load((REPO / "configs" / "quick.yaml").read_text())
    cfg["methods"]["scrub"] = {"epochs": 1}
    cfg["methods"]["ssd"] = None  # `ssd:` alone: the published recipe
    out = validate_config(cfg)
    assert out["methods"]["scrub"]["algorithm"] == "scrub" and out["methods"]["scrub"]["epochs"] == 1
    assert out["methods"]["ssd"]["algorithm"] == "ssd"
    cfg["methods"]["ga_fast"] = {"lr": 0.01}  # not a registered algorithm: still needs one
    with pytest.raises(ConfigError, match=r"methods\.ga_fast: expected a mapping with an `algorithm` key"):
        validate_config(cfg)


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> Path:
    """A git + DVC repository of the tiny experiment after a cold `dvc repro`, dvc.lock committed."""
    work = copy_workflow(tmp_path_factory.mktemp("tiny_dvc"))
    for name in ("dvc.yaml", ".dvcignore", ".gitignore", "scripts", "Makefile"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    shutil.copytree(REPO / "src" / "unlearnbench", work / "src" / "unlearnbench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (work / ".dvc").mkdir()
    for name in ("config", ".gitignore"):
        shutil.copy2(REPO / ".dvc" / name, work / ".dvc" / name)
    (work / "config.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    sh(work, "git", "init", "-q")
    sh(work, "git", "add", "-A")
    sh(work, "git", "commit", "-qm", "tiny experiment")
    sh(work, DVC, "repro")
    sh(work, "git", "add", "dvc.lock")
    sh(work, "git", "commit", "-qm", "dvc.lock")
    return work


def test_dvc_exp_run_set_param_reruns_only_its_branch(tiny_repo):
    """The documented `++` form on a key the block lacks: one real `dvc exp run -S`; Snakemake reruns the
    method's unlearning, its feature extraction and evaluation, the aggregation and the report — nothing else."""
    out = tiny_repo / "outputs" / "tiny"
    before = file_hashes(out)
    proc = sh(tiny_repo, DVC, "exp", "run", "-S", "config.yaml:++methods.ga.lr=0.01")
    log = proc.stdout + proc.stderr
    jobs = job_counts(log)
    evalsets = 2 + len(TINY["data"]["downstream"])
    assert jobs.get("unlearn") == 1 and jobs.get("extract_features") == evalsets and jobs.get("evaluate") == 1, jobs
    assert jobs.get("aggregate") == 1, jobs
    assert not {"prepare_data", "train_original", "select_forget_set", "train_retrain", "tune"} & set(jobs), jobs
    after = file_hashes(out)
    changed = {p for p in after if before.get(p) != after[p]}
    assert Layout(out).run_checkpoint("random1", 0, "ga").relative_to(out).as_posix() in changed
    assert all("/ga" in p or p.startswith((f"{SUMMARY_DIR}/", f"{REPORT_DIR}/")) for p in changed), sorted(changed)
    lock = yaml.safe_load((tiny_repo / "dvc.lock").read_text())["stages"]["benchmark"]
    assert lock["params"]["config.yaml"]["methods"]["ga"]["lr"] == 0.01
    assert "lr" not in lock["params"]["config.yaml"]["methods"]["bs"] or \
        lock["params"]["config.yaml"]["methods"]["bs"]["lr"] == 0.0001


# ------------------------------------------------------------------------------------------ 2. file modes
@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mask, mode):
    from unlearnbench.atomic import atomic_pair, current_umask, default_file_mode, write_json

    umask(mask)
    assert current_umask() == mask and default_file_mode() == mode
    write_json(tmp_path / "a.json", {"x": 1})
    with atomic_pair(tmp_path / "b.bin", tmp_path / "b.bin.json", {}, digest_key="sha") as tmp:
        tmp.write_bytes(b"data")
    for name in ("a.json", "b.bin", "b.bin.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_contact_sheet_honours_the_umask(tmp_path, umask):
    from unlearnbench.data.arrays import ArrayDataset
    from unlearnbench.data.contact_sheet import write_contact_sheet

    umask(0o022)
    rng = np.random.default_rng(0)
    ds = ArrayDataset(rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8), np.array([0, 0, 1, 1]),
                      np.zeros((0, 8, 8, 3), np.uint8), np.zeros(0, np.int64), ["a", "b"])
    path = write_contact_sheet(ds, tmp_path / "sheet.png")
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]


# ------------------------------------------------------------------------------- 3. the results dataset
def test_results_folder_is_one_parquet_dataset(tiny_repo):
    """`pandas.read_parquet(<OUT>/results)` reads every row of every job, the same rows as the aggregated
    table; the aggregated tables live in <OUT>/summary/."""
    from unlearnbench.results import KEY, read_results
    from unlearnbench.where import locations

    out = tiny_repo / "outputs" / "tiny"
    files = sorted(p for p in layout.results_dir(out).rglob("*") if p.is_file())
    assert files and all(p.suffix == ".parquet" for p in files), files
    dataset = pd.read_parquet(layout.results_dir(out))
    table = read_results(layout.results_table(out))
    assert len(dataset) == len(table) == sum(len(pd.read_parquet(p)) for p in files)
    assert list(dataset.columns) == list(table.columns)
    key = [k for k in KEY if k in dataset.columns]
    a = dataset.sort_values(key).reset_index(drop=True)
    b = table.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    for path in (layout.results_table(out), layout.summary_table(out), layout.summary_csv(out)):
        assert path.is_file() and path.parent == layout.summary_dir(out), path
    where = {str(path.relative_to(tiny_repo)) for _, path, _ in locations(validate_config(tiny_config()), tiny_repo)}
    assert {"outputs/tiny/results", "outputs/tiny/summary/summary.parquet"} <= where


def test_job_logs_show_extraction_progress_and_metrics(tiny_repo):
    """In a real job log (not a terminal): progress lines of the extraction with the eval set's total, one
    line per metric of the evaluation."""
    out = tiny_repo / "outputs" / "tiny"
    n_test = 4 * TINY["data"]["upstream"]["test_per_class"]
    log = Layout(out).log("extract_features", "original/test").read_text()
    assert re.search(rf"^\[extract test\] {n_test}/{n_test} images \(100%\), [\d.]+ img/s", log, flags=re.M), log
    log = Layout(out).log("evaluate", job_key("random1", 0, "ga")).read_text()
    assert re.search(r"^\[evaluate\] metric 1/\d+ \w+: \d+ rows in", log, flags=re.M), log


def test_aggregate_removes_tables_of_the_old_layout(tmp_path):
    from unlearnbench.aggregate import remove_legacy_tables

    results = tmp_path / "results"
    (results / "random1" / "seed0").mkdir(parents=True)
    (results / "random1" / "seed0" / "ga.parquet").write_bytes(b"job")
    for name in layout.LEGACY_AGGREGATES:
        (results / name).write_text("old")
    removed = remove_legacy_tables(results)
    assert sorted(p.name for p in removed) == sorted(layout.LEGACY_AGGREGATES)
    assert [p.name for p in results.rglob("*") if p.is_file()] == ["ga.parquet"]


# ------------------------------------------------------------------- 4. the schema from an installed wheel
def test_installed_wheel_validates_a_config(tmp_path):
    """A wheel (not an editable install) ships the schema: installed with --target and imported from there
    (outside the repository), it validates config.yaml."""
    src = tmp_path / "src_copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "src" / "unlearnbench", src / "src" / "unlearnbench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist, site = tmp_path / "dist", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    sh(tmp_path, *pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, src, timeout=120)
    wheel = next(dist.glob("unlearnbench-*.whl"))
    import zipfile

    assert "unlearnbench/schema.yaml" in zipfile.ZipFile(wheel).namelist()
    sh(tmp_path, *pip, "install", "--no-deps", "--no-index", "--target", site, wheel, timeout=120)
    script = ("import sys, yaml, unlearnbench.config as c\n"
              f"cfg = c.validate_config(yaml.safe_load(open({str(REPO / 'config.yaml')!r})))\n"
              "print(c.__file__); print(cfg['experiment'], sorted(cfg['methods']) == sorted(yaml.safe_load("
              f"open({str(REPO / 'config.yaml')!r}))['methods']))\n")
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    proc = subprocess.run([sys.executable, "-c", script], cwd=run_dir, capture_output=True, text=True, timeout=120,
                          env={**ENV, "PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    module_file, result = proc.stdout.split("\n")[:2]
    assert Path(module_file).resolve().is_relative_to(site.resolve()), module_file
    assert result == "default True"


def test_scipy_is_a_declared_dependency():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in deps}
    assert {"scipy", "tqdm"} <= names


# ------------------------------------------------------------- 5. samples scenarios vs the training set
def _with_samples(cfg: dict, n: int) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg["scenarios"] = [{"name": "samples_big", "kind": "samples", "n": n}]
    cfg["methods"] = {"ga": {"algorithm": "gradient_ascent", "tune": False}}
    return cfg


def test_samples_larger_than_a_generated_training_set_are_rejected():
    from unlearnbench.data.arrays import carve_indices, carved_count

    cfg = tiny_config()  # 4 classes × 24 training images, no tuning split
    validate_config(_with_samples(cfg, 95))
    with pytest.raises(ConfigError, match=r"scenarios\[0\] \(samples_big\)\.n: 96 training samples requested but "
                                          r"only 96 upstream training images are available"):
        validate_config(_with_samples(cfg, 96))
    cfg["tuning"] = {"enabled": True, "validation_fraction": 0.25}  # 6 of every class's 24 go to validation
    labels = np.repeat(np.arange(4), 24)
    assert len(carve_indices(labels, 0.25, 0)[0]) == 96 - 4 * carved_count(24, 0.25) == 72
    validate_config(_with_samples(cfg, 71))
    with pytest.raises(ConfigError, match=r"\.n: 72 training samples requested but only 72 upstream training images "
                                          r"are available \(data\.upstream \(synthetic\) has 96, minus 24 carved"):
        validate_config(_with_samples(cfg, 72))


def test_samples_larger_than_an_npz_training_set_are_rejected(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=rng.integers(0, 255, (30, 8, 8, 3), dtype=np.uint8), y_train=np.repeat(np.arange(3), 10),
             x_test=rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8), y_test=np.repeat(np.arange(3), 2))
    cfg = tiny_config()
    cfg["data"] = {"upstream": {"type": "npz", "path": str(path)}, "downstream": {}}
    validate_config(_with_samples(cfg, 29))
    with pytest.raises(ConfigError, match=r"samples_big\)\.n: 40 training samples requested but only 30 upstream "
                                          r"training images are available \(data\.upstream \(npz\) has 30\)"):
        validate_config(_with_samples(cfg, 40))


def test_samples_larger_than_an_image_folder_allows_are_rejected(tmp_path):
    """Counted from a folder listing after the class restriction, the test split and max_per_class."""
    from unlearnbench.testing import write_imagefolder
    from unlearnbench.data.imagefolder import imagefolder

    write_imagefolder(tmp_path / "folder", ["a", "b", "c", "d"], per_class=10, size=8)
    spec = {"type": "imagefolder", "root": str(tmp_path / "folder"), "classes": ["a", "c", "d"], "test_fraction": 0.3,
            "max_per_class": 6, "image_size": 8}
    available = len(imagefolder(**{k: v for k, v in spec.items() if k != "type"}).y_train)
    assert available == 3 * 6  # 10 per class, 3 to test, 7 left, capped at 6
    cfg = tiny_config()
    cfg["data"] = {"upstream": spec, "downstream": {}}
    validate_config(_with_samples(cfg, available - 1))
    with pytest.raises(ConfigError, match=rf"\.n: {available} training samples requested but only {available} "):
        validate_config(_with_samples(cfg, available))
    spec2 = {**spec, "classes": 2, "max_per_class": None}  # the first 2 classes, 7 training images each
    cfg["data"]["upstream"] = spec2
    with pytest.raises(ConfigError, match=r"\.n: 15 training samples requested but only 14 "):
        validate_config(_with_samples(cfg, 15))


# ----------------------------------------------------------------------------------------- 6. progress
def test_progress_logs_every_tenth_and_every_30_seconds():
    import io

    from unlearnbench.progress import Progress

    now = [0.0]
    stream = io.StringIO()
    with Progress(1000, "extract train", stream=stream, clock=lambda: now[0]) as p:
        for _ in range(100):
            now[0] += 0.1
            p.update(10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("[extract train] 1000/1000 images (100%), 100 img/s")
    stream = io.StringIO()
    with Progress(10_000, "slow", stream=stream, clock=lambda: now[0]) as p:
        for _ in range(3):
            now[0] += 31
            p.update(1)  # far below 10 %, but 30 s passed
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("[slow] 1/10000 images (0%), 0.03 img/s, 31.0 s elapsed")


def test_extraction_logs_progress_without_a_tty(tmp_path, capsys):
    from unlearnbench.checkpoints import save_checkpoint
    from unlearnbench.features import extract_all
    from unlearnbench.models import create_model
    from unlearnbench.stages import prepare_data

    spec = {"type": "synthetic", "superclasses": 1, "fine_per_superclass": 2, "train_per_class": 10,
            "test_per_class": 3, "seed": 0}
    prepare_data(spec, tmp_path / "up.npz", tmp_path / "up.json", tmp_path / "up.png")
    save_checkpoint(tmp_path / "m.safetensors", create_model("cifar_resnet8", 2),
                    {"arch": "cifar_resnet8", "num_classes": 2})
    capsys.readouterr()
    extract_all(tmp_path / "m.safetensors", [("train", str(tmp_path / "up.npz"))], [tmp_path / "f" / "train.safetensors"],
                batch_size=4, threads=1, device="cpu", gram_per_class=0)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("[extract train]")]
    assert lines, err
    assert re.match(r"\[extract train\] 20/20 images \(100%\), \d+ img/s", lines[-1]), lines
    assert all(re.match(r"\[extract train\] \d+/20 images", ln) for ln in lines)
    assert "\r" not in err  # no tqdm bar in a log


# ----------------------------------------------------------------------------------------- 7. make bench
def test_make_bench_runs_only_scripts_that_exist():
    text = (REPO / "Makefile").read_text()
    recipe = re.search(r"^bench:.*\n((?:\t.*\n)+)", text, flags=re.M)
    assert recipe, "Makefile has no bench recipe"
    scripts = re.findall(r"(benchmarks/[\w./-]+\.(?:py|sh))", recipe.group(1))
    assert scripts, recipe.group(1)
    for script in scripts:
        assert (REPO / script).is_file(), f"make bench runs {script}, which does not exist"
    for doc in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        for script in set(re.findall(r"(benchmarks/[\w-]+\.(?:py|sh))", doc.read_text())):
            assert (REPO / script).is_file(), f"{doc.name} names {script}, which does not exist"
