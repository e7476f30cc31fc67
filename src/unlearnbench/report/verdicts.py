"""One-word verdicts on an unlearning method, read against the noise of every number they compare.

Inputs are the per-scenario summaries over seeds (:func:`unlearnbench.aggregate.summarise_seeds`): for every
method and quantity its ``mean`` and noise (``se_seeds``: seed variance; ``se_eval``: bootstrap over the
evaluated samples). Two values *differ* only when their gap exceeds the **noise band** of the difference,
:func:`unlearnbench.aggregate.difference_band` — the 95 % half-width (``Rule.confidence``) of mean(a) −
mean(b) from both rows' noise, with Welch–Satterthwaite degrees of freedom — plus ``Rule.min_effect``
(default 0: pure noise; raise it to also demand a practical effect size). There is no fixed threshold.

References: *R* the retrained model (the gold standard: it never saw the forget set), *K* the model that
kept the forget set — the seed-noise floor ``original_prime`` (the original's recipe from another seed)
when the experiment has one, else the original. On CKA-to-original the original itself is 1 by
construction, so K is what "kept" looks like once seed noise is accounted for.

Rules, in order of precedence (the first that applies wins):

1. ``reference`` — the original, original′ and retrained rows themselves.
2. ``diverged`` — the method's status is not ``ok`` (NaN/inf loss or weights in any seed). A method that
   changed no weight in some seed (status ``no-op (k/n runs)``, e.g. SSD selecting no parameter) gets ``—``
   with that status as the reason: an unchanged model is never a success, whatever its numbers.
3. ``did not forget`` — the forget accuracy differs from R's beyond the noise band. The forget accuracy is
   ``forget_test_acc`` for class forgetting (the retrained model never saw the classes) and
   ``forget_train_acc`` for sample forgetting (only the forgotten images themselves can tell).
4. ``retain damaged`` — retain-test accuracy below R's beyond the noise band (utility: forgetting by
   breaking the model is no forgetting).
5. ``superficial`` — logits match R but the representation still holds the forget set, on CKA to the
   original (pre-logits, forget-train) or on linear-probe recovery (forget-test; class forgetting only).
   A criterion is *informative* only when the scenario separates its references (|K − R| beyond their
   band); an informative criterion says "kept" when the method is beyond R's band towards K and either at
   least half-way from R to K or within K's band.
6. ``representation-damaging`` — downstream k-NN accuracy below the lower of K and R beyond the band.
7. ``close to retrain`` — none of the above.

``—`` (undetermined) with the reason, instead of any of 3–7, when a number a rule needs is missing (NaN or
absent while its references have it: a missing metric never makes a verdict better), or when no
representation criterion is informative (the scenario cannot separate the references: see
:func:`separation`, which the report prints per scenario). With one seed and no bootstrap (e.g. CKA) the
band is unknown: it is taken as 0 and the reason says "noise not estimated".
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

import pandas as pd

from unlearnbench.aggregate import difference_band
from unlearnbench.headlines import headline
from unlearnbench.report.layout import REFERENCE_ROWS

REFERENCE = "reference"
DIVERGED = "diverged"
NOT_FORGOTTEN = "did not forget"
RETAIN_DAMAGED = "retain damaged"
SUPERFICIAL = "superficial"
DAMAGING = "representation-damaging"
CLOSE = "close to retrain"
UNDETERMINED = "—"
VERDICTS = (REFERENCE, DIVERGED, NOT_FORGOTTEN, RETAIN_DAMAGED, SUPERFICIAL, DAMAGING, CLOSE, UNDETERMINED)
#: one line per verdict (the rules above, in short): the glossary of the report's landing page
VERDICT_HELP = {
    REFERENCE: "a reference row (original, original′ = the seed-noise floor, retrain), not judged",
    DIVERGED: "NaN/inf loss or weights in some seed",
    NOT_FORGOTTEN: "forget accuracy (forget-test for classes, forget-train for samples) differs from the "
                   "retrained model's beyond the noise band",
    RETAIN_DAMAGED: "retain-test accuracy below the retrained model's beyond the noise band",
    SUPERFICIAL: "logits match the retrained model but CKA to the original or probe recovery stays towards the "
                 "kept reference (original′, else the original): forgotten in the logits only",
    DAMAGING: "downstream k-NN accuracy below both references beyond the noise band",
    CLOSE: "none of the above: logits and representation read like the retrained model's",
    UNDETERMINED: "undetermined: a needed number is missing, the method changed no weight (no-op), or the scenario "
                  "cannot separate its references; the reason column says which",
}
#: representation criteria of rule 5: (quantity, applies to sample forgetting)
KEPT_CRITERIA = (("cka_to_original", True), ("probe_forget_test", False))
#: their words in the reasons (:attr:`unlearnbench.headlines.Headline.words`)
LABELS = {q: headline(q).words for q, _ in KEPT_CRITERIA}
#: the downstream k-NN accuracy rule 6 reads, one per downstream set
DOWNSTREAM_KNN = headline("knn_{ds}")
NOISE = ("mean", "se_seeds", "se_eval", "n_seeds")


@dataclass(frozen=True)
class Rule:
    """How differences are read: ``confidence`` of the noise bands, ``min_effect`` added to every band."""

    confidence: float = 0.95
    min_effect: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if not (math.isfinite(self.min_effect) and self.min_effect >= 0):
            raise ValueError(f"min_effect must be >= 0, got {self.min_effect}")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self) -> str:
        extra = f" + a minimum effect of {self.min_effect:g}" if self.min_effect else ""
        return (f"differences count only beyond their {100 * self.confidence:g} % noise band (seed variance and "
                f"bootstrap over eval samples){extra}")


DEFAULT_RULE = Rule()


def forget_mode_of(kind: str) -> str:
    """``class`` or ``sample``: a registered scenario kind's mode (:mod:`unlearnbench.scenario_kinds`); a
    report read without its config (:mod:`~unlearnbench.report.sources`) may know only the mode itself."""
    from unlearnbench.scenario_kinds import SCENARIO_KINDS

    if kind in SCENARIO_KINDS:
        return SCENARIO_KINDS[kind].mode
    return "sample" if kind in ("sample", "samples") else "class"


def forgets_samples(kind: str) -> bool:
    return forget_mode_of(kind) == "sample"


def forget_quantity(kind: str) -> str:
    """The accuracy that must drop: forget-train for sample forgetting, forget-test for class forgetting."""
    return "forget_train_acc" if forgets_samples(kind) else "forget_test_acc"


Estimates = Mapping[str, Mapping[str, float]]  # quantity -> {mean, se_seeds, se_eval, n_seeds}


def _mean(est: Estimates | None, q: str) -> float:
    try:
        return float(est[q]["mean"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return math.nan


def _noise_known(row: Mapping[str, float]) -> bool:
    return any(math.isfinite(float(row.get(k, math.nan))) for k in ("se_seeds", "se_eval"))


def band(a: Estimates, b: Estimates, q: str, rule: Rule = DEFAULT_RULE) -> float:
    """Noise band of mean_a(q) − mean_b(q) (0 when noise was not estimated), plus ``rule.min_effect``."""
    ra, rb = a.get(q, {}), b.get(q, {})
    width = difference_band(ra, rb, rule.confidence) if (_noise_known(ra) or _noise_known(rb)) else math.nan
    return (0.0 if math.isnan(width) else width) + rule.min_effect


def _noise_note(*rows: Estimates, q: str) -> str:
    return "" if any(_noise_known(r.get(q, {})) for r in rows) else " (noise not estimated)"


def kept_reference(refs: Mapping[str, Estimates]) -> tuple[str, Estimates] | None:
    """(name, estimates) of K: the seed-noise floor when present, else the original."""
    for name in ("original_prime", "original"):
        if refs.get(name):
            return name, refs[name]
    return None


def separation(refs: Mapping[str, Estimates], kind: str, rule: Rule = DEFAULT_RULE) -> list[dict]:
    """Does the scenario separate its references? Per headline the verdicts use: K and R values, gap, band."""
    out = []
    retrain = refs.get("retrain") or {}
    kept = kept_reference(refs)
    checks = [(forget_quantity(kind), refs.get("original") and ("original", refs["original"]))]
    checks += [(q, kept) for q, for_samples in KEPT_CRITERIA if not forgets_samples(kind) or for_samples]
    for q, ref in checks:
        if not ref or math.isnan(_mean(retrain, q)) or math.isnan(_mean(ref[1], q)):
            continue
        gap, width = abs(_mean(ref[1], q) - _mean(retrain, q)), band(ref[1], retrain, q, rule)
        out.append({"quantity": q, "kept_reference": ref[0], "kept": _mean(ref[1], q), "retrain": _mean(retrain, q),
                    "gap": gap, "band": width, "separates": gap > width})
    return out


def _kept(m: float, k: float, r: float, band_mr: float, band_mk: float) -> bool:
    """Beyond R's band towards K, and at least half-way to K or within K's band."""
    direction = 1.0 if k >= r else -1.0
    beyond_r = direction * (m - r) > band_mr
    return beyond_r and ((m - r) / (k - r) >= 0.5 or abs(k - m) <= band_mk)


def verdict(method: str, est: Estimates | None, status: str, *, refs: Mapping[str, Estimates], kind: str,
            downstream: list[str], rule: Rule = DEFAULT_RULE,
            separations: list[dict] | None = None) -> tuple[str, str]:
    """(verdict, reason) of one method's estimates against the scenario's references (see module docstring);
    ``separations``: the scenario's :func:`separation` when the caller already has it."""
    if method in REFERENCE_ROWS:
        return REFERENCE, ("seed-noise floor: the original's recipe from another seed" if method == "original_prime"
                           else "reference model")
    if status != "ok":
        if status.startswith("diverged"):
            return DIVERGED, status
        if status.startswith("no-op"):
            return UNDETERMINED, (status if ":" in status
                                  else f"{status}: the method changed no weight, nothing was unlearned")
        return UNDETERMINED, f"status {status}"
    est, retrain = est or {}, refs.get("retrain") or {}
    fq = forget_quantity(kind)
    m, r = _mean(est, fq), _mean(retrain, fq)
    if math.isnan(m) or math.isnan(r):
        return UNDETERMINED, f"{fq} {'of retrain ' if math.isnan(r) else ''}missing"
    gap, width = abs(m - r), band(est, retrain, fq, rule)
    if gap > width:
        return NOT_FORGOTTEN, f"|{fq} − retrain| = {gap:.3f} > noise band {width:.3f}{_noise_note(est, retrain, q=fq)}"
    logit = f"|{fq} − retrain| = {gap:.3f} ≤ {width:.3f}"
    rq = "retain_test_acc"
    m_r, r_r = _mean(est, rq), _mean(retrain, rq)
    if not math.isnan(r_r):
        if math.isnan(m_r):
            return UNDETERMINED, f"{rq} missing"
        if r_r - m_r > (w := band(est, retrain, rq, rule)):
            return RETAIN_DAMAGED, f"{rq} {m_r:.3f} < retrain {r_r:.3f} − {w:.3f}"
    kept = kept_reference(refs)
    seps = {s["quantity"]: s for s in (separation(refs, kind, rule) if separations is None else separations)}
    informative = []
    for q, for_samples in KEPT_CRITERIA:
        if forgets_samples(kind) and not for_samples:
            continue
        sep = seps.get(q)
        if sep is None:
            continue
        mq = _mean(est, q)
        if math.isnan(mq):
            return UNDETERMINED, f"{q} missing ({logit})"
        if not sep["separates"]:
            continue
        informative.append(q)
        k_est = kept[1]
        if _kept(mq, sep["kept"], sep["retrain"], band(est, retrain, q, rule), band(est, k_est, q, rule)):
            return SUPERFICIAL, (f"{logit}; {LABELS[q]} {mq:.3f} nearer {kept[0]} {sep['kept']:.3f} than retrain "
                                 f"{sep['retrain']:.3f}{_noise_note(est, retrain, q=q)}")
    if not informative:
        return UNDETERMINED, f"{logit}; the scenario cannot separate the references on representations"
    for ds in downstream:
        q = DOWNSTREAM_KNN.column(ds)
        ref_vals = [(_mean(x, q), x) for x in (kept[1] if kept else None, retrain) if x]
        ref_vals = [(v, x) for v, x in ref_vals if not math.isnan(v)]
        if not ref_vals:
            continue
        knn = _mean(est, q)
        if math.isnan(knn):
            return UNDETERMINED, f"{q} missing ({logit})"
        low, low_est = min(ref_vals, key=lambda p: p[0])
        if low - knn > (w := band(est, low_est, q, rule)):
            return DAMAGING, f"k-NN {ds} {knn:.3f} < references' {low:.3f} − {w:.3f}"
    return CLOSE, f"{logit}; representation not nearer the original ({', '.join(LABELS[q] for q in informative)})"


