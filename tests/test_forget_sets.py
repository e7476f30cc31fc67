"""Forget sets: random / top / classes / samples / indices selection, hashing, splits, and one dry run of a
config using every kind."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from conftest import REPO, copy_workflow, job_counts, snakemake
from unlearnbench.layout import Layout
from unlearnbench.data.forget_sets import (ForgetSetError, forget_mode, make_forget_set, rank_top, read_forget_set,
                                           read_index_file, resolve_classes, write_forget_set)


def test_random_classes_are_seeded_and_split_correctly(tmp_path):
    labels = np.repeat(np.arange(6), 10)
    test_labels = np.repeat(np.arange(6), 3)
    a = make_forget_set({"name": "r", "kind": "random", "k": 2, "seed": 5}, labels, 6)
    b = make_forget_set({"name": "r", "kind": "random", "k": 2, "seed": 5}, labels, 6)
    c = make_forget_set({"name": "r", "kind": "random", "k": 2, "seed": 6}, labels, 6)
    assert a == b and a.forget_hash != c.forget_hash and len(a.forget_classes) == 2
    s = a.splits(labels, test_labels)
    assert set(labels[s["forget_train"]]) == set(a.forget_classes)
    assert not set(labels[s["retain_train"]]) & set(a.forget_classes)
    assert len(s["forget_train"]) + len(s["retain_train"]) == len(labels)
    assert set(test_labels[s["forget_test"]]) == set(a.forget_classes)
    write_forget_set(tmp_path / "f.json", a, {"name": "r"}, [f"c{i}" for i in range(6)])
    assert read_forget_set(tmp_path / "f.json") == a


def test_sample_forgetting_has_no_forget_test():
    labels = np.repeat(np.arange(4), 25)
    fs = make_forget_set({"name": "s", "kind": "samples", "n": 7, "seed": 0}, labels, 4)
    s = fs.splits(labels, np.arange(4))
    assert len(s["forget_train"]) == 7 and len(s["forget_test"]) == 0 and len(s["retain_test"]) == 4
    assert fs.forget_classes is None


def test_rank_top_round_robin_picks_each_downstream_class_best_match():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 16))
    up_labels = np.repeat(np.arange(6), 20)
    up = centers[up_labels] + 0.1 * rng.normal(size=(120, 16))
    # downstream class 0 resembles upstream 4, class 1 resembles upstream 1 (then 4 again)
    down_centers = np.stack([centers[4] + 0.2 * centers[2], centers[1] + 0.3 * centers[4]])
    down_labels = np.repeat(np.arange(2), 10)
    down = down_centers[down_labels] + 0.1 * rng.normal(size=(20, 16))
    order, sim = rank_top(up, up_labels, 6, down, down_labels, 2)
    assert order[:2] == [4, 1] and sorted(order) == list(range(6)) and sim.shape == (2, 6)
    fs = make_forget_set({"name": "t", "kind": "top", "k": 2}, up_labels, 6, ranking=order)
    assert fs.forget_classes == (1, 4)


def test_top_ranking_with_the_quick_runs_trained_model_picks_the_designed_source(quick_out):
    """The `similar` downstream classes are built from named upstream classes (data json `source_class`);
    ranked with the quick run's real original model, `top1_similar` forgets the designed source of
    downstream class 0 (round-robin: its best match comes first). On the embedded default (14 epochs)
    `top4_similar` picks exactly the four designed sources [0, 1, 4, 5] (docs/tuning.md, run R)."""
    import json

    sources = json.loads(Layout(quick_out).data_files("similar")["meta"].read_text())["source_class"]
    chosen = read_forget_set(Layout(quick_out).forget_set("top1_similar")).forget_classes
    assert list(chosen) == [sources[0]]
    first = Layout(quick_out).forget_ranking("top1_similar").read_text().splitlines()[1].split(",")
    assert first[:2] == ["0", str(sources[0])]  # the audit CSV: the first-ranked class is that one


NAMES = ["cat", "dog", "truck", "ship"]


def test_every_schema_kind_maps_to_class_or_sample_forgetting():
    from unlearnbench.config import load_schema
    from unlearnbench.config_scenarios import scenario_keys
    from unlearnbench.scenario_kinds import SCENARIO_KINDS

    items = load_schema()["properties"]["scenarios"]["items"]["properties"]
    assert items["kind"]["enum"] == SCENARIO_KINDS.names() and set(scenario_keys()) == set(SCENARIO_KINDS)
    assert {k for keys in scenario_keys().values() for k in keys} | {"name", "kind", "seed"} == set(items)
    assert {k: forget_mode(k) for k in SCENARIO_KINDS} == {"random": "class", "top": "class", "classes": "class",
                                                           "samples": "sample", "indices": "sample"}


def test_named_classes_by_name_and_index_select_exactly_those():
    labels, test_labels = np.repeat(np.arange(4), 5), np.repeat(np.arange(4), 2)
    fs = make_forget_set({"name": "c", "kind": "classes", "classes": ["truck", 0]}, labels, 4, class_names=NAMES)
    assert fs.forget_classes == (0, 2) and fs.forget_indices is None and forget_mode(fs.kind) == "class"
    s = fs.splits(labels, test_labels)
    assert s["forget_train"].tolist() == [0, 1, 2, 3, 4, 10, 11, 12, 13, 14]
    assert s["forget_test"].tolist() == [0, 1, 4, 5]
    # the same classes named differently are the same forget set; the hash is over the classes, not the spelling
    again = make_forget_set({"name": "c", "kind": "classes", "classes": [2, "cat"]}, labels, 4, class_names=NAMES)
    assert again == fs


@pytest.mark.parametrize("entries, fragments", [
    (["truck", "lorry"], ["scen.classes: unknown class(es) ['lorry']", "'cat', 'dog', 'truck', 'ship'"]),
    ([4, -1], ["unknown class(es) [4, -1]", "indices 0…3"]),
    (["truck", 2], ["class(es) ['truck'] listed more than once"]),
    (["cat", "dog", "truck", "ship"], ["all 4 classes listed; something must be retained"]),
])
def test_named_classes_errors_name_the_key_and_the_valid_names(entries, fragments):
    with pytest.raises(ForgetSetError) as err:
        resolve_classes(entries, NAMES, 4, "scen.classes")
    assert all(f in str(err.value) for f in fragments), str(err.value)


def test_class_names_unknown_at_validation_are_left_to_the_job():
    # an adapter that cannot list names cheaply: indices are still checked, names pass to the job
    assert resolve_classes(["truck", 1], None, 4, "k") == (1,)
    with pytest.raises(ForgetSetError, match=r"unknown class\(es\) \[9\]; valid indices: 0…3 \(class names are"):
        resolve_classes(["truck", 9], None, 4, "k")
    with pytest.raises(ForgetSetError, match="scenario 'c': classes: unknown class"):
        make_forget_set({"name": "c", "kind": "classes", "classes": ["lorry"]}, np.arange(4), 4, class_names=NAMES)


def test_samples_fraction_draws_round_fraction_of_the_training_set():
    labels = np.repeat(np.arange(4), 25)
    fs = make_forget_set({"name": "s", "kind": "samples", "fraction": 0.13, "seed": 3}, labels, 4)
    assert len(fs.forget_indices) == 13 and fs.forget_classes is None and fs.details == {"n": 13}
    by_n = make_forget_set({"name": "s", "kind": "samples", "n": 13, "seed": 3}, labels, 4)
    assert by_n.forget_indices == fs.forget_indices and by_n.forget_hash == fs.forget_hash  # same draw
    with pytest.raises(ForgetSetError, match="0 training samples requested of 100"):
        make_forget_set({"name": "s", "kind": "samples", "fraction": 0.001}, labels, 4)


@pytest.mark.parametrize("suffix, text", [
    (".txt", "# published forget list\n9\n\n2\n5   # trailing comment\n"),
    (".json", "[9, 2, 5]"),
    (".npy", None),
])
def test_index_files_in_every_format_select_exactly_the_listed_samples(tmp_path, suffix, text):
    path = tmp_path / f"forget{suffix}"
    np.save(path, np.array([9, 2, 5], dtype=np.int32)) if text is None else path.write_text(text)
    labels = np.repeat(np.arange(2), 6)
    fs = make_forget_set({"name": "i", "kind": "indices", "file": str(path)}, labels, 2)
    assert fs.forget_indices == (2, 5, 9) and fs.forget_classes is None and forget_mode(fs.kind) == "sample"
    assert fs.details == {"file": str(path), "listed": 3}
    assert fs.splits(labels, np.arange(2))["forget_train"].tolist() == [2, 5, 9]


def test_editing_the_index_file_changes_the_hash(tmp_path):
    path, labels = tmp_path / "forget.txt", np.arange(20) % 2
    path.write_text("1\n2\n3\n")
    spec = {"name": "i", "kind": "indices", "file": str(path)}
    first = make_forget_set(spec, labels, 2)
    assert make_forget_set(spec, labels, 2).forget_hash == first.forget_hash
    path.write_text("1\n2\n4\n")
    second = make_forget_set(spec, labels, 2)
    assert second.forget_indices == (1, 2, 4) and second.forget_hash != first.forget_hash
    write_forget_set(tmp_path / "f.json", second, spec, ["a", "b"])
    assert read_forget_set(tmp_path / "f.json").details == second.details


def _write(path, content):
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize("name, content, fragment", [
    ("absent.txt", None, "does not exist"),
    ("bad.txt", "1\n2.5\n", "line 2: expected one integer per line, got '2.5'"),
    ("dupes.txt", "1\n7\n1\n", "indices listed more than once: [1]"),
    ("negative.txt", "3\n-2\n", "negative indices [-2]"),
    ("empty.txt", "# nothing\n", "lists no indices"),
    ("floats.json", "[1, 2.0]", "expected a JSON list of integers"),
    ("broken.json", "[1, 2", "cannot be read as .json"),
    ("matrix.npy", np.zeros((2, 2), dtype=np.int64), "expected a 1-D integer array, got int64 of shape (2, 2)"),
    ("floats.npy", np.array([1.0, 2.0]), "expected a 1-D integer array, got float64"),
])
def test_bad_index_files_name_the_key_and_the_file(tmp_path, name, content, fragment):
    path = tmp_path / name if content is None else _write(tmp_path / name, content)
    with pytest.raises(ForgetSetError) as err:
        read_index_file(path, "scenarios[3] (pub).file")
    assert str(err.value).startswith(f"scenarios[3] (pub).file: forget list {path}") and fragment in str(err.value), \
        str(err.value)


def test_indices_number_the_training_set_before_the_tuning_carve_out(tmp_path):
    """The listed indices are positions in the dataset's own training set; the prepared (carved) data records
    where each kept image came from, the stage maps the list through it and leaves out carved samples."""
    from unlearnbench.data import ArrayDataset, load_prepared
    from unlearnbench.stages import select_forget_set

    rng = np.random.default_rng(0)
    n = 40
    x = rng.integers(0, 255, size=(n, 4, 4, 3), dtype=np.uint8)
    full = ArrayDataset(x, np.arange(n) % 4, x[:4], np.arange(4), ["a", "b", "c", "d"])
    carved = full.carve_validation(0.25, seed=1)
    assert np.array_equal(carved.x_train, full.x_train[carved.train_index]) and carved.source_train_size == n
    val_ids = sorted(set(range(n)) - set(carved.train_index.tolist()))  # the 10 samples carved out
    listed = [val_ids[0], *carved.train_index[[0, 5, 29]].tolist()]
    carved.save_npz(tmp_path / "up.npz")
    _write(tmp_path / "list.txt", "\n".join(map(str, listed)))
    spec = {"name": "pub", "kind": "indices", "file": str(tmp_path / "list.txt")}
    select_forget_set(spec, tmp_path / "up.npz", tmp_path / "fs.json", tmp_path / "rank.csv")
    fs = read_forget_set(tmp_path / "fs.json")
    assert fs.forget_indices == (0, 5, 29)
    assert fs.details["left_out_in_validation"] == [val_ids[0]] and fs.details["listed"] == 4
    prepared = load_prepared(tmp_path / "up.npz")
    forget = prepared.x_train[fs.splits(prepared.y_train, prepared.y_test)["forget_train"]]
    assert np.array_equal(forget, full.x_train[sorted(listed[1:])])  # exactly the listed images that are trained on
    _write(tmp_path / "list.txt", f"{n}\n")
    with pytest.raises(ForgetSetError, match=f"indices \\[{n}\\] are out of range; the upstream training set has {n}"):
        select_forget_set(spec, tmp_path / "up.npz", tmp_path / "fs.json", tmp_path / "rank.csv")


def test_every_kind_in_one_workflow_and_editing_the_list_reruns_only_its_branch(tmp_path):
    """configs/quick.yaml with `classes` (by name and index), `indices` (a text list, in the numbering before
    quick's 20 % tuning carve-out) and `samples` by `fraction` next to `random`: the forget-set jobs run (only
    they and prepare_data: seconds), then the forget list is edited and one dry run of the whole DAG schedules
    every scenario's branch, but of the forget-set jobs only the edited list's (the file is a rule input)."""
    import time

    from unlearnbench.data import dataset_class_names
    from unlearnbench.data.arrays import read_train_index

    work = copy_workflow(tmp_path)
    cfg = yaml.safe_load((REPO / "configs" / "quick.yaml").read_text())
    name = dataset_class_names("u", cfg["data"]["upstream"])[2]
    (work / "forget_list.txt").write_text("0\n61\n359\n")  # 6 classes × 60 training images before the carve
    cfg["scenarios"] = [{"name": "random1", "kind": "random", "k": 1},
                        {"name": "named", "kind": "classes", "classes": [name, 5]},
                        {"name": "listed", "kind": "indices", "file": "forget_list.txt"},
                        {"name": "tenth", "kind": "samples", "fraction": 0.1}]
    cfg["methods"]["bs"]["scenarios"] = ["random1", "named"]
    (work / "all_kinds.yaml").write_text(yaml.safe_dump(cfg))
    paths = Layout(work / "outputs" / "quick")
    snakemake(work, *(str(paths.forget_set(sc).relative_to(work)) for sc in ("random1", "named", "listed", "tenth")),
              configfile="all_kinds.yaml")
    named, listed, tenth = (read_forget_set(paths.forget_set(sc)) for sc in ("named", "listed", "tenth"))
    assert named.forget_classes == (2, 5) and tenth.forget_classes is None and len(tenth.forget_indices) == 29
    train_index, size = read_train_index(paths.data_files("upstream")["npz"])
    assert size == 360 and len(train_index) == 288  # round(0.1 × 288) = 29 drawn above
    # sample 0 is one of the images quick's carve moves into the validation split: left out, and recorded
    assert 0 not in train_index and listed.details["left_out_in_validation"] == [0]
    assert listed.forget_indices == (48, 287) and train_index[[48, 287]].tolist() == [61, 359]

    time.sleep(1.1)  # a newer modification time than the forget set's
    (work / "forget_list.txt").write_text("0\n62\n359\n")
    proc = snakemake(work, "--dry-run", configfile="all_kinds.yaml")
    jobs = job_counts(proc.stdout)
    assert jobs["select_forget_set"] == 1 and jobs["train_retrain"] == 4, jobs
    job = next(b for b in proc.stdout.split("\nrule ") if b.startswith("select_forget_set:"))
    assert "scenario=listed" in job and "forget_list.txt" in job.split("input:")[1].split("\n")[0], job


def test_class_names_read_at_validation_match_the_built_datasets(tmp_path):
    """What config validation checks `classes` scenarios against (each adapter's cheap `class_names`: metadata,
    listings, the npz's one array) is exactly the label order of the dataset the workflow builds."""
    from unlearnbench.data import ArrayDataset, build_dataset, dataset_class_names
    from unlearnbench import testing as fakes

    cifar = fakes.write_cifar(tmp_path / "c100", "cifar100", train_per_class=1, test_per_class=1)
    folder = fakes.write_imagefolder(tmp_path / "folder", ["zebra", "ant", "moth"], per_class=2, size=8)
    fakes.write_domainnet(tmp_path / "dn", "clipart", ["b", "a", "c"], train_per_class=2, test_per_class=1, size=8)
    x = np.zeros((4, 2, 2, 3), np.uint8)
    ArrayDataset(x, np.arange(4) % 2, x, np.arange(4) % 2, ["left", "right"]).save_npz(tmp_path / "named.npz")
    np.savez(tmp_path / "bare.npz", x_train=x, y_train=np.arange(4) % 3, x_test=x, y_test=np.arange(4) % 3)
    specs = [{"type": "synthetic", "superclasses": 2, "fine_per_superclass": 2, "train_per_class": 2,
              "test_per_class": 1},
             {"type": "cifar100", "path": str(cifar), "classes": 40, "holdout": 1},
             {"type": "imagefolder", "root": str(folder), "classes": ["moth", "ant"], "test_fraction": 0.5},
             {"type": "domainnet", "root": str(tmp_path / "dn"), "domain": "clipart", "classes": [2, 0]},
             {"type": "npz", "path": str(tmp_path / "named.npz")},
             {"type": "npz", "path": str(tmp_path / "bare.npz")}]
    for spec in specs:
        assert dataset_class_names("data.upstream", spec) == list(build_dataset(spec).class_names), spec
