"""Forget sets: random / top / samples selection, hashing, splits."""
from __future__ import annotations

import numpy as np

from unlearnbench.data.forget_sets import make_forget_set, rank_top, read_forget_set, write_forget_set


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
    `top2_similar` picks exactly the designed sources [0, 4] (docs/tuning.md)."""
    import json

    sources = json.loads((quick_out / "data" / "similar.json").read_text())["source_class"]
    chosen = read_forget_set(quick_out / "forget_sets" / "top1_similar.json").forget_classes
    assert list(chosen) == [sources[0]]
    first = (quick_out / "forget_sets" / "top1_similar_ranking.csv").read_text().splitlines()[1].split(",")
    assert first[:2] == ["0", str(sources[0])]  # the audit CSV: the first-ranked class is that one
