# Data: materialise the upstream and downstream datasets (.npz + manifest + contact sheet).
from unlearnbench.plugins import plugin_modules


rule prepare_data:
    output:
        **LAYOUT.data_files("{dataset}"),
        sheet=report(
            LAYOUT.data_sheet("{dataset}"),
            caption="../report/contact_sheet.rst",
            category="Data",
            labels={"dataset": "{dataset}"},
        ),
    params:
        spec=lambda w: as_json(dataset_spec(w.dataset)),
        upstream=lambda w: as_json(config["data"]["upstream"]) if w.dataset != "upstream" else "null",
        validation=lambda w: as_json(VALIDATION) if w.dataset == "upstream" else "null",
        code=stage_code("prepare_data", *plugin_modules("unlearnbench.datasets")),  # adapters of plugins
    threads: 1
    log:
        LAYOUT.log("prepare_data", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("prepare_data", "{dataset}")
    run:
        job_script("prepare_data", locals())
