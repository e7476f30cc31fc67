"""Datasets: adapters selected by ``type:`` (procedural generator, `.npz` arrays, CIFAR, image folders,
DomainNet lists), the prepared-dataset contract (:func:`load_prepared`: pixels in memory or file paths), and
forget sets."""
from unlearnbench.discovery import import_registering
from unlearnbench.data.arrays import ArrayDataset, DatasetError, ImageArraySet, load_npz
from unlearnbench.data.files import FileDataset, FileImageSet, load_prepared
from unlearnbench.data.registry import (DATASETS, build_dataset, check_spec, dataset_class_names, register_dataset,
                                        train_class_counts)
from unlearnbench.plugins import load_plugins

import_registering(__name__, "register_dataset")  # every module of this folder with a @register_dataset adapter
load_plugins("unlearnbench.datasets")  # dataset adapters of installed packages (entry points; unlearnbench.plugins)

__all__ = ["ArrayDataset", "DatasetError", "ImageArraySet", "load_npz", "FileDataset", "FileImageSet",
           "load_prepared", "DATASETS", "build_dataset", "check_spec", "dataset_class_names", "register_dataset",
           "train_class_counts"]
