from unlearnbench.layout import REFERENCE_ROWS
from unlearnbench.plugins import plugin_modules

# Evaluation: every metric of one (scenario, seed, model) from cached features, against both references,
# one Parquet file per job under {OUT}/results/ (the results dataset); then the aggregated tables under
# {OUT}/summary/. Paths: unlearnbench.layout (LAYOUT).


def evaluated_model(w):
    """The `method` wildcard of evaluate: a method instance, a reference (`original`, `retrain`) or the
    seed-noise floor `original_prime` (unlearnbench.layout.model_id)."""
    return model_id(w.scenario, w.seed, w.method)


def evaluate_inputs(w):
    roles = {role: model_id(w.scenario, w.seed, method)
             for role, method in (("model", w.method), ("original", "original"), ("retrain", "retrain"))}
    inputs = {f"{role}__{ev}": LAYOUT.features(model, ev) for role, model in roles.items() for ev in EVALSETS}
    inputs["ckpt_meta"] = LAYOUT.checkpoint_meta(roles["model"])
    inputs["forget"] = LAYOUT.forget_set(w.scenario)
    inputs.update(LAYOUT.data_files("upstream"))
    return inputs


def reference_rows():
    return [r for r in REFERENCE_ROWS if FLOOR or r != "original_prime"]


def evaluated_methods(scenario):
    return reference_rows() + [m for m in METHOD_INSTANCES if scenario in method_scenarios(config, m)]


def evaluated_runs(scenario):
    """(seed, method) of every model evaluated on a scenario: the floor original′ only on FLOOR_SEEDS."""
    return [(seed, m) for seed in SEEDS for m in evaluated_methods(scenario)
            if m != "original_prime" or seed in FLOOR_SEEDS]


def result_files():
    return [LAYOUT.result_file(sc, seed, m) for sc in SCENARIOS for seed, m in evaluated_runs(sc)]


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        LAYOUT.result_file("{scenario}", "{seed}", "{method}"),
    wildcard_constraints:
        method=alternation([*reference_rows(), *METHOD_INSTANCES]),
    params:
        metrics=as_json(config["evaluation"]["metrics"]),
        layers=as_json(config["evaluation"]["layers"]),
        algorithm=lambda w: config["methods"][w.method]["algorithm"] if w.method in config["methods"] else w.method,
        downstream=as_json(DOWNSTREAM),
        evalsets=as_json(EVALSETS),
        data_seed=config["seed"],
        attacks=as_json(attack_block("features")),
        code=stage_code("evaluate", *attack_modules("features"), *plugin_modules("unlearnbench.metrics")),
    threads: config["evaluation"]["threads"]
    log:
        LAYOUT.log("evaluate", RUN_KEY),
    benchmark:
        LAYOUT.benchmark("evaluate", RUN_KEY)
    run:
        job_script("evaluate", locals())


rule aggregate:
    input:
        result_files(),
        attack_files(),
    output:
        results=LAYOUT.results_table(),
        summary=LAYOUT.summary_table(),
        summary_csv=LAYOUT.summary_csv(),
    params:
        results_dir=str(LAYOUT.results_dir()),  # stale tables of the old layout there are removed
        code=stage_code("aggregate"),
    threads: 1
    log:
        LAYOUT.log("aggregate"),
    benchmark:
        LAYOUT.benchmark("aggregate")
    run:
        job_script("aggregate", locals())
