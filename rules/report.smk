# Report: leaderboards with verdicts (Markdown, CSV, HTML, LaTeX) and the landing page report/index.html,
# figures (PNG, SVG, PDF) and DVC exports, from the aggregated results and the
# checkpoint sidecars (status, wall time, curves). Outputs flagged report() — with the data contact sheets —
# make up `snakemake --report report.html` (`make report`). File names live in unlearnbench.report.layout.
# Three light jobs: importing the package costs more than drawing, so figures share one job.
from types import SimpleNamespace

from unlearnbench.attacks import attack_modules
from unlearnbench.report import layout

SUMMARY = str(layout.summary_table(OUT))
RESULTS = str(layout.results_table(OUT))
FIGURES = {"logit_vs_repr": "Logit vs. representation", "knn": "Downstream k-NN", "probe": "Probe recovery",
           "cka_layers": "CKA per layer", "curves": "Training and unlearning curves",
           "relearn": "Relearning attacks", "layer_probe": "Probe recovery per layer"}


def report_sidecars():
    """Checkpoint sidecars of every evaluated model, keyed ``scenario/seed/method`` (see report.sources)."""
    return {f"{sc}/{seed}/{m}": checkpoint(evaluated_model(SimpleNamespace(scenario=sc, seed=seed, method=m))) + ".json"
            for sc in SCENARIOS for seed in SEEDS for m in evaluated_methods(sc)}


REPORT_INPUTS = {"summary": SUMMARY, "results": RESULTS, "sidecars": sorted(set(report_sidecars().values()))}
REPORT_PARAMS = {
    "sidecars": as_json(report_sidecars()),
    "scenarios": as_json({sc: {"kind": SCENARIO[sc]["kind"], "methods": evaluated_methods(sc)} for sc in SCENARIOS}),
    "verdicts": as_json(config["verdicts"]),
    "out": OUT,
}


def figures(fmt):
    """Every figure file of one format; PNGs are flagged for the HTML report."""
    items = [(name, None) for name in layout.OVERVIEW_PLOTS]
    items += [(name, sc) for name in layout.SCENARIO_PLOTS for sc in SCENARIOS]
    paths = [(str(layout.plot_file(OUT, name, fmt, sc)), name, sc) for name, sc in items]
    if fmt != "png":
        return [p for p, _, _ in paths]
    return [report(p, caption=f"../report/{name}.rst", category="Figures", subcategory=FIGURES[name],
                   labels={"figure": FIGURES[name], "scenario": sc or "all scenarios"}) for p, name, sc in paths]


def report_targets():
    targets = [str(layout.combined_leaderboard(OUT)), str(layout.metrics_json(OUT))]
    targets += [str(layout.leaderboard_file(OUT, sc, fmt)) for sc in SCENARIOS for fmt in layout.LEADERBOARD_FORMATS]
    targets += [str(layout.report_index(OUT))]
    targets += [str(layout.plot_table(OUT, name)) for name in layout.PLOT_TABLES]
    return targets + [str(p) for fmt in layout.IMAGE_FORMATS for p in figures(fmt)]


rule leaderboard:
    input:
        **REPORT_INPUTS,
    output:
        combined=report(str(layout.combined_leaderboard(OUT)), caption="../report/leaderboard.rst",
                        category="Leaderboard", labels={"scenario": "all scenarios", "format": "CSV (numeric)"}),
        html=[report(str(layout.leaderboard_file(OUT, sc, "html")), caption="../report/leaderboard.rst",
                     category="Leaderboard", labels={"scenario": sc, "format": "table"}) for sc in SCENARIOS],
        md=[str(layout.leaderboard_file(OUT, sc, "md")) for sc in SCENARIOS],
        csv=[str(layout.leaderboard_file(OUT, sc, "csv")) for sc in SCENARIOS],
        tex=[str(layout.leaderboard_file(OUT, sc, "tex")) for sc in SCENARIOS],
        index=str(layout.report_index(OUT)),  # landing page: links to every leaderboard and figure + glossary
    params:
        **REPORT_PARAMS,
        # the landing page's glossary reads every registered attack's docstring, the verdicts each scenario
        # kind's mode (registered by name: unseen by the import graph)
        code=stage_code("report_leaderboard", *attack_modules("features"), *attack_modules("model"), *kind_modules()),
    threads: 1
    log:
        f"{OUT}/logs/report/leaderboard.log",
    benchmark:
        f"{OUT}/benchmarks/report/leaderboard.tsv"
    run:
        job_script("report_leaderboard", locals())


rule plots:
    input:
        **REPORT_INPUTS,
    output:
        **{fmt: figures(fmt) for fmt in layout.IMAGE_FORMATS},
    params:
        **REPORT_PARAMS,
        code=stage_code("report_plots", *kind_modules()),  # verdicts read each scenario kind's mode
    threads: 1
    log:
        f"{OUT}/logs/report/plots.log",
    benchmark:
        f"{OUT}/benchmarks/report/plots.tsv"
    run:
        job_script("report_plots", locals())


rule exports:
    input:
        **REPORT_INPUTS,
    output:
        metrics=str(layout.metrics_json(OUT)),
        tables=[str(layout.plot_table(OUT, name)) for name in layout.PLOT_TABLES],
    params:
        **REPORT_PARAMS,
        code=stage_code("report_exports", *kind_modules()),  # verdicts read each scenario kind's mode
    threads: 1
    log:
        f"{OUT}/logs/report/exports.log",
    benchmark:
        f"{OUT}/benchmarks/report/exports.tsv"
    run:
        job_script("report_exports", locals())
