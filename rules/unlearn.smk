# Unlearning: one job per (scenario, seed, method instance), each starting from the original model, and —
# with `tuning.enabled` — one tune job per (scenario, method instance) whose selection every seed applies.
# Params carry the instance's hyper-parameters (and grid) and the code hash of its own modules, so editing
# SCRUB reruns SCRUB jobs only, and changing one grid point reruns that instance's branch only.
from unlearnbench.methods import grid_points, method_module


def tuned(method):
    """Whether the tune stage selects this instance's hyper-parameters (tuning on, and a grid to search)."""
    return bool(TUNING["enabled"] and grid_points(method, config["methods"][method]))


def method_code(script):
    """The code param of a method rule: its script's import closure plus the instance's algorithm module (and
    what that imports: base classes, shared loops), never the other algorithms' modules."""
    return lambda w: stage_code(script, method_module(config["methods"][w.method]["algorithm"]))


def surrogate_input(w):
    """The prepared downstream dataset an instance names as surrogate data (`surrogate_set`), if any."""
    name = config["methods"][w.method].get("surrogate_set")
    return {"surrogate": LAYOUT.data_files(name)["npz"]} if name else {}


def unlearn_inputs(w):
    inputs = {"original": LAYOUT.checkpoint("original"), "original_meta": LAYOUT.checkpoint_meta("original"),
              **LAYOUT.data_files("upstream"), "forget": LAYOUT.forget_set(w.scenario), **surrogate_input(w),
              **method_inputs(w)}
    if tuned(w.method):
        inputs["tuning"] = LAYOUT.tuning_record(w.scenario, w.method)
        if int(w.seed) == SEEDS[0]:  # the tune job already ran this seed's unlearning: adopt it
            inputs["tuned_model"] = LAYOUT.tuned_checkpoint(w.scenario, w.method)
    return inputs


def tune_inputs(w):
    return {"original": LAYOUT.checkpoint("original"), "original_meta": LAYOUT.checkpoint_meta("original"),
            "retrain": LAYOUT.run_checkpoint(w.scenario, SEEDS[0], "retrain"), **LAYOUT.data_files("upstream"),
            "forget": LAYOUT.forget_set(w.scenario), **surrogate_input(w), **method_inputs(w, seed=SEEDS[0])}


rule tune:
    input:
        unpack(tune_inputs),
    output:
        record=LAYOUT.tuning_record("{scenario}", "{method}"),
        model=LAYOUT.tuned_checkpoint("{scenario}", "{method}"),
        model_meta=LAYOUT.tuned_checkpoint_meta("{scenario}", "{method}"),
    params:
        spec=lambda w: as_json(config["methods"][w.method]),
        grid=lambda w: as_json(grid_points(w.method, config["methods"][w.method])),
        edge_steps=config["tuning"]["edge_steps"],
        refine_steps=config["tuning"]["refine_steps"],
        seed=SEEDS[0],  # tuned once per method and scenario, on the first replicate seed
        monitor_images=config["monitor_images"],
        device=config["device"],
        code=method_code("tune"),
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        LAYOUT.log("tune", job_key("{scenario}", method="{method}")),
    benchmark:
        LAYOUT.benchmark("tune", job_key("{scenario}", method="{method}"))
    run:
        job_script("tune", locals(), model=True)


rule unlearn:
    input:
        unpack(unlearn_inputs),
    output:
        ckpt=LAYOUT.run_checkpoint("{scenario}", "{seed}", "{method}"),
        meta=LAYOUT.run_sidecar("{scenario}", "{seed}", "{method}"),
    params:
        spec=lambda w: as_json(config["methods"][w.method]),
        seed=lambda w: int(w.seed),
        monitor_images=config["monitor_images"],
        device=config["device"],
        code=method_code("unlearn"),
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        LAYOUT.log("unlearn", RUN_KEY),
    benchmark:
        LAYOUT.benchmark("unlearn", RUN_KEY)
    run:
        job_script("unlearn", locals(), model=True)
