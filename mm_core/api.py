"""The one entry point: ``fit(formula, data, ...)`` for linear and generalized linear mixed models."""
from __future__ import annotations

from collections.abc import Callable
from difflib import get_close_matches

import numpy as np
import pandas as pd

from ._threads import blas_threads
from .design import materialize, text_column_names
from .errors import DataError, MixedModelError
from .families import get_family
from .lmm import LinearMixedModel
from .optimize import SETTING_NAMES, optimizer_settings
from .results import MixedModelResult

#: Keyword options of :func:`fit` other than the optimizer settings.
FIT_OPTIONS = ("family", "link", "reml", "n_agq", "fast", "weights", "contrasts", "progress",
               "success_level", "allow_more_random_effects")
#: Optimizer settings accepted by :func:`fit` (for LMMs and GLMMs alike).
OPTIMIZER_SETTINGS = SETTING_NAMES


def check_fit_arguments(data, optimizer: dict, **options) -> None:
    """Refuse data that are not a table, unknown options and options of the wrong type
    (``options``: the keyword arguments of :func:`fit` by name; ``optimizer``: the optimizer
    settings, whose values :func:`mm_core.optimize.optimizer_settings` checks for linear and
    generalized linear mixed models alike). A formula that is not text is refused by
    :func:`mm_core.formula.parse_formula`.

    Raises
    ------
    DataError, MixedModelError
        Naming the argument and, for an unknown option, the valid ones.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a table (pandas DataFrame), not {type(data).__name__}")
    unknown = [k for k in optimizer if k not in OPTIMIZER_SETTINGS]
    if unknown:
        valid = FIT_OPTIONS + OPTIMIZER_SETTINGS
        hints = [m for k in unknown for m in get_close_matches(str(k).lower(), valid, n=1)]
        raise MixedModelError(
            f"unknown optimizer setting or option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)} for fit()"
            + (f" (did you mean {', '.join(repr(h) for h in hints)}?)" if hints else "")
            + f". Valid options: {', '.join(FIT_OPTIONS)}; optimizer settings: "
            f"{', '.join(OPTIMIZER_SETTINGS)}")
    for name in ("reml", "fast", "allow_more_random_effects"):
        if name in options and not isinstance(options[name], (bool, np.bool_)):
            raise MixedModelError(f"{name} must be True or False, not {options[name]!r}")
    if options.get("progress") is not None and not callable(options["progress"]):
        raise MixedModelError("progress must be a function (or None), not "
                              f"{type(options['progress']).__name__}")
    w = options.get("weights")
    if w is not None and not isinstance(w, str):
        try:
            arr = np.asarray(w, dtype=float)
        except (TypeError, ValueError):
            raise DataError("weights must be a column name or one number per row, not "
                            f"{type(w).__name__}") from None
        if arr.ndim != 1:
            raise DataError(f"weights must be one number per row (a 1-dimensional array), not "
                            f"an array of shape {arr.shape}")
    optimizer_settings(optimizer)


def _is_lmm(family, link) -> bool:
    return get_family(family, link).is_linear


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
    check_fit_arguments(data, optimizer, reml=reml, fast=fast, weights=weights,
                        progress=progress, allow_more_random_effects=allow_more_random_effects)
    with blas_threads():
        return _fit(formula, data, family=family, link=link, reml=reml, n_agq=n_agq, fast=fast,
                    weights=weights, contrasts=contrasts, progress=progress,
                    success_level=success_level,
                    allow_more_random_effects=allow_more_random_effects, **optimizer)


def _fit(formula, data, *, family, link, reml, n_agq, fast, weights, contrasts, progress,
         success_level, allow_more_random_effects, **optimizer) -> MixedModelResult:
    data = text_column_names(data)
    design = materialize(formula, data, contrasts=contrasts, success_level=success_level)
    w = _prior_weights(weights, data, design.rows)
    text = formula if isinstance(formula, str) else str(formula)
    result = _fit_design(design, text, family=family, link=link, reml=reml, n_agq=n_agq,
                         fast=fast, w=w, progress=progress,
                         allow_more_random_effects=allow_more_random_effects, **optimizer)
    if not np.isfinite(result.objective):
        raise DataError("the fit failed: its objective is not a finite number. Check the response "
                        "and the predictors for extreme or nearly constant values")
    return result


def _fit_design(design, text, *, family, link, reml, n_agq, fast, w, progress,
                allow_more_random_effects, **optimizer) -> MixedModelResult:
    """Fit a materialized design as an LMM or a GLMM; numerical failures become DataError."""
    try:
        if _is_lmm(family, link):
            if n_agq != 1:
                raise MixedModelError("n_agq applies to generalized linear mixed models only")
            _check_response_variation(design)
            model = LinearMixedModel(design, reml=reml, weights=w,
                                     allow_more_random_effects=allow_more_random_effects)
            return model.fit(progress=progress, formula_text=text, **optimizer)
        if reml:
            raise MixedModelError("REML applies to linear mixed models only (family 'gaussian' "
                                  "with the identity link)")
        from .glmm import fit_glmm
        return fit_glmm(design, family=family, link=link, n_agq=n_agq, fast=fast, weights=w,
                        progress=progress, formula_text=text,
                        allow_more_random_effects=allow_more_random_effects, **optimizer)
    except np.linalg.LinAlgError as e:
        raise DataError(f"the model cannot be fitted to these data: a matrix of the fit is "
                        f"numerically singular ({e}). This happens when the response or a "
                        "predictor varies very little compared with its size, or when "
                        "predictors are on wildly different scales: center or rescale them "
                        "and fit again") from None


#: Smallest standard deviation of a linear model's response relative to its largest absolute
#: value: below it the sums of squares keep too few significant digits of the variation.
MIN_RELATIVE_VARIATION = 1e-5


def _check_response_variation(design) -> None:
    """Refuse a response whose variation is lost in rounding next to its size."""
    y = design.y
    if y.size and np.all(y == y[0]):
        raise DataError(f"the response '{design.response_name}' has the same value ({y[0]:g}) in "
                        f"all {y.size} rows used: there is nothing to model")
    top = float(np.max(np.abs(y))) if y.size else 0.0
    sd = float(np.std(y)) if y.size > 1 else 0.0
    if top > 0 and 0 < sd < MIN_RELATIVE_VARIATION * top:
        centre = float(np.median(y))
        raise DataError(f"the response '{design.response_name}' varies very little compared with "
                        f"its size (standard deviation {sd:.3g} around {centre:.6g}): double "
                        "precision cannot fit it reliably. Subtract a constant and rescale it "
                        f"first, e.g. I(({design.response_name} - {centre:.6g}) * {1 / sd:.3g})")


def lmm(formula: str, data: pd.DataFrame, *, reml: bool = False, **kwargs) -> MixedModelResult:
    """Linear mixed model: ``fit(formula, data, family="gaussian", reml=reml, ...)``."""
    return fit(formula, data, family="gaussian", reml=reml, **kwargs)


def glmm(formula: str, data: pd.DataFrame, *, family="binomial", link=None, n_agq: int = 1,
         **kwargs) -> MixedModelResult:
    """Generalized linear mixed model: ``fit(formula, data, family=family, ...)``."""
    return fit(formula, data, family=family, link=link, n_agq=n_agq, **kwargs)
