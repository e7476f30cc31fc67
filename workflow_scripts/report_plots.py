from unlearnbench.report.plots import write_plots
from unlearnbench.report.sources import from_rule
from unlearnbench.report.verdicts import Rule
from unlearnbench.workflow import logged, param, phase

with logged(snakemake):
    with phase("load"):
        data = from_rule(snakemake)
    with phase("compute"):
        write_plots(data, snakemake.params.out, Rule(**param(snakemake, "verdicts")))
