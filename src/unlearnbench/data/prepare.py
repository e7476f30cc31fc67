"""The ``prepare_data`` stage: a dataset spec materialised as the prepared ``.npz`` every later job reads, its JSON
manifest (the data hash results cite, class names, sizes; read back with :func:`unlearnbench.runs.data_meta`)
and a PNG contact sheet for the report."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from unlearnbench.atomic import atomic_path, write_json
from unlearnbench.data import build_dataset
from unlearnbench.data.contact_sheet import write_contact_sheet
from unlearnbench.provenance import file_hash
from unlearnbench.workflow import phase

__all__ = ["prepare_data"]


def prepare_data(spec: dict[str, Any], out_npz: str | Path, out_meta: str | Path, out_sheet: str | Path,
                 upstream: dict[str, Any] | None = None, validation: dict[str, Any] | None = None) -> None:
    """Materialise a dataset as ``.npz`` + a JSON manifest (hash, classes) + a PNG contact sheet.

    ``validation`` (``{fraction, seed}``, upstream only) carves a stratified validation split out of the
    training data (:meth:`ArrayDataset.carve_validation`): what the tune stage selects on. No model trains
    on it and no reported metric reads it.

    The ``.npz`` holds pixels (in-memory datasets) or paths (file-backed datasets); see ``data/files.py``
    for the contract. ``storage`` in the manifest says which.
    """
    t0 = time.perf_counter()
    with phase("compute"):
        ds = build_dataset(spec, upstream)
        if validation and validation.get("fraction", 0) > 0:
            ds = ds.carve_validation(float(validation["fraction"]), int(validation["seed"]))
    with phase("write"):
        with atomic_path(out_npz, suffix=".tmp.npz") as tmp:
            ds.save_npz(tmp)
        write_contact_sheet(ds.preview(), out_sheet, max_classes=None if ds.storage == "pixels" else 100)
        write_json(out_meta, {"spec": spec, "data_hash": file_hash(out_npz), "num_classes": ds.num_classes,
                              "class_names": ds.class_names, "superclass": ds.superclass,
                              "source_class": ds.source_class, "n_train": len(ds.y_train),
                              "n_test": len(ds.y_test), "n_val": len(getattr(ds, "y_val", ())),
                              "validation": validation,
                              "image_shape": ds.image_shape, "storage": ds.storage,
                              "seconds": time.perf_counter() - t0})
