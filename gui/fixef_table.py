"""The fixed-effects table of a fit with its tests: estimate, SE, df, t or z, p and CI.

One function, :func:`fixef_table`, gives the numbers every view of the fixed effects shows
(the report's APA table, and any page that shows tests). It takes df-corrected t tests from
the engine's ``mm_core.fixef_tests`` when the engine has that function (Satterthwaite or
Kenward–Roger df, as lmerTest and pbkrtest) and otherwise the Wald z tests of
``result.coeftable`` (lme4's ``summary`` z values, infinite df). No Streamlit here.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

import mm_core

COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value", "ci_lower", "ci_upper"]

# the names an engine table may give each column, first match wins
_ALIASES = {
    "estimate": ("estimate", "Estimate"),
    "std_error": ("std_error", "se", "Std. Error"),
    "df": ("df", "ddf", "den_df"),
    "statistic": ("t_value", "statistic", "t", "t value", "z_value"),
    "p_value": ("p_value", "p", "Pr(>|t|)", "pvalue"),
    "ci_lower": ("ci_lower", "lower", "conf.low"),
    "ci_upper": ("ci_upper", "upper", "conf.high"),
}


def _pick(tab: pd.DataFrame, name: str) -> pd.Series | None:
    return next((tab[a] for a in _ALIASES[name] if a in tab.columns), None)


def _from_engine(res: Any, level: float, fn: Any) -> tuple[pd.DataFrame, str, str] | None:
    tab = fn(res)
    if not isinstance(tab, pd.DataFrame):
        return None
    cols = {name: _pick(tab, name) for name in COLUMNS}
    if any(cols[c] is None for c in ("estimate", "std_error", "df", "statistic", "p_value")):
        return None
    out = pd.DataFrame({c: (np.nan if s is None else pd.to_numeric(s, errors="coerce")) for c, s in cols.items()},
                       index=tab.index)
    if cols["ci_lower"] is None:            # t intervals with the table's df
        from scipy import stats

        q = stats.t.ppf(0.5 + level / 2, out["df"].to_numpy(float))
        out["ci_lower"] = out["estimate"] - q * out["std_error"]
        out["ci_upper"] = out["estimate"] + q * out["std_error"]
    method = str(tab.attrs.get("method") or tab.attrs.get("ddf") or "df-corrected")
    return out, "t", method


def fixef_table(res: Any, level: float = 0.95) -> pd.DataFrame:
    """Fixed effects with standard errors, df, test statistic, p-value and confidence interval.

    Parameters
    ----------
    res : mm_core.MixedModelResult
    level : float
        Confidence level of the interval (0.95 as in lme4's ``confint(method = "Wald")``).

    Returns
    -------
    pandas.DataFrame
        By coefficient: ``estimate, std_error, df, statistic, p_value, ci_lower, ci_upper``.
        ``attrs``: ``statistic`` (``"t"`` or ``"z"``), ``df_method`` (e.g. ``"Satterthwaite"``, or
        ``"Wald z (infinite df)"``), ``level``. ``df`` is ∞ for z tests.

    Notes
    -----
    R: ``lmerTest::summary(m)$coefficients`` with ``confint(m, method = "Wald")`` when the engine
    has df-corrected tests; ``summary(m)$coefficients`` (z tests) otherwise.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> round(fixef_table(m).loc["(Intercept)", "estimate"], 1)
    1527.5
    """
    fn = getattr(mm_core, "fixef_tests", None)
    why = ""
    if fn is not None:
        try:
            got = _from_engine(res, level, fn)
        except Exception as e:  # noqa: BLE001 - fall back to Wald z and say why
            got, why = None, f"; the df-corrected tests could not be computed ({str(e)[:120]})"
        if got is not None:
            out, stat, method = got
            out.attrs.update(statistic=stat, df_method=method, level=level)
            return out[COLUMNS]
    ct = res.coeftable
    se = ct["std_error"].to_numpy(float)
    est = ct["estimate"].to_numpy(float)
    if math.isclose(level, 0.95):
        lo, hi = ct["ci_lower"].to_numpy(float), ct["ci_upper"].to_numpy(float)
    else:
        from scipy import special

        q = float(special.ndtri(0.5 + level / 2))
        lo, hi = est - q * se, est + q * se
    out = pd.DataFrame({"estimate": est, "std_error": se, "df": np.inf, "statistic": ct["z_value"].to_numpy(float),
                        "p_value": ct["p_value"].to_numpy(float), "ci_lower": lo, "ci_upper": hi}, index=ct.index)
    out.attrs.update(statistic="z", df_method="Wald z (infinite df)" + why, level=level)
    return out
