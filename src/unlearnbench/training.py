"""One training loop for the original model, the retrained reference and fine-tuning-style methods.

SGD + momentum (+ Nesterov optional), cosine learning-rate schedule with optional linear warm-up, the
CIFAR random-crop + flip augmentation, seeded and deterministic (two runs on CPU → identical weights).
Hooks let unlearning methods reuse the loop without copying it: ``extra_loss`` (e.g. the l1 penalty of
l1-sparse), ``after_backward`` (e.g. SalUn's gradient mask), ``params`` (e.g. the head only).
A non-finite loss raises :class:`Diverged` with the epoch, so the caller records ``status: diverged``.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
from unlearnbench._lazy import torch, F, no_grad  # torch is imported on first use
from tqdm import tqdm

from unlearnbench.data.arrays import ImageArraySet


class Diverged(RuntimeError):
    """The loss became NaN/inf; ``epoch`` says when."""

    def __init__(self, epoch: int, loss: float):
        super().__init__(f"loss became {loss} in epoch {epoch}")
        self.epoch, self.loss = epoch, loss


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the standard supervised loop (validated; written into checkpoints). The defaults are
    the config schema's ``train`` defaults (``schema.yaml``; a test keeps them equal)."""

    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = True
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))  # frozen: JSON lists in
        checks = {"epochs": self.epochs >= 0, "batch_size": self.batch_size >= 1, "lr": self.lr > 0,
                  "momentum": 0 <= self.momentum < 1, "weight_decay": self.weight_decay >= 0,
                  "warmup_epochs": 0 <= self.warmup_epochs <= max(self.epochs, 0),
                  "label_smoothing": 0 <= self.label_smoothing < 1,
                  "schedule": self.schedule in SCHEDULES, "gamma": 0 < self.gamma <= 1,
                  "milestones": list(self.milestones) == sorted(set(self.milestones))
                  and all(0 < m <= max(self.epochs, 1) for m in self.milestones)
                  and (self.schedule == "multistep") == bool(self.milestones)}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training hyper-parameter(s) {bad}: {self}")


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def setup_torch(seed: int, threads: int | None = None, device: torch.device | str = "cpu") -> torch.device:
    """Seed every RNG, fix the CPU thread count and make kernels deterministic.

    timm (and what it imports) is imported first: some of it draws from torch's global RNG at import time,
    so seeding before that import would make the first job of a process differ from every later one.
    """
    import unlearnbench.models  # noqa: F401

    device = resolve_device(str(device))
    if threads:  # never more threads than the CPUs this process may run on (a SLURM or cgroup allocation)
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(max(1, min(int(threads), usable)))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
    return device


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing on CPU (CPU results must be bit-reproducible)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def sgd(params: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(list(params), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                           nesterov=cfg.nesterov and cfg.momentum > 0)


#: learning-rate schedules of :func:`train_model` (after the optional linear warm-up)
SCHEDULES = ("cosine", "multistep", "constant")


def scheduled_lr(cfg: "TrainConfig", step: int, total: int, warmup: int, steps_per_epoch: int) -> float:
    """The lr of ``step``: linear warm-up, then cosine decay to 0 (``cosine``), ×``gamma`` at each epoch in
    ``milestones`` (``multistep``: the step schedule of the SalUn / SCRUB training scripts), or constant."""
    if warmup and step < warmup:
        return cfg.lr * (step + 1) / warmup
    if cfg.schedule == "cosine":
        return cosine_lr(step, total, cfg.lr, warmup)
    if cfg.schedule == "multistep":
        return cfg.lr * cfg.gamma ** sum(step >= m * steps_per_epoch for m in cfg.milestones)
    return cfg.lr


def cosine_lr(step: int, total: int, base_lr: float, warmup: int = 0) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay from ``base_lr`` to 0 at ``total``."""
    if warmup and step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, progress)))


def check_finite(loss: torch.Tensor, epoch: int) -> None:
    if not torch.isfinite(loss):
        raise Diverged(epoch, float(loss.detach()))


@no_grad
def accuracy(model: torch.nn.Module, data: ImageArraySet, device: torch.device, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``data`` (eval mode, no augmentation); NaN for an empty set."""
    if len(data) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    correct = 0
    for x, y in data.batches(batch_size, device=device):
        with autocast(device):
            correct += int((model(x).argmax(1) == y).sum())
    model.train(was_training)
    return correct / len(data)


def train_model(model: torch.nn.Module, data: ImageArraySet, cfg: TrainConfig, *, seed: int,
                device: torch.device, desc: str = "train", params: Iterable[torch.nn.Parameter] | None = None,
                extra_loss: Callable[[torch.nn.Module, float], torch.Tensor] | None = None,
                after_backward: Callable[[torch.nn.Module], None] | None = None,
                after_step: Callable[[torch.nn.Module], None] | None = None,
                monitor: dict[str, ImageArraySet] | None = None) -> list[dict]:
    """Train ``model`` in place with cross-entropy on ``data``; return the per-epoch curve.

    ``extra_loss(model, progress)`` is added to the loss (``progress`` ∈ [0, 1) over training);
    ``after_backward(model)`` may edit gradients; ``after_step(model)`` runs after each optimizer step;
    ``monitor`` maps names to sets whose accuracy is logged after every epoch.
    """
    model.train()
    optimizer = sgd(params if params is not None else model.parameters(), cfg)
    steps_per_epoch = max(1, math.ceil(len(data) / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    curve, step = [], 0
    for epoch in range(cfg.epochs):
        t0, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        bar = tqdm(data.batches(cfg.batch_size, train=cfg.augment, shuffle=True, seed=seed, epoch=epoch,
                                device=device), total=steps_per_epoch, desc=f"{desc} {epoch + 1}/{cfg.epochs}",
                   leave=False, file=sys.stderr, mininterval=2.0, disable=None)
        for x, y in bar:
            for group in optimizer.param_groups:
                group["lr"] = scheduled_lr(cfg, step, total, warmup, steps_per_epoch)
            with autocast(device):
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
                if extra_loss is not None:
                    loss = loss + extra_loss(model, step / max(1, total))
            check_finite(loss, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if after_backward is not None:
                after_backward(model)
            optimizer.step()
            if after_step is not None:
                after_step(model)
            step += 1
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
        entry = {"epoch": epoch + 1, "loss": loss_sum / max(1, seen), "train_acc": correct / max(1, seen),
                 "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0,
                 "img_per_s": seen / max(1e-9, time.perf_counter() - t0)}
        for name, subset in (monitor or {}).items():
            entry[f"{name}_acc"] = accuracy(model, subset, device)
        curve.append(entry)
        print(f"[{desc}] " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in entry.items()), file=sys.stderr, flush=True)
    return curve
