# Unlearning: one job per (scenario, seed, method instance), each starting from the original model, and —
# with `tuning.enabled` — one tune job per (scenario, method instance) whose selection every seed applies.
# Params carry the instance's hyper-parameters (and grid) and the code hash of its own modules, so editing
# SCRUB reruns SCRUB jobs only, and changing one grid point reruns that instance's branch only.
from unlearnbench.methods import grid_points, method_module
from unlearnbench.tuning import tuned_model_path


def tuned(method):
    """Whether the tune stage selects this instance's hyper-parameters (tuning on, and a grid to search)."""
    return bool(TUNING["enabled"] and grid_points(method, config["methods"][method]))


def tuning_file(scenario, method):
    return f"{OUT}/tuning/{scenario}/{method}.json"


def tuned_model_file(scenario, method):
    """The tune job's run of the chosen point on the first seed (unlearnbench.tuning.tuned_model_path)."""
    return str(tuned_model_path(tuning_file(scenario, method)))


def method_code(script):
    """The code param of a method rule: its script's import closure plus the instance's algorithm module (and
    what that imports: base classes, shared loops), never the other algorithms' modules."""
    return lambda w: stage_code(script, method_module(config["methods"][w.method]["algorithm"]))


def surrogate_input(w):
    """The prepared downstream dataset an instance names as surrogate data (`surrogate_set`), if any."""
    name = config["methods"][w.method].get("surrogate_set")
    return {"surrogate": data_files(name)["npz"]} if name else {}


def unlearn_inputs(w):
    inputs = {"original": checkpoint("original"), "original_meta": checkpoint("original") + ".json",
              **data_files("upstream"), "forget": forget_set(w.scenario), **surrogate_input(w),
              **method_inputs(w)}
    if tuned(w.method):
        inputs["tuning"] = tuning_file(w.scenario, w.method)
        if int(w.seed) == SEEDS[0]:  # the tune job already ran this seed's unlearning: adopt it
            inputs["tuned_model"] = tuned_model_file(w.scenario, w.method)
    return inputs


def tune_inputs(w):
    return {"original": checkpoint("original"), "original_meta": checkpoint("original") + ".json",
            "retrain": checkpoint(f"retrain/{w.scenario}/seed{SEEDS[0]}"), **data_files("upstream"),
            "forget": forget_set(w.scenario), **surrogate_input(w), **method_inputs(w, seed=SEEDS[0])}


rule tune:
    input:
        unpack(tune_inputs),
    output:
        record=tuning_file("{scenario}", "{method}"),
        model=tuned_model_file("{scenario}", "{method}"),
        model_meta=tuned_model_file("{scenario}", "{method}") + ".json",
    params:
        spec=lambda w: as_json(config["methods"][w.method]),
        grid=lambda w: as_json(grid_points(w.method, config["methods"][w.method])),
        seed=SEEDS[0],  # tuned once per method and scenario, on the first replicate seed
        monitor_images=config["monitor_images"],
        device=config["device"],
        code=method_code("tune"),
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        f"{OUT}/logs/tune/{{scenario}}/{{method}}.log",
    benchmark:
        f"{OUT}/benchmarks/tune/{{scenario}}/{{method}}.tsv"
    run:
        job_script("tune", locals(), model=True)


rule unlearn:
    input:
        unpack(unlearn_inputs),
    output:
        ckpt=checkpoint("unlearn/{scenario}/seed{seed}/{method}"),
        meta=checkpoint("unlearn/{scenario}/seed{seed}/{method}") + ".json",
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
        f"{OUT}/logs/unlearn/{{scenario}}/seed{{seed}}/{{method}}.log",
    benchmark:
        f"{OUT}/benchmarks/unlearn/{{scenario}}/seed{{seed}}/{{method}}.tsv"
    run:
        job_script("unlearn", locals(), model=True)
