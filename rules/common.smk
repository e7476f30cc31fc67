# Validation, paths and helpers shared by every rule.
import json
import sys

from unlearnbench.config import ConfigError, method_scenarios, validate_config
from unlearnbench.provenance import code_hash

try:
    _validated = validate_config(config)
except ConfigError as _exc:
    sys.stderr.write(f"unlearnbench: invalid configuration: {_exc}\n")
    sys.exit(1)
config.clear()
config.update(_validated)

OUT = f"{config['output_root']}/{config['experiment']}"
SCENARIOS = [s["name"] for s in config["scenarios"]]
SCENARIO = {s["name"]: s for s in config["scenarios"]}
SEEDS = [int(s) for s in config["seeds"]]
DOWNSTREAM = sorted(config["data"]["downstream"])
DATASETS = ["upstream", *DOWNSTREAM]
EVALSETS = ["train", "test", *DOWNSTREAM]
METHOD_INSTANCES = sorted(config["methods"])
TORCH_THREADS = config["threads"]


def _alt(names):
    return "|".join(sorted(names, key=len, reverse=True)) or "(?!)"


wildcard_constraints:
    dataset=_alt(DATASETS),
    scenario=_alt(SCENARIOS),
    seed=r"\d+",
    evalset=_alt(EVALSETS),
    method=_alt(METHOD_INSTANCES),
    model=rf"original|retrain/({_alt(SCENARIOS)})/seed\d+|unlearn/({_alt(SCENARIOS)})/seed\d+/({_alt(METHOD_INSTANCES)})",


def as_json(obj):
    """Canonical JSON: params are compared as strings, so a changed value reruns exactly its jobs."""
    return json.dumps(obj, sort_keys=True)


def dataset_spec(name):
    return config["data"]["upstream"] if name == "upstream" else config["data"]["downstream"][name]


def data_files(name):
    return {"npz": f"{OUT}/data/{name}.npz", "meta": f"{OUT}/data/{name}.json"}


def checkpoint(model):
    return f"{OUT}/models/{model}.safetensors"


def features(model, evalset):
    return f"{OUT}/features/{model}/{evalset}.safetensors"


def forget_set(scenario):
    return f"{OUT}/forget_sets/{scenario}.json"


def evalset_data(evalset):
    return data_files("upstream" if evalset in ("train", "test") else evalset)


def retrain_models():
    return [f"retrain/{sc}/seed{seed}" for sc in SCENARIOS for seed in SEEDS]


def all_targets():
    targets = [f"{OUT}/data/{name}_samples.png" for name in DATASETS]
    targets += [checkpoint("original"), *[forget_set(sc) for sc in SCENARIOS]]
    targets += [checkpoint(model) for model in retrain_models()]
    targets += [f"{OUT}/results/results.parquet", f"{OUT}/results/summary.csv"]
    return targets
