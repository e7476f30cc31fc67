from unlearnbench.report.index import write_index
from unlearnbench.report.leaderboard import write_leaderboards
from unlearnbench.report.sources import from_rule
from unlearnbench.report.verdicts import Rule
from unlearnbench.workflow import logged, param, phase

with logged(snakemake):
    with phase("load"):
        data = from_rule(snakemake)
    with phase("compute"):
        rule = Rule(**param(snakemake, "verdicts"))
        write_leaderboards(data, snakemake.params.out, rule)
        write_index(data, snakemake.params.out, rule)
