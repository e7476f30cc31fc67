"""Plugins from installed packages (entry-point groups ``unlearnbench.*``; :mod:`unlearnbench.plugins`).

The example package ``examples/unlearnbench-example-plugin`` is installed into a temporary folder and used
from subprocesses with that folder on ``PYTHONPATH`` (its entry-point metadata is found there); this
interpreter's registries stay as they are.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from unlearnbench import plugins

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "unlearnbench-example-plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example plugin installed (``pip install --target``) into a fresh folder."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build") / "src"
    shutil.copytree(EXAMPLE, build)  # pip writes build/ and *.egg-info next to the sources: not into the repo
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(build)], check=True, capture_output=True, text=True)
    assert (target / "unlearnbench_example_plugin" / "head_reinit.py").is_file()
    return target


def run(site: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO / "src")]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def py(site: Path, code: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(site, "-c", textwrap.dedent(code), check=check)


def test_example_plugin_is_listed_by_the_cli(site):
    methods = run(site, "-m", "unlearnbench", "methods").stdout
    assert "head_reinit — Head reinitialisation" in methods
    assert "plugin: entry point 'head_reinit' = 'unlearnbench_example_plugin.head_reinit' of " \
           "unlearnbench-example-plugin 0.1.0" in methods
    assert "gradient_ascent —" in methods  # the built-ins are still there
    metrics = run(site, "-m", "unlearnbench", "metrics", "feature_norm_ratio").stdout
    assert "module: unlearnbench_example_plugin.feature_norm" in metrics and "trim = 0.0" in metrics


def test_config_with_the_plugin_method_validates_and_bad_values_name_the_key(site):
    out = py(site, """
        import json
        from unlearnbench.config import ConfigError, load_yaml, validate_config
        from unlearnbench.metrics import create_metric
        from unlearnbench.methods import METHODS
        cfg = load_yaml("configs/quick.yaml")
        cfg["methods"] = {"hr": {"algorithm": "head_reinit", "epochs": 2}}
        ok = validate_config(cfg)["methods"]["hr"]
        cfg["methods"]["hr"]["init_std"] = 0
        try:
            validate_config(cfg)
            bad = None
        except ConfigError as exc:
            bad = str(exc)
        try:
            create_metric("feature_norm_ratio", norm=3)
            metric = None
        except ValueError as exc:
            metric = str(exc)
        print(json.dumps({"ok": ok, "bad": bad, "metric": metric, "supports": sorted(METHODS["head_reinit"].supports)}))
    """).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["ok"]["epochs"] == 2 and got["ok"]["lr"] == 0.01  # schema defaults filled in like a built-in's
    assert got["bad"] and "methods.hr.init_std" in got["bad"]
    assert got["metric"] and "norm: must be one of [1, 2]" in got["metric"]
    assert got["supports"] == ["class"]


HASHES = """
    import json
    from unlearnbench.codegraph import closure_hash, external_closure
    from unlearnbench.methods import method_module
    from unlearnbench.plugins import plugin_modules
    script = "workflow_scripts/unlearn.py"
    files, edges = external_closure([method_module("head_reinit")])
    print(json.dumps({"head_reinit": closure_hash(script, entries=[method_module("head_reinit")]),
                      "gradient_ascent": closure_hash(script, entries=[method_module("gradient_ascent")]),
                      "evaluate": closure_hash("workflow_scripts/evaluate.py",
                                               entries=plugin_modules("unlearnbench.metrics")),
                      "files": sorted(files), "edges": sorted({m for m, _ in edges})}))
