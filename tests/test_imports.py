"""The project's import graph, read from the source with `ast`: no circles,
and the package boundaries the architecture states (ARCHITECTURE.md).

Every import counts, at module level or inside a function. Imports under
`if TYPE_CHECKING:` (annotations only: they never run) are left out of the
main graph; counted too, they may close only the circles listed in
TYPE_ONLY_CIRCLES.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ddb", "cluster", "node", "router", "client", "chaos", "bench", "deploy", "functions")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


# Circles closed only by annotations, in modules that issue 14's log-compaction
# work is rewriting (a replica names its engine, the raft log its database).
TYPE_ONLY_CIRCLES = [["node.groups.engine", "node.groups.replica"], ["node.storage.db", "node.storage.raftlog"]]


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skip.update(id(n) for n in ast.walk(stmt))
    return skip


def _imports(name: str, path: Path, mods: dict[str, Path], tree: ast.AST, annotations: bool = False) -> set[str]:
    """Every module `name` imports (project modules and third-party top-level names)."""
    skip = set() if annotations else _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
            out.update(subs)
            if len(subs) < len(node.names) or target not in (package, name):
                out.add(target)  # names from the package itself (not only its submodules)
    out.discard(name)
    return out


MODULES = _modules()


@functools.cache
def _graphs() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The import graph without and with annotation imports, each file parsed
    once, on first use: at module level every pytest process's collection
    (both parallel workers, then the serial phase) parsed the project twice
    over (6 s of CPU each) for tests one process runs."""
    plain, annotated = {}, {}
    for m, p in MODULES.items():
        tree = ast.parse(p.read_text(), str(p))
        plain[m] = _imports(m, p, MODULES, tree)
        annotated[m] = _imports(m, p, MODULES, tree, annotations=True)
    return plain, annotated


def _graph() -> dict[str, set[str]]:
    return _graphs()[0]


def _project(targets: set[str]) -> set[str]:
    return {t for t in targets if t in MODULES}


def _cycles(graph: dict[str, set[str]] | None = None) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = _graph() if graph is None else graph
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(_project(graph[v])):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _within(m: str, pkg: str) -> bool:
    return m == pkg or m.startswith(pkg + ".")


def _crossing(src: str, allowed: tuple[str, ...]) -> list[str]:
    """src's modules' imports of project modules outside `allowed` packages."""
    graph = _graph()
    return sorted(f"{m} -> {t}" for m in graph if _within(m, src)
                  for t in _project(graph[m]) if not any(_within(t, a) for a in allowed))


def test_the_graph_sees_the_packages():
    # A guard against a test that passes by reading nothing.
    assert {"router.api", "node.server", "cluster.partitions", "ddb.items", "node.raft.core"} <= set(MODULES)
    assert "cluster.partitions" in _graph()["router.api"]
    assert "node.raft.core" in _graph()["node.groups.replica"]


def test_no_import_circles():
    assert _cycles() == []


def test_annotations_close_no_other_circle():
    assert sorted(_cycles(_graphs()[1])) == sorted(TYPE_ONLY_CIRCLES)


def test_router_and_node_meet_only_in_the_shared_package():
    # Both run functions in the function runtime: the router for Invoke (router/lambda_api.py),
    # nodes for event source mappings (node/feed/triggers/).
    assert _crossing("router", ("router", "cluster", "ddb", "functions")) == []
    assert _crossing("node", ("node", "cluster", "ddb", "functions")) == []


def test_the_shared_package_depends_on_no_process():
    assert _crossing("cluster", ("cluster", "ddb")) == []
    storage = sorted(m for m, imports in _graph().items() if _within(m, "cluster") and "rocksdict" in imports)
    assert storage == []


def test_ddb_is_pure():
    assert _crossing("ddb", ("ddb",)) == []


def test_functions_run_apart_from_the_cluster():
    # The function runtime is joined to the router and nodes from their side only:
    # a handler's worker never loads a router or node module.
    assert {"functions.model", "functions.runtime", "functions.worker"} <= set(MODULES)
    assert _crossing("functions", ("functions", "ddb", "cluster")) == []


def test_raft_core_imports_only_itself():
    assert _crossing("node.raft", ("node.raft",)) == []


def test_a_cycle_is_found():
    # The cycle finder itself: a known circle in a copy of the graph is reported.
    graph = dict(_graph())
    graph["ddb.errors"] = graph["ddb.errors"] | {"ddb.items"}
    assert any("ddb.errors" in c and "ddb.items" in c for c in _cycles(graph))


@pytest.mark.parametrize("module", ["router.api", "router.main", "cluster.partitions"])
def test_the_router_loads_no_storage_engine(module):
    code = f"import {module}, sys; assert 'rocksdict' not in sys.modules, 'rocksdict loaded'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


# The node's subsystems, top to bottom: each imports only those below it (the
# direction of the data: a request enters at the services and ends in storage).
NODE_LAYERS = ["node.services", "node.feed", "node.control", "node.partition", "node.groups", "node.net",
               "node.raft", "node.storage"]


def test_node_subsystems_import_downwards_only():
    shared = ("cluster", "ddb", "node.config")
    for i, layer in enumerate(NODE_LAYERS):
        # The triggers run handlers in the function runtime; the admin service serves their logs.
        runs = ("functions",) if layer in ("node.feed", "node.services") else ()
        assert _crossing(layer, (layer, *NODE_LAYERS[i + 1:], *shared, *runs)) == [], layer


def test_every_node_module_belongs_to_a_subsystem():
    loose = {m for m, path in MODULES.items() if path.parent.name == "node" and path.name != "__init__.py"}
    assert loose == {"node.config", "node.main", "node.server"}  # settings, the command, the composition root
