# Unlearning: one job per (scenario, seed, method instance), each starting from the original model.
# Params carry the instance's hyper-parameters and the code hash of its own module, so editing SCRUB
# reruns SCRUB jobs only.
from unlearnbench.methods import method_sources


rule unlearn:
    input:
        original=checkpoint("original"),
        original_meta=checkpoint("original") + ".json",
        **data_files("upstream"),
        forget=forget_set("{scenario}"),
    output:
        ckpt=checkpoint("unlearn/{scenario}/seed{seed}/{method}"),
        meta=checkpoint("unlearn/{scenario}/seed{seed}/{method}") + ".json",
    params:
        spec=lambda w: as_json(config["methods"][w.method]),
        seed=lambda w: int(w.seed),
        device=config["device"],
        code=lambda w: stage_code("unlearn", *method_sources(config["methods"][w.method]["algorithm"]), "stages.py"),
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        f"{OUT}/logs/unlearn/{{scenario}}/seed{{seed}}/{{method}}.log",
    benchmark:
        f"{OUT}/benchmarks/unlearn/{{scenario}}/seed{{seed}}/{{method}}.tsv"
    run:
        job_script("unlearn", locals(), model=True)
