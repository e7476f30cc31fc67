"""Training a classification head on cached pre-logit features: the frozen trunk runs once, the head many times.

Two callers train a head with a frozen backbone: an imported original whose classifier was reset
(:func:`finetune_head`, ``model.finetune: head``) and the ``last_layer`` unlearning baseline
(:class:`~unlearnbench.methods.last_layer.LastLayer`). Both compute the features once in eval mode without
augmentation (:func:`penultimate_features`; the trunk's weights and BatchNorm statistics stay bit-identical)
and run the one loop :func:`train_head` over them.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

from unlearnbench._lazy import F, no_grad, torch  # torch is imported on first use
from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.training import TrainConfig, autocast, check_finite, scheduled_lr, sgd

if TYPE_CHECKING:
    from unlearnbench.methods.common import UnlearnLoop

__all__ = ["finetune_head", "penultimate_features", "train_head"]

@no_grad
def penultimate_features(model: "torch.nn.Module", data: ImageArraySet, device: "torch.device",
                         batch_size: int = 512) -> "torch.Tensor":
    """Pre-logit features (``forward_head(pre_logits=True)``) of ``data`` in its order, float32; the caller puts
    ``model`` in eval mode (no augmentation here)."""
    feats = []
    for x, _ in data.batches(batch_size, shuffle=False, device=device):
        with autocast(device):
            feats.append(model.forward_head(model.forward_features(x), pre_logits=True).float())
    return torch.cat(feats) if feats else torch.empty(0)


def train_head(head: "torch.nn.Module", features: "torch.Tensor",
               labels: "torch.Tensor | Callable[[int], torch.Tensor]", cfg: TrainConfig, *,
               order: Callable[[int], "torch.Tensor"], loop: "UnlearnLoop | None" = None) -> list[dict]:
    """Train ``head`` with cross-entropy on cached ``features`` for ``cfg.epochs`` passes; return the curve.

    ``labels``: one tensor, or a function of the epoch (fresh random labels every epoch). ``order(epoch)``:
    the permutation of the rows for that epoch (the caller's seeding). Mini-batches of ``cfg.batch_size``,
    lr from :func:`unlearnbench.training.scheduled_lr` (warm-up, schedule), label smoothing of ``cfg``, bf16
    autocast on CUDA as in :func:`unlearnbench.training.train_model`. With ``loop`` (an unlearning run's
    :class:`~unlearnbench.methods.common.UnlearnLoop`: divergence check, budget, monitoring) that loop steps
    its ``optimizer`` and logs each epoch; without, SGD of ``cfg`` is stepped here and each epoch's entry
    holds the mean loss, running train accuracy and last lr.
    """
    optimizer = loop.optimizer if loop is not None else sgd(head.parameters(), cfg)
    n = len(features)
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total, warmup = cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)
    curve, step = [], 0
    for epoch in range(cfg.epochs):
        y = labels(epoch) if callable(labels) else labels
        perm = order(epoch).to(features.device)
        loss_sum, correct = 0.0, 0
        for start in range(0, n, cfg.batch_size):
            idx = perm[start:start + cfg.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = scheduled_lr(cfg, step, total, warmup, steps_per_epoch)
            with autocast(features.device):
                logits = head(features[idx])
                loss = F.cross_entropy(logits, y[idx], label_smoothing=cfg.label_smoothing)
            step += 1
            if loop is not None:
                loop.step(loss, epoch=epoch, images=len(idx))
                continue
            check_finite(loss, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
        curve.append(loop.end_epoch(epoch) if loop is not None else
                     {"epoch": epoch + 1, "loss": loss_sum / n, "train_acc": correct / n,
                      "lr": optimizer.param_groups[0]["lr"]})
    return curve


def finetune_head(net: "torch.nn.Module", train_set: ImageArraySet, cfg: TrainConfig, *, seed: int,
                  device: "torch.device") -> list[dict]:
    """Train only ``net``'s classifier with the recipe ``cfg`` on pre-logit features of the un-augmented
    ``train_set`` (an imported original whose head was reset); the batch order is drawn from one generator
    seeded by ``seed``. The backbone (weights and BN statistics) is untouched. Returns the per-epoch curve
    (``scope: head``)."""
    net.eval()
    features = penultimate_features(net, train_set, device)
    labels = torch.as_tensor(train_set.labels, dtype=torch.int64).to(device)
    gen = torch.Generator().manual_seed(seed)
    curve = train_head(net.get_classifier(), features, labels, cfg,
                       order=lambda epoch: torch.randperm(len(labels), generator=gen))
    return [{**entry, "scope": "head"} for entry in curve]
