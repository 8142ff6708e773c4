"""The GUI's layering rules, checked on the source: each folder of ``gui/`` is a layer.

The module lists come from the folders themselves, so a module added to a folder is held to
its folder's rules without editing this file.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUI = ROOT / "gui"
PAGES = ROOT / "pages"
SHELL = GUI / "shell"

# gui's layers (folders) and its top-level modules, which lie beneath every layer
LAYERS = ("shell", "figures", "views", "spec", "files", "background")
FOUNDATION = ("engine",)

# what a module of each layer may import of gui (folders or modules, as dotted prefixes); the
# shell may import everything
MAY_IMPORT = {
    "figures": ("gui.figures", "gui.engine"),
    "views": ("gui.views", "gui.figures", "gui.spec", "gui.files", "gui.engine"),
    "spec": ("gui.spec", "gui.engine", "gui.views.tables"),    # tables: Markdown escaping of descriptions
    "files": ("gui.files", "gui.spec", "gui.engine"),
    "background": ("gui.background", "gui.engine"),
}


def _imports(path: Path) -> set[str]:
    """Modules a file imports, at module level and inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def _gui_imports(path: Path) -> set[str]:
    """The gui modules and packages a file imports (``from gui.views import tables`` is
    ``gui.views.tables``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "gui"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gui":
            base = GUI.parent.joinpath(*node.module.split("."))
            for a in node.names:
                is_module = (base / f"{a.name}.py").exists() or (base / a.name / "__init__.py").exists()
                out.add(f"{node.module}.{a.name}" if is_module else node.module)
    return out


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer_modules(layer: str) -> list[Path]:
    return sorted((GUI / layer).glob("*.py"))


def _outside_shell() -> list[Path]:
    return [p for p in GUI.rglob("*.py") if SHELL not in p.parents]


def _app_sources() -> list[Path]:
    return list(GUI.rglob("*.py")) + list(PAGES.glob("*.py")) + [ROOT / "app.py"]


def test_every_gui_module_lives_in_a_layer_folder():
    assert {p.name for p in GUI.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)
    assert {p.stem for p in GUI.glob("*.py")} == {"__init__", *FOUNDATION}
    for layer in LAYERS:
        assert (GUI / layer / "__init__.py").exists(), layer
        assert len(_layer_modules(layer)) > 1, layer
        assert not [p for p in (GUI / layer).iterdir() if p.is_dir() and p.name != "__pycache__"], layer


def test_only_the_shell_imports_streamlit():
    outside = _outside_shell()
    assert len(outside) > 25
    for path in outside:
        assert not any(m.split(".")[0] == "streamlit" for m in _imports(path)), path


def test_nothing_outside_the_shell_uses_a_name_st():
    for path in _outside_shell():
        tree = ast.parse(path.read_text())
        uses = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                and n.value.id == "st"]
        assert not uses, path


def test_nothing_outside_the_shell_imports_the_shell():
    for path in _outside_shell():
        assert not [m for m in _gui_imports(path) if _within(m, ("gui.shell",))], path


def test_each_layer_imports_only_what_it_may():
    for layer, allowed in MAY_IMPORT.items():
        for path in _layer_modules(layer):
            bad = sorted(m for m in _gui_imports(path) if not _within(m, allowed))
            assert not bad, f"{path.relative_to(ROOT)} ({layer}) imports {bad}"


def test_the_foundation_imports_no_layer():
    for name in FOUNDATION:
        assert not _gui_imports(GUI / f"{name}.py"), name


def test_only_cache_module_caches():
    for path in _app_sources():
        text = path.read_text()
        if path != SHELL / "cache.py":
            assert "cache_data" not in text and "cache_resource" not in text, path


def test_only_state_module_touches_session_state():
    for path in _app_sources():
        if path != SHELL / "state.py":
            assert "session_state" not in path.read_text(), path


def test_pages_are_thin_and_reach_the_engine_through_gui():
    for path in PAGES.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 150, path
        assert "page.run(" in path.read_text(), f"{path} must run inside gui.shell.page.run (setup + guard)"
    for path in [*PAGES.glob("*.py"), ROOT / "app.py"]:
        assert not any(m.split(".")[0] == "mm_core" for m in _imports(path)), path
        # background jobs are started and collected by the shell's actions, never by a page
        assert not [m for m in _gui_imports(path) if _within(m, ("gui.background",))], path
