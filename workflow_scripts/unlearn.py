from unlearnbench.stages import unlearn
from unlearnbench.workflow import logged, param

with logged(snakemake):
    unlearn(snakemake.wildcards.method, param(snakemake, "spec"), snakemake.input.original, snakemake.input.npz,
            snakemake.input.meta, snakemake.input.forget, snakemake.output.ckpt, seed=snakemake.params.seed,
            threads=snakemake.threads, device=snakemake.params.device, tuning_json=snakemake.input.get("tuning"),
            monitor_images=snakemake.params.monitor_images, surrogate_npz=snakemake.input.get("surrogate"),
            tuned_ckpt=snakemake.input.get("tuned_model"))
