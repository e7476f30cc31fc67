# Features: one job per model runs exactly one forward pass per eval set (upstream train, upstream test,
# every downstream set) and writes one file per (model, eval set); every metric reads this cache.


rule extract_features:
    input:
        ckpt=lambda w: checkpoint(w.model),
        meta=lambda w: checkpoint(w.model) + ".json",
        data=[data_files(name)["npz"] for name in DATASETS],
    output:
        feats=[f"{OUT}/features/{{model}}/{ev}.safetensors" for ev in EVALSETS],
        meta=[f"{OUT}/features/{{model}}/{ev}.safetensors.json" for ev in EVALSETS],
    params:
        evalsets=as_json([[ev, evalset_data(ev)["npz"]] for ev in EVALSETS]),  # same order as output
        layers=as_json(config["evaluation"]["layers"]),
        batch_size=config["evaluation"]["batch_size"],
        max_per_class=as_json(config["evaluation"]["max_per_class"]),
        dtype=config["evaluation"]["dtype"],
        seed=config["seed"],
        device=config["device"],
        code=stage_code("extract_features", "features.py", "models.py", "checkpoints.py", "training.py", "data/arrays.py",
                         "data/files.py"),
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        f"{OUT}/logs/extract_features/{{model}}.log",
    benchmark:
        f"{OUT}/benchmarks/extract_features/{{model}}.tsv"
    run:
        job_script("extract_features", locals(), model=True)
