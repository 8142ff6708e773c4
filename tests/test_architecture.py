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
