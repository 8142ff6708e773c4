"""Layering rules: the engine never imports the UI libraries."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mm_core_sources_do_not_import_ui():
    for path in (ROOT / "mm_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"streamlit", "plotly", "gui"}, f"{path}: {name}"


def test_importing_and_fitting_loads_no_ui_module():
    code = ("import sys, mm_core; mm_core.fit('yield ~ 1 + (1|batch)', mm_core.datasets.load('dyestuff'));"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly')];"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _module_imports() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Every import between modules of mm_core and gui (module level and inside functions).

    Returns the import graph (module → modules it imports) and the private names imported
    from another module, as (importer, source, name).
    """
    modules: dict[str, tuple[Path, bool]] = {}
    for pkg in ("mm_core", "gui"):
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)

    def target(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str | None:
        if node.level == 0:
            return node.module
        base = mod.split(".")[: None if is_pkg else -1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    graph: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for mod, (path, is_pkg) in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                src = target(mod, is_pkg, node)
                if src is None:
                    continue
                for alias in node.names:
                    full = f"{src}.{alias.name}"
                    if full in modules:
                        graph[mod].add(full)
                    elif src in modules:
                        graph[mod].add(src)
                    if alias.name.startswith("_") and not alias.name.startswith("__") and src != mod:
                        private.append((mod, src, alias.name))
            elif isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name in modules)
    for mod, (_, is_pkg) in modules.items():
        # a package's __init__ gathering its own modules is its table of contents, not a cycle
        graph[mod] = {t for t in graph[mod] if t != mod and not (is_pkg and t.startswith(mod + "."))}
    return graph, private


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_private_name_is_imported_across_modules():
    _, private = _module_imports()
    assert not private, "private names imported from another module: " + repr(private)


def test_no_circular_imports_in_mm_core_or_gui():
    graph, _ = _module_imports()
    cycles = _cycles(graph)
    assert not cycles, "import cycles (counting imports inside functions): " + repr(cycles)
