from unlearnbench.report.exports import write_exports
from unlearnbench.report.sources import from_rule
from unlearnbench.report.verdicts import Rule
from unlearnbench.workflow import logged, param, phase

with logged(snakemake):
    with phase("load"):
        data = from_rule(snakemake)
    with phase("compute"):
        write_exports(data, snakemake.params.out, Rule(**param(snakemake, "verdicts")))
