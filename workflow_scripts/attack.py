from unlearnbench.stages import attack
from unlearnbench.workflow import logged, param

with logged(snakemake):
    attack(scenario=snakemake.wildcards.scenario, seed=int(snakemake.wildcards.seed),
           method=snakemake.wildcards.method, algorithm=snakemake.params.algorithm, model_ckpt=snakemake.input.ckpt,
           original_features=snakemake.input.original_features, data_npz=snakemake.input.npz,
           data_json=snakemake.input.meta, forget_json=snakemake.input.forget, attacks=param(snakemake, "attacks"),
           data_seed=snakemake.params.data_seed, threads=snakemake.threads, device=snakemake.params.device,
           out=snakemake.output[0])
