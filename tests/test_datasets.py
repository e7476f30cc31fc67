"""Real-dataset adapters on tiny files of the real layouts, the prepared-dataset contract, FileImageSet
determinism, and dry runs of the CIFAR-100 and ImageNet presets against stand-in datasets."""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, copy_workflow, job_counts, snakemake
from unlearnbench.config import ConfigError, load_yaml, validate_config
from unlearnbench.data import (ArrayDataset, DatasetError, FileDataset, FileImageSet, ImageArraySet, build_dataset,
                               check_spec, load_prepared)
from unlearnbench import testing as fakes
from unlearnbench.data.cifar import safe_unpickle
from unlearnbench.methods.common import concat_sets


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """One folder with every fake layout (written once for the module)."""
    root = tmp_path_factory.mktemp("raw")
    fakes.write_cifar(root, "cifar100")
    fakes.write_cifar(root, "cifar10")
    fakes.write_cifar(root / "tars", "cifar10", tar=True)
    fakes.write_imagefolder(root / "folder", ["ant", "bee", "cat"], per_class=5)
    (root / "folder" / "bee" / "notes.txt").write_text("not an image")
    fakes.write_imagefolder(root / "split" / "train", ["ant", "bee"], per_class=3, ext=".JPEG")
    fakes.write_imagefolder(root / "split" / "val", ["ant", "bee"], per_class=2, ext=".JPEG")
    fakes.write_domainnet(root / "domainnet", "clipart", ["axe", "bus", "cow", "dog"], train_per_class=4,
                          test_per_class=2)
    return root


# ------------------------------------------------------------------------------------------------ CIFAR
def test_cifar100_holdout_partitions_every_superclass(raw):
    spec = {"type": "cifar100", "path": str(raw / "cifar-100-python"), "holdout": 1}
    assert check_spec("data.upstream", spec) == 80
    kept = build_dataset(spec)
    held = build_dataset({**spec, "part": "heldout", "path": str(raw)})  # the parent folder works too
    assert kept.num_classes == 80 and held.num_classes == 20
    assert not set(kept.class_names) & set(held.class_names)
    assert sorted(kept.class_names + held.class_names) == [f"fine{i:02d}" for i in range(100)]
    assert sorted(held.superclass.tolist()) == list(range(20))  # one held-out class per superclass
    for name, sc in zip(kept.class_names, kept.superclass):  # fake mapping: fine i → coarse i % 20
        assert sc == int(name[4:]) % 20
    assert (len(kept.y_train), len(kept.y_test)) == (80 * 3, 80 * 2) and kept.x_train.shape[1:] == (32, 32, 3)
    assert set(kept.y_train.tolist()) == set(range(80)) and kept.storage == "pixels"
    # pixels round-trip the official N×3072 channel-first rows
    batch = safe_unpickle((raw / "cifar-100-python" / "train").read_bytes(), "train")
    first = [i for i, y in enumerate(batch["fine_labels"]) if f"fine{y:02d}" == kept.class_names[0]][0]
    expect = batch["data"][first].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(kept.x_train[kept.y_train == 0][0], expect)
    again = build_dataset({**spec, "holdout_seed": 0})
    assert again.class_names == kept.class_names  # seeded


def test_cifar10_tarball_equals_folder_and_class_subset(raw):
    folder = build_dataset({"type": "cifar10", "path": str(raw / "cifar-10-batches-py")})
    tar = build_dataset({"type": "cifar10", "path": str(raw / "tars" / "cifar-10-batches-py.tar.gz")})
    assert np.array_equal(folder.x_train, tar.x_train) and np.array_equal(folder.y_test, tar.y_test)
    assert folder.num_classes == 10 and len(folder.y_train) == 30  # spread over data_batch_1..5
    sub = build_dataset({"type": "cifar10", "path": str(raw / "cifar-10-batches-py"), "classes": ["class7", "class2"]})
    assert sub.class_names == ["class2", "class7"] and set(sub.y_train.tolist()) == {0, 1}
    assert np.array_equal(sub.x_train[sub.y_train == 1], folder.x_train[folder.y_train == 7])


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"cposix\nsystem\n(S'touch {marker}'\ntR.".encode()
    with pytest.raises(DatasetError, match="refusing to load global posix.system"):
        safe_unpickle(evil, "evil")
    assert not marker.exists()
    with pytest.raises(DatasetError, match="builtins.eval"):
        safe_unpickle(pickle.dumps({"data": eval}, protocol=3), "evil")


