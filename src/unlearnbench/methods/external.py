"""``external``: evaluate a model unlearned in another codebase, as one more method row.

Researchers compare against checkpoints published with a paper (SalUn, SCRUB, … release their unlearned
models) or produced by their own code. This method runs no algorithm: its "unlearning" loads the weights file
of the run's scenario and replicate seed into the original model's architecture and hands the result to the
same feature extraction, metrics, attacks and report as every other method.

    methods:
      salun_release:
        algorithm: external
        weights: checkpoints/salun/{scenario}/seed{seed}.pth

``weights`` is a path template with ``{scenario}`` and ``{seed}``; every file it names for the runs the
instance takes part in must exist and be a weights-only state dict at config validation
(:meth:`External.check_input_file`), and each is an input of its unlearn job
(:meth:`External.input_files`): editing a file reruns exactly that run. The file is read like
``model.pretrained`` (:func:`unlearnbench.checkpoints.read_weights`: safetensors, or ``.pth``/``.pt`` under
``torch.load(weights_only=True)``, wrapper dicts and ``module.`` prefixes handled) and must fit the original's
architecture **and** class count exactly — anything else is an error naming the file. The sidecar records the
file's path, SHA-256, format and wrapper key (``source_weights``). The model keeps the original's input
normalisation (it was unlearned from that original). No tuning grid; class and sample scenarios.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unlearnbench.methods.base import MethodConfigError, UnlearningMethod, hparam, register_method


@register_method("external")
@dataclass
class External(UnlearningMethod):
    """A model unlearned elsewhere, imported from a weights file per scenario and seed (no algorithm runs)."""

    runs_algorithm = False

    weights: str = hparam("", help="path template of the unlearned weights, with {scenario} and {seed} "
                                   "(.safetensors, or a weights-only PyTorch .pth/.pt state dict)")

    def __post_init__(self) -> None:
        super().__post_init__()
        from unlearnbench.checkpoints import check_template

        if not self.weights:
            raise MethodConfigError("methods.external.weights: required: the path template of the unlearned models' "
                                    "weights, e.g. 'weights/{scenario}/seed{seed}.pth'")
        try:
            check_template(self.weights)
        except ValueError as exc:
            raise MethodConfigError(f"methods.external.weights: {exc}") from None

    def input_files(self, scenario: str, seed: int) -> dict[str, str]:
        from unlearnbench.checkpoints import expand_weights_path

        return {"weights": expand_weights_path(self.weights, scenario=scenario, seed=int(seed))}

    def check_input_file(self, key: str, path: str) -> None:
        from unlearnbench.checkpoints import check_weights_file

        check_weights_file(path)

    def unlearn(self, model, task) -> tuple[Any, dict[str, Any]]:
        from unlearnbench.checkpoints import load_pretrained_weights, weights_provenance

        if task.scenario is None:
            raise ValueError("external: the task names no scenario, so the weights path cannot be filled in")
        path = self.input_files(task.scenario, task.seed)["weights"]
        info = load_pretrained_weights(model, path, reset_head=False)  # strict: same architecture and classes
        source = {**weights_provenance(path, {k: info[k] for k in ("format", "wrapper")}), "template": self.weights}
        return model, {"source_weights": source, "curve": []}
