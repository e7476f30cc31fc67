"""Bring your own checkpoints: weights trained or unlearned elsewhere (``.pth``/``.pt`` or safetensors) as the
original (``model.pretrained``), the retrained references (``retrain.pretrained``) and a method row
(``external``) — loaded only as weights (a pickled object is refused and never runs), recorded with their
SHA-256, listed as rule inputs, and fed pixels normalised the way their architecture's pretrained_cfg says."""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import REPO, copy_workflow, snakemake
from unlearnbench.checkpoints import CheckpointError, check_weights_file, load_checkpoint, load_pretrained_weights
from unlearnbench.config import ConfigError, validate_config
from unlearnbench.data import ArrayDataset, load_prepared
from unlearnbench.data.arrays import DEFAULT_NORM
from unlearnbench.testing import write_weights
from unlearnbench.models import create_model
from unlearnbench.stages import select_forget_set, train_reference
from unlearnbench.unlearning import run_unlearning

ARCH, CLASSES = "cifar_resnet8", 3
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

pytestmark = pytest.mark.usefixtures("one_thread")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def state_of(arch: str = ARCH, classes: int = CLASSES, seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {k: v.clone() for k, v in create_model(arch, classes).state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Canary:
    """Unpickling this would run code: it reconstructs itself by calling ``open(marker, "w")``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class TrainingArgs:  # a pickled custom class, as careless training scripts store beside the weights
    lr = 0.1


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Tiny 3-class pixel data, a class and a sample forget set, and the original imported from weights."""
    root = tmp_path_factory.mktemp("byo")
    rng = np.random.default_rng(0)
    ds = ArrayDataset(rng.integers(0, 255, (30, 16, 16, 3), dtype=np.uint8), np.arange(30) % 3,
                      rng.integers(0, 255, (9, 16, 16, 3), dtype=np.uint8), np.arange(9) % 3)
    ds.save_npz(root / "up.npz")
    (root / "up.json").write_text(json.dumps({"data_hash": "test"}))
    for sc in ({"name": "r1", "kind": "random", "k": 1, "seed": 0}, {"name": "s5", "kind": "samples", "n": 5, "seed": 0}):
        select_forget_set(sc, root / "up.npz", root / f"{sc['name']}.json")
    original = write_weights(root / "original.safetensors", ARCH, num_classes=CLASSES)
    train_reference(root / "up.npz", root / "up.json", root / "original_ckpt.safetensors",
                    model={"arch": ARCH, "kwargs": {}, "pretrained": str(original)}, train={"epochs": 1},
                    seed=0, threads=1, device="cpu")
    return root


# ------------------------------------------------------------------------------- .pth / .pt state dicts
WRAPPERS = {
    "plain": lambda sd: sd,
    "state_dict+extras": lambda sd: {"state_dict": sd, "epoch": 182, "best_sa": 95.1, "args": argparse.Namespace(lr=0.1),
                                     "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]},
                                     "scheduler": {"milestones": collections.Counter([91, 136])}},
    "model": lambda sd: {"model": sd, "acc": 0.93},
    "net+DataParallel": lambda sd: {"net": {f"module.{k}": v for k, v in sd.items()}, "acc": 93.1},
    "compiled+DDP": lambda sd: collections.OrderedDict((f"_orig_mod.module.{k}", v) for k, v in sd.items()),
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
@pytest.mark.parametrize("suffix", [".pth", ".pt"])
def test_pth_state_dicts_load_exactly_like_the_safetensors_file(tmp_path, wrapper, suffix):
    reference = write_weights(tmp_path / "w.safetensors", ARCH, num_classes=CLASSES)
    torch.save(WRAPPERS[wrapper](load_file(str(reference))), tmp_path / f"w{suffix}")
    via_st, via_pth = create_model(ARCH, CLASSES), create_model(ARCH, CLASSES)
    load_pretrained_weights(via_st, reference)
    info = load_pretrained_weights(via_pth, tmp_path / f"w{suffix}")
    assert same(via_st.state_dict(), via_pth.state_dict())
    assert info["format"] == "torch" and info["head"] == "kept"
    assert info["wrapper"] == {"plain": None, "state_dict+extras": "state_dict", "model": "model",
                               "net+DataParallel": "net", "compiled+DDP": None}[wrapper]
    assert len(check_weights_file(tmp_path / f"w{suffix}")) == len(via_st.state_dict())


def test_legacy_format_and_pth_tar_names_load_too(tmp_path):
    sd = state_of()
    torch.save({"state_dict": sd}, tmp_path / "checkpoint.pth.tar", _use_new_zipfile_serialization=False)
    torch.save(sd, tmp_path / "weights_without_suffix")  # recognised by its first bytes (a zip archive)
    for name in ("checkpoint.pth.tar", "weights_without_suffix"):
        model = create_model(ARCH, CLASSES)
        assert load_pretrained_weights(model, tmp_path / name)["format"] == "torch"
        assert same(model.state_dict(), sd)


def test_a_pickled_object_is_refused_by_name_and_never_runs(tmp_path):
    marker = tmp_path / "code_ran"
    evil, custom = tmp_path / "evil.pth", tmp_path / "custom.pt"
    torch.save({"state_dict": state_of(), "hook": Canary(marker)}, evil)
    torch.save({"state_dict": state_of(), "args": TrainingArgs()}, custom)
    for path, needs in ((evil, "open"), (custom, "TrainingArgs")):
        for load in (check_weights_file, lambda p: load_pretrained_weights(create_model(ARCH, CLASSES), p)):
            with pytest.raises(CheckpointError) as err:
                load(path)
            msg = str(err.value)
            assert str(path) in msg and "is not a weights-only state dict" in msg and needs in msg, msg
            assert "nothing in it ran" in msg
    base = {"data": {"upstream": {"type": "synthetic", "superclasses": 2, "fine_per_superclass": 2}, "downstream": {}},
            "scenarios": [{"name": "r1", "kind": "random", "k": 1}], "methods": {}}
    with pytest.raises(ConfigError, match=r"model\.pretrained: weights file .*evil\.pth is not a weights-only"):
        validate_config({**base, "model": {"arch": ARCH, "pretrained": str(evil)}})
    assert not marker.exists(), "unpickling executed the payload"


def test_a_checkpoint_without_a_state_dict_is_named(tmp_path):
    torch.save({"epoch": 3, "weights": [1, 2]}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=r"odd\.pth holds no state dict.*'state_dict', 'model', 'net'"):
        check_weights_file(tmp_path / "odd.pth")


# ---------------------------------------------------------------------------------------- external method
def _external(work, out: Path, template: str, scenario: str = "r1", seed: int = 0):
    run_unlearning("ext", {"algorithm": "external", "weights": template}, work / "original_ckpt.safetensors",
                   work / "up.npz", work / "up.json", work / f"{scenario}.json", out, seed=seed, threads=1,
                   device="cpu")
    return load_checkpoint(out)


@pytest.mark.parametrize("scenario", ["r1", "s5"])  # class and sample forgetting
def test_external_checkpoint_is_the_given_weights_with_their_hash(work, tmp_path, scenario):
    given = state_of(seed=7)
    path = tmp_path / f"{scenario}_seed3.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in given.items()}}, path)
    model, meta = _external(work, tmp_path / "ext.safetensors", str(tmp_path / "{scenario}_seed{seed}.pth"),
                            scenario, seed=3)
    assert same(model.state_dict(), given)
    assert meta["status"] == "ok" and meta["algorithm"] == "external" and meta["role"] == "unlearn"
    assert meta["source_weights"] == {"path": str(path), "sha256": sha256(path), "format": "torch",
                                      "wrapper": "state_dict", "template": str(tmp_path / "{scenario}_seed{seed}.pth")}
    assert meta["method_params"] == {"weights": str(tmp_path / "{scenario}_seed{seed}.pth")}
    assert meta["forget_images_seen"] == meta["retain_images_seen"] == 0 and meta["seed"] == 3


def test_external_weights_of_another_architecture_or_class_count_are_named(work, tmp_path):
    torch.save(state_of(classes=5), tmp_path / "five.pth")
    with pytest.raises(CheckpointError, match=r"five\.pth does not fit CifarResNet with 3 classes: it has a 5-class"):
        _external(work, tmp_path / "a.safetensors", str(tmp_path / "five.pth"))
    torch.save(state_of("cifar_resnet14"), tmp_path / "r14.pth")
    with pytest.raises(CheckpointError, match=r"r14\.pth does not fit CifarResNet: missing \[\]"):
        _external(work, tmp_path / "b.safetensors", str(tmp_path / "r14.pth"))


def quick_cfg(**extra):
    cfg = yaml.safe_load((REPO / "configs" / "quick.yaml").read_text())
    return {**cfg, **extra}


def test_config_validation_names_the_key_of_a_missing_or_bad_weights_file(tmp_path):
    template = str(tmp_path / "ext" / "{scenario}_seed{seed}.pth")
    cfg = quick_cfg(methods={"ext": {"algorithm": "external", "weights": template, "scenarios": ["random1"]}})
    with pytest.raises(ConfigError, match=r"methods\.ext\.weights: weights file .*random1_seed0\.pth does not exist"):
        validate_config(cfg)
    write_weights(tmp_path / "ext" / "random1_seed0.pth", ARCH, num_classes=6)  # a plain torch.save state dict
    assert validate_config(cfg)["methods"]["ext"]["weights"] == template
    with pytest.raises(ConfigError, match=r"methods\.ext\.weights: required"):
        validate_config(quick_cfg(methods={"ext": {"algorithm": "external"}}))
    with pytest.raises(ConfigError, match=r"methods\.ext\.weights: path template .*\['run'\]"):
        validate_config(quick_cfg(methods={"ext": {"algorithm": "external", "weights": "w/{run}.pth"}}))
    one_file = quick_cfg(methods={"ext": {"algorithm": "external", "weights": str(tmp_path / "ext" / "random1_seed0.pth")}})
    with pytest.raises(ConfigError, match=r"methods\.ext\.weights: scenario 'random1' seed 0 and scenario "
                                          r"'top1_similar' seed 0 would both read"):
        validate_config(one_file)
    with pytest.raises(ConfigError, match=r"retrain\.pretrained: weights file .*retrain_random1_0\.pt does not exist"):
        validate_config(quick_cfg(retrain={"pretrained": str(tmp_path / "retrain_{scenario}_{seed}.pt")}))


# -------------------------------------------------------------------------------------- retrain import
def test_retrained_reference_is_imported_with_its_hash(work, tmp_path):
    given = state_of(seed=11)
    path = tmp_path / "retrain_r1_seed2.pt"
    torch.save({"model": given}, path)
    out = tmp_path / "retrain.safetensors"
    train_reference(work / "up.npz", work / "up.json", out, model={"arch": ARCH, "kwargs": {}}, train=None, seed=2,
                    threads=1, device="cpu", forget_set=work / "r1.json", role="retrain", weights=path)
    model, meta = load_checkpoint(out)
    assert same(model.state_dict(), given)
    assert meta["role"] == "retrain" and meta["source"] == "import" and meta["seed"] == 2 and meta["curve"] == []
    assert meta["pretrained"]["sha256"] == sha256(path) and meta["pretrained"]["wrapper"] == "model"
    assert meta["forget_hash"] == json.loads((work / "r1.json").read_text())["forget_hash"]
    assert set(meta["final_accuracy"]) == {"retain_test", "forget_test"}
    torch.save(state_of(classes=4), tmp_path / "four.pt")  # a reference must keep every class's output
    with pytest.raises(CheckpointError, match="it has a 4-class classifier"):
        train_reference(work / "up.npz", work / "up.json", tmp_path / "x.safetensors", model={"arch": ARCH},
                        train=None, seed=2, threads=1, device="cpu", forget_set=work / "r1.json", role="retrain",
                        weights=tmp_path / "four.pt")


# -------------------------------------------------------------------------------- input normalisation
def test_imported_weights_normalise_pixels_with_their_pretrained_cfg(work, tmp_path):
    weights = tmp_path / "r10t.pth"
    torch.save(state_of("resnet10t"), weights)
    out = tmp_path / "original.safetensors"
    train_reference(work / "up.npz", work / "up.json", out, train={"epochs": 1}, seed=0, threads=1, device="cpu",
                    model={"arch": "resnet10t", "kwargs": {}, "pretrained": str(weights)})
    model, meta = load_checkpoint(out)
    assert meta["input_norm"] == {"mean": list(IMAGENET[0]), "std": list(IMAGENET[1])}
    data = load_prepared(work / "up.npz")
    assert data.split("test").norm == DEFAULT_NORM
    assert data.for_model(model).split("test").norm == IMAGENET == data.for_model(model).evalset("x").norm
    # an imported model without a pretrained_cfg (the small-input ResNets) keeps the fixed normalisation, and
    # a model unlearned from an imported original keeps the original's
    _, small = load_checkpoint(work / "original_ckpt.safetensors")
    assert small["input_norm"] is None
    torch.save(state_of("resnet10t", seed=5), tmp_path / "ext.pth")
    unlearned, ext_meta = load_checkpoint(_unlearned_from(work, out, tmp_path))
    assert ext_meta["input_norm"] == meta["input_norm"] and data.for_model(unlearned).split("train").norm == IMAGENET


def _unlearned_from(work, original: Path, tmp_path: Path) -> Path:
    out = tmp_path / "unlearned.safetensors"
    run_unlearning("ext", {"algorithm": "external", "weights": str(tmp_path / "ext.pth")}, original, work / "up.npz",
                   work / "up.json", work / "r1.json", out, seed=0, threads=1, device="cpu")
    return out


# ------------------------------------------------------------------------------------------- the DAG
def test_dry_run_lists_the_imported_weights_as_inputs(tmp_path):
    work = copy_workflow(tmp_path)
    cfg = quick_cfg(retrain={"pretrained": "weights/retrain/{scenario}/seed{seed}.pth"})
    cfg["methods"]["ext"] = {"algorithm": "external", "weights": "weights/ext/{scenario}_seed{seed}.pt"}
    files = [f"weights/{kind}" for sc in ("random1", "top1_similar", "samples30")
             for kind in (f"retrain/{sc}/seed0.pth", f"ext/{sc}_seed0.pt")]
    for name in files:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"placeholder": torch.zeros(1)}, work / name)  # validation only reads them as weights
    (work / "byo.yaml").write_text(yaml.safe_dump(cfg))
    out = snakemake(work, "--dry-run", configfile="byo.yaml").stdout
    jobs = re.split(r"\n(?=(?:local)?rule \w+:)", out)
    for sc in ("random1", "top1_similar", "samples30"):
        retrain = [j for j in jobs if j.startswith(("rule train_retrain:", "localrule train_retrain:"))
                   and f"retrain/{sc}/seed0.safetensors" in j]
        ext = [j for j in jobs if j.startswith(("rule unlearn:", "localrule unlearn:")) and f"{sc}/seed0/ext" in j]
        assert len(retrain) == 1 and f"weights/retrain/{sc}/seed0.pth" in retrain[0], retrain
        assert len(ext) == 1 and f"weights/ext/{sc}_seed0.pt" in ext[0], ext
    other = [j for j in jobs if j.startswith("rule unlearn:") and "/ga" in j.split("output:")[1].split("\n")[0]]
    assert other and not any("weights/ext" in j for j in other)  # only the external method reads them
