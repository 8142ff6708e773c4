"""Influence of each observation: leverage and Cook's distance."""
from __future__ import annotations

import numpy as np

from ..simulate import check_result
from .residuals import residuals

__all__ = ["cooks_distance", "leverage"]


def leverage(result) -> np.ndarray:
    """Diagonal of the hat matrix of each observation (lme4's ``hatvalues``).

    The same as ``result.leverage`` (computed once and cached by the result).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> leverage(m).shape
    (30,)
    """
    check_result(result)
    return np.asarray(result.leverage, float)


def cooks_distance(result) -> np.ndarray:
    """Cook's distance of each observation, as lme4's ``cooks.distance``.

    ``Dᵢ = (rᵢ / (1 − hᵢ))² hᵢ / (φ p)`` with Pearson residuals rᵢ, leverages hᵢ
    (``result.leverage``), dispersion φ (σ² for LMMs, 1 for binomial and Poisson) and p the
    rank of X. Not-a-number where hᵢ = 1.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> round(float(cooks_distance(m)[2]), 4)
    0.2228
    """
    check_result(result)
    h = leverage(result)
    r = residuals(result, "pearson")
    phi = result.sigma ** 2 if result.sigma is not None else 1.0
    p = len(result.fixef)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (r / (1.0 - h)) ** 2 * h / (phi * p)
    d[~np.isfinite(d)] = np.nan
    return d
