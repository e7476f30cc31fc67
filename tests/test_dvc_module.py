"""unlearnbench.dvc (`make pull`, `make adopt`, the DVC stage command) without DVC runs: reading dvc.yaml and
dvc.lock, deriving the stage's deps, deciding what to adopt, reading Snakemake's summary and DVC's status, the
messages for a bad dvc.lock or remote — and one `pull` against a fake `dvc` executable, to check that nothing
is checked out unless every object arrived. The end-to-end behaviour with real DVC is tests/test_dvc.py.
"""
from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from unlearnbench import codegraph
from unlearnbench.dvc import parse_args
from unlearnbench.dvc_adopt import Decision, any_output_recorded, decide, touched_steps
from unlearnbench.dvc_project import (DvcSetupError, LockedOutput, LockedStage, NoLockedStage, Pipeline, format_block,
                                      parse_lock, parse_pipeline, read_lock, read_pipeline)
from unlearnbench.dvc_pull import describe_missing, fetch_failure, local_remote_directory, outputs_not_in_cache

PIPELINE = Pipeline(stage="benchmark", params_file="config.yaml", code_deps=("Snakefile", "src/pkg"))
OUTS = ("outputs/e/data", "outputs/e/models", "outputs/e/report")


def lock_text(outs=OUTS, config=None, stage="benchmark") -> str:
    entry = {"cmd": "bash scripts/dvc_stage.sh",
             "params": {"config.yaml": config or {"experiment": "e", "output_root": "outputs"}},
             "outs": [{"path": p, "hash": "md5", "md5": f"{i:032x}.dir", "size": 4, "nfiles": 2}
                      for i, p in enumerate(outs)]}
    return yaml.safe_dump({"schema": "2.0", "stages": {stage: entry}}, sort_keys=False)


# ------------------------------------------------------------------------------------------------ dvc.yaml
def test_the_projects_dvc_yaml_is_the_one_source_of_stage_params_file_and_code_deps():
    pipeline = read_pipeline(REPO / "dvc.yaml")
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["benchmark"]
    assert pipeline == Pipeline("benchmark", "config.yaml", tuple(stage["deps"]))
    assert "src/unlearnbench" in pipeline.code_deps and "Snakefile" in pipeline.code_deps
    assert stage["cmd"] == "bash scripts/dvc_stage.sh"  # changing it makes every committed dvc.lock stale


def test_code_deps_follow_dvc_yaml_and_leave_out_the_params_file():
    text = """stages:
  run:
    cmd: x
    deps: [a.smk, lib, params.yaml]
    params:
      - params.yaml:
    outs: [out]
"""
    assert parse_pipeline(text) == Pipeline("run", "params.yaml", ("a.smk", "lib"))


@pytest.mark.parametrize("text, message", [
    ("stages: {a: {cmd: x, deps: [s]}, b: {cmd: y, deps: [s]}}", r"dvc\.yaml: `stages` must hold exactly one "
     r"stage .*\['a', 'b'\]"),
    ("vars: []", r"dvc\.yaml: `stages` must hold exactly one stage"),
    ("stages: {a: {cmd: x, deps: [s], params: [lr, epochs]}}", r"stages\.a\.params: expected exactly one params "
     r"file tracked whole"),
    ("stages: {a: {cmd: x, deps: [s], params: [{config.yaml: [lr]}]}}", r"stages\.a\.params: expected exactly one"),
    ("stages: {a: {cmd: x, params: [{config.yaml: null}]}}", r"stages\.a\.deps: expected a list of paths"),
    ("stages: {a: {cmd: x, deps: ['${root}/code'], params: [{config.yaml: null}]}}",
     r"stages\.a\.deps\[0\]: expected a literal path .*'\$\{root\}/code'"),
    ("stages: [\n", r"dvc\.yaml: not valid YAML \(line 2\).*expected a DVC pipeline file"),
])
def test_an_unexpected_dvc_yaml_is_an_error_naming_the_key(text, message):
    with pytest.raises(DvcSetupError, match=message):
        parse_pipeline(text)


