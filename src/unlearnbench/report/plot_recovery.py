"""Recovery figures (unlearnbench.attacks): can the forgotten come back?

(f) :func:`figure_relearn` — one panel per relearning attack (few-shot, retain-only): accuracy on the
    forgotten data against fine-tuning steps, a line per model with its 95 % band over seeds; the retrained
    model (the control: it never saw the data) and the original (the ceiling) drawn as references. An
    unlearned model whose curve climbs well above the control's only hid what it was asked to forget.
(g) :func:`figure_layer_probe` — linear-probe recovery of the forgotten classes at every extracted layer, in
    network order, a line per model with error bars: where in the network the class is still decodable.
"""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from unlearnbench.report.figbase import legend, new_figure, no_data, palette, panels, style_for

ATTACK_TITLES = {"fewshot_relearn": "few-shot relearning (forget + retain images)",
                 "retain_relearn": "retain-only relearning (no forget image)"}
#: what the references are in an attack: the retrained model the control, the original the ceiling
ROLE_LABELS = {"retrain": "retrain (control)", "original": "original (ceiling)",
               "original_prime": "original′ (seed-noise floor)"}
def role_label(method: str) -> str:
    return ROLE_LABELS.get(method, method)


SPLIT_LABELS = {"forget_test": "forget-test accuracy", "forget_train": "accuracy on the forgotten samples"}


def _line(ax, x, y, ci, method: str, styles: dict, *, band: bool = True) -> None:
    st = style_for(styles, method)
    ax.plot(x, y, color=st["color"], marker=st["marker"], linestyle=st.get("linestyle", "-"), markersize=5,
            linewidth=2.2 if method in ("original", "retrain") else 1.5, label=role_label(method),
            zorder=3 if method == "retrain" else 2)
    if band and ci.notna().any():
        ax.fill_between(x, (y - ci.fillna(0)).clip(lower=0), (y + ci.fillna(0)).clip(upper=1), color=st["color"],
                        alpha=0.15, linewidth=0)


def figure_relearn(table: pd.DataFrame, scenario: str, methods: list[str]) -> Figure:
    rows = table[table["scenario"] == scenario]
    attacks = [a for a in ATTACK_TITLES if a in set(rows["attack"])] or ["fewshot_relearn"]
    fig = new_figure(5.2 * len(attacks) + 2.5, 4.2)
    axes = panels(fig, len(attacks), ncols=len(attacks), sharey=True)
    styles = palette(methods)
    for ax, attack in zip(axes, attacks):
        part = rows[rows["attack"] == attack]
        for method in [m for m in methods if m in set(part["method"])]:
            mine = part[part["method"] == method].sort_values("step")
            _line(ax, mine["step"], mine["value"], mine["ci95"], method, styles)
        split = part["split"].iloc[0] if len(part) else "forget_test"
        ax.set_title(ATTACK_TITLES.get(attack, attack), fontsize=10)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel(SPLIT_LABELS.get(split, split))
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if not ax.lines:
            no_data(ax, "no relearning curve (attacks disabled or not defined here)")
    legend(fig, axes, methods, label=role_label)
    fig.suptitle(f"Can the forgotten come back? Relearning — scenario {scenario} (bands: 95 % over seeds)")
    return fig


def figure_layer_probe(table: pd.DataFrame, scenario: str, methods: list[str]) -> Figure:
    rows = table[table["scenario"] == scenario]
    fig = new_figure(8.5, 4.2)
    ax = fig.subplots()
    styles = palette(methods)
    layers = rows.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
    for method in [m for m in methods if m in set(rows["method"])]:
        mine = rows[rows["method"] == method].sort_values("layer_index")
        st = style_for(styles, method)
        ax.errorbar(mine["layer_index"], mine["value"], yerr=mine["ci95"].fillna(0), color=st["color"],
                    marker=st["marker"], linestyle=st.get("linestyle", "-"), markersize=5, capsize=2.5,
                    linewidth=2.2 if method in ("original", "retrain") else 1.5,
                    label=role_label(method))
    ax.set_xticks(range(len(layers)), layers)
    ax.set_xlabel("layer (network order)")
    ax.set_ylabel("probe accuracy on forget-test")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if not ax.lines:
        no_data(ax, "no per-layer probe (class forgetting only)")
    legend(fig, [ax], methods, label=role_label)
    fig.suptitle(f"Where is the forgotten class still decodable? Per-layer linear probes — scenario {scenario}")
    return fig

