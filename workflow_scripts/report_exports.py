from unlearnbench.stages import report_exports
from unlearnbench.workflow import logged, param

with logged(snakemake):
    report_exports(snakemake.input.summary, snakemake.input.get("results"), snakemake.params.out,
                   sidecars=param(snakemake, "sidecars"), scenarios=param(snakemake, "scenarios"),
                   verdicts=param(snakemake, "verdicts"))
