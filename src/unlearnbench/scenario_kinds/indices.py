"""``indices``: the training samples listed in a file (plain text, one integer per line; ``.npy``; or a ``.json``
list: :func:`unlearnbench.data.forget_sets.read_index_file`). Indices number the upstream training set as the
dataset adapter builds it — *before* the tuning validation split is carved out; listed samples the carve moved
into that split are left out (counted and listed in the forget set's ``details``)."""
from __future__ import annotations

from typing import Any

from unlearnbench.params import REQUIRED, InstanceOf, Param
from unlearnbench.scenario_kinds.base import CheckContext, Drawn, ForgetInputs, ScenarioKind, register_scenario_kind


@register_scenario_kind("indices")
class ListedSamples(ScenarioKind):
    """Forget the training samples a file lists (a published sample forget set)."""

    mode = "sample"
    keys = (Param("file", REQUIRED, InstanceOf(str),
                  "Forget list (indices): plain text with one training-sample index per line (`#` comments "
                  "allowed), a 1-D integer .npy, or a .json list. Indices number the upstream training set as the "
                  "dataset defines it, before the tuning validation split is carved out; listed samples the carve "
                  "moves into that split are left out (recorded in the forget set). A rule input: editing the file "
                  "reruns this scenario's jobs."),)

    def check(self, ctx: CheckContext) -> None:
        """The file parses, its indices are unique and within the training set (when countable)."""
        from unlearnbench.data.forget_sets import check_index_range, read_index_file

        listed = read_index_file(self.spec["file"], f"{ctx.where}.file")
        size = ctx.train_size(False)
        if size is not None:
            check_index_range(listed, size[0], f"{ctx.where}.file", self.spec["file"], f" ({size[1]})")

    def job_inputs(self, paths: Any) -> dict[str, str]:
        return {"forget_list": self.spec["file"]}

    def build(self, inputs: ForgetInputs) -> Drawn:
        from unlearnbench.data.forget_sets import listed_indices

        indices, details = listed_indices(self.spec, len(inputs.train_labels), inputs.train_index,
                                          inputs.source_size, f"{inputs.where}: file")
        return Drawn(indices=indices, details=details)
