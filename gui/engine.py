"""The app's single doorway to :mod:`mm_core`, plus plain-language error messages.

Everything the GUI needs from the engine is imported here, lazily, so a page can say
"this needs a newer engine" instead of failing when an optional function is absent.
"""
from __future__ import annotations

from typing import Any

from mm_core.errors import FitCancelled, FormulaError, MixedModelError  # noqa: F401 - re-exported


class MissingFeature(MixedModelError):
    """The engine in this installation does not provide a function the page needs."""


def _core() -> Any:
    import mm_core

    return mm_core


# where a function may live while the engine's public surface grows
_HOMES = {"parametric_bootstrap": "mm_core.bootstrap", "likelihood_ratio_test": "mm_core.lrt",
          "confint": "mm_core.intervals", "simulate": "mm_core.simulate", "parse_formula": "mm_core.formula"}


def _lookup(name: str) -> Any:
    fn = getattr(_core(), name, None)
    if fn is None and name in _HOMES:
        import importlib

        try:
            fn = getattr(importlib.import_module(_HOMES[name]), name, None)
        except ImportError:
            fn = None
    return fn if callable(fn) else None


def has(name: str) -> bool:
    try:
        return _lookup(name) is not None
    except Exception:  # noqa: BLE001
        return False


def _require(name: str) -> Any:
    fn = _lookup(name)
    if fn is None:
        raise MissingFeature(f"this version of mm_core has no {name}() yet")
    return fn


def parse_formula(text: str) -> Any:
    return _require("parse_formula")(text)


def fit(formula: str, data: Any, **kwargs: Any) -> Any:
    return _require("fit")(formula, data, **kwargs)


def parametric_bootstrap(result: Any, n: int, *, seed: int, progress: Any = None) -> Any:
    """The engine's bootstrap, in chunks small enough for a lively progress bar and a quick cancel."""
    import inspect
    import math

    fn = _require("parametric_bootstrap")
    kw: dict[str, Any] = {"seed": seed, "progress": progress}
    if "chunk_size" in inspect.signature(fn).parameters:
        kw["chunk_size"] = min(max(8, math.ceil(n / 100)), 200)
    return fn(result, n, **kw)


def likelihood_ratio_test(*results: Any) -> Any:
    return _require("likelihood_ratio_test")(*results)


def is_user_error(e: BaseException | None) -> bool:
    return isinstance(e, (MixedModelError, ValueError)) and not isinstance(e, (KeyError, IndexError))


def error_message(e: BaseException | None, what: str = "fit") -> str:
    """Plain text for an exception: the engine's own message for user errors."""
    if e is None:
        return f"The {what} failed."
    if isinstance(e, FormulaError):
        return f"Formula problem: {e.message}" + (f" (at character {e.pos + 1})" if e.pos is not None else "")
    if isinstance(e, MixedModelError):
        return f"The {what} could not be done: {e}"
    if isinstance(e, MemoryError):
        return f"The {what} ran out of memory; try a simpler model or fewer rows."
    if isinstance(e, ValueError):
        return f"The {what} could not be done: {e}"
    return f"The {what} failed unexpectedly ({type(e).__name__}: {str(e)[:300]})."
