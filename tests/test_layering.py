"""The one-way flow of DESIGN.md: suite -> jobs -> cache/train -> evaluate -> store -> report. No
module of bench/ or models/ imports, at any depth (lazy imports inside functions included), one that
depends on it; and the metrics import without torch."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict:
    files = {_module_name(p): p for package in ("bench", "models") for p in (ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], base]).strip(".")
                targets.add(base)
                targets |= {f"{base}.{alias.name}" for alias in node.names}
        edges = set()
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
                prefix = ".".join(parts[:i])
                # a package's own modules run inside its import: their parent is not an edge
                if prefix in files and prefix != name and not name.startswith(prefix + "."):
                    edges.add(prefix)
        graph[name] = edges
    return graph


def _cycle(graph) -> list | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_one_that_depends_on_it():
    graph = _graph()
    assert "bench.trained" in graph["bench.runner"] and "bench.naming" in graph["bench.report.plots"]  # sees edges
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check can fail
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_report_and_features_sit_downstream():
    graph = _graph()
    assert not any(target.startswith("bench.suite") for m in graph if m.startswith("bench.report") for target in graph[m])
    assert not any(target.startswith("bench.evaluate") or target.startswith("bench.runner")
                   for m in graph if m.startswith("bench.report") for target in graph[m])
    assert not any(target.startswith("bench.metrics") for m in graph if m.startswith("bench.features")
                   for target in graph[m])


def test_the_metrics_import_without_torch():
    code = "import sys, bench.metrics as m; assert m.METRICS; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
