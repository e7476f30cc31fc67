"""Machinery shared by the unlearning methods (this module registers no method).

* :class:`UnlearnLoop` — optimizer stepping with the divergence check, gradient/parameter hooks and the
  per-epoch log (mean loss terms, throughput, and accuracy on every ``task.monitor`` set), so that each
  method module contains only its own loss.
* Batching: :func:`epoch_batches` (one shuffled, optionally capped pass), :func:`endless_batches` (cycles
  over epochs, for the smaller of two paired sets), :func:`random_subset`, :func:`concat_sets`, and
  :func:`retain_for_epoch` — the retain data of one epoch under a method's ``retain_fraction`` budget cap
  (1 = all of D_r every epoch, the published recipes; below 1 a fresh seeded subset every epoch).
* Seeding: :func:`derive_seed`, :func:`make_generator`, :func:`seeded_global_rng` — every random choice of
  a method derives from ``task.seed`` so that two runs on the CPU give bit-identical weights.
* :func:`random_other_labels` (random relabelling), :func:`distill_kl` (temperature-scaled KL of knowledge
  distillation), :func:`gradient_statistics` (accumulated per-parameter gradient statistics, used by SalUn's
  saliency and SSD's Fisher importances, in float32 without autocast), :class:`ParameterMask` (keeps
  weights outside a mask bit-identical under weight decay and momentum).
* Monitoring (:func:`monitor_accuracies`, the loop's per-epoch monitor) is timed into
  ``task.counters.monitor_seconds`` so that ``wall_time_s`` is the method's time alone.
"""
from __future__ import annotations

import contextlib
import itertools
import sys
import time
import zlib
from collections import defaultdict
from typing import Callable, Iterator, Sequence

import numpy as np
from unlearnbench._lazy import torch, F, no_grad  # imported when a method runs

from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.methods import accounting
from unlearnbench.methods.base import UnlearnTask
from unlearnbench.training import accuracy, check_finite

Batch = "tuple[torch.Tensor, torch.Tensor]"  # a string: evaluating it would import torch
#: help text of every method's ``retain_fraction`` budget cap (the same meaning everywhere)
RETAIN_FRACTION_HELP = ("budget cap: seeded random fraction of D_r drawn afresh every epoch (1 = all of D_r every "
                        "epoch, the published recipe; caps for small runs live in the config)")


# ----------------------------------------------------------------------------------------------- seeding
def derive_seed(seed: int, purpose: str) -> int:
    """A stable seed for one purpose (e.g. ``"relabel"``) derived from the task seed (no ``hash()``)."""
    return (int(seed) * 1_000_003 + zlib.crc32(purpose.encode())) % (2**31 - 1)


