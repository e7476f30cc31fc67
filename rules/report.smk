# Report: leaderboards with verdicts (Markdown, CSV, HTML, LaTeX) and the landing page report/index.html,
# figures (PNG, SVG, PDF) and DVC exports, from the aggregated results and the
# checkpoint sidecars (status, wall time, curves). Outputs flagged report() — with the data contact sheets —
# make up `snakemake --report report.html` (`make report`). Paths: unlearnbench.layout (LAYOUT); figure names
# and formats: unlearnbench.report.layout.
# Three light jobs: importing the package costs more than drawing, so figures share one job.
from unlearnbench.attacks import attack_modules
from unlearnbench.report import figures as report_figures
from unlearnbench.report import layout

SUMMARY = str(LAYOUT.summary_table())
RESULTS = str(LAYOUT.results_table())


def report_sidecars():
    """Checkpoint sidecars of every evaluated model, keyed ``scenario/seed/method`` (see report.sources)."""
    return {f"{sc}/{seed}/{m}": str(LAYOUT.run_sidecar(sc, seed, m))
            for sc in SCENARIOS for seed, m in evaluated_runs(sc)}


REPORT_INPUTS = {"summary": SUMMARY, "results": RESULTS, "sidecars": sorted(set(report_sidecars().values()))}
REPORT_PARAMS = {
    "sidecars": as_json(report_sidecars()),
    "scenarios": as_json({sc: {"kind": SCENARIO[sc]["kind"], "methods": evaluated_methods(sc)} for sc in SCENARIOS}),
    "verdicts": as_json(config["verdicts"]),
    "out": OUT,
}


def figure_caption(name):
    """The figure's caption file under report/ for the HTML report (none for a figure without one)."""
    path = Path(workflow.main_snakefile).resolve().parent / "report" / f"{name}.rst"
    return {"caption": f"../report/{name}.rst"} if path.is_file() else {}


def figures(fmt):
    """Every file of one format of the registered figures (unlearnbench.report.figures); PNGs are flagged for
    the HTML report."""
    paths = [(str(LAYOUT.plot_file(spec.name, fmt, sc)), spec, sc)
             for spec in report_figures.ordered() for sc in spec.keys(SCENARIOS)]
    if fmt != "png":
        return [p for p, _, _ in paths]
    return [report(p, **figure_caption(spec.name), category="Figures", subcategory=spec.title,
                   labels={"figure": spec.title, "scenario": sc or "all scenarios"}) for p, spec, sc in paths]


def report_targets():
    targets = [str(LAYOUT.combined_leaderboard()), str(LAYOUT.metrics_json())]
    targets += [str(LAYOUT.leaderboard_file(sc, fmt)) for sc in SCENARIOS for fmt in layout.LEADERBOARD_FORMATS]
    targets += [str(LAYOUT.report_index())]
    targets += [str(LAYOUT.plot_table(name)) for name in layout.PLOT_TABLES]
    return targets + [str(p) for fmt in layout.IMAGE_FORMATS for p in figures(fmt)]


rule leaderboard:
    input:
        **REPORT_INPUTS,
    output:
        combined=report(str(LAYOUT.combined_leaderboard()), caption="../report/leaderboard.rst",
                        category="Leaderboard", labels={"scenario": "all scenarios", "format": "CSV (numeric)"}),
        html=[report(str(LAYOUT.leaderboard_file(sc, "html")), caption="../report/leaderboard.rst",
                     category="Leaderboard", labels={"scenario": sc, "format": "table"}) for sc in SCENARIOS],
        md=[str(LAYOUT.leaderboard_file(sc, "md")) for sc in SCENARIOS],
        csv=[str(LAYOUT.leaderboard_file(sc, "csv")) for sc in SCENARIOS],
        tex=[str(LAYOUT.leaderboard_file(sc, "tex")) for sc in SCENARIOS],
        index=str(LAYOUT.report_index()),  # landing page: links to every leaderboard and figure + glossary
    params:
        **REPORT_PARAMS,
        # the landing page's glossary reads every registered attack's docstring, the verdicts each scenario
        # kind's mode (registered by name: unseen by the import graph)
        code=stage_code("report_leaderboard", *attack_modules("features"), *attack_modules("model"), *kind_modules()),
        # the landing page lists the figures by their declarations (not their drawing code: no figure module
        # in the code hash, so editing how a figure is drawn reruns the plots job only)
        figures=as_json(report_figures.declarations()),
    threads: 1
    log:
        LAYOUT.log("report", "leaderboard"),
    benchmark:
        LAYOUT.benchmark("report", "leaderboard")
    run:
        job_script("report_leaderboard", locals())


rule plots:
    input:
        **REPORT_INPUTS,
    output:
        **{fmt: figures(fmt) for fmt in layout.IMAGE_FORMATS},
    params:
        **REPORT_PARAMS,
        # verdicts read each scenario kind's mode; the figures are registered by name (unseen by the import graph)
        code=stage_code("report_plots", *kind_modules(), *report_figures.figure_modules()),
    threads: 1
    log:
        LAYOUT.log("report", "plots"),
    benchmark:
        LAYOUT.benchmark("report", "plots")
    run:
        job_script("report_plots", locals())


rule exports:
    input:
        **REPORT_INPUTS,
    output:
        metrics=str(LAYOUT.metrics_json()),
        tables=[str(LAYOUT.plot_table(name)) for name in layout.PLOT_TABLES],
    params:
        **REPORT_PARAMS,
        code=stage_code("report_exports", *kind_modules()),  # verdicts read each scenario kind's mode
    threads: 1
    log:
        LAYOUT.log("report", "exports"),
    benchmark:
        LAYOUT.benchmark("report", "exports")
    run:
        job_script("report_exports", locals())