def test_a_missing_dvc_yaml_names_the_folder(tmp_path):
    with pytest.raises(DvcSetupError, match=r"dvc\.yaml not found in .*: run this from the repository root"):
        read_pipeline(tmp_path / "dvc.yaml")


# ------------------------------------------------------------------------------------------------ dvc.lock
def test_the_lock_gives_the_recorded_config_and_outputs():
    locked = parse_lock(lock_text(config={"experiment": "e", "methods": {"ga": {"lr": 0.1}}}), PIPELINE)
    assert locked.config == {"experiment": "e", "methods": {"ga": {"lr": 0.1}}}
    assert locked.paths == list(OUTS)
    assert locked.outs[0] == LockedOutput("outputs/e/data", f"{0:032x}.dir")


def test_no_lock_or_no_entry_for_the_stage_means_nothing_was_recorded(tmp_path):
    with pytest.raises(NoLockedStage, match=r"^no .*dvc\.lock$"):
        read_lock(PIPELINE, tmp_path / "dvc.lock")
    with pytest.raises(NoLockedStage, match=r"dvc\.lock is empty"):
        parse_lock("", PIPELINE)
    with pytest.raises(NoLockedStage, match=r"dvc\.lock has no stage 'benchmark' \(it records \['other'\]\)"):
        parse_lock(lock_text(stage="other"), PIPELINE)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: "stages: {benchmark: [\n", r"dvc\.lock: not valid YAML \(line 2\).*expected DVC's lock file "
     r"\(`stages: benchmark: \{params: \{config\.yaml"),
    (lambda d: "- a\n- b\n", r"dvc\.lock: expected a mapping with a `stages` key"),
    (lambda d: {**d, "stages": {"benchmark": "x"}}, r"dvc\.lock: stages\.benchmark: expected a mapping with `params`"),
    (lambda d: d["stages"]["benchmark"].pop("params") and d, r"stages\.benchmark\.params\.config\.yaml: expected the "
     r"whole config\.yaml as a mapping .*dvc\.lock older than dvc\.yaml"),
    (lambda d: d["stages"]["benchmark"].update(outs=[]) or d, r"stages\.benchmark\.outs: expected a list of outputs"),
    (lambda d: d["stages"]["benchmark"]["outs"].append({"md5": "x"}) or d,
     r"stages\.benchmark\.outs\[3\]: expected a mapping with a `path` string"),
])
def test_a_corrupt_lock_is_an_error_naming_the_file_the_key_and_the_format(mutate, message):
    changed = mutate(yaml.safe_load(lock_text()))
    text = changed if isinstance(changed, str) else yaml.safe_dump(changed)
    with pytest.raises(DvcSetupError, match=message) as info:
        parse_lock(text, PIPELINE)
    assert not isinstance(info.value, NoLockedStage)  # a broken lock is never taken for "nothing recorded"


# -------------------------------------------------------------------------------------------------- adopt
def locked(*paths: str) -> LockedStage:
    return LockedStage(config={"experiment": "e"}, outs=tuple(LockedOutput(p, "0.dir") for p in paths))


def test_adopt_only_when_every_output_of_the_lock_is_in_the_workspace():
    stage = locked(*OUTS)
    everything, nothing = (lambda p: True), (lambda p: False)
    some = lambda p: p != "outputs/e/models"  # noqa: E731
    assert decide(stage, always=True, exists=everything).adopt
    assert decide(stage, always=False, exists=everything).adopt
    partial = decide(stage, always=False, exists=some)
    assert not partial.adopt and partial.reason == ("not adopting: outputs of dvc.lock missing from the workspace: "
                                                    "outputs/e/models")
    # None at all: a fresh build, which the stage command passes over silently; `make adopt` says why
    assert decide(stage, always=False, exists=nothing) == Decision(False, None)
    assert "outputs/e/data, outputs/e/models, outputs/e/report" in decide(stage, always=True, exists=nothing).reason


SUMMARY_HEADER = "output_file\tdate\trule\tlog-file(s)\tinput-file(s)\tshellcmd\tstatus\tplan"


