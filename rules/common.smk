# Validation, paths and helpers shared by every rule.
import json
import os
import sys
from pathlib import Path

from unlearnbench.config import ConfigError, method_scenarios, validate_config
from unlearnbench.codegraph import closure_hash
from unlearnbench.layout import Layout, alternation, job_key, model_id, wildcard_patterns
from unlearnbench.scenario_kinds import kind_modules
from unlearnbench.model_workers import configure as configure_model_workers
from unlearnbench.workflow import run_script

SCRIPTS = Path(workflow.main_snakefile).resolve().parent / "workflow_scripts"


def job_script(name, job, model=False):
    """A rule's `run:` body: workflow_scripts/<name>.py in this process (unlearnbench.workflow.run_script).
    `model=True` for jobs that run a network: they run on the one model thread of the process."""
    run_script(SCRIPTS / f"{name}.py", job, model=model)


def stage_code(script, *entries):
    """The `code` param of a rule: its workflow script and every package module the script's job can
    execute, computed from the import graph (unlearnbench.codegraph), plus `entries` the graph cannot see
    (a registered component looked up by name). Snakemake sees neither: the `run:` body is one call."""
    return closure_hash(SCRIPTS / f"{script}.py", entries=entries)


def _experiment_config(cfg):
    """A config given with `--configfile` is a complete experiment on its own (schema defaults fill the
    rest): it replaces the embedded config.yaml instead of being deep-merged into it, so a preset never
    inherits the default's methods, scenarios or datasets. `--config key=value` overrides still apply.
    Without `--configfile`, config.yaml (plus any `--config` overrides) is the experiment."""
    import copy

    if not workflow.overwrite_configfiles:
        return cfg
    return copy.deepcopy(workflow.config_settings.overwrite_config or {})


try:
    _validated = validate_config(_experiment_config(config))
except ConfigError as _exc:
    sys.stderr.write(f"unlearnbench: invalid configuration: {_exc}\n")
    sys.exit(1)
config.clear()
config.update(_validated)

OUT = f"{config['output_root']}/{config['experiment']}"
# every path of the experiment (data, models, features, forget sets, results, report, logs) and the model-id
# rule: unlearnbench.layout, shared with `unlearnbench where`, `unlearnbench.load` and the report
LAYOUT = Layout(OUT)
SCENARIOS = [s["name"] for s in config["scenarios"]]
SCENARIO = {s["name"]: s for s in config["scenarios"]}
SEEDS = [int(s) for s in config["seeds"]]
DOWNSTREAM = sorted(config["data"]["downstream"])
DATASETS = ["upstream", *DOWNSTREAM]
EVALSETS = ["train", "test", *DOWNSTREAM]
METHOD_INSTANCES = sorted(config["methods"])
FLOOR = bool(config["floor"])  # one original_prime per floor seed: the seed-noise floor
# the replicate seeds that train an original′: the first `floor_seeds` of them (null: every seed)
FLOOR_SEEDS = (SEEDS if config["floor_seeds"] is None else SEEDS[:config["floor_seeds"]]) if FLOOR else []
TUNING = config["tuning"]
# the validation split carved from the upstream training data (prepare_data), only when tuning reads it
VALIDATION = ({"fraction": TUNING["validation_fraction"], "seed": TUNING["seed"]}
              if TUNING["enabled"] and TUNING["validation_fraction"] > 0 else None)
TORCH_THREADS = config["threads"]