@pytest.mark.parametrize("breakage, message", [
    ("missing_folder", "CIFAR-100 path .*does-not-exist does not exist; expected the official CIFAR-100 python "
                       r"version: a folder cifar-100-python/ with train, test, meta"),
    ("missing_batch", r"lacks \['test'\]"),
    ("not_a_pickle", "test is not a CIFAR python batch"),
])
def test_cifar_layout_errors_name_path_and_layout(raw, tmp_path, breakage, message):
    folder = tmp_path / "cifar-100-python"
    shutil.copytree(raw / "cifar-100-python", folder)
    path = folder
    if breakage == "missing_folder":
        path = tmp_path / "does-not-exist"
    elif breakage == "missing_batch":
        (folder / "test").unlink()
    else:
        (folder / "test").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=message) as err:
        check_spec("data.upstream", {"type": "cifar100", "path": str(path), "holdout": 1})
    assert str(err.value).startswith("data.upstream: ")


def test_heldout_part_must_match_the_upstream(raw):
    up = {"type": "cifar100", "path": str(raw / "cifar-100-python"), "holdout": 1}
    cfg = {"data": {"upstream": up, "downstream": {"held": {**up, "part": "heldout"}}},
           "scenarios": [{"name": "top2", "kind": "top", "k": 2, "downstream": "held"}]}
    assert validate_config(cfg)["data"]["downstream"]["held"]["part"] == "heldout"
    cfg["data"]["downstream"]["held"]["holdout_seed"] = 1
    with pytest.raises(ConfigError, match=r"data.downstream.held: a `part: heldout` set must repeat .*\['holdout_seed'\]"):
        validate_config(cfg)


def test_cifar_holdout_errors():
    with pytest.raises(DatasetError, match="holdout: 5 of the 5 selected fine classes of superclass 0"):
        from unlearnbench.data.cifar import CIFAR100, _selection

        _selection(CIFAR100, [f"f{i}" for i in range(100)], np.arange(100) % 20, None, 5, 0, "kept")


# ------------------------------------------------------------------------------------------ ImageFolder
def test_imagefolder_split_subset_cap(raw):
    spec = {"type": "imagefolder", "root": str(raw / "folder"), "test_fraction": 0.4, "image_size": 32}
    assert check_spec("data.downstream.x", spec) == 3
    ds = build_dataset(spec)
    assert isinstance(ds, FileDataset) and ds.class_names == ["ant", "bee", "cat"] and ds.storage == "files"
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2] and np.bincount(ds.y_train).tolist() == [3, 3, 3]
    assert not set(ds.paths_train) & set(ds.paths_test)
    assert all(p.endswith(".png") for p in ds.paths_train)  # notes.txt is not an image
    assert ds.paths_train.tolist() == build_dataset(spec).paths_train.tolist()  # seeded split
    sub = build_dataset({**spec, "classes": ["cat", "ant"], "max_per_class": 2})
    assert sub.class_names == ["ant", "cat"] and np.bincount(sub.y_train).tolist() == [2, 2]
    assert all(p.startswith(("ant/", "cat/")) for p in sub.paths_train)
    assert build_dataset({**spec, "classes": 2}).class_names == ["ant", "bee"]


def test_imagefolder_separate_train_and_test_roots(raw):
    ds = build_dataset({"type": "imagefolder", "train": str(raw / "split" / "train"),
                        "test": str(raw / "split" / "val")})
    assert (len(ds.y_train), len(ds.y_test)) == (6, 4)  # upper-case .JPEG accepted
    assert ds.root == str(raw / "split") and ds.paths_test[0].startswith("val/ant/")