def test_snakemake_records_are_read_from_the_input_column_of_the_detailed_summary():
    unrecorded = [f"outputs/e/data/u.npz\tMon\tprepare_data\t-\t-\t-\tok\tupdate pending",
                  f"outputs/e/models/o.st\tMon\ttrain\t-\t-\t-\tok\tupdate pending"]
    assert not any_output_recorded("\n".join(["Building DAG of jobs...", SUMMARY_HEADER, *unrecorded]))
    no_inputs = "outputs/e/data/u.npz\tMon\tprepare_data\tlogs/p.log\t\t-\tok\tno update"  # recorded, no inputs
    assert any_output_recorded("\n".join([SUMMARY_HEADER, unrecorded[1], no_inputs]))
    with_inputs = "outputs/e/models/o.st\tMon\ttrain\t-\toutputs/e/data/u.npz\t-\tok\tno update"
    assert any_output_recorded("\n".join([SUMMARY_HEADER, unrecorded[0], with_inputs]))
    with pytest.raises(DvcSetupError, match=r"--detailed-summary printed no table with an `input-file\(s\)` column"):
        any_output_recorded("output_file\tdate\trule\tstatus\tplan\n")


def test_touched_steps_is_the_last_progress_line():
    assert touched_steps("1 of 28 steps (4%) done\n...\n28 of 28 steps (100%) done\n") == "28 of 28 steps"
    assert touched_steps("Nothing to be done") == "all steps"


# --------------------------------------------------------------------------------------------------- pull
def test_outputs_not_in_cache_come_from_dvc_status_json():
    status = {"benchmark": ["changed command", {"changed deps": {"rules": "modified"}},
                            {"changed outs": {"outputs/e/data": "deleted", "outputs/e/report": "not in cache"}}]}
    assert outputs_not_in_cache(status, "benchmark") == ["outputs/e/report"]
    assert outputs_not_in_cache({}, "benchmark") == []


def test_missing_objects_are_described_per_output():
    stage = LockedStage({}, (LockedOutput("outputs/e/data", "ab.dir"), LockedOutput("outputs/e/report", "cd.dir"),
                             LockedOutput("outputs/e/metrics.json", "ef")))
    not_in_cache = ["outputs/e/report/", "outputs/e/report/plots/a.pdf", "outputs/e/report/b.csv", "outputs/e/data/"]
    lines = describe_missing(stage, ["outputs/e/data", "outputs/e/report", "outputs/e/metrics.json"], not_in_cache)
    assert lines == ["outputs/e/data (index ab.dir)", "outputs/e/report: 2 of its files, e.g. plots/a.pdf",
                     "outputs/e/metrics.json (object ef)"]


def test_fetch_failure_messages():
    stage = LockedStage({}, (LockedOutput("a", "1.dir"), LockedOutput("b", "2.dir")))
    where = "remote 'local' (/r)"
    none = fetch_failure(where, stage, ["a (index 1.dir)", "b (index 2.dir)"], 0)
    assert none.startswith("the DVC remote 'local' (/r) has none of the outputs of dvc.lock")
    some = fetch_failure(where, stage, ["a (index 1.dir)"], 1)
    assert "lacks objects of dvc.lock:\n    a (index 1.dir)\nWas `make push` run" in some
    assert fetch_failure(where, stage, [], 2).startswith("`dvc fetch` from remote 'local' (/r) failed (exit 2;")
    assert all(m.endswith("Nothing in the workspace was changed.") for m in (none, some))
    block = format_block("error", some)  # continuation lines aligned, the list of outputs as is
    assert block.splitlines()[1] == "    a (index 1.dir)"
    assert block.splitlines()[2].startswith("unlearnbench:        Was `make push`")


def test_local_remote_directories_resolve_like_dvc(tmp_path):
    assert local_remote_directory("s3://bucket/x", ".dvc/config") is None
    assert local_remote_directory("/mnt/r", ".dvc/config") == Path("/mnt/r")
    assert local_remote_directory("../../r", ".dvc/config.local") == Path(".dvc/../../r")
    assert local_remote_directory("~/r", ".dvc/config") == Path(os.path.expanduser("~/r"))


