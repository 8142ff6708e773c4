"""Residuals of a fit, of every type lme4 computes, and simulation-based quantile residuals."""
from __future__ import annotations

import numpy as np

from ..errors import MixedModelError
from ..simulate import check_result
from .simulated_residuals import quantile_residuals

__all__ = ["residuals"]


def residuals(result, kind: str = "response", **quantile_options) -> np.ndarray:
    """Residuals of a fit.

    Parameters
    ----------
    result : MixedModelResult
    kind : {"response", "pearson", "deviance", "working", "scaled", "quantile"}
        lme4's ``residuals(m, type = kind)`` (``scaled``: Pearson residuals divided by σ, LMMs),
        or simulation-based scaled quantile residuals (:func:`quantile_residuals`, uniform on
        (0, 1) under the model).
    **quantile_options
        ``n_sim``, ``seed``, ``conditional`` for ``kind="quantile"``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> residuals(m, "pearson").shape
    (180,)
    """
    check_result(result)
    if kind == "quantile":
        return quantile_residuals(result, **quantile_options).residuals
    if quantile_options:
        raise MixedModelError(f"options {sorted(quantile_options)} apply to kind='quantile' only")
    return result.residuals_of(kind)
