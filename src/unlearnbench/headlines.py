"""Every summary quantity declared once, as a :class:`Headline` record in :data:`HEADLINE_TABLE`.

A record says what the quantity is (name, group, glossary line), which raw result rows it summarises (its
selector; none for a quantity :func:`unlearnbench.aggregate.per_seed_summary` derives from the others) and how
the report shows it (leaderboard header, the words of verdict reasons, LaTeX column, read by the recovery
verdict). Everything else is derived from the table, never spelled again:

* :mod:`unlearnbench.aggregate` — the selections (:data:`HEADLINES`), the gap groups, :data:`DERIVED`,
  :data:`RECOVERY` and :data:`QUANTITY_HELP`;
* :mod:`unlearnbench.report.leaderboard` — the quantity columns and their headers, in table order; the
  second opinions on CKA (group ``similarity``);
* :mod:`unlearnbench.report.latex` — the paper columns (``paper=True``) and their headers;
* :mod:`unlearnbench.report.glossary` — one line per quantity (a pattern's, ``{ds}`` filled in: :meth:`Headline.match`);
* :mod:`unlearnbench.report.verdicts` and :mod:`~unlearnbench.report.recovery` — the words of their reasons.

The table's order is the leaderboard's column order (a quantity without a ``header`` is in the summary
only). A new quantity is one record here (plus, for a selected one, the metric rows it selects).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["CKA_HEADLINE", "DS", "GROUPS", "HEADLINE_TABLE", "Headline", "PRE", "headline", "match_quantity"]

#: the placeholder of a quantity defined once per downstream set
DS = "{ds}"
PRE = "pre_logits"
#: variant placeholder of the CKA headlines: resolved per scenario by :func:`unlearnbench.aggregate.cka_estimator`
CKA_HEADLINE = "headline"
#: ``logit`` and ``repr`` make up the two gaps to retrain; ``similarity`` and ``recovery`` stand beside them;
#: ``derived`` quantities are computed from the others
GROUPS = ("logit", "repr", "similarity", "recovery", "derived")


@dataclass(frozen=True)
class Headline:
    """One summary quantity: ``name`` (``{ds}``: one per downstream set), ``group`` (:data:`GROUPS`), ``help``
    (its glossary line), ``select`` (column → value of the raw rows it summarises; None when derived),
    ``header`` (its leaderboard column header; None: not on the leaderboard), ``label`` (its words in verdict
    reasons, default the header), ``paper`` (a column of the LaTeX table) and ``recovery_verdict`` (compared
    with the retrained control by the recovery verdict: higher = recovers more)."""

    name: str
    group: str
    help: str
    select: Mapping[str, str] | None = field(default=None, compare=False)
    header: str | None = None
    label: str | None = None
    paper: bool = False
    recovery_verdict: bool = False

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"quantity {self.name!r}: group must be one of {GROUPS}, got {self.group!r}")
        if not self.help.strip():
            raise ValueError(f"quantity {self.name!r} needs its glossary line (help)")
        if (self.select is None) != (self.group == "derived"):
            raise ValueError(f"quantity {self.name!r}: a selector exactly when not derived")

    @property
    def per_downstream(self) -> bool:
        return DS in self.name

    @property
    def words(self) -> str:
        """How verdict reasons name it."""
        return self.label or self.header or self.name

    def column(self, ds: str | None = None) -> str:
        """The summary quantity (and leaderboard column) of downstream set ``ds`` (or the name itself)."""
        return self.name.replace(DS, ds) if self.per_downstream else self.name

    def columns(self, downstream: list[str]) -> list[tuple[str, str | None]]:
        """(quantity, header) for every downstream set where the name has ``{ds}``, else the one pair."""
        sets = downstream if self.per_downstream else [None]
        header = self.header
        return [(self.column(ds), header.replace(DS, ds) if header and ds else header) for ds in sets]

    def match(self, quantity: str) -> str | None:
        """The downstream set ``quantity`` is of (``""`` for a quantity without one), or None when it is not
        this one's."""
        pattern = "^" + re.escape(self.name).replace(re.escape(DS), "(?P<ds>.+)") + "$"
        found = re.match(pattern, quantity)
        return None if found is None else found.groupdict().get("ds", "")

    def help_for(self, quantity: str) -> str:
        """The glossary line of ``quantity`` (this pattern's, its downstream set filled in)."""
        ds = self.match(quantity)
        return self.help.replace(DS, ds) if ds else self.help


