from unlearnbench.stages import report_leaderboard
from unlearnbench.workflow import logged, param

with logged(snakemake):
    report_leaderboard(snakemake.input.summary, snakemake.input.get("results"), snakemake.params.out,
                       sidecars=param(snakemake, "sidecars"), scenarios=param(snakemake, "scenarios"),
                       verdicts=param(snakemake, "verdicts"))
