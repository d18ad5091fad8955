"""The package's import graph: one direction of dependency, and no private helper used across
modules (issue 23).

Every module of ``sccnb`` is parsed, not imported. Each import statement at any depth (inside
functions too, where the package defers its heavy imports) is an edge to the ``sccnb`` module it
names: ``from .x import y`` to ``x``, or to ``x.y`` when ``y`` is a module; ``import sccnb.x`` to
``x``. The package ``__init__`` that Python runs before a submodule is not an edge of its own.

* The graph has no circle; the test names the first one it finds.
* No module imports a name starting with ``_`` from another module, or reads one off a module it
  imported (``evalfolder._calibration``), and no module outside a package imports that package's
  private modules (``data/_io.py``). :data:`ALLOWED_PRIVATE` would list exceptions, each with
  its reason; it is empty.
* The command line lives in ``sccnb/cli/``: no other module imports ``argparse`` or anything of
  ``sccnb.cli`` (``__main__`` only calls it).
* A name is imported from the module that defines it, not through one that only imports it (a
  re-export hub); package ``__init__`` files that gather an API (``sccnb.data``) are the
  exception. This holds for the package, the tests and the notebooks.
* The subpackages are floors (:data:`LAYERS`): a module imports only from its own group or from a
  lower floor, never from a group beside it or above it, and every module belongs to a group.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sccnb"

# (importing module, imported module, name): private imports across modules that remain.
ALLOWED_PRIVATE: set[tuple[str, str, str]] = set()


# The package's floors, lowest first; each floor's groups, by module prefix. A module imports from
# its own group and from lower floors only (groups on one floor know nothing of each other). The
# package's front door (``sccnb.load_model``) is above every floor.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"foundation": ("sccnb.errors", "sccnb.provenance", "sccnb.layouts", "sccnb.metrics",
                    "sccnb.plots")},
    {"data": ("sccnb.data",), "model": ("sccnb.model",)},
    {"training": ("sccnb.training",)},
    {"inference": ("sccnb.inference",), "perf": ("sccnb.perf",)},
    {"study": ("sccnb.study",)},
    {"cli": ("sccnb.cli", "sccnb.__main__")},
    {"front door": ("sccnb",)},
]


def floor_of(module: str) -> tuple[int, str] | None:
    """``(floor, group)`` of a module: the group whose prefix names it most closely."""
    best = None
    for floor, groups in enumerate(LAYERS):
        for group, prefixes in groups.items():
            for prefix in prefixes:
                if module == prefix or module.startswith(prefix + "."):
                    if best is None or len(prefix) > best[0]:
                        best = (len(prefix), floor, group)
    return best and best[1:]


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``package``."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imports(name: str, path: Path, modules: dict[str, Path]):
    """``(target module, imported name or None, line)`` for every import in the file, and
    ``(module, attribute, line)`` for every private attribute read off an imported module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    aliases: dict[str, str] = {}  # local name -> the sccnb module it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "sccnb" and not target.startswith("sccnb."):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:  # from . import zoo: the module itself
                    aliases[alias.asname or alias.name] = sub
                    found.append((sub, None, node.lineno))
                else:
                    found.append((target, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sccnb" or alias.name.startswith("sccnb."):
                    found.append((alias.name, None, node.lineno))
                    if alias.asname:
                        aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _is_private(node.attr)):
            found.append((aliases[node.value.id], node.attr, node.lineno))
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at any depth of its code."""
    modules = module_files(package)
    return {name: {t for t, _, _ in _imports(name, path, modules) if t in modules and t != name}
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of ``graph`` as ``[a, b, ..., a]``, or None when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def private_imports(package: Path = PACKAGE) -> set[tuple[str, str, str]]:
    """``(module, other module, private name or module)`` for every private name a module takes
    from another, and every private module imported from outside its package."""
    modules = module_files(package)
    out = set()
    for name, path in modules.items():
        for target, attr, _ in _imports(name, path, modules):
            if target not in modules or target == name:
                continue
            if attr is not None and _is_private(attr):
                out.add((name, target, attr))
            parent, _, last = target.rpartition(".")
            if _is_private(last) and not (name == parent or name.startswith(parent + ".")):
                out.add((name, target, last))
    return out


def _defined(path: Path, imports: bool = True) -> set[str]:
    """The names a module binds at its top level (also inside top-level ``if``/``try``); with
    ``imports`` False, only those it defines itself."""
    names: set[str] = set()
    todo = list(ast.parse(path.read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if imports:
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            todo += [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                     *(s for h in getattr(node, "handlers", []) for s in h.body)]
    return names


def _sources(package: Path = PACKAGE):
    """``(label, package the code sits in, parsed code)`` for every module of the package, every
    test module and every notebook's code cells (IPython magics left out)."""
    for name, path in module_files(package).items():
        yield (str(path.relative_to(package.parent)),
               name if path.name == "__init__.py" else name.rpartition(".")[0],
               ast.parse(path.read_text()))
    root = package.parent
    for path in sorted((root / "tests").glob("*.py")):
        yield str(path.relative_to(root)), "tests", ast.parse(path.read_text())
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        code = "\n".join(ln for ln in code.splitlines()
                         if not ln.lstrip().startswith(("%", "!")))
        yield str(path.relative_to(root)), "notebooks", ast.parse(code)


def hub_imports(package: Path = PACKAGE) -> list[str]:
    """``"where:line: name from module"`` for every name taken from a module (not a package's
    ``__init__``) that does not define it but only imports it."""
    modules = module_files(package)
    own = {}
    out = []
    for label, pkg, tree in _sources(package):
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                target = ".".join(pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                                  + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in modules or modules[target].name == "__init__.py":
                continue
            if target not in own:
                own[target] = _defined(modules[target], imports=False)
            out += [f"{label}:{node.lineno}: {a.name} from {target}" for a in node.names
                    if f"{target}.{a.name}" not in modules and a.name not in own[target]
                    and a.name != "*"]
    return out


def test_names_are_imported_from_where_they_are_defined():
    """``from sccnb.training.train import resolve_config`` works (train imports it) but hides
    where the function lives: notebooks and tests followed such re-exports before (issue 23)."""
    found = hub_imports()
    assert not found, "imported through a module that only re-exports them:\n  " + \
        "\n  ".join(found)


def test_the_hub_check_finds_a_re_export(tmp_path):
    pkg = tmp_path / "sccnb"
    (pkg / "sub").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "notebooks").mkdir()
    (pkg / "__init__.py").write_text("from .low import f\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    pass\n")
    (pkg / "sub" / "hub.py").write_text("from ..low import f\n\ndef g():\n    return f()\n")
    (tmp_path / "tests" / "test_x.py").write_text("from sccnb.sub.hub import f, g\n"
                                                  "from sccnb import f\n")
    (tmp_path / "notebooks" / "n.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ["%matplotlib inline\n", "from sccnb.sub.hub import f"]}]}))
    assert hub_imports(pkg) == ["tests/test_x.py:1: f from sccnb.sub.hub",
                                "notebooks/n.ipynb:1: f from sccnb.sub.hub"]


def test_every_import_of_the_package_names_something_that_exists():
    """An import the graph cannot place (``from .errors import x`` in a subpackage that has no
    ``errors``, or a name that moved to another module) is an error of its own, not an edge
    dropped silently."""
    modules = module_files()
    defined = {name: _defined(path) for name, path in modules.items()}
    missing = sorted(
        f"{path.relative_to(PACKAGE.parent)}:{line}: {target}" + (f".{attr}" if attr else "")
        for name, path in modules.items()
        for target, attr, line in _imports(name, path, modules)
        if target not in modules or (attr is not None and attr not in defined[target]))
    assert not missing, "imports of names that do not exist: " + ", ".join(missing)


def test_the_import_graph_has_no_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_private_helper_is_used_across_modules():
    found = private_imports()
    assert not found - ALLOWED_PRIVATE, "private names used across modules: " + ", ".join(
        f"{m} uses {t}.{n}" if not t.endswith(n) else f"{m} imports {t}"
        for m, t, n in sorted(found - ALLOWED_PRIVATE))
    assert not ALLOWED_PRIVATE - found, f"no longer used, drop from ALLOWED_PRIVATE: " \
        f"{sorted(ALLOWED_PRIVATE - found)}"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """``"a (group, floor) -> b (group, floor)"`` for every import that goes up or sideways."""
    out = []
    for name, targets in sorted(graph.items()):
        here = floor_of(name)
        for target in sorted(targets):
            there = floor_of(target)
            if here and there and here[1] != there[1] and there[0] >= here[0]:
                out.append(f"{name} ({here[1]}, floor {here[0]}) imports {target} "
                           f"({there[1]}, floor {there[0]})")
    return out


def test_every_module_is_on_a_floor():
    lost = sorted(m for m in module_files()
                  if floor_of(m) is None or (floor_of(m)[1] == "front door" and m != "sccnb"))
    assert not lost, f"modules in no group of LAYERS (add them to one): {lost}"


def test_imports_go_down_the_floors_only():
    """The layout shows the architecture: foundation < data, model < training < inference,
    perf < study < cli. A study module may use a trained model; training may not know the
    study, and the inference path may not know the benchmarks."""
    bad = layer_violations(import_graph())
    assert not bad, "imports up or across the floors:\n  " + "\n  ".join(bad)


def test_the_floor_check_finds_an_import_up_and_one_across():
    graph = {"sccnb.training.train": {"sccnb.study.claims", "sccnb.data.prepare"},
             "sccnb.inference.zoo": {"sccnb.perf.device", "sccnb.training.runs"},
             "sccnb.data.crops": {"sccnb.layouts"}, "sccnb.metrics": {"sccnb.layouts"}}
    assert layer_violations(graph) == [
        "sccnb.inference.zoo (inference, floor 3) imports sccnb.perf.device (perf, floor 3)",
        "sccnb.training.train (training, floor 2) imports sccnb.study.claims (study, floor 4)"]


def test_the_checks_see_imports_inside_functions(tmp_path):
    """A circle closed by an import inside a function, through ``from . import module``, and a
    private helper read off an imported module are both found."""
    pkg = tmp_path / "sccnb"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from .sub import high\n    return high._g\n")
    (pkg / "sub" / "high.py").write_text("from .. import low\n\ndef _g():\n    pass\n")
    (pkg / "sub" / "_io.py").write_text("")
    (pkg / "other.py").write_text("from .sub._io import x\n")
    graph = import_graph(pkg)
    assert graph["sccnb.low"] == {"sccnb.sub.high"}
    assert find_cycle(graph) in (["sccnb.low", "sccnb.sub.high", "sccnb.low"],
                                 ["sccnb.sub.high", "sccnb.low", "sccnb.sub.high"])
    assert private_imports(pkg) == {("sccnb.low", "sccnb.sub.high", "_g"),
                                    ("sccnb.other", "sccnb.sub._io", "_io")}


@pytest.mark.parametrize("graph, cycle", [({"a": {"b"}, "b": {"c"}, "c": set()}, None),
                                          ({"a": {"b"}, "b": {"c"}, "c": {"a"}},
                                           ["a", "b", "c", "a"])])
def test_find_cycle(graph, cycle):
    assert find_cycle(graph) == cycle


def argparse_users(package: Path = PACKAGE) -> set[str]:
    """Modules outside ``sccnb.cli`` that import ``argparse``, at any depth."""
    out = set()
    for name, path in module_files(package).items():
        if name == "sccnb.cli" or name.startswith("sccnb.cli."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "argparse"
                                                    for a in node.names):
                out.add(name)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and \
                    (node.module or "").split(".")[0] == "argparse":
                out.add(name)
    return out


def test_the_command_line_lives_in_the_cli_package():
    assert not argparse_users(), "argparse outside sccnb/cli/: move the command's code there"
    graph = import_graph()
    library = {m for m in graph if m != "sccnb.__main__" and not m.startswith("sccnb.cli")}
    into_cli = {(m, t) for m in library for t in graph[m] if t == "sccnb.cli" or
                t.startswith("sccnb.cli.")}
    assert not into_cli, f"library modules importing the CLI: {sorted(into_cli)}"


def scripts(package: Path = PACKAGE) -> set[str]:
    """Modules outside ``sccnb.cli`` and ``sccnb.__main__`` with an ``if __name__ ==
    "__main__"`` block: a command line of their own, beside ``python -m sccnb COMMAND``."""
    out = set()
    for name, path in module_files(package).items():
        if name in ("sccnb.cli", "sccnb.__main__") or name.startswith("sccnb.cli."):
            continue
        for node in ast.parse(path.read_text()).body:
            if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                    and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"):
                out.add(name)
    return out


def test_every_command_is_in_the_command_table():
    assert not scripts(), f"library modules run as scripts (make them commands): {scripts()}"


def test_the_cli_check_sees_a_library_parser(tmp_path):
    pkg = tmp_path / "sccnb"
    (pkg / "cli").mkdir(parents=True)
    for f in ("__init__.py", "cli/__init__.py", "cli/go.py", "lib.py"):
        (pkg / f).write_text("")
    (pkg / "cli" / "go.py").write_text("import argparse\n")
    (pkg / "lib.py").write_text("def f():\n    from argparse import ArgumentParser\n")
    assert argparse_users(pkg) == {"sccnb.lib"}
    (pkg / "lib.py").write_text('if __name__ == "__main__":\n    pass\n')
    assert scripts(pkg) == {"sccnb.lib"}
