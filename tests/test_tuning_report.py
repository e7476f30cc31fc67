"""The report side of the tune stage: every searched point read from the sidecars (one record per scenario and
method, whatever the number of seeds) and drawn on logits with the chosen point and the retrained target."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from unlearnbench.report import plotdata
from unlearnbench.report.plot_tuning import figure_tuning
from unlearnbench.report.sources import ReportData, load_report_data, load_tuning

RECORD = {"grid": [{"lr": 0.1, "epochs": 3}, {"lr": 0.2, "epochs": 3}], "extended": [{"lr": 0.141421, "epochs": 3}],
          "scores": [0.5, 0.3, 0.2],
          "accuracies": [{"forget": 0.4, "retain_val": 0.9}, {"forget": 0.2, "retain_val": 0.85},
                         {"forget": 0.1, "retain_val": 0.88}],
          "retrain": {"forget": 0.0, "retain_val": 0.95}, "chosen": {"lr": 0.141421, "epochs": 3}, "chosen_index": 2}


def sidecars(tmp_path):
    def write(name, meta):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(meta))
        return path

    return {("s", 0, "m"): write("m0", {"status": "ok", "tuning": RECORD}),
            ("s", 1, "m"): write("m1", {"status": "ok", "tuning": RECORD}),
            ("s", 0, "fixed"): write("fixed", {"status": "ok"}),  # tune: false
            ("s", 0, "retrain"): write("retrain", {"role": "retrain"})}


def test_the_tuning_frame_holds_each_searched_point_once_with_its_stage_and_the_chosen_one(tmp_path):
    frame = load_tuning(sidecars(tmp_path))
    assert len(frame) == 3 and set(frame["method"]) == {"m"}  # two seeds, one record; untuned and references none
    assert frame["stage"].tolist() == ["grid", "grid", "extended"]
    assert frame["chosen"].tolist() == [False, False, True]
    assert frame["params"].tolist() == ["lr=0.1, epochs=3", "lr=0.2, epochs=3", "lr=0.141421, epochs=3"]
    assert frame[["forget", "retain_val", "score"]].values.tolist() == [[0.4, 0.9, 0.5], [0.2, 0.85, 0.3],
                                                                       [0.1, 0.88, 0.2]]
    assert set(frame["retrain_forget"]) == {0.0} and set(frame["retrain_retain_val"]) == {0.95}
    data = load_report_data(pd.DataFrame(columns=["scenario", "method", "quantity"]), sidecars=sidecars(tmp_path))
    pd.testing.assert_frame_equal(plotdata.tuning(data), frame)


def test_the_tuning_figure_draws_the_chosen_point_large_and_the_retrained_target(tmp_path):
    table = plotdata.tuning(ReportData(pd.DataFrame(), {}, tuning=load_tuning(sidecars(tmp_path))))
    ax = figure_tuning(table, "s", ["retrain", "m"]).axes[0]
    chosen = [c for c in ax.collections if c.get_label() == "m"]
    assert len(chosen) == 1 and np.allclose(chosen[0].get_offsets(), [[0.88, 0.1]])
    others = np.concatenate([c.get_offsets() for c in ax.collections if c.get_label() != "m"])
    assert sorted(map(tuple, others.tolist())) == [(0.85, 0.2), (0.88, 0.1), (0.9, 0.4)]
    star = [ln for ln in ax.lines if ln.get_label().startswith("retrain")]
    assert len(star) == 1 and (star[0].get_xdata()[0], star[0].get_ydata()[0]) == (0.95, 0.0)
    empty = figure_tuning(table.iloc[:0], "s", ["retrain", "m"]).axes[0]
    assert any("no tuning record" in t.get_text() for t in empty.texts) and not empty.collections
