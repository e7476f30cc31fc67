"""EU-k: exact unlearning of the last k layers (re-initialise them, retrain them on D_r, the rest frozen).

Also the shared machinery of :mod:`unlearnbench.methods.cf_k` (CF-k fine-tunes the same layers without
re-initialising them): :func:`last_k_layers` (which modules "the last k layers" are), :func:`sgdr_lr` (the
reference's per-epoch warm-restart schedule) and :class:`LastKLayers` (the training recipe).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, nn, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (RETAIN_FRACTION_HELP, UnlearnLoop, epoch_batches, make_generator,
                                         retain_for_epoch, seeded_global_rng, sgd_optimizer)
from unlearnbench.training import autocast

CITATION = ('Goel, Prabhu, Sanyal, Lim, Torr & Kumaraguru 2022/2023, "Towards Adversarial Evaluations for Inexact '
            'Machine Unlearning" (arXiv 2201.06640; first version "Evaluating Inexact Unlearning Requires '
            'Revisiting Forgetting")')
CODE = "github.com/shash42/Evaluating-Inexact-Unlearning"


def is_weight_layer(module: nn.Module) -> bool:
    """The layers that count towards k: convolutions and fully connected layers (the reference counts
    ``nn.Conv2d`` and ``nn.Linear``; 1-d/3-d convolutions are counted the same way here)."""
    return isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))


def last_k_layers(model: nn.Module, k: int) -> list[tuple[str, nn.Module]]:
    """The modules EU-k / CF-k train: "the last k layers" as the reference code defines them.

    Reference (``src/methods.py`` ``getRetrainLayers`` + ``resetFinalResnet``, lines 9–47): walk the modules
    depth-first in registration order (parent before children), reverse the list, and take modules from the
    head backwards until the k-th convolution / linear layer has been taken; the normalisation layers met on
    the way are trained too but not counted. The reference lists ``Conv2d``, ``BatchNorm2d`` and ``Linear``;
    to work on any timm model, every module that holds parameters of its own (LayerNorm, GroupNorm, timm's
    BatchNormAct2d, a LayerScale …) is taken along in the same way, and only convolutions and linear layers
    count. Examples: k = 1 is the classifier; for a CIFAR ResNet block (conv1, bn1, conv2, bn2, then the
    shortcut conv + bn, in that registration and execution order) k = 2 adds the last block's shortcut conv
    and its BN, k = 3 its conv2 + bn2, k = 4 its conv1 + bn1; timm ``resnet18``: k = 3 is ``fc`` and
    ``layer4.1.{bn2, conv2, bn1, conv1}``. Parameters held directly by a container (a ConvNeXt block's
    layer-scale ``gamma``, a ViT's ``cls_token``/``pos_embed``) come after all of its children in the reversed
    walk: they are taken only once the walk has passed every layer inside that container. Returns
    ``[(name, module)]`` from the head backwards.
    """
    owners = [(name, m) for name, m in model.named_modules() if next(m.parameters(recurse=False), None) is not None]
    selected, counted = [], 0
    for name, module in reversed(owners):
        selected.append((name, module))
        if is_weight_layer(module):
            counted += 1
            if counted >= k:
                break
    return selected


def count_weight_layers(model: nn.Module) -> int:
    """How many layers k can count in ``model`` (convolutions and linear layers)."""
    return sum(1 for m in model.modules() if is_weight_layer(m))


def sgdr_lr(epoch: int, lr_max: float, lr_min: float, t0: int = 1, t_mult: int = 2) -> float:
    """The learning rate of epoch ``epoch`` (0-based) under ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)``
    stepped once per epoch, as the reference's ``train_loop`` (``src/learn.py`` lines 200–220): with T_0 = 1,
    T_mult = 2 the cycles are 1, 2, 4, 8 … epochs long, each starting again at ``lr_max``."""
    t_cur, t_i = epoch, t0
    while t_cur >= t_i:
        t_cur -= t_i
        t_i *= t_mult
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


def reinitialise(module: nn.Module, gen: torch.Generator) -> None:
    """The reference's ``_reinit`` (``src/models.py`` lines 599–606) for a convolution / linear layer:
    Kaiming-normal weight (fan-in, gain √2) and zero bias."""
    with torch.no_grad():
        weight = torch.empty(module.weight.shape, dtype=torch.float32)
        nn.init.kaiming_normal_(weight, generator=gen)
        module.weight.copy_(weight.to(module.weight))
        if getattr(module, "bias", None) is not None:
            module.bias.zero_()


@dataclass
class LastKLayers(UnlearningMethod):
    """Shared recipe of EU-k and CF-k: train only the last ``k`` layers on D_r (the rest frozen), optionally
    re-initialising them first (``reinit``). Not registered; see :class:`ExactUnlearningK`."""

    reinit: ClassVar[bool] = True

    k: int = hparam(3, ge=1, help="layers trained, counted from the head (convolutions + linear layers)")
    epochs: int = hparam(62, ge=1, help="epochs over D_r (reference 62; whole SGDR cycles end at 1, 3, 7, 15, 31, 63)")
    lr: float = hparam(0.1, gt=0, help="SGDR maximum learning rate (reference maxlr 0.1)")
    min_lr: float = hparam(0.005, ge=0, help="SGDR minimum learning rate (reference minlr 0.005)")
    batch_size: int = hparam(64, ge=1, help="retain mini-batch size (reference 64)")
    retain_fraction: float = hparam(1.0, gt=0, le=1, help=RETAIN_FRACTION_HELP)
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum (reference 0.9)")
    weight_decay: float = hparam(5e-5, ge=0, help="SGD weight decay of the trained layers (reference 5e-5)")
    clip_grad_norm: float = hparam(10.0, ge=0, help="gradient-norm clipping (reference 10; 0 disables)")
    freeze_bn_stats: bool = hparam(False, help="keep the BatchNorm running statistics of the frozen layers "
                                               "(eval mode); the reference (False) trains every BN in train mode")
    augment: bool = hparam(True, help="CIFAR random-crop + flip augmentation (the reference's training transform)")

    def unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        selected = last_k_layers(model, self.k)
        trained_ids = {id(p) for _, m in selected for p in m.parameters(recurse=False)}
        trained_modules = {id(m) for _, m in selected}
        flags = [(p, p.requires_grad) for p in model.parameters()]
        try:
            for p in model.parameters():
                p.requires_grad_(id(p) in trained_ids)
            if self.reinit:
                gen = make_generator(task.seed, "eu_k/reinit")
                for _, module in selected:
                    if is_weight_layer(module):
                        reinitialise(module, gen)
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = sgd_optimizer(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
            clip = None
            if self.clip_grad_norm > 0:
                def clip(_: nn.Module) -> None:
                    torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
            frozen_bn = [m for m in model.modules()
                         if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in trained_modules]
            loop = UnlearnLoop(model, task, optimizer, desc=type(self).name, after_backward=clip)
            with seeded_global_rng(task.seed, task.device):
                for epoch in range(self.epochs):
                    for group in optimizer.param_groups:
                        group["lr"] = sgdr_lr(epoch, self.lr, self.min_lr)
                    model.train()  # each epoch: the monitor's accuracy() leaves the whole model in train mode
                    if self.freeze_bn_stats:
                        for m in frozen_bn:
                            m.eval()
                    retain = retain_for_epoch(task, self.retain_fraction, epoch)
                    for x, y in epoch_batches(retain, self.batch_size, seed=task.seed, epoch=epoch,
                                              device=task.device, augment=self.augment):
                        with autocast(task.device):
                            loss = F.cross_entropy(model(x), y)
                        loop.step(loss, epoch=epoch, images=len(y))
                    loop.end_epoch(epoch, retain_samples=float(len(retain)))
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
        n_params = sum(p.numel() for p in params)
        return model, loop.log(trained_layers=[name for name, _ in selected],
                               weight_layers_trained=sum(is_weight_layer(m) for _, m in selected),
                               weight_layers_total=count_weight_layers(model), trained_parameters=n_params,
                               reinitialised=self.reinit)


@register_method("eu_k")
@dataclass
class ExactUnlearningK(LastKLayers):
    """EU-k: re-initialise the last k layers and retrain them on the retain set, everything else frozen.

    Goel et al. 2022/2023, "Towards Adversarial Evaluations for Inexact Machine Unlearning" (arXiv 2201.06640;
    the EU-k baseline): the first L − k layers keep the original weights — their representations are exactly the
    original's — and the last k are trained from a fresh initialisation on D_r only, so whatever they hold
    about D_f is gone exactly; what remains of D_f lives in the frozen layers. The representation-side
    baseline: forgetting confined to the last k layers by construction.

    Official code (github.com/shash42/Evaluating-Inexact-Unlearning): ``src/methods.py`` ``retrain_lastK`` /
    ``resetFinalResnet`` (lines 9–57) — "layers" are ``Conv2d``/``Linear`` modules counted from the head in
    reverse registration order, the BatchNorms in between trained too but not re-initialised (see
    :func:`last_k_layers`); re-initialisation Kaiming-normal weights, zero biases (``src/models.py`` 599–606);
    training ``src/learn.py`` ``train_loop``/``train`` (lines 136–237): cross-entropy, SGD momentum 0.9,
    weight decay 5e-5 on the trainable parameters only, gradient norm clipped at 10, batch 64, augmented
    retain data, ``CosineAnnealingWarmRestarts(T_0=1, T_mult=2, eta_min=0.005)`` from lr 0.1 stepped per
    epoch, the whole model in train mode (BatchNorm running statistics of the frozen layers keep updating;
    ``freeze_bn_stats: true`` keeps them, the reference's ``--disable-bn`` froze every BN). Defaults of
    ``src/unlearn.py`` (lines 44–54): k swept over 1…3 (``--minL-rf 1 --maxL-rf 3``), 62 epochs (the
    original's training length; the scripts use 2…14 on ResNet-20 and 10/50 on ResNet-110).

    Defaults are that recipe with k = 3, the largest value of the reference's default sweep, and 62 full
    passes over D_r. ``retain_fraction`` < 1 is a budget cap for small runs (a fresh seeded subset of D_r
    every epoch; set in the config, e.g. the embedded default's 7 epochs — three whole SGDR cycles
    1 + 2 + 4, ending at the low learning rate as the reference's 62 epochs do — of 30 % of D_r).
    ``freeze_bn_stats`` is an addition. On a CIFAR ResNet the shortcut convolution of the last block counts
    as a layer (the reference's ResNet-20 had parameter-free shortcuts). Details: docs/methods.md.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"k": (3, 6, 9)}

    reinit: ClassVar[bool] = True
