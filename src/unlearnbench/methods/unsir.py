"""UNSIR: learn error-maximising noise for each forget class, then impair (noise + retain) and repair."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import numpy as np
from unlearnbench._lazy import torch, nn, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (UnlearnLoop, epoch_batches, make_generator, require_class_forgetting,
                                         seeded_global_rng)
from unlearnbench.training import autocast, check_finite


def learn_error_maximising_noise(model: nn.Module, label: int, shape: tuple[int, ...], *, steps: int, lr: float,
                                 weight: float, device: torch.device, generator: torch.Generator,
                                 average_over: int | None = None) -> tuple[torch.Tensor, list[float]]:
    """UNSIR's noise for one class: a batch N (``shape``, in the model's normalised input space),
    initialised N(0, 1), that minimises −CE(f(N), label) + ``weight``·mean_i ‖N_i‖² with Adam(``lr``) for
    ``steps`` steps; the model is frozen in eval mode. Returns the noise and the loss after every step.

    The images do not interact (eval mode, per-image terms, Adam per element), except through the
    1/batch scale of the mean, which Adam's ε sees. ``average_over`` divides the summed per-image terms by
    that count instead of ``len(N)``: learning the first k images of a reference batch of B with
    ``average_over=B`` gives the same k images as learning all B."""
    was_training = model.training
    model.eval()
    noise = torch.randn(shape, generator=generator).to(device).requires_grad_(True)
    labels = torch.full((shape[0],), int(label), dtype=torch.long, device=device)
    optimizer = torch.optim.Adam([noise], lr=lr)
    losses = []
    denominator = float(average_over or shape[0])
    for step in range(steps):
        with autocast(device):
            ce = F.cross_entropy(model(noise).float(), labels, reduction="sum")
        loss = (-ce + weight * noise.float().pow(2).sum()) / denominator
        check_finite(loss, 0)
        (grad,) = torch.autograd.grad(loss, noise)  # the model's parameters receive no gradient
        optimizer.zero_grad(set_to_none=True)
        noise.grad = grad
        optimizer.step()
        losses.append(float(loss.detach()))
    model.train(was_training)
    return noise.detach(), losses


def input_shape(data) -> tuple[int, ...]:
    """C×H×W of the model inputs ``data`` yields (read from its untracked view: not an image seen)."""
    plain = data.untracked() if hasattr(data, "untracked") else data
    return tuple(next(plain.batches(1, device="cpu"))[0].shape[1:])


def per_class_subset(labels: np.ndarray, classes: list[int], per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random ``per_class`` samples of each class in ``classes`` (all if fewer)."""
    gen = make_generator(seed, "unsir/retain_subset")
    keep = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        order = torch.randperm(len(idx), generator=gen).numpy()
        keep.append(idx[order[:per_class]])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def mixed_batches(noise: torch.Tensor, noise_labels: torch.Tensor, copies: int, retain, batch_size: int, *,
                  seed: int, epoch: int, device: torch.device, augment: bool) -> Iterator[tuple]:
    """One shuffled pass over ``copies`` copies of the noise samples together with the ``retain`` set.

    Noise sample j of copy r is position ``r·len(noise) + j``; retain sample i is position
    ``copies·len(noise) + i``. Each batch is its noise members followed by its retain members (the order
    inside a batch does not change a mean loss or BatchNorm's batch statistics); the copies are not
    materialised.
    """
    n_noise, n_retain = len(noise) * copies, len(retain)
    order = torch.randperm(n_noise + n_retain, generator=make_generator(seed, f"unsir/impair/{epoch}")).numpy()
    for start in range(0, len(order), batch_size):
        pos = order[start:start + batch_size]
        noise_pos, retain_pos = pos[pos < n_noise] % len(noise), np.sort(pos[pos >= n_noise] - n_noise)
        xs, ys = [], []
        if len(noise_pos):
            xs.append(noise[torch.as_tensor(noise_pos)].to(device))
            ys.append(noise_labels[torch.as_tensor(noise_pos)].to(device))
        if len(retain_pos):
            x, y = next(retain.subset(retain_pos).batches(len(retain_pos), train=augment, shuffle=False,
                                                         seed=seed, epoch=epoch * 100_003 + start, device=device))
            xs.append(x)
            ys.append(y)
        x = torch.cat(xs)
        if x.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, torch.cat(ys)


