"""How the variance splits between fixed effects, random effects and residual: R² and ICC."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..covparams import covariance_layout
from ..simulate import check_result, fixef_columns, result_family

__all__ = ["icc", "r_squared"]


def _variance_parts(result) -> dict:
    """Fixed-effects variance, per-group random-effects variance, residual variance (latent)."""
    design = result.model.design
    X = design.X[:, fixef_columns(design, list(result.fixef.index))]
    eta_f = X @ result.beta
    var_f = float(np.var(eta_f, ddof=1)) if len(eta_f) > 1 else 0.0
    layout = covariance_layout(design)
    by_group = {t.group: t for t in design.reterms}
    has_scale = result.sigma is not None
    s2 = result.sigma ** 2 if has_scale else 1.0
    var_r = {}
    for term in layout:
        t = by_group[term.group]
        lam = term.lam(result.theta)
        cov = s2 * lam @ lam.T
        Z = t.z.T                                            # (n, p) columns of the term
        # mean over observations of zᵢᵀ Σ zᵢ (Johnson 2014 for random slopes)
        var_r[term.group] = float(np.mean(np.einsum("ni,ij,nj->n", Z, cov, Z)))
    family = result_family(result)
    if family is None:
        var_e, how = s2, "residual variance σ²"
    else:
        var_e, how = family.latent_variance(eta_f, sum(var_r.values()), result.sigma)
    return {"fixed": var_f, "random": var_r, "residual": var_e, "residual_kind": how}


def r_squared(result) -> pd.Series:
    """Marginal and conditional R² (Nakagawa & Schielzeth 2013; Johnson 2014).

    ``R²_m = σ²_f / (σ²_f + Σσ²_r + σ²_e)`` and ``R²_c = (σ²_f + Σσ²_r) / (…)`` with σ²_f the
    variance of Xβ̂, σ²_r per grouping factor the mean over observations of zᵢᵀΣzᵢ (random
    slopes averaged over the observed covariates) and σ²_e the residual variance (LMM) or the
    latent-scale distribution variance (GLMM: π²/3 for logit, 1 for probit, ln(1 + 1/λ) for
    Poisson/log).

    Returns
    -------
    pandas.Series
        ``marginal``, ``conditional``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> r_squared(m).round(4).tolist()
    [0.2876, 0.7928]
    """
    check_result(result)
    v = _variance_parts(result)
    vr = sum(v["random"].values())
    total = v["fixed"] + vr + v["residual"]
    return pd.Series({"marginal": v["fixed"] / total, "conditional": (v["fixed"] + vr) / total},
                     name="r_squared")


def icc(result) -> pd.DataFrame:
    """Intra-class correlations per grouping factor, and in total.

    ``adjusted``: σ²_r / (Σσ²_r + σ²_e), the share of the variance not explained by the fixed
    effects that is due to the grouping factor (for a random intercept only, the correlation of
    two observations of the same level); ``conditional``: σ²_r / (σ²_f + Σσ²_r + σ²_e). The
    variance components are those of :func:`r_squared`.

    Returns
    -------
    pandas.DataFrame
        Index: grouping factors and ``"total"``; columns ``variance, adjusted, conditional``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> round(float(icc(m).loc["batch", "adjusted"]), 4)
    0.3616
    """
    check_result(result)
    v = _variance_parts(result)
    vr = v["random"]
    tot_r = sum(vr.values())
    rows = dict(vr)
    rows["total"] = tot_r
    df = pd.DataFrame({"variance": pd.Series(rows)})
    df["adjusted"] = df["variance"] / (tot_r + v["residual"])
    df["conditional"] = df["variance"] / (v["fixed"] + tot_r + v["residual"])
    df.index.name = "group"
    return df
