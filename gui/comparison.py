"""Likelihood-ratio test between two fits of the session, with the checks that make it valid.

Uses ``mm_core.likelihood_ratio_test`` when the engine has it, otherwise the χ² test on the
difference in deviance and number of parameters. No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

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
    if engine.has("likelihood_ratio_test"):
        try:
            out = engine.likelihood_ratio_test(a, b)
        except engine.MixedModelError as e:
            return LRTOutcome(None, notes=[str(e)])
        table = getattr(out, "table", out)
        table = table.copy()
        table.insert(0, "fit", [small.short_label, big.short_label][: len(table)])
        return LRTOutcome(table, _conclusion(table, big), [str(n) for n in getattr(out, "notes", ())])
    return _fallback(small, big)


def _conclusion(table: pd.DataFrame, big: Any) -> str:
    p = _last_p(table)
    if p is None or not np.isfinite(p):
        return ""
    if p < 0.05:
        return f"p = {p:.3g}: the more complex model ({big.short_label}) fits significantly better."
    return (f"p = {p:.3g}: no evidence that the more complex model ({big.short_label}) fits better; "
            "prefer the simpler one.")


def _fallback(small: Any, big: Any) -> LRTOutcome:
    """χ² test on the deviance difference, with the checks the engine would make."""
    notes: list[str] = []
    a, b = small.result, big.result
    if a.nobs != b.nobs:
        return LRTOutcome(None, notes=[f"The fits use different numbers of observations ({a.nobs} vs {b.nobs}), "
                                       "probably because of missing values in a variable only one model uses."])
    if a.family != b.family or a.link != b.link:
        return LRTOutcome(None, notes=["The fits have different families or links; compare them by AIC/BIC."])
    if a.dof == b.dof:
        return LRTOutcome(None, notes=["Both models have the same number of parameters, so they are not nested; "
                                       "compare them by AIC/BIC."])
    if getattr(a, "reml", False) or getattr(b, "reml", False):
        if _fixed_part(small.formula.split("~", 1)[1]) != _fixed_part(big.formula.split("~", 1)[1]):
            return LRTOutcome(None, notes=["REML fits with different fixed effects cannot be compared by a "
                                           "likelihood-ratio test; refit both with ML (turn REML off)."])
        notes.append("REML fits: the test compares the random-effects structures (same fixed effects).")
    dev_a, dev_b = _deviance(a), _deviance(b)
    chisq = max(0.0, dev_a - dev_b)
    df = int(b.dof - a.dof)
    p = float(stats.chi2.sf(chisq, df))
    table = pd.DataFrame({"fit": [small.short_label, big.short_label], "model": [small.formula, big.formula],
                          "npar": [a.dof, b.dof], "deviance": [dev_a, dev_b], "aic": [a.aic, b.aic],
                          "bic": [a.bic, b.bic], "chisq": [np.nan, chisq], "df": [np.nan, df], "p_value": [np.nan, p]})
    notes.append("Nesting is not checked automatically: make sure the simpler model is a special case of the other. "
                 "Tests of variance components on the boundary (variance = 0) are conservative.")
    return LRTOutcome(table, _conclusion(table, big), notes)


def _deviance(res: Any) -> float:
    return float(-2 * res.loglik) if getattr(res, "reml", False) else float(res.deviance)


def _fixed_part(rhs: str) -> str:
    depth, out, cur = 0, [], ""
    for ch in rhs:
        if ch == "(":
            depth += 1
        if depth == 0:
            cur += ch
        if ch == ")":
            depth -= 1
    out = sorted(p.strip() for p in cur.split("+") if p.strip())
    return "+".join(out)


def _last_p(table: pd.DataFrame) -> float | None:
    for c in table.columns:
        if c.lower() in ("p", "p_value", "pvalue") or c.lower().startswith("pr("):
            v = table[c].dropna()
            return float(v.iloc[-1]) if len(v) else None
    return None
