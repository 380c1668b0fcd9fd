"""The core stays pure: no faust, aiokafka or aiohttp outside the shell modules (ruff TID251)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_banned_imports_and_lint_rules_hold() -> None:
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_core_modules_import_no_io_libraries() -> None:
    code = ("import sys, streams.core.pipeline, streams.core.tagging, streams.core.dedupe, alerts.engine, "
            "alerts.loader, connectors.core.parse, connectors.core.schedule; "
            "print(sorted(m for m in ('faust', 'aiokafka', 'aiohttp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


# The import contract (issue 16): no module of warwire imports, directly or through others, a
# module that imports it back, counting imports inside functions and under TYPE_CHECKING too;
# and the pure cores import only pure cores.
PACKAGES = ("streams", "connectors", "alerts")
PURE = ("streams.core.", "connectors.core.")
PURE_MODULES = {"streams.schema", "connectors.feeds", "alerts.engine", "alerts.aggregate_core", "alerts.windows",
                "alerts.render", "alerts.offline", "alerts.feedback", "alerts.silences", "alerts.model", "alerts.query",
                "alerts.loader"}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    import ast

    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for f in (root / pkg).rglob("*.py"):
            name = ".".join(f.relative_to(root).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = f
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
                targets = [n for n in names if n in mods] or [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[m].update(t for t in targets if t in mods and t != m)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle_through_three_modules() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "connectors.core.parse" in graph["connectors.poller"] | graph["connectors.parsing"]
    assert cycles(graph) == []


def test_pure_cores_import_only_pure_cores() -> None:
    def pure(m: str) -> bool:
        return m.startswith(PURE) or m in PURE_MODULES
    graph = import_graph()
    assert {m: sorted(t for t in ts if not pure(t)) for m, ts in graph.items() if pure(m) and not all(map(pure, ts))} == {}


def test_importing_every_module_builds_nothing() -> None:
    """Issue 16: the worker is built by streams.wiring.build_worker, never as an import's side
    effect (before, importing the old streams.agents built the app, its tables, metrics and config)."""
    modules = sorted(m for m in import_graph() if not m.endswith("__main__"))
    code = f"""
import gc, importlib
import faust, prometheus_client
for name in {modules!r}:
    importlib.import_module(name)
from streams.live_config import LiveConfig
from streams.metrics import PipelineMetrics
objs = gc.get_objects()
print(sum(isinstance(o, faust.App) for o in objs),
      sum(isinstance(o, prometheus_client.CollectorRegistry) and o is not prometheus_client.REGISTRY for o in objs),
      sum(isinstance(o, (LiveConfig, PipelineMetrics)) for o in objs),
      sum(n.startswith('warwire') for n in prometheus_client.REGISTRY._names_to_collectors))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0", "0", "0"], out.stdout + out.stderr[-2000:]


# The composition layer (issue 16): the modules that build and start things. Pure cores and shells
# never import them; they import whatever they compose.
COMPOSITION = {"streams.wiring", "streams.worker", "streams.cli", "streams.supervisor", "streams.tools",
               "streams.taxonomy_cli"}


def layer_violations(graph: dict[str, set[str]], composition: set[str]) -> dict[str, list[str]]:
    """Each module outside `composition` that imports one inside it."""
    return {m: sorted(ts & composition) for m, ts in graph.items() if m not in composition and ts & composition}


def test_the_layer_check_finds_a_shell_importing_the_composition_root() -> None:
    assert layer_violations({"shell": {"root", "core"}, "root": {"shell"}, "core": set()}, {"root"}) == {"shell": ["root"]}


def test_no_core_or_shell_imports_the_composition_layer() -> None:
    graph = import_graph()
    assert COMPOSITION <= set(graph), COMPOSITION - set(graph)
    assert layer_violations(graph, COMPOSITION) == {}


def test_the_connectors_import_nothing_of_the_alerts() -> None:
    """Feeds come before alerts in the flow: the connectors share pure helpers through
    streams.core (the Retry-After reader) instead of importing alerts.delivery, as fetch.py did."""
    graph = import_graph()
    into_alerts = {m: sorted(t for t in ts if t.split(".")[0] == "alerts")
                   for m, ts in graph.items() if m.startswith("connectors")}
    assert {m: ts for m, ts in into_alerts.items() if ts} == {}