@register_method("unsir")
@dataclass
class Unsir(UnlearningMethod):
    """UNSIR (UNlearning with Single pass Impair and Repair): error-maximising noise, impair, repair.

    Tarun, Chundawat, Mandal & Kankanhalli 2023, "Fast Yet Effective Machine Unlearning" (IEEE TNNLS;
    arXiv 2111.08947); official code github.com/vikram2000b/Fast-Machine-Unlearning (one notebook,
    ``Machine Unlearning.ipynb``, commit 252bc92). For each forget class c a noise batch N_c is learnt that
    *maximises* the frozen original's loss on label c: argmin_N −CE(f(N), c) + λ·mean_i ‖N_i‖². Impair: one
    epoch over copies of the noise (labelled c) together with a small retain subset, with a high learning
    rate — the noise damages the weights that carry class c. Repair: one epoch over the retain subset alone.

    Defaults from the notebook: noise initialised N(0, 1) in the normalised input space (cell 24,
    ``Noise(batch_size, 3, 32, 32)``), Adam lr 0.1, 5 × 8 = 40 steps, λ = 0.1 with
    ``0.1*torch.mean(torch.sum(torch.square(inputs), [1, 2, 3]))``; retain subset 1000 images per retain
    class (cell 20); impair: 20 copies of the noise (``num_batches = 20``, cell 26) + the retain subset,
    shuffled, Adam lr 0.02, 1 epoch; repair: the retain subset, Adam lr 0.01, 1 epoch (cell 30); batch 256,
    no augmentation, no weight decay, model in train mode for both passes.

    How many noise images the impair epoch sees: the notebook learns a batch of 256 but its copy loop runs
    ``for i in range(batch[0].size(0))`` — the *channel* count of one image — so each of the 20 copies
    adds the first **3** noise images: 60 noise samples per class next to 8000 retain images. That is the
    configuration behind the published numbers, and it is the default here (``noise_images = 3``,
    ``noise_copies = 20``); using all 256 images (5120 noise samples per class) outweighs the retain subset
    and collapses the model (embedded data, seed 0, batch 64, random2 / top2_similar: retain-test accuracy
    0.13 / 0.30 after repair, against 0.66 / 0.64 with 3 images; the original has 0.98). The
    images do not interact while they are learnt (eval mode, per-image terms, Adam per element), so only
    the used ones are learnt, with the loss averaged over ``noise_batch_size`` = 256 as in the reference
    (the 1/256 gradient scale matters through Adam's ε): the same images at 1/85 of the cost.

    Deviations: (1) the notebook labels every noise sample ``class_num = 0`` whatever its class (right only
    when class 0 is the one forget class); here noise of class c is labelled c, as the paper describes.
    (2) The notebook learns the noise with a freshly built model left in train mode, so the original's
    BatchNorm statistics absorb 40 noise batches before the impair step; here the model is frozen in eval
    mode while the noise is learnt. (3) The retain subset is a seeded random sample per class (the notebook
    takes each class's first 1000).

    Suggested embedded setting (config, not a default): ``batch_size: 64``, so that one epoch over the
    embedded retain set (1764 images, fewer than 1000 per class) is ≈ 30 optimizer steps per phase like
    the reference's one epoch over 8000 images in batches of 256; with batch 256 one repair epoch is 7
    steps (random2 / top2_similar, seed 0: retain-test 0.50 / 0.31 with 256, 0.66 / 0.64 with 64; forget
    accuracy 0.00 with both). The tuning grid adds repair epochs (3: retain-test 0.88 / 0.48). Class
    forgetting only (the noise is learnt per class).
    """

    supports = frozenset({"class"})
    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"noise_copies": (20, 60), "repair_epochs": (1, 2, 3)}

    noise_batch_size: int = hparam(256, ge=1, help="noise batch of the reference: the noise loss is averaged over it")
    noise_images: int = hparam(3, ge=1, help="noise images per forget class used in impair (reference: the first 3)")
    noise_copies: int = hparam(20, ge=1, help="copies of the noise images in the impair epoch (reference 20)")
    noise_steps: int = hparam(40, ge=1, help="Adam steps on the noise (reference 5 epochs x 8 steps)")
    noise_lr: float = hparam(0.1, gt=0, help="Adam learning rate of the noise (reference 0.1)")
    noise_weight: float = hparam(0.1, ge=0, help="lambda of the mean squared L2 norm of the noise (reference 0.1)")
    retain_per_class: int = hparam(1000, ge=1, help="retain images per retain class in impair/repair (reference 1000)")
    impair_lr: float = hparam(0.02, gt=0, help="Adam learning rate of the impair step (reference 0.02)")
    repair_lr: float = hparam(0.01, gt=0, help="Adam learning rate of the repair step (reference 0.01)")
    impair_epochs: int = hparam(1, ge=1, help="impair epochs (reference 1)")
    repair_epochs: int = hparam(1, ge=0, help="repair epochs (reference 1; 0: impair only)")
    batch_size: int = hparam(256, ge=1, help="impair/repair mini-batch size (reference 256)")
    augment: bool = hparam(False, help="CIFAR random-crop + flip augmentation of retain images (reference: off)")

    def unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        forget_classes = require_class_forgetting(task, type(self).name)
        used = min(self.noise_images, self.noise_batch_size)
        shape = (used, *input_shape(task.forget))
        noises, noise_log = [], {}
        with seeded_global_rng(task.seed, task.device):
            for c in forget_classes:
                noise, losses = learn_error_maximising_noise(
                    model, c, shape, steps=self.noise_steps, lr=self.noise_lr, weight=self.noise_weight,
                    device=task.device, generator=make_generator(task.seed, f"unsir/noise/{c}"),
                    average_over=self.noise_batch_size)
                noises.append(noise.cpu())
                noise_log[str(c)] = {"first_loss": losses[0], "last_loss": losses[-1]}
        noise = torch.cat(noises)
        noise_labels = torch.as_tensor(np.repeat(forget_classes, used), dtype=torch.long)
        retain_classes = sorted(set(np.unique(task.retain.labels).tolist()) - set(forget_classes))
        retain = task.retain.subset(per_class_subset(task.retain.labels, retain_classes, self.retain_per_class,
                                                     task.seed))

        loop = UnlearnLoop(model, task, torch.optim.Adam(model.parameters(), lr=self.impair_lr),
                           desc=type(self).name)
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.impair_epochs):
                model.train()
                for x, y in mixed_batches(noise, noise_labels, self.noise_copies, retain, self.batch_size,
                                          seed=task.seed, epoch=epoch, device=task.device, augment=self.augment):
                    with autocast(task.device):
                        loss = F.cross_entropy(model(x), y)
                    loop.step(loss, epoch=epoch, images=len(y), loss_name="impair_loss")
                loop.end_epoch(epoch, phase=0.0)
            loop.optimizer = torch.optim.Adam(model.parameters(), lr=self.repair_lr)  # a fresh Adam, as the reference
            for r in range(self.repair_epochs):
                epoch = self.impair_epochs + r
                model.train()
                for x, y in epoch_batches(retain, self.batch_size, seed=task.seed, epoch=epoch, device=task.device,
                                          augment=self.augment):
                    with autocast(task.device):
                        loss = F.cross_entropy(model(x), y)
                    loop.step(loss, epoch=epoch, images=len(y), loss_name="repair_loss")
                loop.end_epoch(epoch, phase=1.0)
        return model, loop.log(noise=noise_log, noise_samples=len(noise) * self.noise_copies, retain_used=len(retain))
