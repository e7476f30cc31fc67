from unlearnbench.stages import select_forget_set
from unlearnbench.workflow import logged, param

with logged(snakemake):
    select_forget_set(param(snakemake, "scenario"), snakemake.input.npz, snakemake.output.forget,
                      snakemake.output.ranking, up_features=snakemake.input.get("up_features"),
                      down_features=snakemake.input.get("down_features"), down_json=snakemake.input.get("down_meta"))
