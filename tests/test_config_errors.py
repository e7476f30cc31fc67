"""Every kind of bad config is rejected before any job runs, with a message naming the offending key and what
was expected. One case per ``raise`` of :mod:`unlearnbench.config` (and schema constraint) that no other test
feeds; the raises already covered elsewhere are listed so the inventory stays complete:

=====================================================  ========================================================
raise (src/unlearnbench/config.py)                      test
=====================================================  ========================================================
load_yaml: missing / not YAML / not a mapping           test_load_yaml_names_the_file_and_problem (here)
schema (_format): unknown key, range, pattern, enum     test_config.py (keys, train.lr, verdicts, monitor_images),
                                                        test_layer_cka.py (gram_*), SCHEMA_CASES (here)
methods: not a mapping / reserved / no algorithm        METHOD_CASES (here)
methods: MethodConfigError (algorithm, type, choice)    METHOD_CASES (here); grid: test_references_and_tuning.py
model.arch (check_arch) / model.pretrained              test_config.py / test_pretrained.py, test_datasets.py
data.* (DatasetError) / part: heldout                   test_config.py, test_datasets.py
train.* (TrainConfig rules)                             TRAIN_CASES (here)
scenarios: duplicates / k ≥ classes / top unknown ds    test_config.py
scenarios: k/n missing, keys not applicable, top w/o    SCENARIO_CASES (here); n missing: test_config.py
  downstream, n and fraction both given
scenarios: n ≥ training images                          test_day_one.py
scenarios: fraction rounds to 0 or to all               SCENARIO_CASES (here)
scenarios: classes unknown / duplicate / all            SCENARIO_CASES (here); job side: test_forget_sets.py
scenarios: indices file missing / unparsable /          SCENARIO_CASES, test_bad_forget_list_names_the_
  duplicates / negative / out of range                  scenario_key_and_file (here); formats:
                                                        test_forget_sets.py
methods.<i>.surrogate_set                               test_new_methods_delete_scar_unsir.py
methods.<i>.scenarios: unknown / unsupported kind       SCENARIO_CASES, test_new_scenario_kinds_validate_and_
                                                        map_to_class_or_sample_forgetting (here)
evaluation.layers                                       test_config.py
evaluation.metrics: unknown / bad parameters            METRIC_CASES (here)
attacks.params: unknown / bad parameters                test_attacks.py
=====================================================  ========================================================
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO
from unlearnbench.config import ConfigError, load_yaml, validate_config


def quick():
    return load_yaml(REPO / "configs" / "quick.yaml")


def rejected(mutate) -> str:
    cfg = quick()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    return str(err.value)


def _set(*path_and_value):
    """A mutation setting ``cfg[a][b]… = value``."""
    *path, key, value = path_and_value

    def mutate(cfg):
        node = cfg
        for p in path:
            node = node[p]
        node[key] = value
    return mutate


METHOD_CASES = [
    ("methods_not_a_mapping", _set("methods", ["ga", "bs"]),
     ["methods: expected a mapping of instance name"]),
    ("reserved_instance_name", _set("methods", "retrain", {"algorithm": "finetune"}),
     ["methods.retrain:", "reserved for the reference models", "'original'"]),
    ("instance_without_algorithm", _set("methods", "ft", {"lr": 0.1}),
     ["methods.ft:", "expected a mapping with an `algorithm` key", "'finetune'"]),
    ("unknown_algorithm", _set("methods", "ft", {"algorithm": "finetuning"}),
     ["methods.ft.algorithm:", "unknown algorithm 'finetuning'", "registered:", "'finetune'"]),
    ("hyperparameter_wrong_type", _set("methods", "ga", "epochs", 1.5),
     ["methods.ga.epochs:", "expected int", "got 1.5"]),
    ("hyperparameter_not_a_choice", _set("methods", "be", {"algorithm": "boundary_expand", "shadow_init": "zeros"}),
     ["methods.be.shadow_init:", "must be one of ['xavier', 'linear']", "got 'zeros'"]),
    ("hyperparameter_out_of_range_via_config", _set("methods", "bs", "bound", 1.5),
     ["methods.bs.bound:", "must be <= 1", "valid range: (0, 1]"]),
]

SCENARIO_CASES = [
    ("random_without_k", _set("scenarios", [{"name": "r", "kind": "random"}]),
     ["scenarios[0] (r).k:", "required for kind 'random'"]),
    ("top_without_k", _set("scenarios", [{"name": "t", "kind": "top", "downstream": "similar"}]),
     ["scenarios[0] (t).k:", "required for kind 'top'"]),
    ("n_on_a_class_scenario", _set("scenarios", [{"name": "r", "kind": "random", "k": 1, "n": 5}]),
     ["scenarios[0] (r):", "key(s) ['n']", "do not apply to kind 'random'"]),
    ("downstream_on_a_random_scenario",
     _set("scenarios", [{"name": "r", "kind": "random", "k": 1, "downstream": "similar"}]),
     ["scenarios[0] (r):", "key(s) ['downstream']", "do not apply to kind 'random'"]),
    ("k_on_a_samples_scenario", _set("scenarios", [{"name": "s", "kind": "samples", "n": 5, "k": 1}]),
     ["scenarios[0] (s):", "key(s) ['k']", "do not apply to kind 'samples'"]),
    ("top_without_downstream", _set("scenarios", [{"name": "t", "kind": "top", "k": 1}]),
     ["scenarios[0] (t).downstream:", "a `top` scenario names the downstream dataset"]),
    ("method_names_unknown_scenario", _set("methods", "bs", "scenarios", ["random9"]),
     ["methods.bs.scenarios:", "unknown scenario 'random9'", "configured: ['random1', 'samples30', 'top1_similar']"]),
    ("class_only_method_on_samples", _set("methods", "bs", "scenarios", ["samples30"]),
     ["methods.bs.scenarios:", "boundary_shrink supports ['class'] forgetting only", "'samples30' is 'samples'"]),
    ("classes_without_classes", _set("scenarios", [{"name": "c", "kind": "classes"}]),
     ["scenarios[0] (c).classes:", "required for kind 'classes'"]),
    ("classes_unknown_name", _set("scenarios", [{"name": "c", "kind": "classes", "classes": ["truck", 1]}]),
     ["scenarios[0] (c).classes:", "unknown class(es) ['truck']", "valid: indices 0…5 or the class names (6):",
      "'flower3-stripes/amp0.215-freq3'"]),
    ("classes_index_out_of_range", _set("scenarios", [{"name": "c", "kind": "classes", "classes": [6, -1]}]),
     ["scenarios[0] (c).classes:", "unknown class(es) [6, -1]", "indices 0…5"]),
    ("classes_named_twice", _set("scenarios", [{"name": "c", "kind": "classes",
                                                "classes": ["flower3-stripes/amp0.215-freq3", 0]}]),
     ["scenarios[0] (c).classes:", "['flower3-stripes/amp0.215-freq3'] listed more than once"]),
    ("classes_all_of_them", _set("scenarios", [{"name": "c", "kind": "classes", "classes": [0, 1, 2, 3, 4, 5]}]),
     ["scenarios[0] (c).classes:", "all 6 classes listed; something must be retained"]),
    ("k_on_a_classes_scenario", _set("scenarios", [{"name": "c", "kind": "classes", "classes": [1], "k": 1}]),
     ["scenarios[0] (c):", "key(s) ['k']", "do not apply to kind 'classes'"]),
    ("samples_n_and_fraction", _set("scenarios", [{"name": "s", "kind": "samples", "n": 5, "fraction": 0.1}]),
     ["scenarios[0] (s):", "give exactly one of `n` (a count) or `fraction`"]),
    ("samples_fraction_rounds_to_nothing", _set("scenarios", [{"name": "s", "kind": "samples", "fraction": 0.001}]),
     ["scenarios[0] (s).fraction:", "0.001 × 288 upstream training images", "rounds to 0 samples",
      "minus 72 carved into the tuning validation split"]),
    ("indices_without_file", _set("scenarios", [{"name": "i", "kind": "indices"}]),
     ["scenarios[0] (i).file:", "required for kind 'indices'"]),
    ("indices_file_missing", _set("scenarios", [{"name": "i", "kind": "indices", "file": "no/such/list.txt"}]),
     ["scenarios[0] (i).file: forget list no/such/list.txt does not exist"]),
    ("fraction_on_an_indices_scenario",
     _set("scenarios", [{"name": "i", "kind": "indices", "file": "x.txt", "fraction": 0.5}]),
     ["scenarios[0] (i):", "key(s) ['fraction']", "do not apply to kind 'indices'"]),
]

METRIC_CASES = [
    ("unknown_metric", _set("evaluation", "metrics", {"kappa": {}}),
     ["evaluation.metrics.kappa:", "unknown metric", "registered:", "'knn'"]),
    ("metric_parameter_out_of_range", _set("evaluation", "metrics", {"knn": {"k": 0}}),
     ["evaluation.metrics.knn:", "k: must be >= 1", "got 0"]),
    ("metric_unknown_parameter", _set("evaluation", "metrics", {"knn": {"neighbours": 5}}),
     ["evaluation.metrics.knn:", "unknown parameter(s) ['neighbours']"]),
]

# training recipes the schema accepts but every training job rejects (unlearnbench.training.TrainConfig)
TRAIN_CASES = [
    ("multistep_without_milestones", _set("train", "schedule", "multistep"),
     ["train.milestones:", "required by, and only for, `schedule: multistep`", "schedule 'multistep'"]),
    ("milestones_without_multistep", _set("train", "milestones", [1]),
     ["train.milestones:", "required by, and only for, `schedule: multistep`", "schedule 'cosine'"]),
    ("milestone_after_the_last_epoch", lambda c: c["train"].update(schedule="multistep", milestones=[1, 5]),
     ["train.milestones:", "strictly increasing epochs in [1, train.epochs = 2]", "got [1, 5]"]),
    ("milestones_not_increasing", lambda c: c["train"].update(epochs=4, schedule="multistep", milestones=[3, 2]),
     ["train.milestones:", "strictly increasing epochs in [1, train.epochs = 4]", "got [3, 2]"]),
    ("warmup_longer_than_training", _set("train", "warmup_epochs", 3),
     ["train.warmup_epochs:", "3 is longer than training", "0 ≤ warmup_epochs ≤ train.epochs (2)"]),
]

SCHEMA_CASES = [
    ("experiment_name", _set("experiment", "my run"),
     ["experiment:", "'my run' does not match", "^[A-Za-z0-9_.-]+$"]),
    ("device", _set("device", "gpu"),
     ["device:", "'gpu' does not match", "cuda"]),
    ("duplicate_seeds", _set("seeds", [0, 0]),
     ["seeds:", "[0, 0] has non-unique elements"]),
    ("scenario_kind", _set("scenarios", [{"name": "r", "kind": "randomly", "k": 1}]),
     ["scenarios.0.kind:", "'randomly' is not one of ['classes', 'indices', 'random', 'samples', 'top']"]),
    ("finetune_scope", _set("model", "finetune", "backbone"),
     ["model.finetune:", "'backbone' is not one of ['head', 'all']"]),
    ("method_instance_name", _set("methods", "1ga", {"algorithm": "gradient_ascent"}),
     ["methods:", "'1ga' does not match", "^[A-Za-z][A-Za-z0-9_]*$"]),
    ("samples_fraction_range", _set("scenarios", [{"name": "s", "kind": "samples", "fraction": 1.5}]),
     ["scenarios.0.fraction:", "1.5 is greater than or equal to the maximum of 1"]),
    ("classes_entry_type", _set("scenarios", [{"name": "c", "kind": "classes", "classes": [1.5]}]),
     ["scenarios.0.classes.0:", "1.5 is not of type 'string', 'integer'"]),
    ("validation_fraction", _set("tuning", "validation_fraction", 0.5),
     ["tuning.validation_fraction:", "0.5 is greater than or equal to the maximum of 0.5"]),
    ("floor_seeds_one", _set("floor_seeds", 1), ["floor_seeds:", "1 is less than the minimum of 2"]),
    ("floor_seeds_beyond_seeds", _set("floor_seeds", 2),
     ["floor_seeds: 2 is more than the 1 replicate seeds (seeds: [0]); expected at most 1, or null for every seed"]),
]

CASES = METHOD_CASES + SCENARIO_CASES + METRIC_CASES + TRAIN_CASES + SCHEMA_CASES


@pytest.mark.parametrize("mutate, fragments", [pytest.param(m, f, id=i) for i, m, f in CASES])
def test_bad_config_names_key_and_expectation(mutate, fragments):
    message = rejected(mutate)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"


def test_cases_are_distinct_and_the_base_config_is_valid():
    assert len({i for i, _, _ in CASES}) == len(CASES)
    validate_config(quick())  # every rejection above comes from its one mutation


def test_valid_multistep_recipe_is_accepted():
    cfg = quick()
    cfg["train"].update(epochs=4, schedule="multistep", milestones=[2, 3])
    assert validate_config(cfg)["train"]["milestones"] == [2, 3]


@pytest.mark.parametrize("content, fragments", [
    ("5\n2\n5\n", ["indices listed more than once: [5]"]),
    ("3\nthree\n", ["line 2: expected one integer per line, got 'three'"]),
    ("-1\n", ["negative indices [-1]"]),
    # the numbering is the training set before the tuning carve-out: 6 classes × 60 = 360 images, not 288
    ("300\n360\n", ["indices [360] are out of range; the upstream training set has 360 images",
                      "(data.upstream (synthetic) has 360)", "valid: 0…359"]),
])
def test_bad_forget_list_names_the_scenario_key_and_file(tmp_path, content, fragments):
    path = tmp_path / "forget.txt"
    path.write_text(content)
    message = rejected(_set("scenarios", [{"name": "pub", "kind": "indices", "file": str(path)}]))
    assert message.startswith(f"scenarios[0] (pub).file: forget list {path}"), message
    assert all(f in message for f in fragments), message


def test_new_scenario_kinds_validate_and_map_to_class_or_sample_forgetting(tmp_path):
    """`classes` is class forgetting and `indices` sample forgetting: which methods run them by default, and
    a class-only method named on an `indices` scenario is rejected like on a `samples` one."""
    from unlearnbench.config import method_scenarios

    np.save(tmp_path / "list.npy", np.array([300, 0, 7]))  # 300 < 360: valid before the tuning carve-out
    cfg = quick()
    cfg["scenarios"] = [{"name": "named", "kind": "classes", "classes": ["star4-checks/amp0.215-freq3", 5]},
                        {"name": "pub", "kind": "indices", "file": str(tmp_path / "list.npy")},
                        {"name": "tenth", "kind": "samples", "fraction": 0.1}]
    del cfg["methods"]["bs"]["scenarios"]
    valid = validate_config(cfg)
    assert method_scenarios(valid, "bs") == ["named"] and method_scenarios(valid, "ga") == ["named", "pub", "tenth"]
    cfg["methods"]["bs"]["scenarios"] = ["pub"]
    message = rejected(lambda c: c.update(scenarios=cfg["scenarios"], methods=cfg["methods"]))
    assert "boundary_shrink supports ['class'] forgetting only, but scenario 'pub' is 'indices' (sample)" in message


def test_load_yaml_names_the_file_and_problem(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .*absent\.yaml does not exist"):
        load_yaml(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: {lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"config file .*broken\.yaml is not valid YAML"):
        load_yaml(broken)
    listed = tmp_path / "listed.yaml"
    listed.write_text("- lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"config file .*listed\.yaml: expected a mapping at the top level"):
        load_yaml(listed)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_yaml(empty) == {}

