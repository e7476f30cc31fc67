"""Head-only unlearning: a sanity baseline that changes the logits and nothing else."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch, no_grad  # imported when a method runs

from unlearnbench.methods.base import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import UnlearnLoop, make_generator, random_labels, random_subset
from unlearnbench.methods.random_label import LABEL_POOLS
from unlearnbench.training import TrainConfig, sgd


@register_method("last_layer")
@dataclass
class LastLayer(UnlearningMethod):
    """Last-layer random labelling: only the classifier head is trained; the feature extractor is frozen.

    A sanity baseline of this benchmark, not a published method: the RL objective (Golatkar et al. 2020,
    CVPR; see :class:`~unlearnbench.methods.random_label.RandomLabel`) — CE on D_r plus D_f with fresh random
    wrong labels every epoch — optimised over ``model.get_classifier()`` only. The rest of the network is
    held in eval mode, so every other parameter *and* every BatchNorm running statistic stays bit-identical:
    forget accuracy can drop to chance while the representations are exactly the original ones, which is
    what the representation metrics of unlearnbench must detect (cf. Kim, Cha & Kim 2025, "Are We Truly
    Forgetting?", arXiv 2503.06991).

    Because the backbone is frozen, the pre-logit features of D_f and of D_r (or of a seeded
    ``retain_fraction`` of it, a budget cap for small runs) are computed once (no augmentation) and the head
    is trained on them with constant-lr SGD (:func:`unlearnbench.heads.train_head`); the per-epoch monitor
    accuracies are computed from cached features of the monitor sets too (identical to a full forward). Not a
    published method: its defaults (20 epochs, lr 0.05, batch 64, momentum 0.9, weight decay 5e-4) are this
    benchmark's, and the forget/retain images it forwards are the one feature pass
    (``forget_images_seen``/``retain_images_seen``).
    """

    #: searched by the tune stage (logit-only criterion on the validation split; see docs/tuning.md)
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (0.05, 0.2)}

    epochs: int = hparam(20, ge=1, help="passes over the cached forget + retain features")
    lr: float = hparam(0.05, gt=0, help="constant SGD learning rate of the head")
    batch_size: int = hparam(64, ge=1, help="mini-batch size")
    retain_fraction: float = hparam(1.0, gt=0, le=1, help="budget cap: seeded fraction of D_r whose features are "
                                                           "cached once and used every epoch (1 = all of D_r)")
    label_pool: str = hparam("other", choices=LABEL_POOLS, help="where random labels of D_f are drawn from")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(5e-4, ge=0, help="SGD weight decay of the head")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        # imported here: importing the method registry loads every method module in every unlearn job
        from unlearnbench.heads import penultimate_features, train_head

        model.eval()
        head = model.get_classifier()
        retain = random_subset(task.retain, self.retain_fraction, task.seed, "retain_subset")
        features = torch.cat([penultimate_features(model, task.forget, task.device),
                              penultimate_features(model, retain, task.device)])
        n_forget = len(task.forget)
        retain_labels = torch.from_numpy(retain.labels).to(task.device)
        cfg = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
                          weight_decay=self.weight_decay, schedule="constant", augment=False)
        monitor_sets = {name: (penultimate_features(model, subset, task.device),
                               torch.from_numpy(subset.labels).to(task.device))
                        for name, subset in task.monitor.items()}

        @no_grad
        def monitor() -> dict[str, float]:  # == training.accuracy: the frozen backbone gives the same features
            return {f"{name}_acc": float((head(f).argmax(1) == y).float().mean()) if len(y) else float("nan")
                    for name, (f, y) in monitor_sets.items()}

        def labels(epoch: int) -> torch.Tensor:  # fresh random labels of D_f every epoch, D_r's own
            forget_labels = torch.from_numpy(random_labels(task.forget.labels, task, self.label_pool, epoch))
            return torch.cat([forget_labels.to(task.device), retain_labels])

        loop = UnlearnLoop(model, task, sgd(head.parameters(), cfg), desc=type(self).name, monitor=monitor)
        train_head(head, features, labels, cfg, loop=loop,
                   order=lambda epoch: torch.randperm(len(features), generator=make_generator(task.seed,
                                                                                           f"order/{epoch}")))
        return model, loop.log(features_cached=int(len(features)), forget_samples=n_forget)
