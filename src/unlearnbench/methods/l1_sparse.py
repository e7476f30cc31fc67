"""l1-sparse unlearning: fine-tuning on the retain set with a linearly decaying l1 penalty."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

from unlearnbench._lazy import torch  # imported when a method runs

from unlearnbench.methods.base import hparam, register_method
from unlearnbench.methods.finetune import Finetune


def l1_norm(model: torch.nn.Module) -> torch.Tensor:
    """‖θ‖₁ over all parameters (as ``l1_regularization`` of the reference code)."""
    return torch.stack([p.abs().sum() for p in model.parameters()]).sum()


@register_method("l1_sparse")
@dataclass
class L1Sparse(Finetune):
    """l1-sparse MU: fine-tune on D_r with loss CE + γ_t·‖θ‖₁, γ_t decaying linearly from γ to 0.

    Jia et al. 2023, "Model Sparsity Can Simplify Machine Unlearning" (NeurIPS; arXiv 2304.04934), the
    "sparsity-aware unlearning" of §4: the l1 penalty pushes weights that only served D_f towards zero
    while the CE on D_r keeps utility. Reference code (``FT_l1`` in OPTML-Group/Unlearn-Sparse and
    Unlearn-Saliency): ``current_alpha = alpha · (1 − epoch / unlearn_epochs)`` over all parameters,
    lr 0.01, 10 epochs, SGD momentum 0.9, weight decay 5e-4. γ default 5e-4 (the value given for this
    benchmark; the README passes ``--alpha`` per experiment).

    Implemented on :class:`Finetune` through ``train_model``'s ``extra_loss`` hook, so the same budget
    deviations apply (3 epochs on a 0.2 fraction of D_r, batch 64, cosine lr); the decay of γ is per step
    (``γ·(1 − progress)``), the continuous form of the reference's per-epoch linear decay.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (0.01, 0.04), "l1_weight": (5e-4, 1e-3)}

    l1_weight: float = hparam(5e-4, ge=0, help="initial l1 coefficient γ, decayed linearly to 0 over training")

    def extra_loss(self, model: torch.nn.Module) -> Callable[[torch.nn.Module, float], torch.Tensor]:
        gamma = self.l1_weight

        def penalty(net: torch.nn.Module, progress: float) -> torch.Tensor:
            return gamma * (1.0 - progress) * l1_norm(net)

        return penalty
