"""The covariance parameters of a fit: θ's layout by term, and θ ↔ standard deviations and correlations.

The parameters are named as lme4's ``confint(m, oldNames = FALSE)`` names them, in its order:
the standard deviations and correlations of each random-effects term (terms by decreasing number
of levels; within a term the free elements of λ in column-major order: ``sd_(Intercept)|subj``,
``cor_days.(Intercept)|subj``, ``sd_days|subj``), then ``sigma`` (models with a scale), then the
fixed effects by coefficient name. Intervals, the profile and the bootstrap share this map.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .design.reterm import TermLayout, fitting_order, term_layouts
from .errors import MixedModelError

__all__ = [
    "check_level",
    "covariance_layout",
    "estimates",
    "parameter_names",
    "sdcor",
    "theta_from_sdcor",
]


def covariance_layout(design) -> list[TermLayout]:
    """The terms of a design in lme4's (fitting) order, with their θ positions.

    Examples
    --------
    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> d = materialize("strength ~ 1 + (1 | batch) + (1 | batch:cask)", datasets.load("pastes"))
    >>> [(t.group, t.theta_slice.start) for t in covariance_layout(d)]
    [('batch:cask', 0), ('batch', 1)]
    """
    return term_layouts([design.reterms[i] for i in fitting_order(design.reterms)])


def parameter_names(result) -> pd.DataFrame:
    """The parameters of a fit: lme4 name (index), ``type`` (beta/sigma/rho), group, name."""
    rows = []
    for term in covariance_layout(result.model.design):
        for label, kind, name in term.labels():
            rows.append((label, kind, term.group, name))
    if result.sigma is not None and result.has_dispersion:
        rows.append(("sigma", "sigma", "residual", ""))
    for nm in result.fixef.index:
        rows.append((nm, "beta", "", nm))
    df = pd.DataFrame(rows, columns=["parameter", "type", "group", "name"])
    return df.set_index("parameter")


def sdcor(theta: np.ndarray, sigma, layout: list[TermLayout]) -> np.ndarray:
    """Standard deviations and correlations from θ (rows of a 2-D θ are separate fits).

    ``sigma`` scales λ (σ for LMMs; 1 for GLMMs without a dispersion); a vector gives one σ
    per row. Correlations with a zero standard deviation are NaN.
    """
    theta = np.atleast_2d(np.asarray(theta, float))
    R = theta.shape[0]
    s = np.broadcast_to(np.asarray(1.0 if sigma is None else sigma, float), (R,))
    out = np.empty_like(theta)
    for term in layout:
        p, start = term.ncols, term.theta_slice.start
        rows, cols = term.theta_rows.tolist(), term.theta_cols.tolist()
        lam = np.zeros((R, p, p))
        lam[:, rows, cols] = theta[:, term.theta_slice]
        cov = np.einsum("rij,rkj->rik", lam, lam) * (s ** 2)[:, None, None]
        sd = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
        for k, (r, c) in enumerate(zip(rows, cols)):
            if r == c:
                out[:, start + k] = sd[:, r]
            else:
                den = sd[:, r] * sd[:, c]
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[:, start + k] = np.where(den > 0, cov[:, r, c] / den, np.nan)
    return out


def theta_from_sdcor(psi: np.ndarray, sigma: float, layout: list[TermLayout]) -> np.ndarray:
    """θ from standard deviations and correlations (the inverse of :func:`sdcor`, one fit)."""
    psi = np.asarray(psi, float)
    theta = np.empty_like(psi)
    s = 1.0 if sigma is None else float(sigma)
    for term in layout:
        p = term.ncols
        sd = np.zeros(p)
        corr = np.eye(p)
        values = psi[term.theta_slice]
        for v, r, c in zip(values, term.theta_rows.tolist(), term.theta_cols.tolist()):
            if r == c:
                sd[r] = v
            else:
                corr[r, c] = corr[c, r] = v
        cov = corr * np.outer(sd, sd) / (s * s)
        lam = _cholesky_semidefinite(cov)
        theta[term.theta_slice] = term.term.theta_of(lam)
    return theta


def _cholesky_semidefinite(C: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero columns where singular)."""
    p = C.shape[0]
    L = np.zeros_like(C)
    for j in range(p):
        d = C[j, j] - L[j, :j] @ L[j, :j]
        if d <= 1e-14 * max(C[j, j], 1e-300):
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (C[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def estimates(result) -> pd.Series:
    """Point estimates of every parameter, indexed by lme4 name."""
    layout = covariance_layout(result.model.design)
    scale = result.sigma if (result.sigma is not None and result.has_dispersion) else 1.0
    vals = list(sdcor(result.theta, scale, layout)[0])
    if result.sigma is not None and result.has_dispersion:
        vals.append(result.sigma)
    vals += list(result.beta)
    return pd.Series(vals, index=parameter_names(result).index, name="estimate")


def check_level(level) -> None:
    """A confidence level strictly between 0 and 1, or a clear error."""
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise MixedModelError(f"level must be between 0 and 1 (e.g. 0.95), not {level!r}")
