"""The covariance parameters of a fit: θ's layout by term, and θ ↔ standard deviations and correlations.

The parameters are named as lme4's ``confint(m, oldNames = FALSE)`` names them, in its order:
the standard deviations and correlations of each random-effects term (terms by decreasing number
of levels; within a term the free elements of λ in column-major order: ``sd_(Intercept)|subj``,
``cor_days.(Intercept)|subj``, ``sd_days|subj``), then ``sigma`` (models with a scale), then the
fixed effects by coefficient name. Intervals, the profile and the bootstrap share this map.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import MixedModelError
from .lmm import fitting_order

__all__ = [
    "CovTerm",
    "check_level",
    "covariance_layout",
    "estimates",
    "parameter_names",
    "sdcor",
    "theta_from_sdcor",
]


@dataclass(frozen=True)
class CovTerm:
    """The covariance parameters of one random-effects term: the term and where its θ starts.

    Fields
    ------
    term : ReTerm
        The term (its grouping factor, columns and the positions of θ's elements in λ).
    start : int
        Position of the term's first element in θ (terms in fitting order).
    """

    term: object
    start: int

    @property
    def group(self) -> str:
        return self.term.group

    @property
    def names(self) -> tuple:
        return tuple(self.term.names)

    @property
    def rows(self) -> tuple:
        """Row in λ of each element of the term's θ (column-major lower triangle)."""
        return tuple(int(r) for r in self.term.theta_index[0])

    @property
    def cols(self) -> tuple:
        return tuple(int(c) for c in self.term.theta_index[1])

    @property
    def ncols(self) -> int:
        return self.term.ncols

    @property
    def ntheta(self) -> int:
        return self.term.ntheta

    def labels(self) -> list[tuple[str, str, str]]:
        """(lme4 name, type, name) of each parameter: ``sd_`` on the diagonal, ``cor_`` below."""
        out = []
        for r, c in zip(self.rows, self.cols):
            if r == c:
                out.append((f"sd_{self.names[r]}|{self.group}", "sigma", self.names[r]))
            else:
                out.append((f"cor_{self.names[r]}.{self.names[c]}|{self.group}", "rho",
                            f"{self.names[c]}, {self.names[r]}"))
        return out


def covariance_layout(design) -> list[CovTerm]:
    """The terms of a design in lme4's (fitting) order, with their θ positions."""
    out, start = [], 0
    for i in fitting_order(design.reterms):
        t = design.reterms[i]
        out.append(CovTerm(t, start))
        start += t.ntheta
    return out


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


def sdcor(theta: np.ndarray, sigma, layout: list[CovTerm]) -> np.ndarray:
    """Standard deviations and correlations from θ (rows of a 2-D θ are separate fits).

    ``sigma`` scales λ (σ for LMMs; 1 for GLMMs without a dispersion); a vector gives one σ
    per row. Correlations with a zero standard deviation are NaN.
    """
    theta = np.atleast_2d(np.asarray(theta, float))
    R = theta.shape[0]
    s = np.broadcast_to(np.asarray(1.0 if sigma is None else sigma, float), (R,))
    out = np.empty_like(theta)
    for term in layout:
        p = term.ncols
        lam = np.zeros((R, p, p))
        sl = slice(term.start, term.start + term.ntheta)
        lam[:, list(term.rows), list(term.cols)] = theta[:, sl]
        cov = np.einsum("rij,rkj->rik", lam, lam) * (s ** 2)[:, None, None]
        sd = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
        for k, (r, c) in enumerate(zip(term.rows, term.cols)):
            if r == c:
                out[:, term.start + k] = sd[:, r]
            else:
                den = sd[:, r] * sd[:, c]
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[:, term.start + k] = np.where(den > 0, cov[:, r, c] / den, np.nan)
    return out


def theta_from_sdcor(psi: np.ndarray, sigma: float, layout: list[CovTerm]) -> np.ndarray:
    """θ from standard deviations and correlations (the inverse of :func:`sdcor`, one fit)."""
    psi = np.asarray(psi, float)
    theta = np.empty_like(psi)
    s = 1.0 if sigma is None else float(sigma)
    for term in layout:
        p = term.ncols
        sd = np.zeros(p)
        corr = np.eye(p)
        for k, (r, c) in enumerate(zip(term.rows, term.cols)):
            v = psi[term.start + k]
            if r == c:
                sd[r] = v
            else:
                corr[r, c] = corr[c, r] = v
        cov = corr * np.outer(sd, sd) / (s * s)
        lam = _cholesky_semidefinite(cov)
        theta[term.start:term.start + term.ntheta] = term.term.theta_of(lam)
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
