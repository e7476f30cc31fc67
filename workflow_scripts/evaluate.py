from unlearnbench.stages import evaluate
from unlearnbench.workflow import logged, param

with logged(snakemake):
    features = {}
    for role in ("model", "original", "retrain"):
        features[role] = {ev: snakemake.input[f"{role}__{ev}"] for ev in param(snakemake, "evalsets")}
    evaluate(scenario=snakemake.wildcards.scenario, seed=int(snakemake.wildcards.seed),
             method=snakemake.wildcards.method, algorithm=snakemake.params.algorithm,
             model_ckpt=snakemake.input.ckpt_meta.removesuffix(".json"), features=features,
             forget_json=snakemake.input.forget, data_npz=snakemake.input.npz, data_json=snakemake.input.meta,
             downstream=param(snakemake, "downstream"), layers=param(snakemake, "layers"),
             metrics=param(snakemake, "metrics"), data_seed=snakemake.params.data_seed,
             attacks=param(snakemake, "attacks"), out=snakemake.output[0])
