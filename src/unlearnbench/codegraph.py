"""Code hashes computed from the import graph, never from hand-kept file lists.

A rule's ``code`` param must change exactly when code its jobs run changes: Snakemake sees neither edits
to imported modules nor to what a ``run:`` body calls. :func:`closure_hash` hashes a workflow script and
the sources of every ``unlearnbench`` module its job can execute, found statically with :mod:`ast` — lazy
imports inside functions count, and nothing is imported (no torch at DAG parse time).

Precision is per top-level name, so that one module of many entry points (``stages``) does not tie every
job to every other: ``from unlearnbench.x import f`` makes module ``x`` reachable with the names ``{f}``.
A reachable module contributes the imports of its module-level code (they run on import) and, for each
reachable top-level function or class, the imports inside it; a reachable name makes every top-level name
it references reachable (transitively), and so do module-level statements and decorated definitions
(registrations run on import). ``import unlearnbench.x`` or ``from unlearnbench import x`` make all of
``x`` reachable; a parent package is reachable with no names (its ``__init__`` runs, not its functions).
Imports under ``if TYPE_CHECKING:`` never run and are skipped. The hash covers whole files of reachable
modules: a module is in or out, names only decide which further modules are reached.

What static analysis cannot see is a registry lookup by name (``create_method("scrub")``): rules that run
one registered component pass its module as an extra entry and ``skip_edges`` for the registry package's
imports of the others (``rules/unlearn.smk``, :func:`unlearnbench.methods.method_module`). A registry package
that discovers its members by reading source (``import_registering(__name__, "register_metric")``,
:mod:`unlearnbench.discovery`) is followed: that call imports exactly the modules the same scan finds here.

An entry outside the package — a plugin's module (:mod:`unlearnbench.plugins`) — is hashed by its source
file (``importlib.util.find_spec(name).origin``; finding it imports its parent packages, never the module
itself), together with the plugin modules of the same top-level package it imports (whole files, relative
imports included) and the package closure of its ``unlearnbench`` imports. Entries inside the package are
analysed as above; a hash without external entries is what it was before plugins existed.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

PACKAGE = "unlearnbench"
PACKAGE_DIR = Path(__file__).resolve().parent
ALL = None  # "every top-level name of the module"

__all__ = ["closure_hash", "external_closure", "external_file", "import_closure", "module_file", "script_entries"]


@functools.lru_cache(maxsize=None)
def module_file(name: str) -> Path | None:
    """Source of package module ``name`` (``unlearnbench.a.b`` → a/b.py or a/b/__init__.py), or None."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if parts and base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


@dataclass
class _Module:
    load: list[tuple[str, frozenset | None]] = field(default_factory=list)  # module-level imports
    calls: dict[str, list[tuple[str, frozenset | None]]] = field(default_factory=dict)  # imports inside a name
    refs: dict[str, set[str]] = field(default_factory=dict)  # top-level names a top-level name references
    always: set[str] = field(default_factory=set)  # referenced by module-level code, or decorated


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _edges(node: ast.Import | ast.ImportFrom, current: str | None) -> list[tuple[str, frozenset | None]]:
    """(module, names) pairs one import statement makes reachable; parents with no names."""
    out: list[tuple[str, frozenset | None]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if module_file(alias.name):
                out += [(p, frozenset()) for p in _parents(alias.name)] + [(alias.name, ALL)]
        return out
    if node.level:
        if current is None:
            return out
        package = current if module_file(current).name == "__init__.py" else current.rpartition(".")[0]
        base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not module_file(target):
        return out
    names = set()
    for alias in node.names:
        if alias.name == "*":
            return out + [(p, frozenset()) for p in _parents(target)] + [(target, ALL)]
        if module_file(sub := f"{target}.{alias.name}"):
            out.append((sub, ALL))
        else:
            names.add(alias.name)
    return out + [(p, frozenset()) for p in _parents(target)] + [(target, frozenset(names))]


def _imports_in(nodes: Iterable[ast.AST], current: str | None) -> list[tuple[str, frozenset | None]]:
    out = []
    for top in nodes:
        never = {id(n) for node in ast.walk(top)  # `if TYPE_CHECKING:` bodies never run
                 if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                 for stmt in node.body for n in ast.walk(stmt)}
        out += [e for node in ast.walk(top) if id(node) not in never and isinstance(node, (ast.Import, ast.ImportFrom))
                for e in _edges(node, current)]
    return out


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


@functools.lru_cache(maxsize=None)
def _analyse(name: str) -> _Module:
    path = module_file(name)
    if path is None:
        raise ModuleNotFoundError(f"no module {name!r} under {PACKAGE_DIR}")
    tree = ast.parse(path.read_text(), filename=str(path))
    info = _Module()
    defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            info.calls[stmt.name] = _imports_in([stmt], name)
            info.refs[stmt.name] = _names_in(stmt) & defs - {stmt.name}
            if stmt.decorator_list:
                info.always.add(stmt.name)
        else:
            info.load += _imports_in([stmt], name) + _discovered(stmt, name)
            info.always |= _names_in(stmt) & defs
    return info


def _discovered(stmt: ast.stmt, current: str) -> list[tuple[str, frozenset | None]]:
    """A module-level ``import_registering(__name__, "<decorator>")`` (:mod:`unlearnbench.discovery`) imports the
    package's modules that register with that decorator: the same scan, so they are reachable here too."""
    from unlearnbench.discovery import registering_modules

    out: list[tuple[str, frozenset | None]] = []
    for node in ast.walk(stmt):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "import_registering"
                and len(node.args) == 2 and isinstance(node.args[1], ast.Constant)):
            directory = str(module_file(current).parent)
            out += [(m, ALL) for m in registering_modules(current, directory, node.args[1].value)]
    return out