def make_generator(seed: int, purpose: str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``(seed, purpose)``."""
    return torch.Generator().manual_seed(derive_seed(seed, purpose))


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG (dropout, layer initialisers) inside, and restore the caller's state after."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derive_seed(seed, "global"))
        yield


def require_class_forgetting(task: UnlearnTask, method: str) -> list[int]:
    """The forget classes; a clear error for methods that only define class forgetting."""
    if not task.forget_classes:
        raise ValueError(f"{method} unlearns whole classes only (supports = {{'class'}}); this task forgets "
                         "individual samples (forget_classes is None)")
    return sorted(int(c) for c in task.forget_classes)


# ---------------------------------------------------------------------------------------------- batching
def epoch_batches(data: ImageArraySet, batch_size: int, *, seed: int, epoch: int, device: torch.device,
                  augment: bool, max_batches: int | None = None) -> Iterator[Batch]:
    """One shuffled pass over ``data`` (seeded by ``(seed, epoch)``), optionally capped at ``max_batches``.

    With a cap, each epoch draws a fresh random subset of ``max_batches × batch_size`` samples.
    """
    it = data.batches(batch_size, train=augment, shuffle=True, seed=seed, epoch=epoch, device=device)
    return itertools.islice(it, max_batches) if max_batches else it


def endless_batches(data: ImageArraySet, batch_size: int, *, seed: int, device: torch.device,
                    augment: bool) -> Iterator[Batch]:
    """Shuffled batches of ``data`` forever, reshuffled every pass (``itertools.cycle`` without replay)."""
    if len(data) == 0:
        raise ValueError("cannot cycle over an empty set")
    for epoch in itertools.count():
        yield from data.batches(batch_size, train=augment, shuffle=True, seed=seed, epoch=epoch, device=device)


def random_subset(data: ImageArraySet, fraction: float, seed: int, purpose: str) -> ImageArraySet:
    """A seeded random ``fraction`` of ``data`` (at least one sample when ``data`` is not empty)."""
    if fraction >= 1.0 or len(data) == 0:
        return data
    n = max(1, int(round(fraction * len(data))))
    order = torch.randperm(len(data), generator=make_generator(seed, purpose)).numpy()
    return data.subset(np.sort(order[:n]))


def concat_sets(*sets: ImageArraySet) -> ImageArraySet:
    """The union of image sets that share the class count and normalisation (budget-tracked when any part is:
    :func:`unlearnbench.methods.accounting.concat`)."""
    return accounting.concat(*sets)


def retain_for_epoch(task: UnlearnTask, fraction: float, epoch: int) -> ImageArraySet:
    """The retain data of one epoch: all of D_r when ``fraction`` is 1 (the published recipes), else a fresh
    seeded random ``fraction`` of it every epoch (a budget cap; never one fixed subset reused every epoch)."""
    return random_subset(task.retain, fraction, task.seed, f"retain/{epoch}")


def random_other_labels(labels: np.ndarray, gen: torch.Generator, pool: Sequence[int]) -> np.ndarray:
    """For each label, a class drawn uniformly from ``pool`` without the label itself."""
    pool_arr = np.asarray(sorted(set(int(c) for c in pool)), dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    k = len(pool_arr)
    pos = np.searchsorted(pool_arr, labels)
    in_pool = (pos < k) & (pool_arr[np.minimum(pos, k - 1)] == labels)
    choices = np.where(in_pool, k - 1, k)
    if len(labels) and choices.min() < 1:
        raise ValueError(f"random relabelling needs at least one class other than the true one in {pool_arr.tolist()}")
    u = torch.rand(len(labels), generator=gen, dtype=torch.float64).numpy()
    r = np.minimum((u * choices).astype(np.int64), choices - 1)
    r = r + (in_pool & (r >= pos))
    return pool_arr[r]


def relabel_pool(task: UnlearnTask, label_pool: str) -> list[int]:
    """Classes random labels are drawn from: ``retain_classes`` excludes the forget classes."""
    if label_pool == "retain_classes" and task.forget_classes:
        forget = set(int(c) for c in task.forget_classes)
        return [c for c in range(task.num_classes) if c not in forget]
    return list(range(task.num_classes))


def random_labels(labels: np.ndarray, task: UnlearnTask, label_pool: str, epoch: int) -> np.ndarray:
    """Fresh random labels for this epoch: ``other`` (any class but the true one), ``any`` (any class) or
    ``retain_classes`` (a class not being forgotten, other than the true one)."""
    gen = make_generator(task.seed, f"relabel/{epoch}")
    if label_pool == "any":
        return torch.randint(0, task.num_classes, (len(labels),), generator=gen).numpy()
    return random_other_labels(labels, gen, relabel_pool(task, label_pool))


def relabelled(data: ImageArraySet, task: UnlearnTask, label_pool: str, epoch: int) -> ImageArraySet:
    """``data`` with :func:`random_labels` of this epoch."""
    return data.with_labels(random_labels(data.labels, task, label_pool, epoch))


# ------------------------------------------------------------------------------------------------ losses
def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(p_teacher ‖ p_student) of temperature-``T`` softmaxes, × T², averaged over the batch.

    The knowledge-distillation term of Hinton et al. 2015, as ``DistillKL`` in RepDistiller/SCRUB.
    """
    t = float(temperature)
    log_p_s = F.log_softmax(student_logits.float() / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits.float() / t, dim=1)
    return F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean") * (t * t)


def gradient_statistics(model: torch.nn.Module, data: ImageArraySet, *, batch_size: int, device: torch.device,
                        statistic: Callable[[torch.Tensor], torch.Tensor],
                        sign: float = 1.0) -> tuple[dict[str, torch.Tensor], int]:
    """Σ over mini-batches of ``statistic(∇θ mean-CE(batch))`` per parameter, in eval mode, no augmentation.

    Returns ``(sums, number_of_batches)``; BN running statistics are not touched (eval mode). ``sign``
    multiplies the loss (SalUn differentiates −CE). A non-finite loss raises ``Diverged``. Computed in
    float32 without autocast, as the reference implementations (SalUn ``generate_mask.py``, SSD
    ``ssd.py::calc_importance``): a squared bf16 gradient loses the small importances SSD's ratio compares.
    """
    was_training = model.training
    model.eval()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    sums = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params}
    batches = 0
    for x, y in data.batches(batch_size, shuffle=False, device=device):
        model.zero_grad(set_to_none=True)
        loss = sign * F.cross_entropy(model(x).float(), y)
        check_finite(loss, 0)
        loss.backward()
        for n, p in params:
            if p.grad is not None:
                sums[n] += statistic(p.grad.detach().float())
        batches += 1
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return sums, batches


# ---------------------------------------------------------------------------------------- parameter mask
class ParameterMask:
    """Confine optimisation to masked weights: every weight where the mask is False stays bit-identical.

    :meth:`mask_gradients` (after ``backward``) zeroes their gradients; :meth:`restore` (after
    ``optimizer.step``) copies their original values back — weight decay and momentum move them inside
    ``step`` even with a zero gradient — and clears their momentum buffers.
    """

    def __init__(self, model: torch.nn.Module, mask: dict[str, torch.Tensor]):
        named = dict(model.named_parameters())
        missing = sorted(set(named) - set(mask))
        if missing:
            raise ValueError(f"mask lacks parameters {missing[:5]}")
        self.entries = [(named[n], mask[n].to(named[n].device, torch.bool), named[n].detach().clone())
                        for n in named if not bool(mask[n].all())]

    def mask_gradients(self, model: torch.nn.Module | None = None) -> None:
        for p, m, _ in self.entries:
            if p.grad is not None:
                p.grad.masked_fill_(~m, 0.0)

    @no_grad
    def restore(self, optimizer: torch.optim.Optimizer) -> None:
        for p, m, p0 in self.entries:
            p.copy_(torch.where(m, p, p0))
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                buf.masked_fill_(~m, 0.0)


