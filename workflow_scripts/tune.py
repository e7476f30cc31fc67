from unlearnbench.stages import tune
from unlearnbench.workflow import logged, param

with logged(snakemake):
    tune(snakemake.wildcards.method, param(snakemake, "spec"), snakemake.input.original, snakemake.input.retrain,
         snakemake.input.npz, snakemake.input.forget, snakemake.output.record, seed=snakemake.params.seed,
         threads=snakemake.threads, device=snakemake.params.device, monitor_images=snakemake.params.monitor_images,
         surrogate_npz=snakemake.input.get("surrogate"), edge_steps=snakemake.params.edge_steps,
         refine_steps=snakemake.params.refine_steps)
