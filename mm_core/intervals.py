"""Confidence intervals for every parameter: Wald, profile likelihood, parametric bootstrap.

The parameters are named as lme4's ``confint(m, oldNames = FALSE)`` names them, in its order:
the standard deviations and correlations of each random-effects term (terms by decreasing number
of levels; within a term the free elements of λ in column-major order: ``sd_(Intercept)|subj``,
``cor_days.(Intercept)|subj``, ``sd_days|subj``), then ``sigma`` (models with a scale), then the
fixed effects by coefficient name. This module also holds the map between θ (with σ) and those
standard deviations and correlations, which the profile and the bootstrap share.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .errors import MixedModelError
from .simulate import _check_result

__all__ = ["confint", "wald_intervals", "covariance_layout", "parameter_names", "sdcor",
           "theta_from_sdcor", "CovTerm"]


@dataclass(frozen=True)
class CovTerm:
    """The covariance parameters of one random-effects term.

    Fields
    ------
    group : str
        Grouping factor.
    names : tuple of str
        Column names of the term.
    rows, cols : tuple of int
        Position in λ of each element of the term's θ (column-major lower triangle).
    start : int
        Position of the term's first element in θ.
    """

    group: str
    names: tuple
    rows: tuple
    cols: tuple
    start: int

    @property
    def ncols(self) -> int:
        return len(self.names)

    @property
    def ntheta(self) -> int:
        return len(self.rows)

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
    from .lmm import fitting_order
    out, start = [], 0
    for i in fitting_order(design.reterms):
        t = design.reterms[i]
        rows, cols = t.theta_index
        out.append(CovTerm(t.group, tuple(t.names), tuple(int(r) for r in rows),
                           tuple(int(c) for c in cols), start))
        start += len(rows)
    return out


def parameter_names(result) -> pd.DataFrame:
    """The parameters of a fit: lme4 name (index), ``type`` (beta/sigma/rho), group, name."""
    rows = []
    for term in covariance_layout(result.model.design):
        for label, kind, name in term.labels():
            rows.append((label, kind, term.group, name))
    if result.sigma is not None and _has_scale(result):
        rows.append(("sigma", "sigma", "residual", ""))
    for nm in result.fixef.index:
        rows.append((nm, "beta", "", nm))
    df = pd.DataFrame(rows, columns=["parameter", "type", "group", "name"])
    return df.set_index("parameter")


def _has_scale(result) -> bool:
    if result.is_lmm:
        return True
    fam = str(result.family).lower()
    return fam not in ("binomial", "bernoulli", "poisson")


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
        theta[term.start:term.start + term.ntheta] = lam[list(term.rows), list(term.cols)]
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
    scale = result.sigma if (result.sigma is not None and _has_scale(result)) else 1.0
    vals = list(sdcor(result.theta, scale, layout)[0])
    if result.sigma is not None and _has_scale(result):
        vals.append(result.sigma)
    vals += list(result.beta)
    return pd.Series(vals, index=parameter_names(result).index, name="estimate")


def wald_intervals(result, level: float = 0.95) -> pd.DataFrame:
    """Wald intervals β̂ ± z·SE for the fixed effects; NaN for the covariance parameters.

    Equivalent to lme4's ``confint(m, method = "Wald")``.
    """
    _check_level(level)
    z = stats.norm.ppf(0.5 + level / 2)
    est = estimates(result)
    lower = pd.Series(np.nan, index=est.index)
    upper = pd.Series(np.nan, index=est.index)
    names = list(result.fixef.index)
    lower[names] = result.beta - z * result.stderror.to_numpy()
    upper[names] = result.beta + z * result.stderror.to_numpy()
    return _frame(result, est, lower.to_numpy(), upper.to_numpy(), level, "wald")


def _frame(result, est, lower, upper, level, method) -> pd.DataFrame:
    info = parameter_names(result)
    df = info.copy()
    df["estimate"] = est.to_numpy()
    df["lower"] = lower
    df["upper"] = upper
    df.attrs.update(level=level, method=method)
    return df


def _check_level(level) -> None:
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise MixedModelError(f"level must be between 0 and 1 (e.g. 0.95), not {level!r}")


def confint(result, method: str = "profile", level: float = 0.95, *, bootstrap=None,
            interval: str = "shortest", parm=None, **profile_options) -> pd.DataFrame:
    """Confidence intervals for all parameters of a fit.

    Parameters
    ----------
    result : MixedModelResult
    method : {"profile", "wald", "bootstrap"}
        Profile likelihood (:func:`mm_core.profile.profile`), Wald (fixed effects only; NaN
        for the covariance parameters, as lme4), or percentiles of a bootstrap.
    level : float
        Coverage, e.g. 0.95.
    bootstrap : BootstrapResult, optional
        For ``method="bootstrap"``: a finished :func:`~mm_core.bootstrap.parametric_bootstrap`.
    interval : {"shortest", "equaltail"}
        Bootstrap interval type.
    parm : list of str, optional
        Parameters to profile (lme4 names); default all.
    **profile_options
        Passed to :func:`mm_core.profile.profile`.

    Returns
    -------
    pandas.DataFrame
        Indexed by lme4 parameter name: ``type, group, name, estimate, lower, upper``.

    Notes
    -----
    Equivalent to ``confint(m, method = "profile" | "Wald" | "boot", oldNames = FALSE)``.
    Profiles of REML fits are computed on the ML deviance, as lme4 does.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> ci = confint(m, "wald")
    >>> round(float(ci.loc["(Intercept)", "lower"]), 2)
    1492.82
    """
    _check_result(result)
    _check_level(level)
    method = str(method).lower()
    if method == "wald":
        out = wald_intervals(result, level)
    elif method == "profile":
        from .profile import profile
        prof = profile(result, level=level, parm=parm, **profile_options)
        out = prof.confint(level)
    elif method in ("bootstrap", "boot"):
        if bootstrap is None:
            raise MixedModelError("method='bootstrap' needs bootstrap=parametric_bootstrap(...)")
        out = bootstrap.confint(level, method=interval)
        est = estimates(result)
        out = out.reindex(est.index)
        out["estimate"] = est
    else:
        raise MixedModelError(f"unknown interval method {method!r}; use 'profile', 'wald' or "
                              "'bootstrap'")
    if parm is not None:
        missing = [p for p in parm if p not in out.index]
        if missing:
            raise MixedModelError(f"unknown parameter(s) {missing}; the parameters are "
                                  f"{list(out.index)}")
        out = out.loc[list(parm)]
    return out