def test_command_line_defaults_come_from_the_environment_as_in_the_shell_scripts():
    args = parse_args(["pull"], {"CORES": "3", "REMOTE": "shared", "JOBS": "4", "FORCE": "1"})
    assert (args.cores, args.remote, args.jobs, args.force) == (3, "shared", 4, True)
    args = parse_args(["pull", "--cores", "5"], {})
    assert (args.cores, args.remote, args.jobs, args.force) == (5, None, None, False)
    assert parse_args(["adopt"], {}).always and not parse_args(["adopt", "--if-missing"], {}).always
    with pytest.raises(DvcSetupError, match=r"--cores/CORES='two': expected a positive whole number"):
        parse_args(["stage"], {"CORES": "two"})


FAKE_DVC = """#!/usr/bin/env bash
# dvc stand-in: a local remote that lacks one file of outputs/e/report
echo "$*" >> calls.log
case "$1 $2" in
  "remote default") echo local ;;
  "config --show-origin") printf '.dvc/config\\t%s\\n' "$PWD/remote" ;;
  "fetch -r") echo "ERROR: failed to transfer 'cd' - No such file"; exit 1 ;;
  "status --json") echo '{"benchmark": [{"changed outs": {"outputs/e/data": "deleted",
                                      "outputs/e/report": "not in cache"}}]}' ;;
  "data status") echo '{"not_in_cache": ["outputs/e/report/", "outputs/e/report/a.csv"]}' ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"""


def test_pull_stops_before_checkout_when_the_remote_lacks_an_object(tmp_path, monkeypatch, capsys):
    from unlearnbench.dvc import main

    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    (tmp_path / "dvc.lock").write_text(lock_text(outs=("outputs/e/data", "outputs/e/report")))
    (tmp_path / "remote").mkdir()
    fake = tmp_path / "fake-dvc"
    fake.write_text(FAKE_DVC)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC", str(fake))
    assert main(["pull"]) == 1
    err = capsys.readouterr().err
    assert "ERROR: failed to transfer 'cd'" in err
    assert "lacks objects of dvc.lock:\n    outputs/e/report: 1 of its files, e.g. a.csv\n" in err
    assert "Nothing in the workspace was changed." in err and "Traceback" not in err
    calls = (tmp_path / "calls.log").read_text()
    assert "checkout" not in calls and "data status --granular --json outputs/e/report" in calls
    assert not (tmp_path / "outputs").exists()


def test_pull_and_adopt_without_a_lock(tmp_path, monkeypatch, capsys):
    from unlearnbench.dvc import main

    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC", "/nonexistent/dvc")  # neither command gets as far as calling a tool
    monkeypatch.setenv("SNAKEMAKE", "/nonexistent/snakemake")
    assert main(["pull"]) == 1
    assert "error: no dvc.lock: nothing has been pushed from this commit" in capsys.readouterr().err
    assert main(["adopt"]) == 0
    assert "nothing to adopt: no dvc.lock" in capsys.readouterr().err
    assert main(["adopt", "--if-missing"]) == 0 and capsys.readouterr().err == ""  # a first `dvc repro`
    (tmp_path / "dvc.lock").write_text("stages:\n  benchmark: {outs: [\n")
    assert main(["adopt", "--if-missing"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("unlearnbench: error: dvc.lock: not valid YAML") and "expected DVC's lock file" in err


# ------------------------------------------------------------------------------------------------ codegraph
def test_no_job_reaches_the_dvc_modules():
    """The dvc modules are tools around the workflow: no job imports them, so editing them changes no code hash."""
    package = codegraph.PACKAGE_DIR
    for path in package.rglob("*.py"):
        if path.name.startswith("dvc"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                bad = [a.name for a in node.names if a.name.startswith("unlearnbench.dvc")]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                # `from unlearnbench import dvc…` or `from . import dvc…`
                top = module == ("" if node.level else "unlearnbench")
                bad = [module] if module.startswith("dvc" if node.level else "unlearnbench.dvc") else \
                    [a.name for a in node.names if top and a.name.startswith("dvc")]
            else:
                continue
            assert not bad, f"{path} imports {bad}"
    for script in sorted((REPO / "workflow_scripts").glob("*.py")):
        closure = codegraph.import_closure(codegraph.script_entries(script))
        assert not {m for m in closure if m.startswith("unlearnbench.dvc")}, script
