"""A fit's results back into its data: one row per data row, the data's columns first, then the
fitted value, residuals, conditional modes, leverage and Cook's distance (R's
``broom.mixed::augment``).

Every number comes from the engine (``mm_core.residuals``, ``quantile_residuals``,
``leverage``, ``cooks_distance``, ``ranef``); rows the fit dropped for missing values stay in
the table with empty results. :func:`to_bytes` writes CSV (cells that a spreadsheet would read
as a formula are neutralised), Excel or Parquet. No Streamlit here.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from gui import engine
from gui.spec.data_design import group_codes
from gui.views.tables import neutralise

FORMATS = {"CSV": ("csv", "text/csv"),
           "Excel": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
           "Parquet": ("parquet", "application/vnd.apache.parquet")}
#: rows an Excel sheet holds below its header
EXCEL_MAX_ROWS = 1_048_575
#: simulations behind the scaled quantile residuals of a GLMM (DHARMa's default), fixed seed
QUANTILE_SIMULATIONS = 250
QUANTILE_SEED = 123


def augmented_data(rec: Any, *, leverage: bool = True) -> pd.DataFrame:
    """The data of a fit with its per-row results appended (columns start with ``.``).

    Parameters
    ----------
    rec : FitRecord
        A fit and the data it was fitted to.
    leverage : bool
        Include ``.leverage`` and ``.cooksd`` (an extra factorization: seconds for 70,000 rows).

    Returns
    -------
    pandas.DataFrame
        The data's columns, then ``.used`` (the row entered the fit), ``.fitted``,
        ``.resid_response``, ``.resid_pearson``, ``.resid_deviance``, ``.resid_scaled`` (LMMs) or
        ``.resid_quantile`` (GLMMs: DHARMa-style scaled quantile residuals, 250 conditional
        simulations, seed 123, as the Diagnostics page), ``.ranef_<group>_<column>`` (the
        conditional mode of the row's level), ``.leverage`` and ``.cooksd``. Rows not used by the
        fit have empty (NaN) results.

    Notes
    -----
    R: ``broom.mixed::augment(m)`` with ``hatvalues(m)``, ``cooks.distance(m)`` and
    ``ranef(m)[[g]][as.character(data[[g]]), ]``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from mm_core import datasets, fit
    >>> d = datasets.load("dyestuff")
    >>> rec = SimpleNamespace(data=d, result=fit("yield ~ 1 + (1 | batch)", d))
    >>> list(augmented_data(rec, leverage=False).columns[:4])
    ['batch', 'yield', '.used', '.fitted']
    """
    res = rec.result
    data = rec.data.reset_index(drop=True)
    rows = np.asarray(res.rows)
    used = data.iloc[rows]
    results: dict[str, np.ndarray] = {".fitted": np.asarray(res.fitted, float)}
    for kind in ("response", "pearson", "deviance", "scaled"):
        try:
            results[f".resid_{kind}"] = np.asarray(engine.residuals(res, kind), float)
        except engine.MixedModelError:      # no "scaled" residuals for a GLMM
            pass
    if not res.is_lmm:
        qr = engine.quantile_residuals(res, QUANTILE_SIMULATIONS, seed=QUANTILE_SEED, conditional=True)
        results[".resid_quantile"] = np.asarray(qr.residuals, float)
    for group, modes in res.ranef.items():
        codes = group_codes(used, group).to_numpy()
        for col in modes.columns:
            results[f".ranef_{group}_{col}"] = modes[col].reindex(codes).to_numpy(float)
    if leverage:
        results[".leverage"] = np.asarray(res.leverage, float)
        results[".cooksd"] = np.asarray(engine.cooks_distance(res), float)
    out = data.copy()
    flag = np.zeros(len(data), bool)
    flag[rows] = True
    out[".used"] = flag
    for name, values in results.items():
        col = np.full(len(data), np.nan)
        col[rows] = values
        out[name] = col
    return out


def formats_for(n_rows: int) -> list[str]:
    """The formats a table of ``n_rows`` rows can be written in (Excel sheets stop at 1,048,576 rows)."""
    return [f for f in FORMATS if f != "Excel" or n_rows <= EXCEL_MAX_ROWS]


def to_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """The table as a file: ``"CSV"`` (UTF-8, empty cells for missing results), ``"Excel"`` or
    ``"Parquet"``. CSV and Excel cells are neutralised against formula injection."""
    buf = io.BytesIO()
    if fmt == "CSV":
        return neutralise(df).to_csv(index=False).encode("utf-8")
    if fmt == "Excel":
        neutralise(df).to_excel(buf, index=False, sheet_name="data")
    elif fmt == "Parquet":
        df.to_parquet(buf, index=False)
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return buf.getvalue()