def script_entries(script: str | Path) -> list[tuple[str, frozenset | None]]:
    """(module, names) a workflow script (not itself a package module) imports."""
    path = Path(script)
    return _imports_in([ast.parse(path.read_text(), filename=str(path))], None)


def import_closure(entries: Iterable[tuple[str, frozenset | None] | str], *,
                   skip_edges: Mapping[str, Iterable[str]] | None = None) -> set[str]:
    """Package modules a job starting from ``entries`` (module names, or (module, names) pairs) can execute.
    ``skip_edges[m]``: modules whose edges *from module m* are not followed (registry members not used)."""
    skip = {k: set(v) for k, v in (skip_edges or {}).items()}
    included: dict[str, set[str]] = {}  # module -> top-level names already followed
    todo = [(e, ALL) if isinstance(e, str) else e for e in entries]
    while todo:
        mod, names = todo.pop()
        if not module_file(mod):
            continue
        info = _analyse(mod)
        first = mod not in included
        done = included.setdefault(mod, set())
        want = set(info.calls) if names is ALL else set(names) & set(info.calls)
        if first:
            want |= info.always
            todo += [(m, n) for m, n in info.load if m not in skip.get(mod, ())]
        frontier = list(want - done)
        while frontier:
            top = frontier.pop()
            if top in done:
                continue
            done.add(top)
            todo += [(m, n) for m, n in info.calls[top] if m not in skip.get(mod, ())]
            frontier += list(info.refs[top] - done)
    return set(included)


def _in_package(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


@functools.lru_cache(maxsize=None)
def external_file(name: str) -> Path | None:
    """Source file of a module outside the package (a plugin's), or None when it has none (or is a package
    module, or a built-in/extension module). Finding it imports its parent packages, not the module."""
    if _in_package(name):
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None
    origin = getattr(spec, "origin", None)
    return Path(origin) if origin and origin.endswith(".py") and Path(origin).is_file() else None


def _external_imports(name: str, path: Path) -> tuple[list[str], list[tuple[str, frozenset | None]]]:
    """(modules of the same top-level package, package (module, names) edges) one external module imports."""
    top = name.partition(".")[0]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    same, edges = [], []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            same += [a.name for a in node.names if a.name.partition(".")[0] == top]
            edges += _edges(node, None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    continue
                target = ".".join(parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if _in_package(target):
                edges += _edges(node, None)
            elif target.partition(".")[0] == top:
                same += [target] + [f"{target}.{a.name}" for a in node.names if a.name != "*"]
    return same, edges


def external_closure(entries: Iterable[str]) -> tuple[dict[str, Path], list[tuple[str, frozenset | None]]]:
    """Source files of external ``entries`` and of the modules of their own top-level packages they import
    (by name), and the package edges (``unlearnbench`` imports) of all of them. An entry whose source cannot
    be found is an error: a component the hash could not cover would silently never rerun."""
    files: dict[str, Path] = {}
    edges: list[tuple[str, frozenset | None]] = []
    todo = [(e, True) for e in entries]
    while todo:
        name, required = todo.pop()
        if name in files:
            continue
        path = external_file(name)
        if path is None:
            if required:
                raise ModuleNotFoundError(f"code-hash entry {name!r}: no Python source file found for it")
            continue
        files[name] = path
        same, found = _external_imports(name, path)
        edges += found
        todo += [(m, False) for m in same]
    return files, edges


def closure_hash(script: str | Path, *, entries: Iterable[str] = (), skip_edges: Mapping[str, Iterable[str]] | None = None,
                 length: int = 16) -> str:
    """Hash of a workflow script and the sources of the modules its job can execute (plus ``entries``).

    ``entries`` outside the package (plugin modules) are hashed by their source files (:func:`external_closure`)
    and add the package modules they import to the closure."""
    entries = list(entries)
    external, edges = external_closure([e for e in entries if not _in_package(e)])
    modules = import_closure([*script_entries(script), *[e for e in entries if _in_package(e)], *edges],
                             skip_edges=skip_edges)
    h = hashlib.sha256()
    for name in sorted(modules):
        path = module_file(name)
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    for name in sorted(external):
        h.update(f"plugin:{name}".encode())
        h.update(external[name].read_bytes())
    h.update(Path(script).name.encode())
    h.update(Path(script).read_bytes())
    return h.hexdigest()[:length]
