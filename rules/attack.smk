# Recovery attacks (docs/attacks.md): can a forgotten class come back cheaply? One job per model of a
# (scenario, seed) — every unlearned model, the retrained control and the original ceiling — running every
# configured model attack on the one loaded model. Feature-cache attacks (prototype relearning, per-layer
# probes) run inside the evaluate job instead: they never run a model.
from unlearnbench.attacks import ATTACKS, attack_modules, model_attacks_apply
from unlearnbench.data.forget_sets import forget_mode


def attack_block(kind):
    """The `attacks` config restricted to the attacks of one kind: a job's params change only with its own
    attacks' parameters."""
    names = {n for n in ATTACKS.names() if ATTACKS.get(n).kind == kind}
    params = {n: p for n, p in (config["attacks"].get("params") or {}).items() if n in names}
    return {"enabled": config["attacks"]["enabled"], "params": params}


def attacked_models(scenario):
    """Models attacked in a scenario: the original (ceiling), the retrained control and every method instance
    (none when no configured model attack is defined for the scenario's kind)."""
    if not model_attacks_apply(config["attacks"], SCENARIO[scenario]["kind"]):
        return []
    return ["original", "retrain", *[m for m in METHOD_INSTANCES if scenario in method_scenarios(config, m)]]


def attack_files():
    """The attacks' rows of every attacked model, beside the evaluation's (unlearnbench.layout.Layout.relearn_file)."""
    return [LAYOUT.relearn_file(sc, seed, m) for sc in SCENARIOS for seed in SEEDS for m in attacked_models(sc)]


rule attack:
    input:
        ckpt=lambda w: LAYOUT.checkpoint(evaluated_model(w)),
        ckpt_meta=lambda w: LAYOUT.checkpoint_meta(evaluated_model(w)),
        # the relearn-time target: the original's accuracy on the measured split, from its cached logits
        original_features=lambda w: LAYOUT.features("original", "train" if forget_mode(SCENARIO[w.scenario]["kind"])
                                                    == "sample" else "test"),
        forget=lambda w: LAYOUT.forget_set(w.scenario),
        **LAYOUT.data_files("upstream"),
    output:
        LAYOUT.relearn_file("{scenario}", "{seed}", "{method}"),
    wildcard_constraints:
        method=alternation(["original", "retrain", *METHOD_INSTANCES]),
    params:
        attacks=as_json(attack_block("model")),
        algorithm=lambda w: config["methods"][w.method]["algorithm"] if w.method in config["methods"] else w.method,
        data_seed=config["seed"],
        device=config["device"],
        code=stage_code("attack", *attack_modules("model")),
    threads: TORCH_THREADS
    resources:
        **TORCH_RESOURCES,
    log:
        LAYOUT.log("attack", RUN_KEY),
    benchmark:
        LAYOUT.benchmark("attack", RUN_KEY)
    run:
        job_script("attack", locals(), model=True)