HEADLINE_TABLE: tuple[Headline, ...] = (
    # logit headlines: accuracies on the four splits, membership inference
    Headline("forget_train_acc", "logit", "top-1 accuracy on the forget set's training images",
             {"metric": "accuracy", "split": "forget_train"}, header="forget-train acc"),
    Headline("retain_train_acc", "logit", "top-1 accuracy on the retain set's training images",
             {"metric": "accuracy", "split": "retain_train"}),
    Headline("forget_test_acc", "logit",
             "top-1 accuracy on test images of the forgotten classes (class forgetting only)",
             {"metric": "accuracy", "split": "forget_test"}, header="forget-test acc"),
    Headline("retain_test_acc", "logit",
             "top-1 accuracy on test images of the other classes: the utility that must be kept",
             {"metric": "accuracy", "split": "retain_test"}, header="retain-test acc", paper=True),
    Headline("mia_svc", "logit", "SalUn's MIA-efficacy: fraction of forget-train images an SVC on confidence / "
             "entropy features calls non-members (higher = the forget set looks unseen)",
             {"metric": "mia", "variant": "svc", "split": "forget_train"}, header="MIA (SVC)"),
    Headline("mia_loss_auc", "logit", "AUC of the loss-threshold membership attack, forget-train vs. unseen images "
             "(≈ 0.5 = indistinguishable)", {"metric": "mia", "variant": "loss_threshold"}),
    # representation headlines: pre-logit CKA, downstream k-NN, linear-probe recovery
    Headline("cka_to_original", "repr", "linear CKA of the pre-logit features to the original model's on "
             "forget-train (1 = representation unchanged; estimator in the summary's `estimator` column)",
             {"metric": "cka", "variant": CKA_HEADLINE, "layer": PRE, "reference": "original", "split": "forget_train"},
             header="CKA→original", label="CKA to original", paper=True),
    Headline("cka_to_retrain", "repr", "linear CKA of the pre-logit features to the retrained model's on "
             "forget-train (1 = the gold standard's representation)",
             {"metric": "cka", "variant": CKA_HEADLINE, "layer": PRE, "reference": "retrain", "split": "forget_train"},
             header="CKA→retrain"),
    # a second opinion on CKA (not part of the gaps): orthogonal Procrustes similarity and mutual k-NN alignment
    Headline("procrustes_to_original", "similarity", "orthogonal Procrustes similarity to the original "
             "(pre-logits, forget-train): a second opinion on CKA, outside the gaps",
             {"metric": "procrustes", "variant": "similarity", "layer": PRE, "reference": "original",
              "split": "forget_train"}, header="Procrustes→original"),
    Headline("mknn_to_original", "similarity", "mutual k-NN alignment (k = 10) to the original (pre-logits, "
             "forget-train): a second opinion on CKA, outside the gaps",
             {"metric": "mutual_knn", "layer": PRE, "reference": "original", "split": "forget_train"},
             header="mutual k-NN→original"),
    Headline("knn_{ds}", "repr", "k-NN transfer accuracy (k = 5, cosine, pre-logit features) on the downstream set "
             "{ds}: below both references = features damaged",
             {"metric": "knn", "variant": "prelogit", "layer": PRE, "split": "all"}, header="k-NN {ds}"),
    Headline("knn_forget_test", "repr", "k-NN accuracy of forget-test queries against a retain-train + forget-train "
             "bank (high = the forgotten classes still cluster)",
             {"metric": "knn", "variant": "prelogit", "layer": PRE, "split": "forget_test_vs_bank"}),
    Headline("probe_forget_test", "repr", "linear-probe recovery: a fresh linear classifier on frozen pre-logit "
             "features of all classes, scored on forget-test (high = still linearly decodable)",
             {"metric": "probe", "layer": PRE, "split": "forget_test"}, header="probe recovery", paper=True),
    # the gaps to retrain and their harmonic score (aggregate.per_seed_summary)
    Headline("gap_logit", "derived", "mean |m − retrain| over the logit headlines (accuracies, MIA); 0 = "
             "indistinguishable from retrain", header="gap logit"),
    Headline("gap_repr", "derived", "mean |m − retrain| over the representation headlines (CKA, k-NN, probe); 0 = "
             "indistinguishable from retrain", header="gap repr"),
    Headline("harmonic", "derived", "harmonic mean of 1 − gap_logit and 1 − gap_repr: high only when both the "
             "logits and the representations match the retrained model", header="harmonic"),
    # recovery attacks (unlearnbench.attacks): how much of the forgotten accuracy comes back, and how fast
    Headline("proto_forget_test", "recovery", "forget-test accuracy after the prototype attack (the class's head "
             "row overwritten by the mean feature of a few of its images; higher = recovers more)",
             {"metric": "relearn", "variant": "prototype_relearn", "split": "forget_test"},
             header="prototype attack", paper=True, recovery_verdict=True),
    Headline("fewshot_auc", "recovery", "area under the few-shot relearning curve: mean forget accuracy over a few "
             "fine-tuning steps on a few forget images per class (higher = comes back faster)",
             {"metric": "relearn_auc", "variant": "fewshot_relearn"}, header="few-shot relearn AUC", paper=True,
             recovery_verdict=True),
    Headline("retain_relearn_auc", "recovery", "area under the retain-only relearning curve: mean forget accuracy "
             "while fine-tuning on retain images only (higher = comes back without seeing it)",
             {"metric": "relearn_auc", "variant": "retain_relearn"}, header="retain relearn AUC",
             label="retain-only relearn AUC", recovery_verdict=True),
    Headline("fewshot_steps", "recovery", "few-shot relearn time: first step reaching the target fraction of the "
             "original's forget accuracy (censored at the step budget)",
             {"metric": "relearn_steps", "variant": "fewshot_relearn"}),
    Headline("anamnesis", "derived", "Anamnesis Index: few-shot relearn time over the retrained model's (< 1 = the "
             "class comes back faster than learning it from scratch)", header="AIN"),
)


def headline(name: str) -> Headline:
    """The record named ``name`` (a pattern such as ``knn_{ds}`` by its pattern)."""
    for h in HEADLINE_TABLE:
        if h.name == name:
            return h
    raise KeyError(f"summary quantity {name!r} is not declared (unlearnbench.headlines.HEADLINE_TABLE)")


def match_quantity(quantity: str, table: tuple[Headline, ...] = HEADLINE_TABLE) -> Headline:
    """The record a summary quantity (``knn_far``, ``harmonic``) belongs to; KeyError when none declares it.
    An exact name wins over a ``{ds}`` pattern (``knn_forget_test`` is not the downstream set ``forget_test``)."""
    exact = [h for h in table if h.name == quantity]
    found = exact or [h for h in table if h.match(quantity) is not None]
    if not found:
        raise KeyError(f"summary quantity {quantity!r} is not defined (unlearnbench.headlines.HEADLINE_TABLE)")
    return found[0]
