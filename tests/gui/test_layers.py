"""The GUI's own layering rules, checked on the source."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUI = ROOT / "gui"
PAGES = ROOT / "pages"

# modules that must stay free of Streamlit (pure functions, unit-tested without a script run)
PURE = ["charts", "charts_common", "charts_data", "charts_diag", "charts_effects", "charts_fit", "charts_ranef",
        "effects", "numerics",
        "model_spec", "data_design", "tables", "codegen", "derived", "sparsity", "io", "jobs", "workers",
        "bootstrap_view", "comparison", "report", "engine"]


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_pure_modules_do_not_import_streamlit():
    for name in PURE:
        mods = _imports(next(GUI.rglob(f"{name}.py")))
        assert not any(m.split(".")[0] == "streamlit" for m in mods), name


def test_only_cache_module_caches():
    for path in list(GUI.rglob("*.py")) + list(PAGES.glob("*.py")) + [ROOT / "app.py"]:
        text = path.read_text()
        if path.name != "cache.py":
            assert "cache_data" not in text and "cache_resource" not in text, path


def test_only_state_module_touches_session_state():
    for path in list(GUI.rglob("*.py")) + list(PAGES.glob("*.py")) + [ROOT / "app.py"]:
        if path.name != "state.py":
            assert "session_state" not in path.read_text(), path


def test_pages_are_thin_and_reach_the_engine_through_gui():
    for path in PAGES.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 150, path
        assert not any(m.split(".")[0] == "mm_core" for m in _imports(path)), path
        assert "page.run(" in path.read_text(), f"{path} must run inside gui.shell.page.run (setup + guard)"


def test_pure_modules_never_use_a_name_st():
    for name in PURE:
        tree = ast.parse(next(GUI.rglob(f"{name}.py")).read_text())
        uses = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                and n.value.id == "st"]
        assert not uses, name
