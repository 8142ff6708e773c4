"""Likelihood-ratio test between two fits of the session: the engine's
``mm_core.likelihood_ratio_test`` (nesting and same-data checks, ML refits of REML fits), with
the fits' labels and a sentence of conclusion. No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gui import engine


@dataclass
class LRTOutcome:
    table: pd.DataFrame | None
    conclusion: str = ""
    notes: list[str] = field(default_factory=list)


def lrt(small: Any, big: Any) -> LRTOutcome:
    """Compare two FitRecords; the one with fewer parameters is treated as the null model."""
    a, b = small.result, big.result
    if a.dof > b.dof:
        small, big, a, b = big, small, b, a
    if small.data_key != big.data_key:
        return LRTOutcome(None, notes=["The two fits use different data; a likelihood-ratio test needs the same "
                                       "observations."])
    try:
        out = engine.likelihood_ratio_test(a, b)
    except engine.MixedModelError as e:
        return LRTOutcome(None, notes=[str(e)])
    table = out.table.copy()
    table.insert(0, "fit", [small.short_label, big.short_label][: len(table)])
    return LRTOutcome(table, _conclusion(table, big), [str(n) for n in out.notes])


def _conclusion(table: pd.DataFrame, big: Any) -> str:
    p = float(table["p_value"].iloc[-1])
    if not np.isfinite(p):
        return ""
    if p < 0.05:
        return f"p = {p:.3g}: the more complex model ({big.short_label}) fits significantly better."
    return (f"p = {p:.3g}: no evidence that the more complex model ({big.short_label}) fits better; "
            "prefer the simpler one.")

