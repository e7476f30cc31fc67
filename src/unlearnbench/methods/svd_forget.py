"""Gradient-free class forgetting by projecting the weights off class-discriminatory activation directions."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from unlearnbench._lazy import torch, nn, F, no_grad  # imported when a method runs

from unlearnbench.data.arrays import ImageArraySet
from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import derive_seed, make_generator, monitor_accuracies, require_class_forgetting
from unlearnbench.training import Diverged


def scaled_importance_space(gram: torch.Tensor, alpha: float) -> torch.Tensor:
    """M = U diag(α r / ((α − 1) r + 1)) Uᵀ from the Gram matrix R Rᵀ of an activation matrix R (d × n).

    The reference (``models/model_utils.py`` ``forward_cache_projections``, lines 47–71) takes the SVD
    R = U S Vᵀ and r_i = s_i² / Σ s_j², the fraction of activation energy along each singular direction. The
    eigendecomposition of R Rᵀ = U S² Uᵀ gives the same U and s² (M does not depend on the signs or on the
    basis inside a repeated singular value), at the cost of a d × d instead of a d × n decomposition.
    """
    gram = (gram + gram.T) / 2
    energy, basis = torch.linalg.eigh(gram)
    energy = energy.clamp_min(0)
    ratio = energy / energy.sum().clamp_min(torch.finfo(energy.dtype).tiny)
    importance = alpha * ratio / ((alpha - 1) * ratio + 1)
    return (basis * importance) @ basis.T


def conv_patches(x: torch.Tensor, conv: nn.Conv2d, gen: torch.Generator) -> torch.Tensor:
    """The reference's ``reshape_conv_input_activation`` (``models/model_utils.py`` lines 12–31): where the
    input map is wider than 3× the kernel, one random 3k × 3k window (the same for the whole batch) is
    unfolded; otherwise the whole map. Rows: patches (N·L × C·kh·kw), in the order of ``weight.flatten(1)``."""
    kh, kw = conv.kernel_size
    h, w = x.shape[-2:]
    if w > 3 * kw:  # the reference's test (on the width), applied per dimension
        top = int(torch.randint(0, max(1, h - 3 * kh + 1), (1,), generator=gen))
        left = int(torch.randint(0, w - 3 * kw + 1, (1,), generator=gen))
        x = x[:, :, top:top + 3 * kh, left:left + 3 * kw]
    cols = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


class ActivationGrams:
    """Forward hooks on every ``Conv2d`` and ``Linear``: accumulate R Rᵀ of each layer's input activations.

    Rows of R are what the layer's weight multiplies: unfolded patches for a convolution, feature vectors
    for a linear layer (every token of an N × L × C input). At most ``max_rows`` rows per layer and pass, a
    seeded random subset (the reference's ``max_samples``), and all of them for a 2-d linear input (as the
    reference, which subsamples convolution patches and ViT tokens only). Grouped convolutions are skipped
    (their weight does not act on the whole unfolded patch; the reference has none).
    """

    def __init__(self, model: nn.Module, *, max_rows: int, gen: torch.Generator):
        self.max_rows, self.gen = max_rows, gen
        self.grams: dict[str, torch.Tensor] = {}
        self.skipped: list[str] = []
        self.handles = []
        for name, module in model.named_modules():
            if isinstance(module, nn.Conv2d) and module.groups == 1 or isinstance(module, nn.Linear):
                self.handles.append(module.register_forward_pre_hook(self._hook(name, module)))
            elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                self.skipped.append(name)

    def _hook(self, name: str, module: nn.Module):
        def hook(_: nn.Module, inputs: tuple) -> None:
            x = inputs[0].detach()
            if isinstance(module, nn.Conv2d):
                rows, subsample = conv_patches(x.float(), module, self.gen), True
            else:
                rows, subsample = x.float().reshape(-1, x.shape[-1]), x.ndim > 2
            if subsample and len(rows) > self.max_rows:
                keep = torch.randperm(len(rows), generator=self.gen)[:self.max_rows].to(rows.device)
                rows = rows[keep]
            rows = rows.double()
            gram = rows.T @ rows
            if name in self.grams:
                self.grams[name] += gram
            else:
                self.grams[name] = gram
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@no_grad
def activation_grams(model: nn.Module, data: ImageArraySet, *, device: torch.device, max_rows: int, augment: bool,
                     seed: int) -> tuple[dict[str, torch.Tensor], list[str]]:
    """R Rᵀ of every conv / linear layer's input over ``data`` in one forward pass (eval mode)."""
    recorder = ActivationGrams(model, max_rows=max_rows, gen=torch.Generator().manual_seed(seed))
    try:
        for x, _ in data.batches(max(1, len(data)), train=augment, shuffle=False, seed=seed, device=device):
            model(x)
    finally:
        recorder.remove()
    return recorder.grams, recorder.skipped


