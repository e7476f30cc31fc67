from unlearnbench.stages import aggregate
from unlearnbench.workflow import logged

with logged(snakemake):
    aggregate(list(snakemake.input), snakemake.output.results, snakemake.output.summary, snakemake.output.summary_csv,
              results_dir=snakemake.params.results_dir)
