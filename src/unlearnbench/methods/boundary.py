"""Boundary Unlearning: Boundary Shrink and Boundary Expanding (class forgetting)."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, nn, F  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import (UnlearnLoop, epoch_batches, make_generator, monitor_accuracies,
                                         require_class_forgetting, seeded_global_rng, sgd_optimizer)
from unlearnbench.training import autocast

SHADOW_INITS = ("xavier", "linear")
CITATION = ('Chen, Gao, Liu, Peng & Zhou 2023, "Boundary Unlearning: Rapid Forgetting of Deep Networks via '
            'Shifting the Decision Boundary" (CVPR)')


def fgsm_attack(reference: nn.Module, x: torch.Tensor, y: torch.Tensor, *, bound: float, mean: torch.Tensor,
                std: torch.Tensor, exclude_true: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbour search of Boundary Shrink: ``(labels, flipped)`` for an FGSM-perturbed ``x``.

    One signed-gradient step of size ``bound`` on the CE of the true label, in [0, 1] pixel space, clamped
    to [0, 1] and discretised to 8 bits, then renormalised (the authors' ``FGSM.perturb``,
    ``adv_generator.py`` L77-106 with ``clamper`` L50-67), in float32. ``labels`` is what ``reference``
    predicts on the adversarial image — the true label where the one-step attack fails, as the reference
    (``boundary_unlearning.py`` L44-45: plain argmax). With ``exclude_true`` the argmax runs over the
    incorrect classes only (not the reference). ``flipped`` marks the samples whose unrestricted prediction
    left the true class: the real attack success (``num_hits``, L48), whatever ``exclude_true`` says.
    """
    x = x.detach().float().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(reference(x).float(), y)
        (grad,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        pixels = x.detach() * std + mean
        adversarial = torch.round((pixels + bound * grad.sign()).clamp(0.0, 1.0) * 255.0) / 255.0
        logits = reference((adversarial - mean) / std).float()
        flipped = logits.argmax(dim=1) != y
        if exclude_true:
            logits[torch.arange(len(y), device=y.device), y] = float("-inf")
        return logits.argmax(dim=1), flipped


def fgsm_nearest_labels(reference: nn.Module, x: torch.Tensor, y: torch.Tensor, *, bound: float,
                        mean: torch.Tensor, std: torch.Tensor, exclude_true: bool) -> torch.Tensor:
    """The labels of :func:`fgsm_attack` (without the flip mask)."""
    return fgsm_attack(reference, x, y, bound=bound, mean=mean, std=std, exclude_true=exclude_true)[0]


@register_method("boundary_shrink")
@dataclass
class BoundaryShrink(UnlearningMethod):
    """Boundary Shrink: fine-tune every forget sample towards its nearest incorrect class.

    Chen et al. 2023 (CVPR), §4.1. A frozen copy of the original model finds each forget sample's nearest
    label by an FGSM step (``bound`` 0.1 in [0, 1] pixel space); the model is fine-tuned with CE on the
    forget samples with those labels, which shrinks the forget class's decision region into its neighbours.
    Defaults of the authors' code (github.com/TY-LEE-KR/Boundary-Unlearning-Code, ``boundary_unlearning.py``
    L14-98): labels recomputed on every batch by the frozen copy in eval mode (L42-45), ``poison_epoch`` 10
    passes over D_f (L15, L37), SGD lr 1e-5 with momentum 0.9 and no weight decay (L31), the model in train
    mode (L52), batch 64 (``main.py`` L32), no augmentation (``utils.py`` L33-35: ToTensor + Normalize).
    Where the attack does not flip the prediction the reference trains on the true label
    (``exclude_true_label: false``, the default); ``true`` takes the argmax over incorrect classes instead.
    ``attack_success`` in the curve is the real FGSM flip rate either way.

    As in the reference (train mode on forget-only batches), BatchNorm running statistics drift to the
    forget classes', which alone moves every class's predictions. docs/methods.md: sources, deviations.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md): the
    #: published lr and 10× / 100× (the published 10 epochs on 5 000 CIFAR-10 images are 780 steps)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (1e-5, 1e-4, 1e-3)}

    supports = frozenset({"class"})

    epochs: int = hparam(10, ge=1, help="passes over the forget set (reference poison_epoch: 10)")
    lr: float = hparam(1e-5, gt=0, help="constant SGD learning rate (reference: 1e-5)")
    batch_size: int = hparam(64, ge=1, help="forget mini-batch size (reference: 64)")
    bound: float = hparam(0.1, gt=0, le=1, help="FGSM step size in [0, 1] pixel units")
    exclude_true_label: bool = hparam(False, help="argmax over incorrect classes only (reference: false, the "
                                                  "true label is kept where the attack fails)")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(0.0, ge=0, help="SGD weight decay (reference: none)")
    augment: bool = hparam(False, help="CIFAR random-crop + flip augmentation (reference: off)")

    def unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        require_class_forgetting(task, type(self).name)
        reference = copy.deepcopy(model).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
        mean, std = task.forget.mean.to(task.device), task.forget.std.to(task.device)
        optimizer = sgd_optimizer(model.parameters(), lr=self.lr, momentum=self.momentum,
                                  weight_decay=self.weight_decay)
        loop = UnlearnLoop(model, task, optimizer, desc=type(self).name)
        flips = seen = 0
        with seeded_global_rng(task.seed, task.device):
            for epoch in range(self.epochs):
                model.train()
                for x, y in epoch_batches(task.forget, self.batch_size, seed=task.seed, epoch=epoch,
                                          device=task.device, augment=self.augment):
                    target, flipped = fgsm_attack(reference, x, y, bound=self.bound, mean=mean, std=std,
                                                  exclude_true=self.exclude_true_label)
                    with autocast(task.device):
                        loss = F.cross_entropy(model(x), target)
                    loop.step(loss, epoch=epoch, images=len(y), attack_success=flipped.float().mean(),
                              relabelled=(target != y).float().mean())
                    flips, seen = flips + int(flipped.sum()), seen + len(y)
                loop.end_epoch(epoch)
        return model, loop.log(attack_success=flips / max(1, seen))


def linear_head(model: nn.Module) -> nn.Linear:
    head = model.get_classifier()
    if not isinstance(head, nn.Linear):
        raise TypeError(f"boundary_expand needs a linear classifier head, got {type(head).__name__}")
    return head


def replace_head(model: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    """``reset_classifier`` to ``len(weight)`` classes and load ``weight``/``bias`` into the new head."""
    model.reset_classifier(weight.shape[0])
    head = linear_head(model).to(device=weight.device, dtype=weight.dtype)
    if (head.bias is None) != (bias is None):
        raise TypeError("reset_classifier changed whether the head has a bias")
    with torch.no_grad():
        head.weight.copy_(weight)
        if bias is not None:
            head.bias.copy_(bias)
    return head


@register_method("boundary_expand")
@dataclass
class BoundaryExpand(UnlearningMethod):
    """Boundary Expanding: route the forget class into an extra shadow class, then prune that class.

    Chen et al. 2023 (CVPR), §4.2. The classifier gets one extra output neuron (the shadow class, original
    rows copied); the whole widened network is fine-tuned with CE on the forget samples all labelled as the
    shadow class, which expands the decision space and pulls the forget samples' features away from their
    class; then the shadow neuron is pruned so the checkpoint has the original class count. Defaults of the
    authors' code (github.com/TY-LEE-KR/Boundary-Unlearning-Code, ``boundary_unlearning.py`` L101-185):
    the widened head is ``nn.Linear`` re-initialised by ``init_params`` (L111-112; ``models.py`` L39-49:
    Xavier-normal weight, zero bias) with the original rows copied in (L118-123) — ``shadow_init: xavier``;
    ``finetune_epochs`` 10 over D_f (L127), SGD lr 1e-5, momentum 0.9, no weight decay (L130,
    ``trainer.py`` L23-27), target = the shadow index (L141-143), batch 64 (``main.py`` L32), no
    augmentation (``utils.py`` L33-35). SalUn's port (OPTML-Group/Unlearn-Saliency
    ``Classification/unlearn/boundary_ex.py`` L34-67) keeps ``nn.Linear``'s default initialisation
    instead: ``shadow_init: linear`` (weight and bias uniform in ±1/√in_features). The head is resized
    through timm's ``reset_classifier``. docs/methods.md: sources, deviations.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (1e-5, 1e-4, 1e-3)}

    supports = frozenset({"class"})

    epochs: int = hparam(10, ge=1, help="passes over the forget set (reference finetune_epochs: 10)")
    lr: float = hparam(1e-5, gt=0, help="constant SGD learning rate (reference: 1e-5)")
    batch_size: int = hparam(64, ge=1, help="forget mini-batch size (reference: 64)")
    shadow_init: str = hparam("xavier", choices=SHADOW_INITS,
                              help="shadow row: xavier (authors' init_params: Xavier-normal, zero bias) or "
                                   "linear (nn.Linear default, as SalUn's port)")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(0.0, ge=0, help="SGD weight decay (reference: none)")
    augment: bool = hparam(False, help="CIFAR random-crop + flip augmentation (reference: off)")

    def unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        require_class_forgetting(task, type(self).name)
        head = linear_head(model)
        classes = head.out_features
        shadow_w, shadow_b = shadow_row(head.in_features, classes, self.shadow_init,
                                        make_generator(task.seed, "shadow_init"))
        weight = torch.cat([head.weight.detach(), shadow_w.to(head.weight)])
        bias = None if head.bias is None else torch.cat([head.bias.detach(), shadow_b.to(head.bias)])
        with seeded_global_rng(task.seed, task.device):
            replace_head(model, weight, bias)
            optimizer = sgd_optimizer(model.parameters(), lr=self.lr, momentum=self.momentum,
                                      weight_decay=self.weight_decay)
            loop = UnlearnLoop(model, task, optimizer, desc=type(self).name)
            for epoch in range(self.epochs):
                model.train()
                for x, y in epoch_batches(task.forget, self.batch_size, seed=task.seed, epoch=epoch,
                                          device=task.device, augment=self.augment):
                    with autocast(task.device):
                        loss = F.cross_entropy(model(x), torch.full_like(y, classes))
                    loop.step(loss, epoch=epoch, images=len(y))
                loop.end_epoch(epoch)
            wide = linear_head(model)
            replace_head(model, wide.weight.detach()[:classes].clone(),
                         None if wide.bias is None else wide.bias.detach()[:classes].clone())
        return model, loop.log(after_pruning=monitor_accuracies(model, task))


def shadow_row(in_features: int, classes: int, init: str,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight (1 × in_features) and bias (1) of the shadow neuron, seeded by ``gen``.

    ``xavier``: the authors' ``init_params`` on the widened (classes + 1) × in layer — Xavier-normal with
    std √(2 / (in + classes + 1)) — and a zero bias; drawn for the widened shape, keeping its last row.
    ``linear``: ``nn.Linear.reset_parameters`` (Kaiming-uniform with a = √5, i.e. U(±1/√in)) and a bias
    U(±1/√in).
    """
    if init == "linear":
        limit = 1.0 / in_features ** 0.5
        weight = torch.empty(1, in_features).uniform_(-limit, limit, generator=gen)
        return weight, torch.empty(1).uniform_(-limit, limit, generator=gen)
    if init != "xavier":
        raise ValueError(f"shadow_init must be one of {list(SHADOW_INITS)}, got {init!r}")
    widened = torch.empty(classes + 1, in_features)
    nn.init.xavier_normal_(widened, generator=gen)
    return widened[classes:], torch.zeros(1)
