"""l1-sparse unlearning: fine-tuning on the retain set with a linearly decaying l1 penalty."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unlearnbench._lazy import torch  # imported when a method runs

from unlearnbench.methods.base import hparam, register_method
from unlearnbench.methods.finetune import Finetune


def l1_norm(model: torch.nn.Module) -> torch.Tensor:
    """‖θ‖₁ over all parameters (as ``l1_regularization`` of the reference code)."""
    return torch.stack([p.abs().sum() for p in model.parameters()]).sum()


@register_method("l1_sparse")
@dataclass
class L1Sparse(Finetune):
    """l1-sparse MU: fine-tune on D_r with loss CE + γ_e·‖θ‖₁, γ_e decaying linearly from γ to 0.

    Jia et al. 2023, "Model Sparsity Can Simplify Machine Unlearning" (NeurIPS; arXiv 2304.04934), the
    "sparsity-aware unlearning" of §4: the l1 penalty pushes weights that only served D_f towards zero
    while the CE on D_r keeps utility. Reference code ``FT_l1`` (github.com/OPTML-Group/Unlearn-Saliency
    ``Classification/unlearn/FT.py`` L13-17, L124-134; same in OPTML-Group/Unlearn-Sparse): in epoch e
    (0-based) of E, ``current_alpha = alpha · (1 − e / E)`` (``no_l1_epochs`` = 0) times ‖θ‖₁ over all
    parameters, added to the CE of every batch; the rest is FT's recipe (:class:`Finetune`: lr 0.01, 10
    epochs, batch 256, SGD momentum 0.9, weight decay 5e-4, constant lr, full passes over D_r). γ default
    5e-4: the code's ``--alpha`` is passed per experiment (Unlearn-Sparse ``README.MD`` L86); 5e-4 is the
    value this benchmark uses (the tuning grid also tries 1e-3).
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (0.01, 0.04), "l1_weight": (5e-4, 1e-3)}

    l1_weight: float = hparam(5e-4, ge=0, help="initial l1 coefficient γ, decayed linearly to 0 over the epochs")

    def regulariser(self, model: torch.nn.Module, epoch: int) -> torch.Tensor:
        return self.l1_weight * (1.0 - epoch / self.epochs) * l1_norm(model)
