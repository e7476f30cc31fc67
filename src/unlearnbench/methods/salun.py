"""SalUn: random labelling restricted to the weights most salient for the forget loss."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch  # imported when a method runs

from unlearnbench.methods.base import UnlearnTask, hparam, register_method
from unlearnbench.methods.common import ParameterMask, gradient_statistics
from unlearnbench.methods.random_label import RandomLabel


def saliency_mask(model: torch.nn.Module, task: UnlearnTask, *, ratio: float,
                  batch_size: int) -> dict[str, torch.Tensor]:
    """m = 1[|∇θ ℓ_f(θ_o)| among the top ``ratio`` of all weights], ranked globally over every parameter.

    ``∇θ ℓ_f`` is the gradient of the forget-set loss at the original weights, summed over mini-batches
    of batch-mean CE in eval mode, in float32 (SalUn's ``generate_mask.py`` L25-48, which differentiates −CE
    and takes no optimizer step between batches; the sign does not change the magnitude). Exactly
    ``int(ratio · #weights)`` entries are selected (stable ranking; their L57-79 rank the same way).
    """
    sums, _ = gradient_statistics(model, task.forget, batch_size=batch_size, device=task.device,
                                  statistic=lambda g: g, sign=-1.0)
    names = list(sums)
    magnitude = torch.cat([sums[n].abs().flatten() for n in names])
    keep = int(magnitude.numel() * ratio)
    flat = torch.zeros(magnitude.numel(), dtype=torch.bool, device=magnitude.device)
    flat[torch.argsort(magnitude, descending=True, stable=True)[:keep]] = True
    mask, start = {}, 0
    for n in names:
        size = sums[n].numel()
        mask[n] = flat[start:start + size].view_as(sums[n])
        start += size
    return mask


@register_method("salun")
@dataclass
class SalUn(RandomLabel):
    """SalUn: Saliency Unlearning — RL that updates only the salient weights.

    Fan, Liu, Zhang, Wei, Wong & Liu 2024, "SalUn: Empowering Machine Unlearning via Gradient-based Weight
    Saliency in Both Image Classification and Generation" (ICLR; arXiv 2310.12508). Step 1: the weight
    saliency map m_S = 1(|∇θ ℓ_f(θ; D_f)|θ=θ_o| ≥ γ), with γ the threshold that keeps the top
    ``mask_ratio`` (default 0.5, the paper's and code's choice) of all weights — ranked globally over every
    parameter tensor as in their ``generate_mask.py``, not per layer. Step 2: the RL objective (random
    labels on D_f mixed with D_r; see :class:`RandomLabel`, whose hyper-parameters are inherited) with
    θ_u = m_S ⊙ (Δθ + θ_o) + (1 − m_S) ⊙ θ_o.

    Non-salient weights stay bit-identical: their gradients are zeroed after ``backward`` and, because SGD
    weight decay and momentum would still move them, their values are restored and their momentum
    buffers cleared after every step (as ``_apply_mask_to_grads`` / ``_restore_masked_params`` of the SalUn
    code, ``unlearn/RL.py`` L11-34). BatchNorm running statistics are buffers, not weights, and do follow
    the training batches. Defaults: RL's recipe (:class:`RandomLabel`) with lr 0.013 and 10 epochs, the
    SalUn command of their README (``Classification/README.md`` L34, mask ``with_0.5.pt``); the saliency
    batch is their ``--batch_size`` 256. The log records ``mask_fraction`` (= ``selected_fraction`` in
    the result rows). Sources and deviations: docs/methods.md.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md): the
    #: published lr (0.013, SalUn README) down to a quarter of it at factors ≤ 2 (docs/tuning.md), each with the
    #: published mask 0.5 and 0.7
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (3e-3, 6e-3, 0.013), "mask_ratio": (0.5, 0.7)}

    lr: float = hparam(0.013, gt=0, help="constant SGD learning rate (SalUn README: 0.013 with mask 0.5)")
    mask_ratio: float = hparam(0.5, gt=0, le=1, help="fraction of weights (global top |gradient|) that is updated")
    saliency_batch_size: int = hparam(256, ge=1, help="batch size of the forget-gradient pass (SalUn: 256)")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        mask = saliency_mask(model, task, ratio=self.mask_ratio, batch_size=self.saliency_batch_size)
        model, log = self.train_random_labels(model, task, mask=ParameterMask(model, mask))
        selected = sum(int(m.sum()) for m in mask.values())
        log["mask_fraction"] = log["selected_fraction"] = selected / max(1, sum(m.numel() for m in mask.values()))
        return model, log
