from unlearnbench.stages import prepare_data
from unlearnbench.workflow import logged, param

with logged(snakemake):
    prepare_data(param(snakemake, "spec"), snakemake.output.npz, snakemake.output.meta, snakemake.output.sheet,
                 upstream=param(snakemake, "upstream"), validation=param(snakemake, "validation"))