@pytest.mark.parametrize("breakage, message", [
    ("missing_root", r"image folder .*nowhere does not exist; expected root/<class>/<image>"),
    ("empty_class", r"class folder .*bee is empty: expected images with extensions .jpg"),
    ("no_classes", "has no class folders"),
    ("unknown_class", r"classes: unknown class\(es\) \['yak'\]"),
])
def test_imagefolder_layout_errors(tmp_path, breakage, message):
    root = tmp_path / "imgs"
    fakes.write_imagefolder(root, ["ant", "bee"], per_class=1)
    spec = {"type": "imagefolder", "root": str(root)}
    if breakage == "missing_root":
        spec["root"] = str(tmp_path / "nowhere")
    elif breakage == "empty_class":
        for f in (root / "bee").iterdir():
            f.unlink()
    elif breakage == "no_classes":
        shutil.rmtree(root)
        root.mkdir()
    else:
        spec["classes"] = ["ant", "yak"]
    with pytest.raises(DatasetError, match=message) as err:
        check_spec("data.downstream.cub", spec)
    assert str(err.value).startswith("data.downstream.cub: ")


# -------------------------------------------------------------------------------------------- DomainNet
def test_domainnet_lists(raw):
    spec = {"type": "domainnet", "root": str(raw / "domainnet"), "domain": "clipart"}
    assert check_spec("data.downstream.dn", spec) == 4
    ds = build_dataset({**spec, "classes": ["dog", "bus"], "max_per_class": 3})
    assert ds.class_names == ["bus", "dog"] and np.bincount(ds.y_train).tolist() == [3, 3]
    assert np.bincount(ds.y_test).tolist() == [2, 2]
    assert all(p.startswith(("clipart/bus/", "clipart/dog/")) for p in ds.paths_train)
    assert Path(ds.root, ds.paths_test[0]).is_file()


@pytest.mark.parametrize("breakage, message", [
    ("missing_list", r"DomainNet list file .*clipart_test.txt does not exist; expected root/<domain>_"),
    ("bad_line", r"clipart_train.txt:1: expected '<relative/path.jpg> <label>'"),
    ("missing_image", r"lists clipart/axe/.* but .* does not exist"),
])
def test_domainnet_layout_errors(tmp_path, breakage, message):
    root = fakes.write_domainnet(tmp_path / "dn", "clipart", ["axe", "bus"], train_per_class=1, test_per_class=1)
    if breakage == "missing_list":
        (root / "clipart_test.txt").unlink()
    elif breakage == "bad_line":
        (root / "clipart_train.txt").write_text("clipart/axe/a.jpg zero\n")
    else:
        shutil.rmtree(root / "clipart" / "axe")
    with pytest.raises(DatasetError, match=message):
        check_spec("data.downstream.dn", {"type": "domainnet", "root": str(root), "domain": "clipart"})


# ------------------------------------------------------------------------------ prepared-dataset contract
def test_prepare_file_backed_dataset_writes_paths_not_pixels(raw, tmp_path):
    from unlearnbench.stages import prepare_data

    spec = {"type": "imagefolder", "root": str(raw / "folder"), "image_size": 40}
    out = tmp_path / "data"
    prepare_data(spec, out / "down.npz", out / "down.json", out / "down_samples.png")
    with np.load(out / "down.npz", allow_pickle=False) as z:
        assert set(z.files) == {"root", "paths_train", "paths_test", "y_train", "y_test", "class_names",
                                "superclass", "source_class", "image_size"}
        assert z["paths_train"].dtype.kind == "U" and int(z["image_size"]) == 40
    meta = json.loads((out / "down.json").read_text())
    assert meta["storage"] == "files" and meta["image_shape"] == [40, 40, 3] and meta["num_classes"] == 3
    assert (out / "down_samples.png").stat().st_size > 0
    ds = load_prepared(out / "down.npz")
    assert isinstance(ds, FileDataset) and ds.class_names == ["ant", "bee", "cat"]
    whole = ds.evalset("down")
    assert len(whole) == len(ds.y_train) + len(ds.y_test)
    assert np.array_equal(whole.labels, np.concatenate([ds.y_train, ds.y_test]))
    x, y = next(ds.split("test").batches(8))
    assert x.shape == (len(ds.y_test), 3, 40, 40) and x.dtype == torch.float32


