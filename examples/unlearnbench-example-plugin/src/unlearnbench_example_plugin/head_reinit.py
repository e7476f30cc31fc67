"""``head_reinit``: reinitialise the forgotten classes' classifier rows, then fine-tune the head on D_r."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearnbench._lazy import torch  # imported when the method runs (listings stay fast)

from unlearnbench.heads import penultimate_features, train_head
from unlearnbench.methods import UnlearningMethod, UnlearnTask, hparam, register_method
from unlearnbench.methods.common import UnlearnLoop, make_generator, random_subset, require_class_forgetting
from unlearnbench.training import TrainConfig, sgd


@register_method("head_reinit")
@dataclass
class HeadReinit(UnlearningMethod):
    """Head reinitialisation: reset the forgotten classes' classifier rows and fine-tune the head on D_r.

    An example of an unlearnbench plugin, not a published method. The rows of ``model.get_classifier()``
    belonging to the forgotten classes are redrawn from N(0, ``init_std``²) (bias 0), then the whole head is
    trained with cross-entropy on the pre-logit features of D_r (or a seeded ``retain_fraction`` of it) for
    ``epochs`` passes; the backbone is frozen and held in eval mode, so every other weight and BatchNorm
    statistic is unchanged — like ``last_layer``, a model that forgets in its logits only, which the
    representation metrics should see through. Class forgetting only.
    """

    supports: ClassVar[frozenset[str]] = frozenset({"class"})
    tuning_grid: ClassVar[dict[str, tuple]] = {"lr": (0.01, 0.05)}

    epochs: int = hparam(1, ge=1, help="passes over the cached retain features")
    lr: float = hparam(0.01, gt=0, help="constant SGD learning rate of the head")
    batch_size: int = hparam(64, ge=1, help="mini-batch size")
    init_std: float = hparam(0.01, gt=0, help="standard deviation of the redrawn classifier rows")
    retain_fraction: float = hparam(1.0, gt=0, le=1, help="seeded fraction of D_r used (1 = all of it)")
    momentum: float = hparam(0.9, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = hparam(5e-4, ge=0, help="SGD weight decay of the head")

    def unlearn(self, model: torch.nn.Module, task: UnlearnTask) -> tuple[torch.nn.Module, dict[str, Any]]:
        classes = require_class_forgetting(task, type(self).name)
        model.eval()
        head = model.get_classifier()
        gen = make_generator(task.seed, "head_reinit/rows")
        with torch.no_grad():
            rows = torch.randn((len(classes), head.weight.shape[1]), generator=gen) * self.init_std
            head.weight[classes] = rows.to(head.weight)
            if head.bias is not None:
                head.bias[classes] = 0.0
        retain = random_subset(task.retain, self.retain_fraction, task.seed, "retain_subset")
        features = penultimate_features(model, retain, task.device)
        labels = torch.from_numpy(retain.labels).to(task.device)
        cfg = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
                          weight_decay=self.weight_decay, schedule="constant", augment=False)
        loop = UnlearnLoop(model, task, sgd(head.parameters(), cfg), desc=type(self).name)
        train_head(head, features, labels, cfg, loop=loop,  # the library's head loop, stepped by this run's loop
                   order=lambda epoch: torch.randperm(len(labels), generator=make_generator(task.seed,
                                                                                          f"order/{epoch}")))
        return model, loop.log(reinitialised_classes=classes)
