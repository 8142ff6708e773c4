"""emmeans' reference grid: every level of each factor, covariates at their means.

The grid has one row per combination of the levels of the model's factors (all levels, in
the fit's order) and of the covariate values named in ``at``; every other covariate is held at
its mean over the rows the model used. Rows are ordered with the first variable varying
fastest, as R's ``expand.grid``. The grid's model matrix comes from the fit's own formula
machinery (:func:`mm_core.predict.fixed_effects_matrix`), so codings, interactions and
functions of covariates (``log(x)``, ``I(x^2)``) are evaluated exactly as in the fit: a
covariate at its mean enters ``log(x)`` as the log of the mean, as in emmeans.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd

from ..contrasts import level_label
from ..errors import MixedModelError
from ..predict import fixed_effects_matrix
from ..simulate import fixef_columns
from .model_terms import FixedStructure, fixed_structure

#: Largest reference grid built: rows, and rows × coefficients (its model matrix).
MAX_GRID = 200_000
MAX_GRID_ENTRIES = 20_000_000


@dataclass(frozen=True)
class ReferenceGrid:
    """The reference grid of a fit.

    Fields
    ------
    frame : pandas.DataFrame
        One row per grid point: factor columns (level labels) and covariate columns.
    X : ndarray
        Its fixed-effects model matrix (the fit's estimated columns).
    variables : dict
        Grid variable (data column) -> its values, in grid order; factors first appear in
        formula order, then covariates given several values in ``at``.
    factors : tuple of str
        The grid variables that are factors.
    covariates : dict
        Covariate column -> value used where it is not a grid variable.
    structure : FixedStructure
    X_full : ndarray
        The model matrix with every column of the design, including those the fit dropped as
        redundant.
    null_space : ndarray, shape (columns of the design, r)
        A basis of the null space of the fit's design matrix (r = 0 unless columns were
        dropped): a linear function l of the full coefficients is estimable when l·N = 0.
    """

    frame: pd.DataFrame
    X: np.ndarray
    variables: dict
    factors: tuple
    covariates: dict
    structure: FixedStructure
    X_full: np.ndarray
    null_space: np.ndarray

    def estimable(self, L_full: np.ndarray) -> np.ndarray:
        """Whether each row of L_full (over the design's columns) is estimable (emmeans'
        ``nonest`` check)."""
        if not self.null_space.shape[1]:
            return np.ones(len(L_full), bool)
        scale = np.maximum(np.abs(L_full).max(axis=1), 1.0)
        return np.all(np.abs(L_full @ self.null_space) <= 1e-6 * scale[:, None], axis=1)


def covariate_means(result, structure: FixedStructure, data=None) -> dict:
    """Mean of each covariate column over the rows the model used.

    From ``data`` when given (the table the model was fitted to), else from the fit's design
    matrix, where a covariate entered as a term of its own is a column.
    """
    design = result.model.design
    out: dict[str, float | None] = {}
    for col in structure.covariate_columns:
        if data is not None:
            if col not in data.columns:
                raise MixedModelError(f"data has no column '{col}', which the model uses")
            values = pd.to_numeric(data[col].iloc[result.rows], errors="coerce")
            out[col] = float(np.mean(values.to_numpy(float)))
        elif col in design.fixef_names:
            out[col] = float(np.mean(design.X[:, design.fixef_names.index(col)]))
        else:
            out[col] = None
    return out


def covariate_range(result, col: str, data=None) -> float | None:
    """max − min of a covariate over the rows the model used (None when the fit cannot tell)."""
    design = result.model.design
    if data is not None and col in data.columns:
        v = pd.to_numeric(data[col].iloc[result.rows], errors="coerce").to_numpy(float)
    elif col in design.fixef_names:
        v = design.X[:, design.fixef_names.index(col)]
    else:
        return None
    return float(np.nanmax(v) - np.nanmin(v))


def reference_grid(result, at: dict | None = None, data=None) -> ReferenceGrid:
    """Build the reference grid of a fitted model.

    Parameters
    ----------
    result : MixedModelResult
    at : dict, optional
        Column -> value or list of values: for a covariate, the values to use instead of its
        mean (several values make it a grid variable); for a factor, a subset of its levels.
    data : pandas.DataFrame, optional
        The table the model was fitted to; needed only for covariates that are not a term of
        their own (``log(x)``, ``f:x``), whose means the fit's design matrix does not hold.

    Returns
    -------
    ReferenceGrid

    Notes
    -----
    R equivalent: ``emmeans::ref_grid(m, at = at)``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 | subj)", datasets.load("sleepstudy"))
    >>> reference_grid(m).covariates
    {'days': 4.5}
    """
    structure = fixed_structure(result.model.design)
    at = dict(at or {})
    factor_cols = structure.factor_columns
    covs = covariate_means(result, structure, data)
    unknown = [c for c in at if c not in factor_cols and c not in covs]
    if unknown:
        known = list(factor_cols) + list(covs)
        raise MixedModelError(f"at names {', '.join(repr(c) for c in unknown)}, which the "
                              f"model's fixed part does not use (its variables: "
                              f"{', '.join(repr(c) for c in known) or 'none'})")
    variables: dict = {}
    for col, levels in factor_cols.items():
        chosen = levels
        if col in at:
            given = at[col]
            items = list(given) if isinstance(given, (list, tuple, np.ndarray, pd.Index)) else [given]
            wanted = [level_label(v.item() if isinstance(v, np.generic) else v) for v in items]
            bad = [v for v in wanted if v not in levels]
            if bad:
                raise MixedModelError(f"at: {', '.join(repr(b) for b in bad)} not level(s) of "
                                      f"'{col}' (its levels: {', '.join(levels[:20])})")
            chosen = wanted
        variables[col] = list(chosen)
    fixed_covs = {}
    for col, mean in covs.items():
        if col in at:
            vals = [float(v) for v in np.atleast_1d(at[col])]
            if not vals or not np.all(np.isfinite(vals)):
                raise MixedModelError(f"at: the values of '{col}' must be finite numbers")
            if len(vals) > 1:
                variables[col] = vals
            else:
                fixed_covs[col] = vals[0]
        elif mean is None:
            raise MixedModelError(
                f"the mean of covariate '{col}' is not a column of the model's design "
                f"(it enters only through an expression or an interaction): give its value "
                f"with at={{'{col}': value}} or pass the data the model was fitted to")
        else:
            fixed_covs[col] = mean
    size = int(np.prod([len(v) for v in variables.values()])) if variables else 1
    if size > MAX_GRID or size * len(result.model.design.fixef_names) > MAX_GRID_ENTRIES:
        raise MixedModelError(f"the reference grid would have {size:,} rows (every combination "
                              f"of {', '.join(variables)}); restrict it with at= or simplify "
                              "the model")
    names = list(variables)
    combos = list(product(*[variables[v] for v in reversed(names)]))
    cols = {nm: [c[len(names) - 1 - i] for c in combos] for i, nm in enumerate(names)}
    frame = pd.DataFrame({nm: cols[nm] for nm in names}) if names else pd.DataFrame(index=[0])
    for col, val in fixed_covs.items():
        frame[col] = val
    for col in names:
        if col in factor_cols:
            frame[col] = frame[col].astype(object)
    X_all, _ = fixed_effects_matrix(result, frame)
    design = result.model.design
    X = X_all[:, fixef_columns(design, list(result.fixef.index))]
    return ReferenceGrid(frame=frame, X=X, variables=variables,
                         factors=tuple(c for c in names if c in factor_cols),
                         covariates=fixed_covs, structure=structure, X_full=X_all,
                         null_space=_null_space(design.X) if result.dropped_columns
                         else np.zeros((X_all.shape[1], 0)))


def _null_space(X: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the null space of X (from the eigenvectors of XᵀX)."""
    scale = np.sqrt(np.maximum(np.sum(X * X, axis=0), 1e-300))
    w, V = np.linalg.eigh((X / scale).T @ (X / scale))
    basis = V[:, w <= 1e-9 * max(w.max(), 1.0)] / scale[:, None]
    q, _ = np.linalg.qr(basis) if basis.shape[1] else (basis, None)
    return q
