"""Confidence intervals for every parameter: Wald, profile likelihood, parametric bootstrap.

The parameters are named as lme4's ``confint(m, oldNames = FALSE)`` names them, in its order:
the standard deviations and correlations of each random-effects term (terms by decreasing number
of levels; within a term the free elements of λ in column-major order: ``sd_(Intercept)|subj``,
``cor_days.(Intercept)|subj``, ``sd_days|subj``), then ``sigma`` (models with a scale), then the
fixed effects by coefficient name (:mod:`mm_core.covparams` holds the map between θ, with σ, and
those standard deviations and correlations).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .covparams import check_level, covariance_layout, estimates, parameter_names, sdcor, theta_from_sdcor
from .errors import MixedModelError
from .simulate import check_result

__all__ = [
    "confint",
    "covariance_layout",
    "estimates",
    "parameter_names",
    "sdcor",
    "theta_from_sdcor",
    "wald_intervals",
]


def wald_intervals(result, level: float = 0.95) -> pd.DataFrame:
    """Wald intervals β̂ ± z·SE for the fixed effects; NaN for the covariance parameters.

    Equivalent to lme4's ``confint(m, method = "Wald")``.
    """
    check_level(level)
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
    check_result(result)
    check_level(level)
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
