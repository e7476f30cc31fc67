"""SCAR: pull forget-set features to the nearest wrong class (Mahalanobis), distil on surrogate images."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from unlearnbench._lazy import torch, nn, F, no_grad  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (UnlearnLoop, derive_seed, endless_batches, epoch_batches, make_generator,
                                         require_class_forgetting, seeded_global_rng)
from unlearnbench.training import accuracy, autocast

#: surrogate sources: N(0, 1) in the normalised input space (the reference's ``subset_gaussian_noise``),
#: uniform random pixels in [0, 1] normalised like the data (neither needs a download), or ``task`` — the
#: training images of the configured out-of-distribution set (``methods.<instance>.surrogate_set``: a
#: downstream dataset; the paper's setting with natural images)
SURROGATES = ("gaussian_noise", "uniform_noise", "task")
#: |x| below this is treated as 0 by the Tukey power transform (finite gradient at 0)
TUKEY_EPS = 1e-6


# -------------------------------------------------------------------------------------- feature statistics
def tukey(x: torch.Tensor, delta: float) -> torch.Tensor:
    """Tukey's ladder-of-powers transform x^δ (reference ``tuckey_transf``), sign-preserving for negative
    features (a ViT's) and with zero gradient where |x| < 1e-6 (x^0.5 has an infinite slope at 0)."""
    return x.sign() * x.abs().clamp_min(TUKEY_EPS).pow(delta)


def shrink_covariance(cov: torch.Tensor, gamma1: float, gamma2: float) -> torch.Tensor:
    """Reference ``cov_mat_shrinkage``: Σ + γ1·V1·I + γ2·V2·(1 − I), V1 = mean of the diagonal, V2 = mean of
    the non-zero off-diagonal entries."""
    eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    off = cov * (1 - eye)
    nonzero = off != 0
    v1 = torch.diagonal(cov).mean()
    v2 = off.sum() / nonzero.sum() if bool(nonzero.any()) else off.sum() * 0
    return cov + gamma1 * eye * v1 + gamma2 * (1 - eye) * v2


def normalise_covariance(cov: torch.Tensor) -> torch.Tensor:
    """Reference ``normalize_cov``: the correlation matrix Σ_ij / (σ_i σ_j)."""
    sigma = torch.sqrt(torch.diagonal(cov))
    return cov / (sigma[:, None] * sigma[None, :])


def class_statistics(features: torch.Tensor, *, delta: float, gamma1: float,
                     gamma2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(L2-normalised mean, inverse shrunk correlation matrix) of one class's Tukey-transformed features,
    as the reference builds its class distributions (``Unlearning_methods.py`` L362–377: shrinkage applied
    twice, then normalised, then ``pinv``)."""
    z = tukey(features.double(), delta)
    cov = torch.cov(z.T)
    cov = normalise_covariance(shrink_covariance(shrink_covariance(cov, gamma1, gamma2), gamma1, gamma2))
    return F.normalize(z.mean(0), dim=0).float(), torch.linalg.pinv(cov).float()


def mahalanobis(features: torch.Tensor, mean: torch.Tensor, inv_cov: torch.Tensor, delta: float) -> torch.Tensor:
    """Reference ``mahalanobis_dist``: (n(t(f)) − μ)ᵀ S⁻¹ (n(t(f)) − μ) for each row f, with t the Tukey
    transform and n the L2 normalisation (squared distance, no square root)."""
    diff = F.normalize(tukey(features, delta), dim=-1) - mean
    return ((diff @ inv_cov) * diff).sum(-1)


@no_grad
def embed(model: nn.Module, data, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    """Pre-logit features (``forward_head(pre_logits=True)``), eval mode, no augmentation, float32."""
    was_training = model.training
    model.eval()
    out = [model.forward_head(model.forward_features(x), pre_logits=True).float()
           for x, _ in data.batches(batch_size, shuffle=False, device=device)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def nearest_wrong_classes(model: nn.Module, task: UnlearnTask, forget_classes: list[int], *, delta: float,
                          gamma1: float, gamma2: float, max_per_class: int,
                          batch_size: int) -> tuple[np.ndarray, list[int], torch.Tensor, torch.Tensor]:
    """For every forget sample, the retain class whose distribution is closest (Mahalanobis, original
    model's features) and the statistics of those target classes.

    Class statistics come from the retain-train images of each class (the reference's ``self.retain``
    loader), one class at a time; only the statistics of classes that are some sample's nearest are kept.
    Returns ``(row per forget sample, class of each row, means [k×D], inverse covariances [k×D×D])``.
    """
    forget_feats = embed(model, task.forget, task.device, batch_size)
    labels = task.retain.labels
    gen = make_generator(task.seed, "scar/stats")
    best_d = torch.full((len(forget_feats),), float("inf"), device=task.device)
    best_c = torch.full((len(forget_feats),), -1, dtype=torch.long, device=task.device)
    kept: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for c in sorted(set(np.unique(labels).tolist()) - set(forget_classes)):
        idx = np.flatnonzero(labels == c)
        if max_per_class and len(idx) > max_per_class:
            idx = np.sort(idx[torch.randperm(len(idx), generator=gen).numpy()[:max_per_class]])
        if len(idx) < 2:
            continue
        mean, inv_cov = class_statistics(embed(model, task.retain.subset(idx), task.device, batch_size),
                                         delta=delta, gamma1=gamma1, gamma2=gamma2)
        d = mahalanobis(forget_feats, mean, inv_cov, delta)
        closer = d < best_d
        best_d, best_c = torch.where(closer, d, best_d), torch.where(closer, torch.full_like(best_c, c), best_c)
        if bool(closer.any()):
            kept[c] = (mean, inv_cov)
        kept = {k: v for k, v in kept.items() if bool((best_c == k).any())}
    if bool((best_c < 0).any()):
        raise ValueError("scar needs at least one retain class with two or more images")
    classes = sorted(kept)
    row = {c: i for i, c in enumerate(classes)}
    rows = np.array([row[int(c)] for c in best_c.cpu()], dtype=np.int64)
    means = torch.stack([kept[c][0] for c in classes])
    inv_covs = torch.stack([kept[c][1] for c in classes])
    return rows, classes, means, inv_covs


def distance_to_targets(features: torch.Tensor, rows: torch.Tensor, means: torch.Tensor, inv_covs: torch.Tensor,
                        delta: float) -> torch.Tensor:
    """Mahalanobis distance of each feature row to its own target class (grouped by target)."""
    out = torch.zeros(len(features), dtype=torch.float32, device=features.device)
    for r in rows.unique():
        m = rows == r
        out = out.index_put((m.nonzero().squeeze(1),), mahalanobis(features[m], means[r], inv_covs[r], delta))
    return out


# ------------------------------------------------------------------------------------------ surrogate data
def freeze_batchnorm(model: nn.Module) -> None:
    """Put every BatchNorm layer in eval mode (running statistics frozen, affine weights still trained)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def input_shape(data) -> tuple[int, ...]:
    """C×H×W of the model inputs ``data`` yields (read from its untracked view: not an image seen)."""
    plain = data.untracked() if hasattr(data, "untracked") else data
    return tuple(next(plain.batches(1, device="cpu"))[0].shape[1:])


def surrogate_batch(kind: str, n: int, shape: tuple[int, ...], mean: torch.Tensor, std: torch.Tensor, *,
                    seed: int, purpose: str, device: torch.device) -> torch.Tensor:
    """``n`` surrogate images of ``shape`` (C×H×W) in the model's normalised input space, seeded by
    ``(seed, purpose)``: ``gaussian_noise`` — N(0, 1) directly (the reference's ``subset_gaussian_noise``,
    normalised with mean 0 / std 1); ``uniform_noise`` — uniform [0, 1] pixels normalised like the data."""
    gen = torch.Generator(device=device).manual_seed(derive_seed(seed, purpose))
    if kind == "gaussian_noise":
        x = torch.randn((n, *shape), generator=gen, device=device)
    else:
        x = (torch.rand((n, *shape), generator=gen, device=device) - mean.to(device)) / std.to(device)
    # the model is channels_last on CUDA (training.prepare_model), like the image sets' batches
    return x.contiguous(memory_format=torch.channels_last) if x.device.type == "cuda" and x.dim() == 4 else x


def surrogate_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor, forget_classes: list[int],
                           temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The distillation trick of class removal (reference L444–453): drop the surrogate images the original
    assigns to a forget class, set the forget classes' teacher logits to the batch minimum, and return
    KL(softmax(teacher / T) ‖ softmax(student)) (batch mean; the student is not scaled by T) and the kept
    fraction. Zero when no image is kept."""
    teacher = teacher_logits.detach().float()
    fc = torch.as_tensor(forget_classes, device=teacher.device)
    keep = ~torch.isin(teacher.argmax(1), fc)
    if not bool(keep.any()):
        return student_logits.sum() * 0.0, keep.float().mean()
    teacher = teacher[keep]
    teacher[:, fc] = teacher.min()
    log_t = F.log_softmax(teacher / float(temperature), dim=1)
    log_s = F.log_softmax(student_logits[keep].float(), dim=1)
    return F.kl_div(log_s, log_t, log_target=True, reduction="batchmean"), keep.float().mean()


@register_method("scar")
@dataclass
class Scar(UnlearningMethod):
    """SCAR (Selective-distillation for Class and Architecture-agnostic unleaRning), class removal.

    Bonato, Cotogni & Sabetta 2024, "Is Retain Set All You Need in Machine Unlearning? Restoring Performance
    of Unlearned Models with Out-Of-Distribution Images" (ECCV 2024; arXiv 2404.12922); official code
    github.com/jbonato1/SCAR (``src/Unlearning_methods.py`` class ``SCAR``, ``src/opts.py``, commit 280ceae).
    Each retain class's feature distribution (mean + shrunk covariance of Tukey-transformed pre-logit
    features of the original model) is estimated once; every forget sample is assigned its nearest *wrong*
    class distribution, and the loss λ1·mean Mahalanobis(feature, target) moves forget features there.
    Knowledge is kept by distilling the original into the model on surrogate out-of-distribution images —
    no retain image is ever trained on: λ2·KL(softmax(teacher/T) ‖ softmax(student)) with the forget
    classes' teacher logits set to the batch minimum and surrogate images predicted as a forget class
    dropped.

    Reference defaults (``opts.py`` L31–43 and the README's CIFAR-10 class-removal command): Adam (L384) lr
    5e-4, weight decay 0, at most 30 epochs, batch 1024 for both loaders, T = 1, λ1 = 1, λ2 = 5, Tukey
    δ = 0.5, shrinkage γ1 = γ2 = 3 applied twice (L368); ``num_retain_samp = 5`` → 6 surrogate batches per
    forget batch (L456, the 7th breaks before its step), each step = the forget batch + one fresh
    surrogate batch; stop once forget-train accuracy < 1 % (``target_accuracy``, ``main.py`` L77) from the
    third epoch on (L471, L486); model in train mode (L382). Class statistics: from the retain-train images
    of each retain class through the original model (L339–380, the reference's ``self.retain`` loader);
    the nearest wrong class is fixed per forget sample (L420–427).

    Surrogate data (``surrogate``): the paper uses 10k ImageNet/COCO images; its ablation uses Gaussian
    noise (``subset_gaussian_noise``: N(0, 1) tensors fed as the normalised input, ``dsets.py`` L200/L208,
    ``generate_random_noise.py``), the default here because it needs no download; ``uniform_noise`` draws
    uniform random pixels normalised like the data; ``task`` takes the training images of a configured
    out-of-distribution set — ``methods.<instance>.surrogate_set: <downstream dataset>`` makes the rule
    load it into ``task.surrogate`` (the paper's setting with natural images).

    Noise surrogates and BatchNorm (``freeze_bn``, an addition; default off = the reference's train mode):
    in train mode the BatchNorm running statistics absorb the noise batches and the model collapses
    (embedded data, seed 0, random2, published defaults: forget-train 0.00 but retain-test 0.15; the
    original has 0.98). ``freeze_bn: true`` keeps the original's statistics (BatchNorm layers in eval
    mode, weights still trained): set it with a noise surrogate; a natural-image surrogate matches the
    reference with it off. Measured with ``freeze_bn: true, epochs: 10, surrogate_batch_size: 256`` (the
    suggested embedded setting: 10 epochs as the repository's ``command.sh``; 30 take ≈ 2.5 min per run
    on one CPU core here; random2 / top2_similar, seed 0): forget-train 0.22 / 0.34, retain-test 0.89 /
    0.79; λ1 = 20 (grid): 0.04 / 0.35 and 0.86 / 0.80 — with a noise surrogate SCAR does not forget the
    similar-class pair past ≈ 0.35 at any grid point (lr 1e-3, uniform noise: no better).

    Deviations: surrogate noise is drawn fresh for every step (seeded) instead of a fixed pool of
    10k tensors; the early stop is checked at the end of each epoch (the reference also checks after every
    step); the nearest wrong class is computed with the original model for all forget samples before
    training (the reference computes it at each batch's first step of epoch 0, after the previous batches'
    updates); class statistics use un-augmented retain images (the reference's retain loader augments)
    in float64; surrogate images predicted as *any* forget class are dropped (the reference drops only
    ``class_to_remove[0]``); the paper writes the distillation divergence as Jensen–Shannon, the code — and
    this module — uses KL. The Tukey transform is sign-preserving with zero gradient at 0 (x^0.5 has an
    infinite slope there). ``stats_max_per_class`` (0 = all, the reference) caps the retain images per
    class for the statistics; only the statistics of classes that are some forget sample's target are
    kept (D×D each). Class removal only (the reference's homogeneous-removal mode stops at the test
    accuracy, which a method may not read here). The forget set smaller than one batch (embedded data):
    an epoch is ``surrogate_steps`` = 6 steps.
    """

    supports = frozenset({"class"})
    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lambda_1": (1.0, 5.0, 20.0)}

    epochs: int = hparam(30, ge=1, help="maximum passes over the forget set (reference 30)")
    lr: float = hparam(5e-4, gt=0, help="Adam learning rate (reference 5e-4)")
    weight_decay: float = hparam(0.0, ge=0, help="Adam weight decay (reference 0)")
    batch_size: int = hparam(1024, ge=1, help="forget mini-batch size (reference bsize 1024)")
    surrogate_batch_size: int = hparam(1024, ge=1, help="surrogate images per step (reference bsize 1024)")
    surrogate_steps: int = hparam(6, ge=1,
                                  help="steps (surrogate batches) per forget batch (reference num_retain_samp + 1 = 6)")
    surrogate: str = hparam("gaussian_noise", choices=SURROGATES, help="surrogate out-of-distribution images")
    lambda_1: float = hparam(1.0, ge=0, help="weight of the forget Mahalanobis term (reference 1)")
    lambda_2: float = hparam(5.0, ge=0, help="weight of the surrogate distillation term (reference 5)")
    temperature: float = hparam(1.0, gt=0, help="teacher temperature of the distillation (reference 1)")
    delta: float = hparam(0.5, gt=0, help="Tukey power transform exponent (reference 0.5)")
    gamma1: float = hparam(3.0, ge=0, help="covariance shrinkage of the diagonal (reference 3)")
    gamma2: float = hparam(3.0, ge=0, help="covariance shrinkage of the off-diagonal (reference 3)")
    stop_forget_accuracy: float = hparam(0.01, ge=0, le=1, help="stop once forget-train accuracy is below this, "
                                                                 "from epoch 3 on (reference 0.01)")
    stats_max_per_class: int = hparam(0, ge=0, help="retain images per class for the statistics (0: all, reference)")
    freeze_bn: bool = hparam(False, help="BatchNorm layers in eval mode (reference: off, train mode); see docstring")

    def unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        forget_classes = require_class_forgetting(task, type(self).name)
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        rows, classes, means, inv_covs = nearest_wrong_classes(
            teacher, task, forget_classes, delta=self.delta, gamma1=self.gamma1, gamma2=self.gamma2,
            max_per_class=self.stats_max_per_class, batch_size=min(self.batch_size, 512))
        targets = np.asarray(classes)[rows]
        forget = task.forget.with_labels(rows)  # the label of a forget sample = its target-class row
        means, inv_covs = means.to(task.device), inv_covs.to(task.device)
        shape = input_shape(task.forget)
        if self.surrogate == "task" and (task.surrogate is None or len(task.surrogate) == 0):
            raise ValueError("scar: surrogate 'task' needs an out-of-distribution set: set "
                             "methods.<instance>.surrogate_set to a configured downstream dataset")
        natural = (endless_batches(task.surrogate, self.surrogate_batch_size, seed=derive_seed(task.seed, "scar"),
                                   device=task.device, augment=False) if self.surrogate == "task" else None)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loop = UnlearnLoop(model, task, optimizer, desc=type(self).name)
        stopped = None
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                for b, (x_f, r) in enumerate(epoch_batches(forget, self.batch_size, seed=task.seed, epoch=epoch,
                                                           device=task.device, augment=False)):
                    for k in range(self.surrogate_steps):
                        if k:  # the forget batch is forwarded again at every step: count it (images seen)
                            task.counters.add([len(x_f), 0, 0])
                        model.train()
                        if self.freeze_bn:
                            freeze_batchnorm(model)
                        x_s = next(natural)[0] if natural is not None else surrogate_batch(
                            self.surrogate, self.surrogate_batch_size, shape, task.forget.mean, task.forget.std,
                            seed=task.seed, purpose=f"scar/{epoch}/{b}/{k}", device=task.device)
                        with autocast(task.device):
                            feats = model.forward_head(model.forward_features(x_f), pre_logits=True)
                            with torch.no_grad():
                                teacher_logits = teacher(x_s)
                            student_logits = model(x_s)
                        dist = distance_to_targets(feats.float(), r, means, inv_covs, self.delta).mean()
                        kl, kept = surrogate_distillation(student_logits, teacher_logits, forget_classes,
                                                          self.temperature)
                        loss = self.lambda_1 * dist + self.lambda_2 * kl
                        loop.step(loss, epoch=epoch, images=len(x_f) + len(x_s), forget_mahalanobis=dist,
                                  surrogate_kl=kl, surrogate_kept=kept)
                forget_acc = accuracy(model, task.forget, task.device) if epoch >= 2 else float("nan")
                loop.end_epoch(epoch, forget_train_acc=forget_acc)
                if forget_acc < self.stop_forget_accuracy:
                    stopped = epoch
                    break
        counts = np.bincount(targets, minlength=task.num_classes)
        return model, loop.log(stopped_epoch=None if stopped is None else stopped + 1,
                               target_classes={str(c): int(counts[c]) for c in classes})
