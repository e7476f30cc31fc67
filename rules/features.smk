# Features: one job per (model, eval set) runs exactly one forward pass and writes one file; every metric
# reads this cache. One job per eval set (not per model) keeps reruns exact: adding a downstream set adds
# its extraction jobs and leaves every existing features file — and the `top` ranking read from them —
# untouched. In-process jobs (rules/common.smk) make the extra model loads cheap (docs/performance.md).
# The same pass keeps each stage's flattened maps of a seeded per-class subset and stores their Gram matrix
# (gram_per_class, gram_max_bytes: layer-wise CKA on full activation maps, docs/metrics.md).


rule extract_features:
    input:
        ckpt=lambda w: LAYOUT.checkpoint(w.model),
        meta=lambda w: LAYOUT.checkpoint_meta(w.model),
        data=lambda w: evalset_data(w.evalset)["npz"],
    output:
        feats=LAYOUT.features("{model}", "{evalset}"),
        meta=LAYOUT.features_meta("{model}", "{evalset}"),
    params:
        layers=as_json(config["evaluation"]["layers"]),
        batch_size=config["evaluation"]["batch_size"],
        max_per_class=as_json(config["evaluation"]["max_per_class"]),
        dtype=config["evaluation"]["dtype"],
        gram_per_class=config["evaluation"]["gram_per_class"],
        gram_max_bytes=config["evaluation"]["gram_max_bytes"],
        seed=config["seed"],
        device=config["device"],
        code=stage_code("extract_features"),
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        LAYOUT.log("extract_features", "{model}/{evalset}"),
    benchmark:
        LAYOUT.benchmark("extract_features", "{model}/{evalset}")
    run:
        job_script("extract_features", locals(), model=True)
