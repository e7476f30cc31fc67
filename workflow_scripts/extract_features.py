from unlearnbench.stages import extract_features
from unlearnbench.workflow import logged, param

with logged(snakemake):
    extract_features(snakemake.input.ckpt, [(snakemake.wildcards.evalset, snakemake.input.data)],
                     [snakemake.output.feats], layers=param(snakemake, "layers"),
                     batch_size=snakemake.params.batch_size, max_per_class=param(snakemake, "max_per_class"),
                     dtype=snakemake.params.dtype, seed=snakemake.params.seed, threads=snakemake.threads,
                     device=snakemake.params.device, gram_per_class=snakemake.params.gram_per_class,
                     gram_max_bytes=snakemake.params.gram_max_bytes)