def test_pixel_datasets_keep_the_in_memory_path(tmp_path):
    rng = np.random.default_rng(0)
    ds = ArrayDataset(rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8), np.arange(6) % 2,
                      rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8), np.arange(4) % 2)
    ds.save_npz(tmp_path / "d.npz")
    back = load_prepared(tmp_path / "d.npz")
    assert isinstance(back, ArrayDataset) and back.for_model(None) is back
    whole = (np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test]))
    for name, (images, labels) in {"train": (ds.x_train, ds.y_train), "test": (ds.x_test, ds.y_test),
                                   "downstream": whole}.items():
        es = back.evalset(name)
        assert isinstance(es, ImageArraySet) and np.array_equal(es.images, images)
        assert np.array_equal(es.labels, labels)
    with pytest.raises(DatasetError, match="does not exist"):
        load_prepared(tmp_path / "missing.npz")


# ------------------------------------------------------------------------------------------ FileImageSet
@pytest.fixture(scope="module")
def file_set(raw) -> FileImageSet:
    ds = build_dataset({"type": "imagefolder", "root": str(raw / "folder"), "image_size": 16, "test_fraction": 0.2})
    return ds.split("train")


def _epoch(data, workers, **kw):
    data = data.subset(np.arange(len(data)))
    data.num_workers = workers
    return [(x.clone(), y.clone()) for x, y in data.batches(4, **kw)]


def test_file_image_set_is_deterministic_and_worker_independent(file_set):
    kw = dict(train=True, seed=3, epoch=1)
    a, b, c = _epoch(file_set, 0, **kw), _epoch(file_set, 0, **kw), _epoch(file_set, 2, **kw)
    assert len(a) == 3 and [len(y) for _, y in a] == [4, 4, 4]
    for (xa, ya), (xb, yb), (xc, yc) in zip(a, b, c):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(xa, xc) and torch.equal(ya, yc)
    other = _epoch(file_set, 0, train=True, seed=3, epoch=2)
    assert not all(torch.equal(x, y) for (x, _), (y, _) in zip(a, other))  # a new epoch, new crops/order
    ev1, ev2 = _epoch(file_set, 0), _epoch(file_set, 2)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(ev1, ev2))
    assert torch.equal(torch.cat([y for _, y in ev1]), torch.from_numpy(file_set.labels))  # eval: in order
    # the caller's RNG streams are untouched by per-sample seeding
    torch.manual_seed(0)
    expect = torch.rand(3)
    torch.manual_seed(0)
    _epoch(file_set, 0, train=True, seed=3, epoch=1)
    assert torch.equal(torch.rand(3), expect)


def test_file_image_set_api(file_set):
    sub = file_set.subset(np.array([4, 0]))
    assert sub.paths.tolist() == [file_set.paths[4], file_set.paths[0]] and sub.num_classes == 3
    relabelled = sub.with_labels(np.array([2, 2]))
    assert relabelled.labels.tolist() == [2, 2] and relabelled.paths.tolist() == sub.paths.tolist()
    assert sub.labels.tolist() == [file_set.labels[4], file_set.labels[0]]
    both = concat_sets(sub, relabelled)
    assert len(both) == 4 and both.labels.tolist()[2:] == [2, 2]
    assert file_set.mean.shape == (1, 3, 1, 1) and file_set.std.shape == (1, 3, 1, 1)
    x, y = next(file_set.batches(2, drop_last=True))
    assert x.shape == (2, 3, 16, 16)
    arrays = ImageArraySet(np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 1]), 2)
    assert len(concat_sets(arrays, arrays.subset(np.array([1])))) == 3
    with pytest.raises(TypeError):
        file_set.concat(arrays)


