from unlearnbench.tuning import tune_method
from unlearnbench.workflow import logged, param

with logged(snakemake):
    tune_method(snakemake.wildcards.method, param(snakemake, "spec"), snakemake.input.original, snakemake.input.retrain,
                snakemake.input.npz, snakemake.input.forget, snakemake.output.record, seed=snakemake.params.seed,
                threads=snakemake.threads, device=snakemake.params.device,
                monitor_images=snakemake.params.monitor_images, surrogate_npz=snakemake.input.get("surrogate"))
