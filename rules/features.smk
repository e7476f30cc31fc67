# Features: one forward pass per (model, eval set); every metric reads this cache.


rule extract_features:
    input:
        ckpt=lambda w: checkpoint(w.model),
        meta=lambda w: checkpoint(w.model) + ".json",
        data=lambda w: evalset_data(w.evalset)["npz"],
    output:
        feats=f"{OUT}/features/{{model}}/{{evalset}}.safetensors",
        meta=f"{OUT}/features/{{model}}/{{evalset}}.safetensors.json",
    params:
        layers=as_json(config["evaluation"]["layers"]),
        batch_size=config["evaluation"]["batch_size"],
        max_per_class=as_json(config["evaluation"]["max_per_class"]),
        dtype=config["evaluation"]["dtype"],
        seed=config["seed"],
        device=config["device"],
        code=code_hash("features.py", "models.py", "checkpoints.py", "data/arrays.py"),
    threads: TORCH_THREADS
    log:
        f"{OUT}/logs/extract_features/{{model}}/{{evalset}}.log",
    benchmark:
        f"{OUT}/benchmarks/extract_features/{{model}}/{{evalset}}.tsv"
    script:
        "../workflow_scripts/extract_features.py"
