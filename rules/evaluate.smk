from unlearnbench.plugins import plugin_modules
from unlearnbench.report import layout

# Evaluation: every metric of one (scenario, seed, model) from cached features, against both references,
# one Parquet file per job under {OUT}/results/ (the results dataset); then the aggregated tables under
# {OUT}/summary/. Paths: unlearnbench.report.layout.


def evaluated_model(w):
    """The `method` wildcard of evaluate: a method instance, a reference (`original`, `retrain`) or the
    seed-noise floor `original_prime` (unlearnbench.report.layout.model_id)."""
    return layout.model_id(w.scenario, w.seed, w.method)


def evaluate_inputs(w):
    roles = {"model": evaluated_model(w), "original": "original", "retrain": f"retrain/{w.scenario}/seed{w.seed}"}
    inputs = {f"{role}__{ev}": features(model, ev) for role, model in roles.items() for ev in EVALSETS}
    inputs["ckpt_meta"] = checkpoint(roles["model"]) + ".json"
    inputs["forget"] = forget_set(w.scenario)
    inputs.update(data_files("upstream"))
    return inputs


def reference_rows():
    return [r for r in layout.REFERENCE_ROWS if FLOOR or r != "original_prime"]


def evaluated_methods(scenario):
    return reference_rows() + [m for m in METHOD_INSTANCES if scenario in method_scenarios(config, m)]


def result_files():
    return [str(layout.result_file(OUT, sc, seed, m)) for sc in SCENARIOS for seed in SEEDS
            for m in evaluated_methods(sc)]


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        str(layout.result_file(OUT, "{scenario}", "{seed}", "{method}")),
    wildcard_constraints:
        method=_alt([*reference_rows(), *METHOD_INSTANCES]),
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
        f"{OUT}/logs/evaluate/{{scenario}}/seed{{seed}}/{{method}}.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate/{{scenario}}/seed{{seed}}/{{method}}.tsv"
    run:
        job_script("evaluate", locals())


rule aggregate:
    input:
        result_files(),
        attack_files(),
    output:
        results=str(layout.results_table(OUT)),
        summary=str(layout.summary_table(OUT)),
        summary_csv=str(layout.summary_csv(OUT)),
    params:
        results_dir=str(layout.results_dir(OUT)),  # stale tables of the old layout there are removed
        code=stage_code("aggregate"),
    threads: 1
    log:
        f"{OUT}/logs/aggregate.log",
    benchmark:
        f"{OUT}/benchmarks/aggregate.tsv"
    run:
        job_script("aggregate", locals())