def estimates(summary: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """method → quantity → {mean, se_seeds, se_eval, n_seeds} from one scenario's summary rows."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    cols = [c for c in NOISE if c in summary.columns]
    for row in summary[["method", "quantity", *cols]].itertuples(index=False):
        out.setdefault(row.method, {})[row.quantity] = {c: getattr(row, c) for c in cols}
    return out


def scenario_verdicts(summary: pd.DataFrame, status: Mapping[str, str], *, kind: str, downstream: list[str],
                      rule: Rule = DEFAULT_RULE) -> pd.DataFrame:
    """Verdicts of every method of one scenario from its summary rows (method, quantity, mean, noise)."""
    est = estimates(summary)
    refs = {r: est.get(r, {}) for r in REFERENCE_ROWS}
    seps = separation(refs, kind, rule)  # the references' separation is the scenario's, not a method's
    out = []
    for method in sorted(set(est) | set(status)):
        v, why = verdict(method, est.get(method), status.get(method, "missing"), refs=refs, kind=kind,
                         downstream=downstream, rule=rule, separations=seps)
        fq = forget_quantity(kind)
        tol = band(est.get(method, {}), refs["retrain"], fq, rule) if refs["retrain"] else math.nan
        out.append({"method": method, "verdict": v, "verdict_reason": why, "forget_tol": tol})
    return pd.DataFrame(out, columns=["method", "verdict", "verdict_reason", "forget_tol"]).set_index("method")


def cka_threshold(refs: Mapping[str, Estimates]) -> float:
    """Half-way from the retrained model's CKA-to-original to K's: "nearer the original" above it."""
    kept = kept_reference(refs)
    r = _mean(refs.get("retrain"), "cka_to_original")
    k = _mean(kept[1], "cka_to_original") if kept else math.nan
    if kept and kept[0] == "original" and math.isnan(k):
        k = 1.0
    return (r + k) / 2