# ------------------------------------------------------------------------------------------- shared loop
def sgd_optimizer(params, *, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD(list(params), lr=lr, momentum=momentum, weight_decay=weight_decay)


def monitor_accuracies(model: torch.nn.Module, task: UnlearnTask) -> dict[str, float]:
    """``{<name>_acc: accuracy}`` for every set in ``task.monitor``; timed as monitoring, not as the method."""
    with task.counters.monitoring():
        return {f"{name}_acc": accuracy(model, subset, task.device) for name, subset in task.monitor.items()}


def timed_monitor(task: UnlearnTask, monitor: Callable[[], dict[str, float]]) -> Callable[[], dict[str, float]]:
    """``monitor`` timed into ``task.counters.monitor_seconds``."""
    def timed() -> dict[str, float]:
        with task.counters.monitoring():
            return monitor()

    return timed


class UnlearnLoop:
    """Optimizer steps + divergence check + per-epoch log, shared by the iterative methods.

    Usage::

        loop = UnlearnLoop(model, task, optimizer, desc="scrub")
        for epoch in range(epochs):
            for x, y in batches:
                with autocast(task.device):
                    loss = ...
                loop.step(loss, epoch=epoch, images=len(y), forget_kl=kl)   # named terms are logged
            loop.end_epoch(epoch)
        return model, loop.log()

    ``step`` raises :class:`~unlearnbench.training.Diverged` on a non-finite loss. Hooks:
    ``after_backward(model)`` may edit gradients, ``after_step(optimizer)`` runs after each step;
    ``monitor()`` replaces the per-epoch :func:`monitor_accuracies` (e.g. from cached features). Either is
    timed as monitoring (``task.counters``), outside the method's wall time and the epoch's ``seconds``.
    """

    def __init__(self, model: torch.nn.Module, task: UnlearnTask, optimizer: torch.optim.Optimizer, *, desc: str,
                 after_backward: Callable[[torch.nn.Module], None] | None = None,
                 after_step: Callable[[torch.optim.Optimizer], None] | None = None,
                 monitor: Callable[[], dict[str, float]] | None = None):
        self.model, self.task, self.optimizer, self.desc = model, task, optimizer, desc
        self.after_backward, self.after_step = after_backward, after_step
        self.monitor = timed_monitor(task, monitor) if monitor else (lambda: monitor_accuracies(model, task))
        self.curve: list[dict] = []
        self.steps = self.images = 0
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._seen = 0
        self._t0 = time.perf_counter()

    def step(self, loss: torch.Tensor, *, epoch: int, images: int, loss_name: str = "loss",
             **terms: torch.Tensor | float) -> None:
        """Backward + (hooks) + optimizer step. The loss (as ``loss_name``) and the named ``terms`` (loss
        components) go into the epoch means."""
        check_finite(loss, epoch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.after_backward is not None:
            self.after_backward(self.model)
        self.optimizer.step()
        if self.after_step is not None:
            self.after_step(self.optimizer)
        self.steps += 1
        self.record(images, **{loss_name: loss}, **terms)

    def record(self, images: int, **terms: torch.Tensor | float) -> None:
        """Count ``images`` processed; add named values (weighted by ``images``) to their epoch means."""
        self.images += images
        self._seen += images
        for key, value in terms.items():
            self._sums[key] += float(value.detach() if isinstance(value, torch.Tensor) else value) * images
            self._counts[key] += images

    def end_epoch(self, epoch: int, **extra: float) -> dict:
        """Close the epoch: mean terms, lr, throughput, monitor accuracies; printed to stderr and kept."""
        seconds = time.perf_counter() - self._t0
        entry: dict = {"epoch": epoch + 1}
        entry.update({k: v / max(1, self._counts[k]) for k, v in self._sums.items()})
        entry.update(extra)
        entry["lr"] = self.optimizer.param_groups[0]["lr"]
        entry["seconds"] = seconds
        entry["img_per_s"] = self._seen / max(1e-9, seconds)
        entry.update(self.monitor())
        self.curve.append(entry)
        print(f"[{self.desc}] " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in entry.items()), file=sys.stderr, flush=True)
        self._sums, self._counts, self._seen = defaultdict(float), defaultdict(int), 0
        self._t0 = time.perf_counter()
        return entry

    def log(self, **extra) -> dict:
        """The method's log for the checkpoint sidecar: curve, optimizer steps, images processed."""
        return {"curve": self.curve, "steps": self.steps, "images": self.images, **extra}
