"""Tests of linear functions of the fixed effects with a choice of denominator df.

One object per (fit, method), :class:`Inference`, gives for any contrast matrix L the variance
of Lβ̂ and its df (t tests), and the F statistic of H0: Lβ = 0 with its numerator and
denominator df. The methods are those of lmerTest and pbkrtest:

``"satterthwaite"``
    :mod:`mm_core.effects.satterthwaite` (linear mixed models; jamovi's and JASP's default).
``"kenward-roger"``
    :mod:`mm_core.effects.kenward_roger`: the adjusted covariance of β̂ and its df (linear
    mixed models fitted by REML).
``"asymptotic"``
    Wald tests with the fit's covariance of β̂ and infinite df (z and chi-square; the default
    for generalized linear mixed models, as in emmeans and car).

The ingredients are computed once per fit and kept as long as the fit lives.
"""
from __future__ import annotations

import weakref

import numpy as np
from scipy import stats

from .._threads import blas_threads
from ..errors import MixedModelError, NotFittedError
from .kenward_roger import KenwardRoger, kenward_roger
from .satterthwaite import VarparCovariance, varpar_covariance

METHODS = ("satterthwaite", "kenward-roger", "asymptotic")
_ALIASES = {"satterthwaite": "satterthwaite", "satt": "satterthwaite",
            "kenward-roger": "kenward-roger", "kenward_roger": "kenward-roger",
            "kenwardroger": "kenward-roger", "kr": "kenward-roger",
            "asymptotic": "asymptotic", "z": "asymptotic", "wald": "asymptotic"}

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def resolve_ddf(result, ddf) -> str:
    """The df method's canonical name; None gives the default (Satterthwaite for LMMs)."""
    if ddf is None:
        return "satterthwaite" if result.is_lmm else "asymptotic"
    key = str(ddf).strip().lower().replace(" ", "-")
    method = _ALIASES.get(key)
    if method is None:
        raise MixedModelError(f"unknown denominator df method {ddf!r}; use 'satterthwaite', "
                              "'kenward-roger' or 'asymptotic'")
    if method != "asymptotic" and not result.is_lmm:
        name = "Kenward–Roger" if method == "kenward-roger" else "Satterthwaite"
        raise MixedModelError(
            f"{name} degrees of freedom apply to linear mixed models only; this model is a "
            f"generalized linear mixed model ({result.family}, {result.link} link), whose "
            "tests are asymptotic (z and chi-square): use ddf='asymptotic'")
    return method


class Inference:
    """Variances, df and F tests of linear functions of β̂ for one fit and one df method.

    Parameters
    ----------
    result : MixedModelResult
    method : str
        One of :data:`METHODS` (see :func:`resolve_ddf`).

    Fields
    ------
    beta : ndarray
    vcov : ndarray
        Covariance of β̂ used by the tests (adjusted for Kenward–Roger).
    sigma : float
        Residual standard deviation (1 for families without a scale).
    """

    def __init__(self, result, method: str):
        self.result = result
        self.method = method
        self.beta = np.asarray(result.beta, float)
        self.sigma = float(result.sigma) if result.sigma is not None else 1.0
        if method == "satterthwaite":
            with blas_threads():   # the fit's factorizations, with the fit's BLAS threads
                sat = varpar_covariance(result)
            self.engine: VarparCovariance | KenwardRoger | None = sat
            self.vcov = sat.vcov_beta
        elif method == "kenward-roger":
            with blas_threads():
                kr = kenward_roger(result)
            self.engine = kr
            self.vcov = kr.vcov_adjusted
        else:
            self.engine = None
            self.vcov = np.asarray(result.tables.vcov, float)

    def t(self, L) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(estimate, standard error, df) of each row of L."""
        L = np.atleast_2d(np.asarray(L, float))
        est = L @ self.beta
        if self.engine is None:
            var = np.einsum("ij,jk,ik->i", L, self.vcov, L)
            df = np.full(len(est), np.inf)
        else:
            var, df = self.engine.t_df(L)
        return est, np.sqrt(np.maximum(var, 0.0)), df

    def f(self, L) -> dict:
        """The F test of H0: Lβ = 0: ``f_value, num_df, den_df, mean_sq`` (lmerTest's table).

        ``mean_sq`` is the unscaled Wald F times σ² (lmerTest's ``Mean Sq``); for
        Kenward–Roger ``f_value`` is the scaled F.
        """
        L = np.atleast_2d(np.asarray(L, float))
        if isinstance(self.engine, KenwardRoger):
            F_unscaled, q, ddf, scale = self.engine.f_test(L, self.beta)
        elif isinstance(self.engine, VarparCovariance):
            F_unscaled, q, ddf = self.engine.f_test(L, self.beta)
            scale = 1.0
        else:
            F_unscaled, q = wald_f(L, self.beta, self.vcov)
            ddf, scale = np.inf, 1.0
        F = F_unscaled * scale
        return {"f_value": F, "num_df": q, "den_df": ddf, "mean_sq": F_unscaled * self.sigma ** 2,
                "p_value": float(stats.f.sf(F, q, ddf)) if q > 0 else np.nan}


def wald_f(L: np.ndarray, beta: np.ndarray, V: np.ndarray) -> tuple[float, int]:
    """Wald statistic divided by the rank of L V Lᵀ, and that rank."""
    VL = L @ V @ L.T
    d, P = np.linalg.eigh(0.5 * (VL + VL.T))
    tol = max(np.sqrt(np.finfo(float).eps) * d.max(), 0.0) if len(d) else 0.0
    pos = d > tol
    q = int(pos.sum())
    if q == 0:
        return np.nan, 0
    z = (P[:, pos].T @ (L @ beta)) / np.sqrt(d[pos])
    return float(z @ z) / q, q


def inference(result, ddf=None) -> Inference:
    """The :class:`Inference` of a fit for a df method, computed once per fit and method."""
    method = resolve_ddf(result, ddf)
    per_fit = _CACHE.setdefault(result, {})
    if method not in per_fit:
        per_fit[method] = Inference(result, method)
    return per_fit[method]


def check_fitted(result) -> None:
    """A :class:`mm_core.errors.NotFittedError` unless ``result`` is a fitted model."""
    from ..results import MixedModelResult
    if not isinstance(result, MixedModelResult):
        raise NotFittedError("expected a fitted model (the result of mm_core.fit), got "
                             f"{type(result).__name__}; fit the model first")


def check_level(level) -> float:
    try:
        level = float(level)
    except (TypeError, ValueError):
        raise MixedModelError(f"level must be a number between 0 and 1, not {level!r}") from None
    if not 0 < level < 1:
        raise MixedModelError(f"level must be between 0 and 1 (e.g. 0.95), not {level}")
    return level


def t_table(est, se, df, level: float) -> dict:
    """``estimate, std_error, df, statistic, p_value, lower, upper`` columns (two-sided)."""
    est, se, df = (np.asarray(a, float) for a in (est, se, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    p = 2.0 * stats.t.sf(np.abs(stat), df)
    q = stats.t.ppf(0.5 + level / 2, df)
    return {"estimate": est, "std_error": se, "df": df, "statistic": stat, "p_value": p,
            "lower": est - q * se, "upper": est + q * se}
