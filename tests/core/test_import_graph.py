"""relmask's modules import one another without a cycle.

Every module under ``relmask/`` is parsed (not imported) and each ``import`` in it, at module level or inside a
function, is an edge to the relmask module it names (``from pkg import name`` names ``pkg.name`` when that is a
module, else ``pkg``). A lazy import inside a function keeps a cycle alive as surely as a top-level one, so both
count. The one allowance: a package's ``__init__`` importing its own submodules to re-export their names (a
submodule that imports its package for one of them is no cycle). There is no list of tolerated cycles: a new one
is fixed by moving the code that closes it to the module it belongs in (as the registry lookups
``check_relevance_params`` and ``experiment_for`` went to ``relmask.plugin_system.plugins``).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "relmask"


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def imports_of(name: str, modules: dict[str, Path]) -> set[str]:
    """The relmask modules that module ``name`` imports (anywhere in its body)."""
    tree = ast.parse(modules[name].read_text(), filename=str(modules[name]))
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # import relmask.a.b.c where c is a name: the module above
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] == PACKAGE and target != name:
                found.add(target)
    # the allowance: a package's __init__ imports its submodules to re-export their names, so a submodule that
    # imports its own package (``from . import __version__``, ``from .. import hookimpl``) takes one of those names
    # and is not counted; everything else is, the __init__'s own imports included (``import relmask.running.reproduce``
    # runs every module of that package)
    return {t for t in found if not name.startswith(t + ".")}


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, modules) for name in modules}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (each one holds a cycle)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete cycle through ``component``'s first module: ``[a, b, ..., a]``."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:  # breadth first: the shortest way back to start
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start} in {component}")  # pragma: no cover - Tarjan guarantees one


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "relmask.running.run_records" in graph["relmask.running.figures"]  # module level, relative
    assert "relmask.running.locks" in graph["relmask.running.runner"]  # inside a function
    assert "relmask.running.reproduce.execute" in graph["relmask.running.reproduce"]  # re-exported
    assert "relmask" not in graph["relmask.running.cache"]  # the allowance: ``from . import __version__``
    graph["relmask.running.figures"].add("relmask.running.reproduce")  # the cycle this test was written against
    assert any({"relmask.running.figures", "relmask.running.reproduce"} <= set(c) for c in strongly_connected(graph))


def test_relmask_has_no_import_cycle():
    graph = import_graph()
    cycles = [a_cycle(graph, c) for c in strongly_connected(graph)]
    assert not cycles, "import cycles in relmask/ (lazy imports count):\n" + "\n".join(
        "  " + " -> ".join(path) for path in cycles)


def test_the_former_back_edges_would_be_cycles_again():
    """The two lookups moved to plugins (issue 24) closed real cycles: put back, each one is reported again, so the
    test above is not passing only because the graph misses those modules' imports."""
    for importer, imported in (("relmask.plugin_system.components", "relmask.plugin_system.plugins"),
                               ("relmask.running.jupyter", "relmask.running.runner")):
        graph = import_graph()
        assert imported not in graph[importer]
        graph[importer].add(imported)
        assert any({importer, imported} <= set(c) for c in strongly_connected(graph)), (importer, imported)
