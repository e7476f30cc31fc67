"""Selective Synaptic Dampening (SSD): training-free dampening of forget-specific parameters."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import concat_sets, gradient_statistics, monitor_accuracies, random_subset


def fisher_importance(model: torch.nn.Module, data, *, batch_size: int,
                      device: torch.device) -> dict[str, torch.Tensor]:
    """Diagonal Fisher importance []: the mean over mini-batches of the squared batch-mean CE gradient."""
    sums, batches = gradient_statistics(model, data, batch_size=batch_size, device=device,
                                        statistic=lambda g: g.pow(2))
    return {n: s / max(1, batches) for n, s in sums.items()}


@register_method("ssd")
@dataclass
class SelectiveSynapticDampening(UnlearningMethod):
    """SSD: dampen the parameters far more important to the forget set than to the training data.

    Foster, Schoepf & Brintrup 2024, "Fast Machine Unlearning Without Retraining Through Selective Synaptic
    Dampening" (AAAI; arXiv 2308.07707). With diagonal Fisher importances []_D (training data) and []_Df
    (forget set), every parameter with []_Df > α·[]_D is scaled by β = min(λ·[]_D / []_Df, 1); no gradient
    step is taken. Defaults of the authors' code (github.com/if-loops/selective-synaptic-dampening):
    α = ``selection_weighting`` = 10 and λ = ``dampening_constant`` = 1 (``src/forget_full_class_main.py``
    L176-177), exponent 1 and bound 1 (``src/forget_full_class_strategies.py`` L660-669), batch 64
    (``forget_full_class_main.py`` L58); importances are the mean over batches of the squared batch-mean CE
    gradient (``src/ssd.py`` L151-180, float32: no autocast here either), in eval mode (strategies L676:
    BatchNorm statistics untouched), over every parameter, with D = D_r ∪ D_f unshuffled (their
    ``full_train_dl``, main L154-157); the dampening is ``ssd.py`` L199-217.

    A parameter used only by D_f has []_Df/[]_D ≈ #batches(D)/#batches(D_f) = |D|/|D_f| at most (unshuffled
    batches), so selection needs α < |D|/|D_f|: α = 10 was set for forget sets of 1–5 % of the data, and
    on the embedded default's 2 of 16 classes (ratio 8) it selects nothing — the embedded config sets α
    (config.yaml) and the tune stage searches it. When nothing is selected the model is returned unchanged
    and the run's status is ``no_op`` (never a silent ``ok``); ``selected_fraction`` (of all parameter
    entries) is in the sidecar and the result rows. ``train_fraction`` < 1 estimates []_D on a seeded random
    fraction of D_r ∪ D_f (a budget cap, noisier); []_Df always uses the whole forget set.
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"selection_weighting": (2.0, 4.0, 6.0, 10.0)}

    selection_weighting: float = hparam(10.0, gt=0, help="α: select parameters with []_Df > α·[]_D (code: 10)")
    dampening_constant: float = hparam(1.0, gt=0, help="λ: scale selected parameters by min(λ·[]_D/[]_Df, 1)")
    batch_size: int = hparam(64, ge=1, help="mini-batch size of the importance passes (reference: 64)")
    train_fraction: float = hparam(1.0, gt=0, le=1, help="budget cap: seeded fraction of D_r ∪ D_f used for []_D "
                                                           "(1 = all, the published recipe)")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        t0 = time.perf_counter()
        full = random_subset(concat_sets(task.retain, task.forget), self.train_fraction, task.seed, "ssd_full")
        forget_importance = fisher_importance(model, task.forget, batch_size=self.batch_size, device=task.device)
        full_importance = fisher_importance(model, full, batch_size=self.batch_size, device=task.device)
        selected = total = 0
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name not in forget_importance:
                    continue
                f_imp, d_imp = forget_importance[name], full_importance[name]
                chosen = f_imp > self.selection_weighting * d_imp
                factor = (self.dampening_constant * d_imp / f_imp.clamp_min(torch.finfo(f_imp.dtype).tiny))
                param.mul_(torch.where(chosen, factor.clamp(max=1.0), torch.ones_like(factor)).to(param.dtype))
                selected += int(chosen.sum())
                total += param.numel()
        seconds = time.perf_counter() - t0
        images = len(task.forget) + len(full)
        fraction = selected / max(1, total)
        entry = {"epoch": 1, "selected_fraction": fraction, "seconds": seconds,
                 "img_per_s": images / max(1e-9, seconds), **monitor_accuracies(model, task)}
        log = {"curve": [entry], "steps": 0, "images": images, "selected": selected, "selected_fraction": fraction,
               "train_used": len(full)}
        if selected == 0:
            ratio = len(full) / max(1, len(task.forget))
            log["no_op_reason"] = (f"SSD selected no parameters: no importance ratio []_Df/[]_D exceeds α = "
                                   f"{self.selection_weighting:g} (|D|/|D_f| = {ratio:.3g})")
        return model, log
