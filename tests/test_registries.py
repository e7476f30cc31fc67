"""Generic contracts of every registry (:mod:`unlearnbench.registry`), run over ``names()`` of each — methods,
metrics, recovery attacks, dataset adapters and scenario kinds (report figures: their own tests at the end) — so a
new component is tested the moment it registers: it creates with its defaults (or, where a parameter is required,
with its entry in :data:`FIXTURES`, and without it the error names that key), its description is complete, a bad
value of any constrained parameter is an error naming the key, and a second registration under its name fails."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from unlearnbench.describe import REGISTRIES, registry
from unlearnbench.params import REQUIRED, ParamError, check_choice, check_float, check_int

#: the smallest valid parameters of entries that cannot be created from defaults alone: a new component with a
#: required parameter adds its line here (its test fixture)
FIXTURES = {
    ("datasets", "npz"): {"path": "data.npz"},
    ("datasets", "cifar10"): {"path": "cifar-10-batches-py"},
    ("datasets", "cifar100"): {"path": "cifar-100-python"},
    ("datasets", "domainnet"): {"root": "domainnet", "domain": "clipart"},
    ("datasets", "synthetic_downstream"): {"upstream": {}, "kind": "similar"},
    ("methods", "external"): {"weights": "weights/{scenario}/seed{seed}.pth"},
    ("scenario-kinds", "random"): {"k": 2},
    ("scenario-kinds", "top"): {"k": 2, "downstream": "similar"},
    ("scenario-kinds", "classes"): {"classes": [0, "cat"]},
    ("scenario-kinds", "samples"): {"n": 5},
    ("scenario-kinds", "indices"): {"file": "forget.txt"},
}
#: entries whose creation builds more than the registry checks (files on disk): validated, not created
NOT_CREATED = {("datasets", "npz"), ("datasets", "cifar10"), ("datasets", "cifar100"), ("datasets", "domainnet"),
               ("datasets", "imagefolder")}

ENTRIES = [(command, name) for command in REGISTRIES for name in registry(command).names()]
IDS = [f"{c}:{n}" for c, n in ENTRIES]


def fixture(command: str, name: str) -> dict:
    required = [p.name for p in registry(command).params(name) if p.required]
    params = FIXTURES.get((command, name), {})
    assert set(required) <= set(params), f"{command} {name!r}: add its required parameters {required} to FIXTURES"
    return dict(params)


def test_every_registry_has_entries_and_the_cli_lists_each(capsys):
    from unlearnbench import cli

    for command in REGISTRIES:
        names = registry(command).names()
        assert names, command
        assert cli.main([command]) == 0
        out = capsys.readouterr().out
        assert f"{len(names)} registered {command}" in out and all(f"\n{n} — " in out for n in names)


@pytest.mark.parametrize("command, name", ENTRIES, ids=IDS)
def test_creates_with_defaults_or_names_the_required_key(command, name):
    reg = registry(command)
    params = fixture(command, name)
    required = [p.name for p in reg.params(name) if p.required]
    if required:
        with pytest.raises(ParamError) as exc:
            reg.create(name)
        assert f".{required[0]}: required" in str(exc.value), str(exc.value)
    if (command, name) in NOT_CREATED:
        assert reg.validate(name, params) == {**{p.name: p.default for p in reg.params(name) if not p.required},
                                              **params}
        return
    assert reg.create(name, **params) is not None


@pytest.mark.parametrize("command, name", ENTRIES, ids=IDS)
def test_describe_is_complete(command, name):
    reg = registry(command)
    entry = reg[name]
    d = reg.describe(name)
    assert d.name == name and d.summary and d.summary in " ".join(d.doc.split()).replace("``", "") + "."
    assert d.facts["module"] == inspect.unwrap(entry).__module__
    built = inspect.unwrap(entry)
    if inspect.isfunction(built) or isinstance(entry, type) and hasattr(entry, "param_names"):
        signature = inspect.signature(built if inspect.isfunction(built) else entry.__init__)
        declared = [n for n, p in signature.parameters.items()
                    if n not in ("self", "upstream") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        assert [p.name for p in d.params] == declared
    for p in d.params:
        # a default of None is "not given" (``samples``: exactly one of n, fraction)
        assert p.default in (REQUIRED, None) or p.constraint is None or p.constraint.accepts(p.default), p.name
        # a parameter without a constraint is one the component checks itself (``Any``, default None)
        assert p.constraint is not None or p.default is None, f"{name}.{p.name} declares no constraint"


@pytest.mark.parametrize("command, name", ENTRIES, ids=IDS)
def test_a_bad_value_is_an_error_naming_the_key(command, name):
    reg = registry(command)
    base = fixture(command, name)
    checked = 0
    for p in reg.params(name):
        if p.constraint is None:
            continue
        bad = p.constraint.invalid()
        assert not p.constraint.accepts(bad), (p.name, bad)
        with pytest.raises(ParamError, match=rf"\b{p.name}\b"):
            reg.validate(name, {**base, p.name: bad})
        if (command, name) not in NOT_CREATED:
            with pytest.raises(ParamError, match=rf"\b{p.name}\b"):
                reg.create(name, **{**base, p.name: bad})
        checked += 1
    with pytest.raises(ParamError, match="no_such_parameter"):
        if not getattr(reg[name], "accepts_extra_params", False):
            reg.validate(name, {**base, "no_such_parameter": 1})
        else:
            raise ParamError("no_such_parameter: the entry checks its own keys")
    assert checked == sum(p.constraint is not None for p in reg.params(name))


@pytest.mark.parametrize("call, message", [
    (lambda: check_int("k", 0, 1), "k: must be >= 1, got 0"),
    (lambda: check_int("k", 2.0, 1), "k: expected int, got 2.0"),
    (lambda: check_int("k", True, 0), "k: expected int, got True"),
    (lambda: check_int("eval_every", 9, 1, 8), "eval_every: must be <= 8, got 9"),
    (lambda: check_float("lr", 0.0, 0.0, lo_open=True), "lr: must be > 0.0, got 0.0"),
    (lambda: check_float("q", 1.0, 0.0, 1.0, hi_open=True), "q: must be < 1.0, got 1.0"),
    (lambda: check_float("x", float("nan"), 0.0, 1.0), "x: must be finite, got nan"),
    (lambda: check_choice("metric", "l3", ("cosine", "l2")), "metric: must be one of ['cosine', 'l2'], got 'l3'"),
    (lambda: check_choice("normalize", 1, (True, False)), "normalize: must be one of [True, False], got 1"),
])
def test_scalar_arguments_have_one_validator_naming_the_argument(call, message):
    with pytest.raises(ParamError) as err:
        call()
    assert message in str(err.value)


def test_the_scalar_validator_returns_python_numbers():
    import numpy as np

    assert type(check_int("n", np.int64(3), 0)) is int and check_int("n", np.int64(3), 0) == 3
    assert type(check_float("x", np.float32(0.5), 0.0, 1.0)) is float
    assert type(check_float("x", 2, 0.0)) is float
    assert check_choice("m", "l2", ("cosine", "l2")) == "l2"


@pytest.mark.parametrize("command", list(REGISTRIES))
def test_registering_a_taken_name_fails_and_leaves_the_registry_unchanged(command):
    reg = registry(command)
    before = dict(reg.items())
    for name in reg.names():
        with pytest.raises(ValueError, match=f"{reg.kind} '{name}' is already registered by "):
            reg.add(name, reg[name])
    with pytest.raises(ValueError, match="must be a Python identifier"):
        reg.add("not a name", reg[reg.names()[0]])
    assert dict(reg.items()) == before


def test_schema_blocks_follow_the_registries():
    from unlearnbench.config import load_schema
    from unlearnbench.config_scenarios import scenario_keys

    schema = load_schema()
    assert schema["properties"]["methods"]["additionalProperties"]["properties"]["algorithm"]["enum"] == \
        registry("methods").names()
    items = schema["properties"]["scenarios"]["items"]["properties"]
    assert items["kind"]["enum"] == registry("scenario-kinds").names()
    assert {k for keys in scenario_keys().values() for k in keys} <= set(items)
    assert schema["$defs"]["dataset"]["properties"]["type"]["enum"] == registry("datasets").names()


# ------------------------------------------------------------------------------------------- report figures
# Every registered figure (unlearnbench.report.figures: one module each) is tested here as it registers: it
# writes exactly the files it declares on a small report, explains itself (title, glossary line, docstring),
# and its module is in the plots job's code hash and in no other report job's.
from unlearnbench.report.figures import FIGURES  # noqa: E402

FIGURE_NAMES = FIGURES.names()


@pytest.fixture(scope="module")
def figure_inputs(tmp_path_factory):
    from test_report import report_data
    from unlearnbench.report.figures.base import FigureInputs

    data, _ = report_data(tmp_path_factory.mktemp("figure-report"))
    return FigureInputs(data)


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_a_figure_writes_exactly_the_files_it_declares(name, figure_inputs, tmp_path):
    from unlearnbench.report.figures.base import write_figure

    spec = FIGURES[name]
    written = write_figure(spec, figure_inputs, tmp_path)
    declared = spec.files(tmp_path, figure_inputs.data.scenarios)
    assert sorted(written) == sorted(declared) and len(declared) == len(set(declared))
    on_disk = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == set(declared) and all(p.stat().st_size > 0 for p in on_disk)
    per_figure = 1 if spec.scope == "experiment" else len(figure_inputs.data.scenarios)
    assert len(declared) == per_figure * 3  # PNG, SVG, PDF


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_a_figure_explains_itself_on_the_landing_page(name):
    from unlearnbench.report.figures import SCOPES, declarations, figure_modules
    from unlearnbench.report.glossary import glossary

    spec, d = FIGURES[name], FIGURES.describe(name)
    assert spec.name == name and spec.scope in SCOPES and spec.title.strip() and spec.glossary.strip()
    assert d.summary and d.facts["module"] == spec.draw.__module__ in figure_modules()
    assert d.facts["files"].startswith(f"plots/{name}")
    assert dict(glossary()["Figures (registered)"])[name].startswith(f"{spec.title}: {spec.glossary}")
    assert declarations()[name] == spec.declaration()


def test_only_the_plots_job_hashes_the_figure_modules():
    from unlearnbench.attacks import attack_modules
    from unlearnbench.codegraph import import_closure, script_entries
    from unlearnbench.report.figures import figure_modules
    from unlearnbench.scenario_kinds import kind_modules

    scripts = Path(__file__).resolve().parents[1] / "workflow_scripts"

    def closure(script, *entries):
        return import_closure([*script_entries(scripts / f"{script}.py"), *entries])

    figures = set(figure_modules())
    plots = closure("report_plots", *kind_modules(), *figures)
    assert figures <= plots and {"unlearnbench.report.plot_maps", "unlearnbench.report.plot_recovery"} <= plots
    leaderboard = closure("report_leaderboard", *attack_modules("features"), *attack_modules("model"), *kind_modules())
    exports = closure("report_exports", *kind_modules())
    assert "unlearnbench.report.figures" in leaderboard  # the registry itself: the landing page lists it
    assert not figures & (leaderboard | exports)
    assert not {"unlearnbench.report.plots", "unlearnbench.report.plot_maps"} & (leaderboard | exports)
    smk = (scripts.parent / "rules" / "report.smk").read_text()
    assert "*report_figures.figure_modules()" in smk and "figures=as_json(report_figures.declarations())" in smk


def test_a_figure_is_refused_without_its_declaration():
    from unlearnbench.report.figures import register_figure

    before = dict(FIGURES.items())
    with pytest.raises(ValueError, match="scope"):
        register_figure("bad_scope", title="t", glossary="g", scope="everywhere")(lambda inputs, sc: None)
    with pytest.raises(ValueError, match="glossary line"):
        register_figure("no_line", title="t", glossary=" ", scope="scenario")(lambda inputs, sc: None)
    with pytest.raises(ValueError, match="already registered"):
        register_figure("knn", title="t", glossary="g", scope="experiment")(lambda inputs, sc: None)
    assert dict(FIGURES.items()) == before


def test_a_new_figure_is_drawn_listed_and_linked(figure_inputs, tmp_path, monkeypatch):
    """One registration is all a figure needs: the report draws it, the landing page links and explains it."""
    from unlearnbench.report import layout
    from unlearnbench.report.figbase import new_figure
    from unlearnbench.report.figures import FigureSpec, figure_files, write_figures
    from unlearnbench.report.index import links, render_index

    def draw(inputs, scenario):
        """Number of methods per scenario (a toy figure)."""
        fig = new_figure(3, 2)
        fig.subplots().bar([0], [len(inputs.methods)])
        return fig

    spec = FigureSpec("method_count", "Methods per scenario", "how many methods ran", "scenario", draw)
    monkeypatch.setitem(FIGURES._entries, "method_count", spec)
    written = write_figures(figure_inputs.data, tmp_path)
    mine = spec.files(tmp_path, figure_inputs.data.scenarios)
    assert set(mine) <= set(written) == set(figure_files(tmp_path, figure_inputs.data.scenarios))
    assert set(mine) <= set(links(figure_inputs.data, tmp_path))
    page = render_index(figure_inputs.data, tmp_path)
    assert "Methods per scenario — cls" in page and "how many methods ran" in page
    assert layout.plot_file(tmp_path, "method_count", "pdf", "smp").is_file()
