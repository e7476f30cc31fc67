"""Generic contracts of every registry (:mod:`unlearnbench.registry`), run over ``names()`` of each — methods,
metrics, recovery attacks, dataset adapters and scenario kinds — so a new component is tested the moment it
registers: it creates with its defaults (or, where a parameter is required, with its entry in
:data:`FIXTURES`, and without it the error names that key), its description is complete, a bad value of any
constrained parameter is an error naming the key, and a second registration under its name fails."""
from __future__ import annotations

import inspect

import pytest

from unlearnbench.describe import REGISTRIES, registry
from unlearnbench.params import REQUIRED, ParamError

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