def per_class_sample(data: ImageArraySet, classes: list[int], per_class: int, gen: torch.Generator) -> np.ndarray:
    """Sorted indices of ``per_class`` seeded random samples of each class in ``classes`` (fewer if it has fewer)."""
    chosen = []
    for c in classes:
        idx = np.flatnonzero(data.labels == c)
        order = torch.randperm(len(idx), generator=gen).numpy()
        chosen.append(idx[order[:per_class]])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


@register_method("svd_forget")
@dataclass
class SVDForget(UnlearningMethod):
    """Gradient-free class forgetting: project every layer's weights off the class-discriminatory directions.

    Kodge, Saha & Roy 2024, "Deep Unlearning: Fast and Efficient Gradient-free Class Forgetting" (TMLR; arXiv
    2312.00761). For every convolution and linear layer (the classifier included), the input activations of a
    small retain sample R_r and forget sample R_f are decomposed, R = U S Vᵀ; each singular direction gets the
    importance α r / ((α − 1) r + 1) of its energy fraction r = s² / Σ s², giving the scaled retain and forget
    spaces M_r = U_r Λ_r U_rᵀ (α_r) and M_f = U_f Λ_f U_fᵀ (α_f). The class-discriminatory space is the forget
    space minus what it shares with the retain space, M_f − M_f M_r, and the weights are projected off it:
    W ← W Pᵀ with P = I − (M_f − M_f M_r) (convolution weights flattened to out × in·kh·kw). Biases and
    BatchNorm are left as they are; no gradient is computed and no optimizer step is taken.

    Official code (github.com/sangamesh-kodge/class_forgetting): ``main.py`` ``our_unlearn`` and
    ``get_projection_matrix`` (lines 589–630): model in eval mode ("ensures batch statistics do not change"),
    ``our_samples // (classes − 1)`` retain samples per retain class and up to ``our_samples`` forget samples,
    each in one forward batch through the original model; ``models/model_utils.py`` lines 12–71 (activation
    matrices, SVD, scaled importance; at most ``our_max_patches`` = 10000 patch rows per conv layer, from one
    random 3k × 3k window of each feature map wider than 3k); ``models/resnet.py`` / ``models/vgg.py``
    ``project_weights`` (every conv and the classifier). Defaults: ``scripts/our_cifar10.sh`` (α_r = 100,
    α_f = 3, 900 samples; also ``main.py``'s argparse defaults); CIFAR-100 uses α_r = 1000, α_f = 30, 990
    samples; ImageNet α_r = 100, α_f = 10, 999 samples. The activation samples pass through the training
    transform (random crop + flip) as in the reference (``args.train_transform`` is on by default).

    Implementation notes and deviations: layers are found with forward hooks on every ``nn.Conv2d`` /
    ``nn.Linear`` instead of hand-written per-architecture walks (the same layers for the reference's
    VGG/ResNets; for a timm ViT the ``qkv``/``proj``/MLP linears, as the reference's ViT, with tokens
    subsampled to ``max_patches`` rows); grouped convolutions are left untouched. U and s² come from the
    eigendecomposition of R Rᵀ (float64) instead of an SVD of R — the same M. The retain sample is a seeded
    random choice per class (the reference takes the first ones in dataset order), the forget sample a seeded
    random subset of D_f; with several forget classes the retain classes are all the others. Class
    forgetting only: the forget and retain spaces are class spaces.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md): the
    #: CIFAR-10 default, a stronger forget space (α_f ↑) and the CIFAR-100 retain scaling α_r = 1000
    tuning_grid: ClassVar[dict[str, tuple]] = {"alpha_f": (3.0, 10.0, 30.0), "alpha_r": (100.0, 1000.0)}

    supports = frozenset({"class"})

    alpha_r: float = hparam(100.0, gt=0, help="α_r: scaling of the retain importance space (reference 100)")
    alpha_f: float = hparam(3.0, gt=0, help="α_f: scaling of the forget importance space (reference 3)")
    samples: int = hparam(900, ge=1, help="activation samples: samples // #retain classes per retain class, up "
                                          "to `samples` forget samples (reference 900)")
    max_patches: int = hparam(10000, ge=1, help="rows (conv patches / tokens) per layer for the SVD (reference "
                                                "10000)")
    augment: bool = hparam(True, help="pass the samples through the training augmentation, as the reference")

    def unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        forget_classes = require_class_forgetting(task, type(self).name)
        t0 = time.perf_counter()
        gen = make_generator(task.seed, "svd_forget/samples")
        retain_classes = [c for c in sorted(set(int(c) for c in task.retain.labels)) if c not in forget_classes]
        per_class = max(1, self.samples // max(1, len(retain_classes)))
        retain = task.retain.subset(per_class_sample(task.retain, retain_classes, per_class, gen))
        order = torch.randperm(len(task.forget), generator=gen).numpy()
        forget = task.forget.subset(np.sort(order[:self.samples]))
        if len(retain) == 0 or len(forget) == 0:
            raise ValueError("svd_forget needs retain and forget samples")
        was_training = model.training
        model.eval()  # the reference: "Ensures batch statistics do not change"
        kwargs = dict(device=task.device, max_rows=self.max_patches, augment=self.augment)
        retain_grams, skipped = activation_grams(model, retain, seed=derive_seed(task.seed, "svd_forget/retain"),
                                                 **kwargs)
        forget_grams, _ = activation_grams(model, forget, seed=derive_seed(task.seed, "svd_forget/forget"), **kwargs)
        modules = dict(model.named_modules())
        projected, removed = [], {}
        with torch.no_grad():
            updates = {}
            for name, gram_r in retain_grams.items():
                gram_f = forget_grams[name]
                if not (torch.isfinite(gram_r).all() and torch.isfinite(gram_f).all()):
                    raise Diverged(0, float("nan"))  # non-finite activations: the model's weights are broken
                m_r = scaled_importance_space(gram_r, self.alpha_r)
                m_f = scaled_importance_space(gram_f, self.alpha_f)
                discriminative = m_f - m_f @ m_r
                updates[name] = torch.eye(len(m_f), dtype=m_f.dtype, device=m_f.device) - discriminative
                removed[name] = float(torch.linalg.matrix_norm(discriminative, ord=2))
            for name, projection in updates.items():  # every space from the original model, then all updates
                weight = modules[name].weight
                flat = weight.detach().reshape(weight.shape[0], -1).double()
                weight.copy_((flat @ projection.T).reshape(weight.shape).to(weight.dtype))
                projected.append(name)
        model.train(was_training)
        for p in model.parameters():
            if not torch.isfinite(p).all():
                raise Diverged(0, float("nan"))
        seconds = time.perf_counter() - t0
        images = len(retain) + len(forget)
        entry = {"epoch": 1, "seconds": seconds, "img_per_s": images / max(1e-9, seconds),
                 **monitor_accuracies(model, task)}
        return model, {"curve": [entry], "steps": 0, "images": images, "retain_samples": len(retain),
                       "forget_samples": len(forget), "projected_layers": projected, "skipped_layers": skipped,
                       "discriminative_norm": removed}
