"""Membership-inference attacks on the forget set: SalUn's SVC attack and the loss-threshold attack."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from unlearnbench.metrics.base import (EvalContext, Metric, all_finite, check_choice, check_float, check_int,
                                       register_metric)

__all__ = ["MIA", "attack_features", "log_softmax", "loss_threshold_auc", "svc_mia_efficacy"]

_VARIANTS = ("svc", "loss_threshold")
_ATTACK_FEATURES = ("confidence", "entropy", "m_entropy")  # the default set
_ALLOWED_FEATURES = (*_ATTACK_FEATURES, "correctness")
_NONMEMBERS = ("auto", "forget_test", "retain_test", "test")
_LOG_EPS = 1e-30  # floor inside log(1 - p_i) for p_i == 1 (as in SalUn's m_entropy)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def attack_features(logits: np.ndarray, labels: np.ndarray,
                    names: Sequence[str] = _ATTACK_FEATURES) -> np.ndarray:
    """Per-sample attack features (n, len(names)) from the softmax p of the logits and the true label y.

    - ``confidence``  p_y
    - ``entropy``     H(p) = −Σ_i p_i log p_i
    - ``m_entropy``   Mentr(p, y) = −(1 − p_y) log p_y − Σ_{i≠y} p_i log(1 − p_i)   (Song & Mittal 2021,
      "Systematic Evaluation of Privacy Risks of Machine Learning Models", USENIX Security, eq. 4);
      log(1 − p_i) is floored at log(1e-30).
    - ``correctness`` 1[argmax_i p_i = y]  (the single feature reported by the UUEF reference code)
    """
    logp = log_softmax(logits)
    p = np.exp(logp)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels))
    p_y, logp_y = p[rows, labels], logp[rows, labels]
    cols = []
    for name in names:
        if name == "confidence":
            cols.append(p_y)
        elif name == "entropy":
            cols.append(-(p * logp).sum(axis=1))
        elif name == "m_entropy":
            t = p * np.log(np.maximum(1.0 - p, _LOG_EPS))
            t[rows, labels] = 0.0
            cols.append(-(1.0 - p_y) * logp_y - t.sum(axis=1))
        elif name == "correctness":
            cols.append((np.argmax(logp, axis=1) == labels).astype(np.float64))
        else:
            raise ValueError(f"attack feature must be one of {list(_ALLOWED_FEATURES)}, got {name!r}")
    return np.stack(cols, axis=1)


def svc_mia_efficacy(shadow_in: np.ndarray, shadow_out: np.ndarray, target: np.ndarray, *, C: float = 3.0,
                     gamma: str | float = "auto", standardize: bool = True) -> float:
    """Fraction of ``target`` rows that an RBF SVC, trained on shadow members (label 1) vs non-members
    (label 0), predicts as non-members (SalUn's "MIA-Efficacy"; higher = forget set looks unseen)."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x = np.concatenate([shadow_in, shadow_out])
    y = np.concatenate([np.ones(len(shadow_in)), np.zeros(len(shadow_out))])
    t = np.asarray(target, dtype=np.float64)
    if standardize:
        scaler = StandardScaler().fit(x)
        x, t = scaler.transform(x), scaler.transform(t)
    clf = SVC(C=C, gamma=gamma, kernel="rbf").fit(x, y)
    return float(np.mean(clf.predict(t) == 0))


def loss_threshold_auc(member_loss: np.ndarray, nonmember_loss: np.ndarray) -> float:
    """ROC-AUC of the score −loss for members (positives) vs non-members (Yeom et al. 2018)."""
    from sklearn.metrics import roc_auc_score

    y = np.concatenate([np.ones(len(member_loss)), np.zeros(len(nonmember_loss))])
    return float(roc_auc_score(y, -np.concatenate([member_loss, nonmember_loss])))


@register_metric("mia")
class MIA(Metric):
    """Membership inference against the forget-train set; one row per attack in ``variants``.

    **svc** (SalUn: Fan et al., ICLR 2024, following Jia et al., NeurIPS 2023 "Model Sparsity Can Simplify
    Machine Unlearning", and Song & Mittal 2021): shadow members = a seeded random subset of retain-train
    of size ``n_sh = min(n_shadow, |retain_train|, |retain_test|)``; shadow non-members = a seeded subset of
    the same size of retain_test (retain-class test data; for sample forgetting the whole test set). Each
    sample is described by :func:`attack_features` (``attack_features`` param; default confidence, entropy and
    modified entropy together), standardised with statistics of the shadow set (``standardize``), and an
    ``SVC(C=svc_C, gamma=svc_gamma, kernel="rbf")`` is fit on the balanced shadow set. The value is
    **MIA-Efficacy** = fraction of forget-train samples predicted *non-member* — higher means better
    forgetting; the retrained model gives the target level. SalUn's reported number uses the single
    ``confidence`` feature without standardisation (``attack_features=("confidence",), standardize=False``);
    the UUEF reference code of Kim et al. reports the ``correctness`` feature (``("correctness",)``).
    Row: evalset ``train``, split ``forget_train``, variant ``svc``.

    **loss_threshold** (Yeom et al., CSF 2018, "Privacy Risk in Machine Learning"): ROC-AUC of the
    threshold attack score −CE(x, y) separating forget-train samples (positives) from held-out non-members.
    Non-members (``nonmembers``): ``"auto"`` = forget_test when non-empty (same classes, never trained on:
    class forgetting) else retain_test (sample forgetting: the whole test set); or explicitly
    ``forget_test`` / ``retain_test`` / ``test`` (forget_test ∪ retain_test). AUC ≈ 0.5: forget samples are
    indistinguishable from unseen data; → 1: still memorised. Row: evalset ``train``, split
    ``forget_train_vs_<nonmember set>``, variant ``loss_threshold``.

    Seeds: ``seed=None`` uses ``ctx.seed``. Empty required sets -> no row; non-finite logits -> NaN.
    Parameters: ``variants`` ⊆ ("svc", "loss_threshold"); ``n_shadow`` >= 1; ``svc_C`` > 0; ``svc_gamma``
    "auto" | "scale" | float > 0; ``attack_features`` non-empty ⊆ (confidence, entropy, m_entropy, correctness);
    ``standardize`` bool; ``nonmembers`` in ("auto", "forget_test", "retain_test", "test"); ``seed`` None | >= 0.
    """

    def __init__(self, *, variants: Sequence[str] = _VARIANTS, n_shadow: int = 5000, svc_C: float = 3.0,
                 svc_gamma: str | float = "auto", attack_features: Sequence[str] = _ATTACK_FEATURES,
                 standardize: bool = True, nonmembers: str = "auto", seed: int | None = None) -> None:
        self.variants = (variants,) if isinstance(variants, str) else tuple(variants)
        if not self.variants or any(v not in _VARIANTS for v in self.variants):
            raise ValueError(f"variants must be a non-empty subset of {list(_VARIANTS)}, got {variants!r}")
        self.n_shadow = check_int("n_shadow", n_shadow, 1)
        self.svc_C = check_float("svc_C", svc_C, 0.0, lo_open=True)
        if isinstance(svc_gamma, str):
            self.svc_gamma = check_choice("svc_gamma", svc_gamma, ("auto", "scale"))
        else:
            self.svc_gamma = check_float("svc_gamma", svc_gamma, 0.0, lo_open=True)
        feats = (attack_features,) if isinstance(attack_features, str) else tuple(attack_features)
        if not feats or any(f not in _ALLOWED_FEATURES for f in feats) or len(set(feats)) != len(feats):
            raise ValueError(f"attack_features must be a non-empty subset of {list(_ALLOWED_FEATURES)} without "
                             f"repeats, got {attack_features!r}")
        self.attack_features = feats
        if not isinstance(standardize, bool):
            raise ValueError(f"standardize must be True or False, got {standardize!r}")
        self.standardize = standardize
        self.nonmembers = check_choice("nonmembers", nonmembers, _NONMEMBERS)
        self.seed = None if seed is None else check_int("seed", seed, 0)

    def evaluate(self, ctx: EvalContext) -> list[dict]:
        train, test = ctx.get("model", "train"), ctx.get("model", "test")
        if train is None or test is None or len(ctx.forget_train_idx) == 0:
            return []
        rng = np.random.default_rng(ctx.seed if self.seed is None else self.seed)
        rows = []
        if "svc" in self.variants:
            value = self._svc(ctx, train, test, rng)
            if value is not None:
                rows.append(self.row(variant="svc", evalset="train", split="forget_train", value=value))
        if "loss_threshold" in self.variants:
            res = self._loss(ctx, train, test)
            if res is not None:
                rows.append(self.row(variant="loss_threshold", evalset="train", split=f"forget_train_vs_{res[0]}",
                                     value=res[1]))
        return rows

    def _svc(self, ctx, train, test, rng) -> float | None:
        rtr, rte = ctx.retain_train_idx, ctx.retain_test_idx
        n_sh = min(self.n_shadow, len(rtr), len(rte))
        if n_sh == 0:
            return None
        shadow_in = np.sort(rng.choice(rtr, size=n_sh, replace=False))
        shadow_out = np.sort(rng.choice(rte, size=n_sh, replace=False))
        logits = [train.logits[shadow_in], test.logits[shadow_out], train.logits[ctx.forget_train_idx]]
        if not all_finite(*logits):
            return float("nan")
        f_in, f_out, f_tgt = (attack_features(z, y, self.attack_features) for z, y in
                              zip(logits, [train.labels[shadow_in], test.labels[shadow_out],
                                           train.labels[ctx.forget_train_idx]]))
        return svc_mia_efficacy(f_in, f_out, f_tgt, C=self.svc_C, gamma=self.svc_gamma,
                                standardize=self.standardize)

    def _loss(self, ctx, train, test) -> tuple[str, float] | None:
        which = self.nonmembers
        if which == "auto":
            which = "forget_test" if len(ctx.forget_test_idx) else "retain_test"
        idx = {"forget_test": ctx.forget_test_idx, "retain_test": ctx.retain_test_idx,
               "test": np.union1d(ctx.forget_test_idx, ctx.retain_test_idx)}[which]
        if len(idx) == 0:
            return None
        zm, ym = train.logits[ctx.forget_train_idx], train.labels[ctx.forget_train_idx]
        zn, yn = test.logits[idx], test.labels[idx]
        if not all_finite(zm, zn):
            return which, float("nan")
        loss_m = -log_softmax(zm)[np.arange(len(ym)), ym]
        loss_n = -log_softmax(zn)[np.arange(len(yn)), yn]
        return which, loss_threshold_auc(loss_m, loss_n)
