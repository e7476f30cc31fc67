"""The ``attack`` job: every configured model attack (:class:`~unlearnbench.attacks.base.ModelAttack`) on one
model of one (scenario, seed), written as one results file with the same provenance as the evaluation's.

Models: every unlearned model, the retrained reference (the control: it never saw the forgotten data) and
the original (the ceiling). The model is loaded once; each attack fine-tunes its own copy, seeded by the
replicate seed. The original's accuracy on the measured split (the relearn-time target) is computed here on
the same images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from unlearnbench.workflow import phase


def run_model_attacks(*, scenario: str, seed: int, method: str, algorithm: str, model_ckpt: str | Path,
                      original_features: str | Path, data_npz: str | Path, data_json: str | Path, forget_json: str | Path,
                      attacks: dict[str, Any], data_seed: int, threads: int, device: str, out: str | Path) -> None:
    from unlearnbench.attacks import AttackTarget, applies, attack_config
    from unlearnbench.attacks.relearn import correctness
    from unlearnbench.checkpoints import load_checkpoint, read_meta
    from unlearnbench.data.files import load_prepared
    from unlearnbench.data.forget_sets import read_forget_set
    from unlearnbench.evaluation import row_base
    from unlearnbench.results import write_results
    from unlearnbench.training import prepare_model, setup_torch

    fset = read_forget_set(forget_json)
    todo = [a for a in attack_config(attacks, kind="model").values() if applies(a, fset)]
    with phase("load"):
        dev = setup_torch(seed, threads, device)
        meta = read_meta(model_ckpt)
        base = row_base(scenario=scenario, seed=seed, method=method, algorithm=algorithm, meta=meta, fset=fset,
                        data_json=data_json, data_seed=data_seed, max_per_class=None)
        rows: list[dict] = []
        if meta.get("status", "ok") == "diverged" or not todo:
            write_results(rows, out)  # nothing to attack: a diverged model has no forget accuracy to recover
            return
        model, _ = load_checkpoint(model_ckpt, dev)
        model = prepare_model(model, dev)
        ds = load_prepared(data_npz).for_model(model)
        idx = fset.splits(ds.y_train, ds.y_test)
        train, test = ds.split("train"), ds.split("test")
        sample = not fset.forget_classes
        split = "forget_train" if sample else "forget_test"
        measure = (train if sample else test).subset(idx[split])
        ceiling = cached_accuracy(original_features, idx[split])
    target = AttackTarget(pool=train.subset(idx["forget_train"]), retain=train.subset(idx["retain_train"]),
                          measure=measure, measure_split=split,
                          forget_classes=list(fset.forget_classes) if fset.forget_classes else None,
                          ceiling=ceiling, device=dev, seed=seed)
    with phase("compute"):
        target.start = correctness(model, measure, dev)  # every attack's step 0: scored once
        for attack in todo:
            rows.extend({**base, **row} for row in attack.run(model, target))
    with phase("write"):
        write_results(rows, out)


def cached_accuracy(features_path: str | Path, split_idx: np.ndarray) -> float:
    """Accuracy of a model's cached logits on the rows of a split (indices into the full eval set; a capped
    cache contributes the rows it kept); 0 when none is cached."""
    from unlearnbench.evaluation import _indices, _remap
    from unlearnbench.features import read_features

    fs = read_features(features_path)
    pos = _remap(np.asarray(split_idx, dtype=np.int64), _indices(str(features_path)))
    return float((np.asarray(fs.logits)[pos].argmax(1) == fs.labels[pos]).mean()) if len(pos) else 0.0
