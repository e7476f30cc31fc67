"""The recovery verdict: does a forgotten class come back from an unlearned model more than from the retrained
control under the same attack? (unlearnbench.attacks; docs/attacks.md)

Per recovery headline (:data:`unlearnbench.aggregate.RECOVERY`: prototype-attack forget accuracy, areas
under the few-shot and retain-only relearning curves — higher recovers more) the method's mean is compared
with the retrained model's, beyond the noise band of the difference (:func:`verdicts.band`: seeds and
bootstrap, Welch df, plus ``min_effect``):

* ``recoverable`` — some attack recovers more from the method than from the control, beyond the band;
* ``not recoverable`` — every attack that ran recovers no more than from the control;
* ``reference`` for the reference rows; ``—`` with the reason when the method did not forget in the first
  place (its main verdict; nothing to recover), its status is not ``ok``, or no attack result exists for
  both the method and the control.
"""
from __future__ import annotations

import math
from typing import Mapping

from unlearnbench.aggregate import RECOVERY
from unlearnbench.headlines import headline
from unlearnbench.report.layout import REFERENCE_ROWS
from unlearnbench.report.verdicts import (DEFAULT_RULE, NOT_FORGOTTEN, REFERENCE, UNDETERMINED, Estimates, Rule,
                                          _mean, band)

RECOVERABLE = "recoverable"
NOT_RECOVERABLE = "not recoverable"
RECOVERY_VERDICTS = (REFERENCE, RECOVERABLE, NOT_RECOVERABLE, UNDETERMINED)
#: one line per recovery verdict: the glossary of the report's landing page
RECOVERY_HELP = {
    REFERENCE: "a reference row (retrain is the control, the original the ceiling)",
    RECOVERABLE: "some attack recovers more of the forgotten data from the method than from the retrained "
                 "control, beyond the noise band",
    NOT_RECOVERABLE: "every attack that ran recovers no more than from the retrained control",
    UNDETERMINED: "undetermined: the method did not forget, its status is not ok, or no attack result exists "
                  "for both it and the control",
}
#: the headlines' words in the reasons (:attr:`unlearnbench.headlines.Headline.words`)
LABELS = {q: headline(q).words for q in RECOVERY}


def recovery_verdict(method: str, est: Estimates | None, status: str, main_verdict: str, *,
                     refs: Mapping[str, Estimates], rule: Rule = DEFAULT_RULE) -> tuple[str, str]:
    """(verdict, reason) of one method on the recovery headlines against the retrained control."""
    if method in REFERENCE_ROWS:
        return REFERENCE, "control" if method == "retrain" else "reference model"
    if status != "ok":
        return UNDETERMINED, f"status {status}"
    if main_verdict == NOT_FORGOTTEN:
        return UNDETERMINED, "did not forget: nothing to recover"
    est, control = est or {}, refs.get("retrain") or {}
    compared, beyond = [], []
    for q in RECOVERY:
        m, r = _mean(est, q), _mean(control, q)
        if math.isnan(m) or math.isnan(r):
            continue
        width = band(est, control, q, rule)
        compared.append(q)
        if m - r > width:
            beyond.append(f"{LABELS[q]} {m:.3f} > retrain {r:.3f} + {width:.3f}")
    if not compared:
        return UNDETERMINED, "no attack results for the method and the retrained control"
    if beyond:
        return RECOVERABLE, "; ".join(beyond)
    return NOT_RECOVERABLE, f"no more recovery than retrain ({', '.join(LABELS[q] for q in compared)})"
