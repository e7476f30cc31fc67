"""The ``select_forget_set`` stage: one scenario's forget set written to disk with its content hash, and — for a
``top`` scenario — the similarity ranking it was chosen from, read off the original model's cached features
(no forward pass of its own)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from unlearnbench.atomic import write_text
from unlearnbench.data import load_prepared
from unlearnbench.data.arrays import read_train_index
from unlearnbench.data.forget_sets import make_forget_set, rank_top, write_forget_set, write_ranking
from unlearnbench.runs import data_meta
from unlearnbench.workflow import phase

__all__ = ["select_forget_set"]


def select_forget_set(scenario: dict[str, Any], data_npz: str | Path, out_json: str | Path,
                      out_ranking: str | Path | None = None, up_features: str | Path | None = None,
                      down_features: str | Path | None = None, down_json: str | Path | None = None) -> None:
    """Write the forget set of one scenario. A kind whose job reads the original model's cached features
    (``top``: its ``job_inputs``) gets their similarity ranking; every kind gets the prepared data's
    ``train_index`` (the numbering before the tuning carve-out, which ``indices`` lists refer to) —
    :mod:`unlearnbench.scenario_kinds`, no test of the kind's name here."""
    with phase("load"):
        ds = load_prepared(data_npz)
    ranking = None
    if up_features is not None:
        from unlearnbench.features import read_features

        with phase("load"):
            up, down = read_features(up_features), read_features(down_features)
            down_names = data_meta(down_json)["class_names"]
        ranking, sim = rank_top(up.layers["pre_logits"], up.labels, ds.num_classes, down.layers["pre_logits"],
                                down.labels, len(down_names))
        write_ranking(out_ranking, ranking, sim, ds.class_names, down_names)
    elif out_ranking:
        write_text(out_ranking, f"# scenario kind {scenario['kind']!r} has no similarity ranking\n")
    train_index, source_size = read_train_index(data_npz)
    fs = make_forget_set(scenario, ds.y_train, ds.num_classes, ranking, class_names=ds.class_names,
                         train_index=train_index, source_size=source_size)
    write_forget_set(out_json, fs, scenario, ds.class_names)
    if fs.details.get("left_out_in_validation"):
        print(f"select_forget_set: {len(fs.details['left_out_in_validation'])} of {fs.details['listed']} samples "
              f"listed in {fs.details['file']} are in the tuning validation split (no model trains on them) and "
              "are left out of the forget set", file=sys.stderr)
