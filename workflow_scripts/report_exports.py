from unlearnbench.report.exports import write_exports
from unlearnbench.report.sources import from_rule
from unlearnbench.report.verdicts import Thresholds
from unlearnbench.workflow import logged, param

with logged(snakemake):
    write_exports(from_rule(snakemake), snakemake.params.out, Thresholds(**param(snakemake, "thresholds")))
