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


rule all:
    input:
        all_targets(),
    default_target: True