def _model_processes():
    """Model jobs this Snakemake process may run at once: --cores // threads when it runs the jobs itself
    (a job process of a cluster executor runs one). Several run in worker processes (unlearnbench.model_workers)."""
    cores = workflow.resource_settings.cores
    if not (workflow.is_main_process and workflow.local_exec) or not isinstance(cores, int):
        return 1
    return max(1, cores // max(1, int(TORCH_THREADS)))


configure_model_workers(_model_processes())


def _uses_cuda(device):
    """`cuda[:i]`, or `auto` on a machine with an NVIDIA driver (the machine Snakemake parses on: on a
    cluster whose submit host has no GPU, set `device: cuda` or give GPUs in the profile). Decided without
    importing torch, which would cost every invocation (even a no-op) seconds of start-up; at run time
    `auto` still resolves with torch.cuda.is_available()."""
    if device.startswith("cuda"):
        return True
    return device == "auto" and os.path.exists("/proc/driver/nvidia/version")


USES_CUDA = _uses_cuda(config["device"])
# Resources of the torch rules (train, unlearn, extract_features): one GPU each when CUDA is used, so that
# `--resources gpu=N` bounds concurrency on a GPU box and executors (SLURM, Kubernetes) request a GPU.
TORCH_RESOURCES = {"gpu": 1} if USES_CUDA else {}


# each wildcard matches exactly the config's names; `model` every model id of the experiment (the model-id rule)
wildcard_constraints:
    **wildcard_patterns(datasets=DATASETS, scenarios=SCENARIOS, evalsets=EVALSETS, methods=METHOD_INSTANCES),

# the wildcard keys of jobs (logs, benchmarks): per replicate of a scenario, per (scenario, seed, method)
REPLICATE_KEY = job_key("{scenario}", "{seed}")
RUN_KEY = job_key("{scenario}", "{seed}", "{method}")


def as_json(obj):
    """Canonical JSON: params are compared as strings, so a changed value reruns exactly its jobs."""
    return json.dumps(obj, sort_keys=True)


def dataset_spec(name):
    return config["data"]["upstream"] if name == "upstream" else config["data"]["downstream"][name]


def pretrained_input():
    """The local weights file of an imported original model (`model.pretrained`), as a rule input."""
    return {"weights": config["model"]["pretrained"]} if config["model"].get("pretrained") else {}


def retrain_weights_input():
    """`retrain.pretrained`: the published retrained reference of a scenario and seed, as a rule input
    (a function of the wildcards; no input without it)."""
    from unlearnbench.checkpoints import expand_weights_path

    template = config["retrain"]["pretrained"]
    if not template:
        return {}
    return {"retrain_weights": lambda w: expand_weights_path(template, scenario=w.scenario, seed=int(w.seed))}


def method_inputs(w, seed=None):
    """Files a method instance reads besides the original and the data, from its algorithm
    (`UnlearningMethod.input_files`, e.g. `external`'s weights of this scenario and seed): rule inputs, so
    that editing one reruns exactly the runs that read it."""
    from unlearnbench.methods import create_method

    method = create_method(w.method, config["methods"][w.method])
    files = method.input_files(w.scenario, int(w.seed if seed is None else seed))
    return {f"method_{key}": path for key, path in files.items()}


def evalset_data(evalset):
    """The prepared dataset an eval set is drawn from (`train`, `test`: the upstream data)."""
    return LAYOUT.data_files("upstream" if evalset in ("train", "test") else evalset)


def retrain_models():
    return [model_id(sc, seed, "retrain") for sc in SCENARIOS for seed in SEEDS]


def all_targets():
    targets = [LAYOUT.data_sheet(name) for name in DATASETS]
    targets += [LAYOUT.checkpoint("original"), *[LAYOUT.forget_set(sc) for sc in SCENARIOS]]
    targets += [LAYOUT.checkpoint(model) for model in retrain_models()]
    targets += [LAYOUT.results_table(), LAYOUT.summary_csv()]  # rules/evaluate.smk: aggregate
    targets += report_targets()  # rules/report.smk: leaderboards, figures, metrics.json, plot CSVs
    return targets


onsuccess:
    # dvc.yaml versions {OUT}/tuning as an out; it must exist even when no tune job ran (tuning.enabled: false)
    os.makedirs(LAYOUT.tuning_dir(), exist_ok=True)
