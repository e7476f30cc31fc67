from unlearnbench.stages import train_reference
from unlearnbench.workflow import logged, param

with logged(snakemake):
    train_reference(snakemake.input.npz, snakemake.input.meta, snakemake.output.ckpt,
                    model=param(snakemake, "model"), train=param(snakemake, "train"), seed=snakemake.params.seed,
                    threads=snakemake.threads, device=snakemake.params.device,
                    monitor_images=snakemake.params.monitor_images,
                    forget_set=snakemake.input.get("forget"), role=snakemake.params.role,
                    weights=snakemake.input.get("retrain_weights"))
