from unlearnbench.report.leaderboard import write_leaderboards
from unlearnbench.report.sources import from_rule
from unlearnbench.report.verdicts import Thresholds
from unlearnbench.workflow import logged, param

with logged(snakemake):
    write_leaderboards(from_rule(snakemake), snakemake.params.out, Thresholds(**param(snakemake, "thresholds")))
