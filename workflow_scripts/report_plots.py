from unlearnbench.report.plots import write_plots
from unlearnbench.report.sources import from_rule
from unlearnbench.report.verdicts import Thresholds
from unlearnbench.workflow import logged, param

with logged(snakemake):
    write_plots(from_rule(snakemake), snakemake.params.out, Thresholds(**param(snakemake, "thresholds")))
