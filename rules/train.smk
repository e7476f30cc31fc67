# Training: the original model (all upstream training data) and the retrained reference (retain set only).
# With `model.pretrained`, train_original imports the original model from that weights file instead of
# training it (same outputs; the sidecar records `source: import` and the file's SHA-256); with
# `retrain.pretrained`, train_retrain imports each scenario's and seed's published retrained reference.

# Model specs in params: the import settings only where they matter (the retrained reference is always
# trained from scratch; without `pretrained`, `finetune` is irrelevant), so toggling them reruns nothing else.
SCRATCH_MODEL = {k: v for k, v in config["model"].items() if k not in ("pretrained", "finetune")}
ORIGINAL_MODEL = config["model"] if config["model"].get("pretrained") else SCRATCH_MODEL
# an imported retrained reference is not trained: the recipe is no param of it (a recipe edit reruns nothing)
RETRAIN_RECIPE = None if config["retrain"]["pretrained"] else config["train"]
TRAIN_CODE = stage_code("train")


rule train_original:
    input:
        **LAYOUT.data_files("upstream"),
        **pretrained_input(),
    output:
        ckpt=LAYOUT.checkpoint("original"),
        meta=LAYOUT.checkpoint_meta("original"),
    params:
        model=as_json(ORIGINAL_MODEL),
        train=as_json(config["train"]),
        seed=config["seed"],
        monitor_images=config["monitor_images"],
        role="original",
        device=config["device"],
        code=TRAIN_CODE,
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        LAYOUT.log("train_original"),
    benchmark:
        LAYOUT.benchmark("train_original")
    run:
        job_script("train", locals(), model=True)


def forget_set_inputs(w):
    """The upstream data and what the scenario's kind reads besides (ScenarioKind.job_inputs): `top` the original
    model's cached features (no extra forward pass), `indices` its forget list (editing it reruns this scenario)."""
    from unlearnbench.scenario_kinds import ScenarioKind

    kind = ScenarioKind.from_spec(SCENARIO[w.scenario], validated=True)
    return {**LAYOUT.data_files("upstream"), **kind.job_inputs(LAYOUT)}


rule select_forget_set:
    input:
        unpack(forget_set_inputs),
    output:
        forget=LAYOUT.forget_set("{scenario}"),
        ranking=LAYOUT.forget_ranking("{scenario}"),
    params:
        scenario=lambda w: as_json(SCENARIO[w.scenario]),
        code=stage_code("select_forget_set", *kind_modules()),  # the kinds are looked up by name
    threads: 1
    log:
        LAYOUT.log("select_forget_set", "{scenario}"),
    benchmark:
        LAYOUT.benchmark("select_forget_set", "{scenario}")
    run:
        job_script("select_forget_set", locals())


use rule train_original as train_original_prime with:
    # the seed-noise floor: the original's recipe and data from another seed (rules/common.smk FLOOR)
    output:
        ckpt=LAYOUT.run_checkpoint(None, "{seed}", "original_prime"),
        meta=LAYOUT.run_sidecar(None, "{seed}", "original_prime"),
    params:
        model=as_json(ORIGINAL_MODEL),
        train=as_json(config["train"]),
        seed=lambda w: int(w.seed),
        monitor_images=config["monitor_images"],
        role="original_prime",
        device=config["device"],
        code=TRAIN_CODE,
    log:
        LAYOUT.log("train_original_prime", job_key(seed="{seed}")),
    benchmark:
        LAYOUT.benchmark("train_original_prime", job_key(seed="{seed}"))


rule train_retrain:
    input:
        **LAYOUT.data_files("upstream"),
        forget=LAYOUT.forget_set("{scenario}"),
        # `retrain.pretrained`: the published weights of this scenario and seed (an edit reruns this job)
        **retrain_weights_input(),
    output:
        ckpt=LAYOUT.run_checkpoint("{scenario}", "{seed}", "retrain"),
        meta=LAYOUT.run_sidecar("{scenario}", "{seed}", "retrain"),
    params:
        model=as_json(SCRATCH_MODEL),  # never model.pretrained: those weights saw the forget classes
        train=as_json(RETRAIN_RECIPE),
        seed=lambda w: int(w.seed),
        monitor_images=config["monitor_images"],
        role="retrain",
        device=config["device"],
        code=TRAIN_CODE,
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        LAYOUT.log("train_retrain", REPLICATE_KEY),
    benchmark:
        LAYOUT.benchmark("train_retrain", REPLICATE_KEY)
    run:
        job_script("train", locals(), model=True)
