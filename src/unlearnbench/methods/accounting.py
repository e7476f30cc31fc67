"""Method-agnostic budget accounting: the images a method forwards from D_f and D_r, and monitoring time.

Budgets are part of a method's result: a method that saw 5 % of the retain set is not the method its
paper ran. :meth:`UnlearningMethod.run <unlearnbench.methods.base.UnlearningMethod.run>` hands every method
*tracked views* of ``task.forget`` and ``task.retain`` (:func:`track`) and records afterwards, in the
checkpoint sidecar, ``forget_images_seen`` / ``retain_images_seen``: every image of either set yielded by
``batches`` while the method ran — training steps, gradient-statistics passes (SalUn's saliency, SSD's
importances) and feature passes alike. No method has to count anything itself.

A tracked view is the set's own class with four methods overridden (``batches``, ``subset``,
``with_labels``, ``concat``), so subsets, relabelled copies and concatenations — e.g. RL's relabelled
D_f ∪ D_r mix, SSD's D_r ∪ D_f — keep attributing each image to the set it came from. Inside ``batches``
the origin travels with the label (``label · 4 + origin``) through the set's own batching, so the images,
their order and augmentation are bit-identical to the untracked set's; the labels are decoded before they
are yielded. The per-epoch monitor sets (``task.monitor``) are not tracked: monitoring is not the method.

:class:`RunCounters` also accumulates the seconds spent on per-epoch monitoring
(:meth:`RunCounters.monitoring`), which ``run`` subtracts from the method's ``wall_time_s`` and records as
``monitor_seconds``.
"""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

ORIGINS = ("forget", "retain", "other")
_CODE = {name: i for i, name in enumerate(ORIGINS)}
_BASE = 4  # labels are encoded as label * _BASE + origin inside ``batches``
_TRACKED_CLASSES: dict[type, type] = {}


@dataclass
class RunCounters:
    """What one unlearning run consumed: images forwarded per origin, seconds spent monitoring."""

    forget_images: int = 0
    retain_images: int = 0
    other_images: int = 0
    monitor_seconds: float = 0.0

    def add(self, counts: list[int]) -> None:
        self.forget_images += int(counts[0])
        self.retain_images += int(counts[1])
        self.other_images += int(counts[2])

    @contextlib.contextmanager
    def monitoring(self) -> Iterator[None]:
        """Time a monitoring pass (per-epoch accuracies): it is excluded from the method's wall time."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.monitor_seconds += time.perf_counter() - t0


class _Tracked:
    """Mixin of a tracked image set (see the module docstring); combined with the set's class by :func:`_wrap`."""

    _plain_cls: type
    _origin: np.ndarray
    _counters: RunCounters

    def untracked(self) -> Any:
        """The same set (same arrays, no copy) as its plain class."""
        plain = copy.copy(self)
        plain.__class__ = self._plain_cls
        for name in ("_origin", "_counters"):
            plain.__dict__.pop(name, None)
        return plain

    def subset(self, indices: np.ndarray) -> Any:
        indices = np.asarray(indices, dtype=np.int64)
        return _wrap(self.untracked().subset(indices), self._origin[indices], self._counters)

    def with_labels(self, labels: np.ndarray) -> Any:
        return _wrap(self.untracked().with_labels(labels), self._origin.copy(), self._counters)

    def concat(self, *others: Any) -> Any:
        plains = [o.untracked() if isinstance(o, _Tracked) else o for o in others]
        origins = [self._origin, *(o._origin if isinstance(o, _Tracked) else np.full(len(o), _CODE["other"], np.int8)
                                   for o in others)]
        return _wrap(self.untracked().concat(*plains), np.concatenate(origins), self._counters)

    def batches(self, batch_size: int, **kwargs: Any) -> Iterator[tuple[Any, Any]]:
        import torch

        encoded = self.untracked()
        encoded.labels = np.asarray(self.labels, dtype=np.int64) * _BASE + self._origin
        for x, y in encoded.batches(batch_size, **kwargs):
            origin = torch.remainder(y, _BASE)  # one small reduction (bincount is nondeterministic on CUDA)
            self._counters.add(torch.stack([(origin == k).sum() for k in range(len(ORIGINS))]).tolist())
            yield x, torch.div(y, _BASE, rounding_mode="floor")


def _wrap(data: Any, origin: np.ndarray, counters: RunCounters) -> Any:
    if isinstance(data, _Tracked):
        data = data.untracked()
    plain = type(data)
    cls = _TRACKED_CLASSES.get(plain)
    if cls is None:
        cls = _TRACKED_CLASSES[plain] = type(f"Tracked{plain.__name__}", (_Tracked, plain), {"_plain_cls": plain})
    out = copy.copy(data)
    out.__class__ = cls
    out._origin = np.asarray(origin, dtype=np.int8)
    out._counters = counters
    if len(out._origin) != len(out):
        raise ValueError(f"origin tags for {len(out._origin)} images, set has {len(out)}")
    return out


def track(data: Any, origin: str, counters: RunCounters) -> Any:
    """A view of ``data`` whose yielded batches count towards ``counters`` as ``origin`` (forget | retain)."""
    return _wrap(data, np.full(len(data), _CODE[origin], dtype=np.int8), counters)


def concat(*sets: Any) -> Any:
    """``sets[0].concat(*sets[1:])``, tracked whenever any part is (an untracked first part counts as other)."""
    first = sets[0]
    if not isinstance(first, _Tracked):
        tracked = next((s for s in sets if isinstance(s, _Tracked)), None)
        if tracked is not None:
            first = _wrap(first, np.full(len(first), _CODE["other"], np.int8), tracked._counters)
    return first.concat(*sets[1:])
