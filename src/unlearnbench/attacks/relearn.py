"""Relearning attacks: fine-tune a copy of the model for a few steps and watch forget accuracy come back.

* ``fewshot_relearn`` — fine-tune on ``per_class`` images of each forgotten class plus a fresh batch of
  ``retain_batch`` retain images every step (Chundawat, Tarun, Mandal, Kankanhalli, "Zero-shot machine
  unlearning", IEEE TIFS 2023: relearn time and its ratio to the retrained model's, the Anamnesis Index;
  official code github.com/ayushkumartarun/zero-shot-unlearning ``metrics.relearn_time``: Adam, lr 1e-3,
  accuracy checked after every step, target (1 − 0.05) × the original's forget accuracy).
* ``retain_relearn`` — fine-tune on retain data only, zero forget images (Siddiqui et al., "From Dormant to
  Deleted: Tamper-Resistant Unlearning Through Weight-Space Regularization", arXiv 2505.22310; official code
  github.com/shoaibahmed/vision_relearning): forget accuracy returns for unlearned models but not for the
  retrained one. Defined for sample forgetting too (the paper's setting): recovery is then measured on the
  forget samples themselves.

Every ``eval_every`` steps (and at step 0) the model is scored on the measured split: the curve rows
(``step`` = k). Summary rows: ``relearn_auc`` (mean accuracy over the curve points: area under the
normalised curve) and ``relearn_steps`` (first evaluated step reaching ``target`` × the original's accuracy
on that split; ``steps + eval_every`` when never reached within the budget — a censored value, marked in
the docs and the report as "≥"). ``se`` of a curve point and of the AUC: bootstrap over the scored images.

Budgets are explicit and small (the embedded default runs them on every model): deviations from the papers
(Siddiqui: Adam lr 1e-5 for 100 epochs on a retain fraction with a cosine schedule; Chundawat: up to 10
epochs) are written in docs/attacks.md. Training is seeded and deterministic on CPU; BatchNorm runs in
training mode during the steps and the model is scored in eval mode.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator

import numpy as np

from unlearnbench.attacks.base import ATTACKS, AttackTarget, ModelAttack
from unlearnbench.params import check_float, check_int
from unlearnbench.metrics.probe import per_class_subset
from unlearnbench.metrics.uncertainty import bootstrap_se


def correctness(model, data, device, batch_size: int = 512) -> np.ndarray:
    """Per-image 0/1 correctness of ``model`` on ``data`` (eval mode, no augmentation)."""
    import torch

    from unlearnbench.training import autocast

    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for x, y in data.batches(batch_size, device=device):
            with autocast(device):
                out.append((model(x).argmax(1) == y).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


class RelearnAttack(ModelAttack):
    """The shared relearning loop: Adam at a constant ``lr`` for ``steps`` steps on :meth:`batches`."""

    def _common(self, steps: int, eval_every: int, lr: float, target: float, seed: int | None) -> None:
        self.steps = check_int("steps", steps, 1)
        self.eval_every = check_int("eval_every", eval_every, 1, self.steps)
        self.lr = check_float("lr", lr, 0.0, lo_open=True)
        self.target = check_float("target", target, 0.0, 1.0, lo_open=True)
        self.seed = None if seed is None else check_int("seed", seed, 0)

    def batches(self, target: AttackTarget, seed: int) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def run(self, model, target: AttackTarget) -> list[dict]:
        import torch

        seed = target.seed if self.seed is None else self.seed
        net = copy.deepcopy(model)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        start = target.start if target.start is not None else correctness(net, target.measure, target.device)
        points = {0: start}
        torch.manual_seed(seed)
        batches = self.batches(target, seed)
        for step in range(1, self.steps + 1):
            x, y = next(batches)
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % self.eval_every == 0 or step == self.steps:
                points[step] = correctness(net, target.measure, target.device)
        return self.rows(points, target)

    def rows(self, points: dict[int, np.ndarray], target: AttackTarget) -> list[dict]:
        split, n = target.measure_split, len(target.measure)
        rows = [self.row(evalset=_evalset(split), split=split, value=float(c.mean()) if n else np.nan,
                         se=bootstrap_se(c) if n else np.nan, n=n, step=k) for k, c in sorted(points.items())]
        if not n:
            return rows
        per_image_auc = np.mean(np.stack([c for _, c in sorted(points.items())]), axis=0)
        rows.append(self.row(metric="relearn_auc", evalset=_evalset(split), split=split,
                             value=float(per_image_auc.mean()), se=bootstrap_se(per_image_auc), n=n))
        goal = self.target * target.ceiling
        reached = [k for k, c in sorted(points.items()) if c.mean() >= goal - 1e-12]
        rows.append(self.row(metric="relearn_steps", evalset=_evalset(split), split=split, n=n,
                             value=float(reached[0] if reached else self.steps + self.eval_every)))
        return rows


def _evalset(split: str) -> str:
    return "train" if split.endswith("_train") else "test"


def _cycle(data, batch_size: int, seed: int, device) -> Iterator[tuple[Any, Any]]:
    epoch = 0
    while True:
        yield from data.batches(batch_size, train=False, shuffle=True, seed=seed, epoch=epoch, device=device)
        epoch += 1


@ATTACKS.register("fewshot_relearn")
class FewshotRelearn(RelearnAttack):
    """Fine-tune on ``per_class`` forget-train images of each forgotten class (the whole few-shot set every
    step) plus ``retain_batch`` fresh retain images per step; Adam, constant ``lr`` (AIN's 1e-3), ``steps``
    steps, scored every ``eval_every``; ``target`` the fraction of the original's forget accuracy that counts
    as relearnt (AIN: 0.95). Class forgetting only."""

    def __init__(self, *, per_class: int = 8, retain_batch: int = 32, steps: int = 16, eval_every: int = 2,
                 lr: float = 1e-3, target: float = 0.95, seed: int | None = None) -> None:
        self.per_class = check_int("per_class", per_class, 1)
        self.retain_batch = check_int("retain_batch", retain_batch, 0)
        self._common(steps, eval_every, lr, target, seed)

    def batches(self, target: AttackTarget, seed: int) -> Iterator[tuple[Any, Any]]:
        import torch

        rng = np.random.default_rng(seed)
        pool = target.pool  # forget-train images of the forgotten classes only
        shots = pool.subset(per_class_subset(pool.labels, np.arange(len(pool)), self.per_class, rng))
        xs, ys = next(shots.batches(len(shots), device=target.device))
        retain = _cycle(target.retain, self.retain_batch, seed, target.device) if self.retain_batch else None
        while True:
            if retain is None:
                yield xs, ys
            else:
                xr, yr = next(retain)
                yield torch.cat([xs, xr]), torch.cat([ys, yr])


@ATTACKS.register("retain_relearn")
class RetainRelearn(RelearnAttack):
    """Fine-tune on retain data only (``batch_size`` fresh retain images per step, no forget image); Adam,
    constant ``lr``, ``steps`` steps, scored every ``eval_every``; ``target`` as for ``fewshot_relearn``.
    Class and sample forgetting."""

    scenarios = ("class", "sample")

    def __init__(self, *, batch_size: int = 32, steps: int = 16, eval_every: int = 2, lr: float = 1e-3,
                 target: float = 0.95, seed: int | None = None) -> None:
        self.batch_size = check_int("batch_size", batch_size, 1)
        self._common(steps, eval_every, lr, target, seed)

    def batches(self, target: AttackTarget, seed: int) -> Iterator[tuple[Any, Any]]:
        return _cycle(target.retain, self.batch_size, seed, target.device)
