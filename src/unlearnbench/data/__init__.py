"""Datasets: adapters selected by ``type:`` (procedural generator, `.npz` arrays, …), forget sets."""
from unlearnbench.data import builtin  # noqa: F401  (registers the built-in adapters)
from unlearnbench.data.arrays import ArrayDataset, DatasetError, ImageArraySet, load_npz
from unlearnbench.data.registry import DATASETS, build_dataset, check_spec, register_dataset

__all__ = ["ArrayDataset", "DatasetError", "ImageArraySet", "load_npz", "DATASETS", "build_dataset", "check_spec",
           "register_dataset"]
