"""The one entry point: ``fit(formula, data, ...)`` for linear and generalized linear mixed models."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ._threads import blas_threads
from .design import materialize
from .errors import DataError, MixedModelError
from .lmm import LinearMixedModel
from .results import MixedModelResult

_GAUSSIAN = {"gaussian", "normal"}


def _is_lmm(family, link) -> bool:
    name = getattr(family, "name", family)
    link_name = getattr(link, "name", link)
    return str(name).lower() in _GAUSSIAN and (link_name is None or str(link_name) == "identity")


def _prior_weights(weights, data: pd.DataFrame, rows: np.ndarray) -> np.ndarray | None:
    """Prior weights on the rows used: a column name or an array over all rows of ``data``."""
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise DataError(f"weights column '{weights}' not found in the data")
        w = pd.to_numeric(data[weights], errors="coerce").to_numpy(float)
        label = f"weights column '{weights}'"
    else:
        w = np.asarray(weights, float)
        label = "weights"
        if w.shape[0] != len(data):
            raise DataError(f"{label} have {w.shape[0]} values but the data have {len(data)} rows")
    w = w[rows]
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise DataError(f"{label} must be finite and non-negative; {int(bad.sum())} values are not")
    if not (w > 0).any():
        raise DataError(f"all {label} are zero")
    return w


def fit(formula: str, data: pd.DataFrame, *, family="gaussian", link=None, reml: bool = False,
        n_agq: int = 1, fast: bool = False, weights=None, contrasts: dict | None = None,
        progress: Callable | None = None, success_level=None,
        allow_more_random_effects: bool = False, **optimizer) -> MixedModelResult:
    """Fit a linear or generalized linear mixed model.

    Parameters
    ----------
    formula : str
        lme4 / MixedModels.jl syntax, e.g. ``"reaction ~ 1 + days + (1 + days | subj)"``.
    data : pandas.DataFrame
    family : str or Family
        ``"gaussian"`` (an LMM with the identity link), ``"binomial"``/``"bernoulli"``,
        ``"poisson"``, ``"gamma"``, ``"inverse_gaussian"``.
    link : str, optional
        Default: the family's canonical link.
    reml : bool
        REML instead of ML (LMMs only).
    n_agq : int
        Gauss–Hermite points for GLMMs with a single scalar random-effects term (1 = Laplace).
    fast : bool
        GLMMs: β profiled inside PIRLS (lme4's ``nAGQ = 0``).
    weights : str or array_like, optional
        Prior weights: a column name or one value per row of ``data``.
    contrasts : dict, optional
        Coding per factor: ``{"dept": "sum", "service": ("treatment", "Y")}``.
    progress : callable, optional
        Called with a :class:`mm_core.optimize.Progress` after each evaluation; returning
        ``False`` cancels the fit (:class:`mm_core.errors.FitCancelled`).
    success_level : optional
        For a two-level categorical response, the level counted as success.
    allow_more_random_effects : bool
        Allow terms with as many random effects as observations (lme4's
        ``check.nobs.vs.nRE = "ignore"``).
    **optimizer
        ``ftol_rel``, ``ftol_abs``, ``xtol_abs``, ``maxeval`` for BOBYQA.

    Returns
    -------
    MixedModelResult

    Notes
    -----
    Equivalent to ``lme4::lmer(formula, data, REML = reml)`` for Gaussian models and
    ``lme4::glmer(formula, data, family, nAGQ = n_agq)`` otherwise.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> round(m.sigma, 2)
    25.59
    """
    if not isinstance(data, pd.DataFrame):
        raise MixedModelError("data must be a table (pandas DataFrame)")
    with blas_threads():
        return _fit(formula, data, family=family, link=link, reml=reml, n_agq=n_agq, fast=fast,
                    weights=weights, contrasts=contrasts, progress=progress,
                    success_level=success_level,
                    allow_more_random_effects=allow_more_random_effects, **optimizer)


def _fit(formula, data, *, family, link, reml, n_agq, fast, weights, contrasts, progress,
         success_level, allow_more_random_effects, **optimizer) -> MixedModelResult:
    design = materialize(formula, data, contrasts=contrasts, success_level=success_level)
    w = _prior_weights(weights, data, design.rows)
    text = formula if isinstance(formula, str) else str(formula)
    if _is_lmm(family, link):
        if n_agq != 1:
            raise MixedModelError("n_agq applies to generalized linear mixed models only")
        model = LinearMixedModel(design, reml=reml, weights=w,
                                 allow_more_random_effects=allow_more_random_effects)
        return model.fit(progress=progress, formula_text=text, **optimizer)
    if reml:
        raise MixedModelError("REML applies to linear mixed models only (family 'gaussian' with "
                              "the identity link)")
    from .glmm import fit_glmm
    return fit_glmm(design, family=family, link=link, n_agq=n_agq, fast=fast, weights=w,
                    progress=progress, formula_text=text,
                    allow_more_random_effects=allow_more_random_effects, **optimizer)


def lmm(formula: str, data: pd.DataFrame, *, reml: bool = False, **kwargs) -> MixedModelResult:
    """Linear mixed model: ``fit(formula, data, family="gaussian", reml=reml, ...)``."""
    return fit(formula, data, family="gaussian", reml=reml, **kwargs)


def glmm(formula: str, data: pd.DataFrame, *, family="binomial", link=None, n_agq: int = 1,
         **kwargs) -> MixedModelResult:
    """Generalized linear mixed model: ``fit(formula, data, family=family, ...)``."""
    return fit(formula, data, family=family, link=link, n_agq=n_agq, **kwargs)
