"""Evaluation metrics on cached features; each module self-registers its metrics by name.

``create_metric(name, **params)`` builds one; ``metric.evaluate(ctx)`` turns an :class:`EvalContext` into
long-format rows (keys :data:`ROW_KEYS`). Registered: accuracy, mia (svc, loss_threshold), cka (biased,
debiased: flattened stage maps in Gram form and vector layers; biased_pooled, debiased_pooled: pooled
stages — docs/metrics.md), knn (prelogit, logit), probe, procrustes (orthogonal Procrustes similarity
1 − d²/2 to each reference) and mutual_knn (mutual k-NN alignment to each reference). Accuracy, k-NN, probe
and mutual k-NN rows carry a bootstrap standard error (:mod:`.uncertainty`), Procrustes rows its
infinitesimal-jackknife counterpart.
"""
from unlearnbench.discovery import import_registering
from unlearnbench.metrics.base import (METRICS, ROW_KEYS, EvalContext, FeatureSet, Metric, create_metric,
                                       list_metrics, make_row, register_metric)
from unlearnbench.metrics.cka import LinearCKAAccumulator, linear_cka
from unlearnbench.metrics.knn import knn_predict
from unlearnbench.plugins import load_plugins

import_registering(__name__, "register_metric")  # every module of this folder with a @register_metric
load_plugins("unlearnbench.metrics")  # metrics of installed packages (entry points; unlearnbench.plugins)

__all__ = ["METRICS", "ROW_KEYS", "EvalContext", "FeatureSet", "LinearCKAAccumulator", "Metric", "create_metric",
           "knn_predict", "linear_cka", "list_metrics", "make_row", "register_metric"]