"""


def test_editing_the_plugin_method_changes_exactly_its_code_hash(site):
    before = json.loads(py(site, HASHES).stdout.strip().splitlines()[-1])
    assert before["files"] == ["unlearnbench_example_plugin.head_reinit"]
    assert "unlearnbench.heads" in before["edges"]  # the package modules it imports are followed
    source = site / "unlearnbench_example_plugin" / "head_reinit.py"
    original = source.read_text()
    try:
        source.write_text(original.replace('hparam(1, ge=1,', 'hparam(2, ge=1,'))
        after = json.loads(py(site, HASHES).stdout.strip().splitlines()[-1])
    finally:
        source.write_text(original)
    assert after["head_reinit"] != before["head_reinit"]
    assert after["gradient_ascent"] == before["gradient_ascent"]  # built-in methods' jobs do not rerun
    assert after["evaluate"] == before["evaluate"]  # nor evaluation (it hashes the metric plugins)
    metric = site / "unlearnbench_example_plugin" / "feature_norm.py"
    original = metric.read_text()
    try:
        metric.write_text(original + "\n# edited\n")
        edited = json.loads(py(site, HASHES).stdout.strip().splitlines()[-1])
    finally:
        metric.write_text(original)
    assert edited["evaluate"] != before["evaluate"] and edited["head_reinit"] == before["head_reinit"]


def _fake_distribution(site: Path, name: str, group: str, entry: str, module: str, source: str) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


def test_a_broken_or_clashing_plugin_fails_with_a_clear_error(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    _fake_distribution(broken, "broken-plugin", "unlearnbench.metrics", "shiny", "broken_mod",
                       "import no_such_dependency_xyz\n")
    proc = run(broken, "-m", "unlearnbench", "metrics", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "entry point 'shiny' = 'broken_mod' of broken-plugin 0.1" in proc.stderr
    assert "ModuleNotFoundError" in proc.stderr and "no_such_dependency_xyz" in proc.stderr

    clash = tmp_path / "clash"
    clash.mkdir()
    _fake_distribution(clash, "clash-plugin", "unlearnbench.methods", "ft", "clash_mod", """
        from dataclasses import dataclass
        from unlearnbench.methods import UnlearningMethod, register_method

        @register_method("finetune")
        @dataclass
        class MyFinetune(UnlearningMethod):
            pass
    """)
    proc = run(clash, "-m", "unlearnbench", "methods", check=False)
    assert proc.returncode == 1
    assert "of clash-plugin 0.1" in proc.stderr and "'finetune' is already registered by " \
           "unlearnbench.methods.finetune.Finetune; cannot register clash_mod.MyFinetune" in proc.stderr


def test_load_plugins_imports_each_entry_point_once(monkeypatch, tmp_path):
    counter = types.ModuleType("fake_plugin_counter")
    counter.n = 0
    monkeypatch.setitem(sys.modules, "fake_plugin_counter", counter)
    (tmp_path / "fake_plugin_mod.py").write_text("import fake_plugin_counter\nfake_plugin_counter.n += 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_plugin_mod", raising=False)
    monkeypatch.setattr(plugins, "_LOADED", {})
    eps = {"unlearnbench.metrics": [importlib.metadata.EntryPoint("fake", "fake_plugin_mod", "unlearnbench.metrics")],
           "unlearnbench.attacks": [importlib.metadata.EntryPoint("gone", "no_such_plugin_xyz:thing",
                                                                  "unlearnbench.attacks")]}
    calls = []

    def entry_points(*, group):
        calls.append(group)
        return eps.get(group, [])

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert plugins.load_plugins("unlearnbench.metrics") == {"fake_plugin_mod": "entry point 'fake' = 'fake_plugin_mod' "
                                                                                "of unknown distribution"}
    assert plugins.load_plugins("unlearnbench.metrics")  # idempotent: not imported again, not even looked up
    assert counter.n == 1 and calls == ["unlearnbench.metrics"]
    assert plugins.plugin_source("fake_plugin_mod") and plugins.plugin_source("unlearnbench.metrics.knn") is None
    assert plugins.plugin_modules("unlearnbench.metrics") == ["fake_plugin_mod"]
    for _ in range(2):  # a failure is never remembered as loaded: every call raises
        with pytest.raises(plugins.PluginError, match=r"entry point 'gone' = 'no_such_plugin_xyz:thing' .*"
                                                      r"ModuleNotFoundError.*no_such_plugin_xyz"):
            plugins.load_plugins("unlearnbench.attacks")
    with pytest.raises(ValueError, match="unknown plugin group"):
        plugins.load_plugins("unlearnbench.nothing")
