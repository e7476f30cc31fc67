# unlearnbench — does machine unlearning remove forgotten classes from representations, or only logits?
# Table of contents only: validation and helpers live in rules/common.smk, one .smk per stage.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/features.smk"
include: "rules/unlearn.smk"
include: "rules/attack.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


# Jobs of a few seconds run on the submitting host under a cluster executor (profiles/slurm, kubernetes):
# an sbatch or a pod each would cost more than the job (make test-cluster).
localrules:
    select_forget_set,
    aggregate,
    leaderboard,
    plots,
    exports,


rule all:
    input:
        all_targets(),
    default_target: True
