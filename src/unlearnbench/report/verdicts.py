"""One-word verdicts on an unlearning method, judged against the retrained model (the gold reference).

All comparisons use the per-scenario means over seeds from the summary (``mean`` column). Let *r* be the
retrained model's value of a quantity and *o* the original's. Thresholds (:class:`Thresholds`, defaults):

``tau_logit`` = 0.15
    Largest tolerated |forget accuracy − r|, in accuracy units. The forget accuracy is
    ``forget_test_acc`` when classes are forgotten (kinds ``random``, ``top``: the retrained model has never
    seen those classes, so generalisation to their test images is what must vanish) and
    ``forget_train_acc`` when samples are forgotten (kind ``samples``: the forgotten classes are still
    learnt, so only the forgotten training images themselves can tell).
``cka_fraction`` = 0.5
    Representation kept ≈ original when CKA-to-original (pre-logits, forget-train) ≥
    r_cka + cka_fraction·(1 − r_cka), where r_cka is the retrained model's CKA to the original: with 0.5 the
    method sits closer to the original (CKA 1) than to where retraining lands.
``probe_margin`` = 0.15
    A linear probe re-trained on frozen features recovers the forgotten classes "far above" the retrained
    model when its forget-test accuracy exceeds r by more than this (accuracy units).
``knn_margin`` = 0.05
    Downstream k-NN accuracy damaged when, on any downstream set, it is below min(o, r) by more than this.

Verdicts, in order of precedence (the first that applies wins):

1. ``reference`` — the original and retrained rows themselves.
2. ``diverged`` — the method's status is not ``ok`` (NaN/inf loss or weights in any seed).
3. ``did not forget`` — |forget accuracy − r| > tau_logit (logit-level forgetting fails; nothing else
   matters).
4. ``superficial`` — logits match retrain (step 3 passed) but the representation still holds the classes:
   CKA-to-original above the ``cka_fraction`` point, or probe recovery above r + probe_margin.
5. ``representation-damaging`` — downstream k-NN below both references by more than knn_margin.
6. ``close to retrain`` — none of the above: logit gap small and the representation near retrain.

A criterion whose inputs are missing (NaN, no retrain row) is not triggered; when even the forget
accuracy or its retrain reference is missing the verdict is ``—`` (undetermined) with the reason.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

import pandas as pd

from unlearnbench.report.layout import REFERENCE_ROWS

REFERENCE = "reference"
DIVERGED = "diverged"
NOT_FORGOTTEN = "did not forget"
SUPERFICIAL = "superficial"
DAMAGING = "representation-damaging"
CLOSE = "close to retrain"
UNDETERMINED = "—"
VERDICTS = (REFERENCE, DIVERGED, NOT_FORGOTTEN, SUPERFICIAL, DAMAGING, CLOSE, UNDETERMINED)
SAMPLE_KINDS = ("samples",)


@dataclass(frozen=True)
class Thresholds:
    tau_logit: float = 0.15
    cka_fraction: float = 0.5
    probe_margin: float = 0.15
    knn_margin: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self) -> str:
        return (f"τ_logit = {self.tau_logit:g}, CKA fraction = {self.cka_fraction:g}, "
                f"probe margin = {self.probe_margin:g}, k-NN margin = {self.knn_margin:g}")


DEFAULT_THRESHOLDS = Thresholds()


def forget_quantity(kind: str) -> str:
    """The accuracy that must drop: forget-train for sample forgetting, forget-test for class forgetting."""
    return "forget_train_acc" if kind in SAMPLE_KINDS else "forget_test_acc"


def _get(row: Mapping[str, float] | None, key: str) -> float:
    if row is None:
        return math.nan
    val = row.get(key, math.nan)
    try:
        return float(val)
    except (TypeError, ValueError):
        return math.nan


def cka_threshold(retrain: Mapping[str, float] | None, original: Mapping[str, float] | None,
                  th: Thresholds = DEFAULT_THRESHOLDS) -> float:
    """CKA-to-original at or above which a method's representation counts as kept ≈ original."""
    r = _get(retrain, "cka_to_original")
    if math.isnan(r):
        r = _get(original, "cka_to_retrain")
    return r + th.cka_fraction * (1.0 - r)


def verdict(method: str, row: Mapping[str, float] | None, status: str, *, retrain: Mapping[str, float] | None,
            original: Mapping[str, float] | None, kind: str, downstream: list[str],
            th: Thresholds = DEFAULT_THRESHOLDS) -> tuple[str, str]:
    """(verdict, reason) of one method's mean quantities ``row`` against the references' rows."""
    if method in REFERENCE_ROWS:
        return REFERENCE, ("seed-noise floor: the original's recipe from another seed" if method == "original_prime"
                           else "reference model")
    if status != "ok":
        return (DIVERGED, status) if status.startswith("diverged") else (UNDETERMINED, f"status {status}")
    fq = forget_quantity(kind)
    value, ref = _get(row, fq), _get(retrain, fq)
    if math.isnan(value) or math.isnan(ref):
        return UNDETERMINED, f"{fq} {'of retrain ' if math.isnan(ref) else ''}missing"
    gap = abs(value - ref)
    if gap > th.tau_logit:
        return NOT_FORGOTTEN, f"|{fq} − retrain| = {gap:.3f} > {th.tau_logit:g}"
    cka, cka_min = _get(row, "cka_to_original"), cka_threshold(retrain, original, th)
    if cka >= cka_min:
        return SUPERFICIAL, f"CKA to original {cka:.3f} ≥ {cka_min:.3f}"
    probe, probe_ref = _get(row, "probe_forget_test"), _get(retrain, "probe_forget_test")
    if probe - probe_ref > th.probe_margin:
        return SUPERFICIAL, f"probe recovery {probe:.3f} > retrain {probe_ref:.3f} + {th.probe_margin:g}"
    for ds in downstream:
        q = f"knn_{ds}"
        refs = [v for v in (_get(original, q), _get(retrain, q)) if not math.isnan(v)]
        knn = _get(row, q)
        if refs and knn < min(refs) - th.knn_margin:
            return DAMAGING, f"k-NN {ds} {knn:.3f} < references' {min(refs):.3f} − {th.knn_margin:g}"
    return CLOSE, f"|{fq} − retrain| = {gap:.3f} ≤ {th.tau_logit:g}; representation not near original"


def scenario_verdicts(means: pd.DataFrame, status: Mapping[str, str], *, kind: str, downstream: list[str],
                      th: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Verdicts of every method of one scenario. ``means``: methods × quantities (mean over seeds)."""
    rows = {m: means.loc[m].to_dict() for m in means.index}
    out = []
    for method in sorted(set(rows) | set(status)):
        v, why = verdict(method, rows.get(method), status.get(method, "missing"), retrain=rows.get("retrain"),
                         original=rows.get("original"), kind=kind, downstream=downstream, th=th)
        out.append({"method": method, "verdict": v, "verdict_reason": why})
    return pd.DataFrame(out, columns=["method", "verdict", "verdict_reason"]).set_index("method")
