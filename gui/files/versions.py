"""Names and versions of the software behind a result: the app, the engine and the libraries
they compute with. Workspace files record them in their manifest and reports cite them in the
methods paragraph. No Streamlit here.
"""
from __future__ import annotations

import hashlib
import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path

APP_NAME = "Mixed-models workbench"
APP_VERSION = "1.0"
ENGINE_NAME = "mm_core"
LIBRARIES = ("numpy", "scipy", "pandas", "pyarrow", "nlopt", "scikit-sparse", "streamlit", "plotly")


@lru_cache(maxsize=1)
def engine_version() -> str:
    """The engine's version string: its ``__version__`` when it declares one, otherwise a
    fingerprint of its source files (``src-`` and 12 hex digits of their SHA-256), which
    changes whenever any line of the engine does.

    Examples
    --------
    >>> engine_version().startswith(("src-", "0", "1", "2"))
    True
    """
    import mm_core

    declared = getattr(mm_core, "__version__", None)
    if declared:
        return str(declared)
    root = Path(mm_core.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return "src-" + h.hexdigest()[:12]


def library_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@lru_cache(maxsize=1)
def software() -> dict[str, str]:
    """``{name: version}`` of the app, the engine, Python and the numerical libraries."""
    out = {"app": f"{APP_NAME} {APP_VERSION}", "engine": f"{ENGINE_NAME} {engine_version()}",
           "python": platform.python_version()}
    out.update({lib: library_version(lib) for lib in LIBRARIES})
    return out
