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


def _same_model(a: Any, b: Any) -> bool:
    """Same formula and family fitted (REML or ML aside)."""
    return (a.formula, a.result.family, a.result.link) == (b.formula, b.result.family, b.result.link)


def precheck(small: Any, big: Any) -> str:
    """Why a likelihood-ratio test of these two FitRecords does not apply ("" when it may),
    decided without any computation."""
    if small.data_key != big.data_key:
        return ("The two fits use different data; a likelihood-ratio test needs the same observations. "
                "Compare fits of the same data.")
    if small.spec.response != big.spec.response:
        return (f"The two fits model different responses ({small.spec.response} and {big.spec.response}); "
                "neither a likelihood-ratio test nor AIC or BIC can compare them.")
    a, b = small.result, big.result
    if _same_model(small, big) and bool(a.reml) != bool(b.reml):
        return (f"{small.short_label} and {big.short_label} are the same model, fitted once by REML and once by "
                "ML: there is nothing to test, and their REML and ML criteria (log-likelihood, AIC, BIC) are "
                "not comparable either. To compare models, fit each of them with ML (switch REML off on the "
                "Model page) and compare those fits.")
    if _same_model(small, big):
        return f"{small.short_label} and {big.short_label} are the same model; there is nothing to test."
    return ""


def needs_refit(small: Any, big: Any) -> bool:
    """Whether the test must first refit REML fits by ML (slow for large data)."""
    a, b = small.result, big.result
    if not (a.reml or b.reml):
        return False
    return not (a.reml and b.reml and list(a.fixef.index) == list(b.fixef.index))


def ic_warnings(records: list[Any]) -> list[str]:
    """Why the information criteria of these fits cannot all be compared with each other."""
    out = []
    kinds: dict[tuple, list[str]] = {}
    for r in records:
        kinds.setdefault((r.spec.response, r.result.nobs, r.data_key), []).append(r.short_label)
    if len(kinds) > 1:
        groups = "; ".join(f"{', '.join(v)}: response {k[0]}, {k[1]:,} rows" for k, v in kinds.items())
        out.append("AIC and BIC compare only fits of the same response to the same rows. These fits differ ("
                   + groups + "): compare bars only within each group.")
    reml = [r for r in records if r.result.reml]
    if reml and (len(reml) < len([r for r in records if r.result.is_lmm])
                 or len({tuple(r.result.fixef.index) for r in reml}) > 1):
        out.append("REML criteria compare only REML fits with the same fixed effects ("
                   + ", ".join(r.short_label for r in reml) + " are REML fits). Refit with ML (REML off on the "
                   "Model page) to compare models that differ in their fixed effects.")
    return out


def lrt(small: Any, big: Any) -> LRTOutcome:
    """Compare two FitRecords; the one with fewer parameters is treated as the null model."""
    a, b = small.result, big.result
    if a.dof > b.dof:
        small, big, a, b = big, small, b, a
    note = precheck(small, big)
    if note:
        return LRTOutcome(None, notes=[note])
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