def test_for_model_uses_pretrained_cfg_normalisation(raw):
    from unlearnbench.models import create_model

    ds = build_dataset({"type": "imagefolder", "root": str(raw / "folder"), "image_size": 16})
    model = create_model("resnet10t", 3)
    cfg = model.pretrained_cfg
    tuned = ds.for_model(model)
    assert tuned.transform.mean == tuple(cfg["mean"]) and tuned.transform.image_size == 16
    assert tuned.transform.crop_pct == pytest.approx(cfg["crop_pct"])
    assert ds.for_model(create_model("cifar_resnet8", 3)).transform.mean == (0.485, 0.456, 0.406)


def test_extract_features_from_files(raw, tmp_path):
    from unlearnbench.checkpoints import save_checkpoint
    from unlearnbench.features import extract_all, read_features, read_features_meta
    from unlearnbench.models import create_model
    from unlearnbench.stages import prepare_data

    spec = {"type": "imagefolder", "root": str(raw / "folder"), "image_size": 16}
    prepare_data(spec, tmp_path / "up.npz", tmp_path / "up.json", tmp_path / "up.png")
    model = create_model("cifar_resnet8", 3)
    save_checkpoint(tmp_path / "m.safetensors", model, {"arch": "cifar_resnet8", "num_classes": 3})
    outs = [tmp_path / "f" / f"{ev}.safetensors" for ev in ("train", "test", "down")]
    extract_all(tmp_path / "m.safetensors", [(ev, str(tmp_path / "up.npz")) for ev in ("train", "test", "down")],
                outs, batch_size=4, max_per_class=2, threads=1, device="cpu")
    feats = read_features(outs[2])
    assert feats.layers["pre_logits"].shape == (6, 64) and np.bincount(feats.labels).tolist() == [2, 2, 2]
    assert read_features_meta(outs[0])["n"] == 6 and np.isfinite(feats.logits).all()


# ------------------------------------------------------------------------------------------ presets
def test_presets_without_data_name_the_missing_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"data.upstream: CIFAR-100 path data/raw/cifar-100-python does not exist"):
        validate_config(load_yaml(REPO / "configs" / "cifar100.yaml"))
    with pytest.raises(ConfigError, match=r"model.pretrained: weights file data/weights/resnet50.safetensors"):
        validate_config(load_yaml(REPO / "configs" / "imagenet.yaml"))


@pytest.fixture(scope="module")
def preset_workdir(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("presets"))
    for preset in ("cifar100", "imagenet", "cifar10"):  # cifar10's CIFAR-100 downstream is cifar100's folder
        fakes.write_for_config(yaml.safe_load((work / "configs" / f"{preset}.yaml").read_text()), work,
                               skip_existing=True)
    return work


@pytest.mark.parametrize("preset, counts", [
    ("cifar100", {"prepare_data": 2, "train_original": 1, "train_retrain": 9, "select_forget_set": 3}),
    ("imagenet", {"prepare_data": 4, "train_original": 1, "train_retrain": 4, "select_forget_set": 4}),
    ("cifar10", {"prepare_data": 2, "train_original": 1, "train_original_prime": 3, "train_retrain": 6,
                 "unlearn": 90, "select_forget_set": 2}),
])
def test_preset_dry_runs_on_stand_in_data(preset_workdir, preset, counts):
    proc = snakemake(preset_workdir, "--dry-run", configfile=f"configs/{preset}.yaml")
    jobs = job_counts(proc.stdout)
    assert {k: jobs.get(k) for k in counts} == counts, jobs
    if preset == "imagenet":  # the original model is imported from the weights file: a DAG input
        assert "data/weights/resnet50.safetensors" in proc.stdout
    if not torch.cuda.is_available():  # `device: auto` on a CPU machine: no rule asks for a GPU
        assert "gpu=" not in proc.stdout


def test_fakes_cli_never_overwrites(preset_workdir, capsys):
    assert fakes.main([str(preset_workdir / "configs" / "cifar100.yaml"), "--root", str(preset_workdir)]) == 1
    assert "exists: refusing" in capsys.readouterr().err
