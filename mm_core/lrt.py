"""Likelihood-ratio tests between nested mixed models fitted to the same data.

``likelihood_ratio_test(m1, m2, ...)`` orders the fits by their number of parameters and tests
each against the previous one: ``χ² = deviance(smaller) − deviance(larger)`` on
``npar(larger) − npar(smaller)`` degrees of freedom. REML criteria are comparable only between
models with the same fixed effects; otherwise every REML fit is refitted by maximum likelihood
first (lme4's ``anova(..., refit = TRUE)``), and the table says so.
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .errors import MixedModelError
from .families import family_name
from .notes import Note
from .simulate import check_result

__all__ = [
    "DifferentDataError",
    "LRTResult",
    "NotNestedError",
    "likelihood_ratio_test",
    "refit_ml",
]


class NotNestedError(MixedModelError):
    """The models are not nested, so a likelihood-ratio test does not apply."""


class DifferentDataError(MixedModelError):
    """The models were fitted to different observations or responses."""


@dataclass(frozen=True, eq=False)
class LRTResult:
    """A likelihood-ratio test table.

    Fields
    ------
    table : pandas.DataFrame
        One row per model, in order of increasing number of parameters: ``model`` (formula),
        ``npar``, ``loglik``, ``deviance``, ``aic``, ``bic``, ``chisq``, ``df``, ``p_value``
        (NaN in the first row). ``deviance`` is −2 log-likelihood (the REML criterion when all
        models are REML fits with the same fixed effects).
    results : tuple of MixedModelResult
        The fits compared, in table order (ML refits replace REML fits where refitted).
    refitted : tuple of bool
        Which models were refitted by ML.
    criterion : str
        ``"ML"`` or ``"REML"``.
    notes : tuple of str
        What was done (refits) and caveats (boundary p-values).
    """

    table: pd.DataFrame
    results: tuple
    refitted: tuple
    criterion: str
    notes: tuple

    def __str__(self) -> str:
        lines = [self.table.to_string()]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def refit_ml(result):
    """The ML fit of the model of a REML result (same design, rows and weights).

    Starts from the REML estimate of θ; lme4's ``refitML``.
    """
    from .lmm import LinearMixedModel
    check_result(result)
    if not result.reml:
        return result
    model = result.model
    ml = LinearMixedModel(model.design, reml=False, weights=model.weights,
                          allow_more_random_effects=True)
    return ml.fit(formula_text=result.formula, theta0=result.theta)


def _kind(r) -> tuple:
    return (family_name(r.family), str(r.link).lower())


def _check_same_data(results) -> None:
    first = results[0]
    for r in results[1:]:
        if _kind(r) != _kind(first):
            raise DifferentDataError(
                f"models with different families or links cannot be compared by a likelihood-"
                f"ratio test: {first.family}/{first.link} and {r.family}/{r.link}")
        if not first.is_lmm and r.n_agq != first.n_agq:
            raise DifferentDataError(
                f"the GLMMs use different likelihood approximations (n_agq {first.n_agq} and "
                f"{r.n_agq}; 0 = fast, 1 = Laplace): their deviances are not comparable; fit "
                "them with the same n_agq")
        if r.nobs != first.nobs:
            raise DifferentDataError(
                f"the models were fitted to different numbers of observations ({first.nobs} and "
                f"{r.nobs}), for example because of missing values in a column only one of them "
                "uses; fit both to the same rows")
        if not np.array_equal(np.asarray(r.rows), np.asarray(first.rows)):
            raise DifferentDataError("the models were fitted to different rows of the data")
        y1, y2 = np.asarray(first.y, float), np.asarray(r.y, float)
        if y1.shape != y2.shape or not np.allclose(y1, y2, rtol=1e-12, atol=0):
            raise DifferentDataError(
                "the models have different responses "
                f"('{first.model.design.response_name}' and '{r.model.design.response_name}'); "
                "a likelihood-ratio test compares models of the same response")
        w1, w2 = first.prior_weights, r.prior_weights
        if (w1 is None) != (w2 is None) or (w1 is not None and not np.allclose(w1, w2)):
            raise DifferentDataError("the models were fitted with different prior weights")


def _random_structure(r) -> dict:
    """group -> set of (row name, column name) free elements of λ (name pairs, unordered)."""
    out = {}
    for t in r.model.design.reterms:
        rows, cols = t.theta_index
        out[t.group] = {(t.names[i], t.names[j]) for i, j in zip(rows, cols)}
    return out


def _is_nested(small, large) -> bool:
    """Is ``small`` a special case of ``large`` (fixed and random parts)?"""
    if not set(small.fixef.index) <= set(large.fixef.index):
        return False
    rs, rl = _random_structure(small), _random_structure(large)
    return all(g in rl and elems <= rl[g] for g, elems in rs.items())


def likelihood_ratio_test(*results, refit: bool = True) -> LRTResult:
    """Likelihood-ratio tests of nested mixed models fitted to the same data.

    Parameters
    ----------
    *results : MixedModelResult
        Two or more fits, in any order.
    refit : bool
        Refit REML fits by ML when their fixed effects differ (or when ML fits are among them).
        With ``refit=False`` such a comparison is an error.

    Returns
    -------
    LRTResult

    Raises
    ------
    DifferentDataError
        Different rows, responses, weights or families.
    NotNestedError
        Some model is not a special case of the next larger one (fixed-effects names and
        random-effects terms both nested), or two models have the same number of parameters.

    Notes
    -----
    Equivalent to lme4's ``anova(m1, m2, ...)`` and MixedModels.jl's ``likelihoodratiotest``.
    ``p = P(χ²_df > χ²)``. When the larger model adds variance components, the null value is on
    the boundary of the parameter space and the χ² reference distribution gives conservative
    (too large) p-values; the table's notes say so.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> df = datasets.load("sleepstudy")
    >>> m0 = fit("reaction ~ 1 + days + (1 | subj)", df)
    >>> m1 = fit("reaction ~ 1 + days + (1 + days | subj)", df)
    >>> t = likelihood_ratio_test(m0, m1).table
    >>> int(t["df"].iloc[1]), round(float(t["chisq"].iloc[1]), 2)
    (2, 42.14)
    """
    if len(results) == 1 and isinstance(results[0], (list, tuple)):
        results = tuple(results[0])
    if len(results) < 2:
        raise MixedModelError("a likelihood-ratio test needs at least two fitted models")
    for r in results:
        check_result(r)
    _check_same_data(results)
    order = sorted(range(len(results)), key=lambda i: results[i].dof)
    fits = [results[i] for i in order]
    notes = []
    any_reml = any(r.reml for r in fits)
    same_fixed = all(list(r.fixef.index) == list(fits[0].fixef.index) for r in fits)
    criterion = "ML"
    refitted = [False] * len(fits)
    if any_reml:
        if all(r.reml for r in fits) and same_fixed:
            criterion = "REML"
        elif not refit:
            raise MixedModelError("REML fits with different fixed effects (or mixed with ML fits) "
                                  "cannot be compared; refit them by ML (refit=True)")
        else:
            for i, r in enumerate(fits):
                if r.reml:
                    fits[i] = refit_ml(r)
                    refitted[i] = True
            msg = Note("refit_ml", "REML fits were refitted by maximum likelihood before the "
                       "comparison (a REML criterion is comparable only with REML fits with the "
                       "same fixed effects): "
                       + ", ".join(f"'{fits[i].formula}'" for i in range(len(fits)) if refitted[i]))
            notes.append(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
    for a, b in itertools.pairwise(fits):
        if a.dof == b.dof:
            raise NotNestedError(f"'{a.formula}' and '{b.formula}' have the same number of "
                                 f"parameters ({a.dof}): they are not nested, so a likelihood-"
                                 "ratio test does not apply (compare AIC or BIC instead)")
        if not _is_nested(a, b):
            raise NotNestedError(f"'{a.formula}' is not nested in '{b.formula}': the larger model "
                                 "must contain every fixed effect and random-effects term of the "
                                 "smaller one (compare AIC or BIC instead)")
    # ML deviance, −2 log-likelihood of a GLMM, or the REML criterion (all REML, same β)
    dev = np.array([r.objective for r in fits], float)
    npar = np.array([r.dof for r in fits])
    n = fits[0].nobs
    loglik = -dev / 2
    aic = dev + 2 * npar
    bic = dev + npar * math.log(n)
    chisq = np.full(len(fits), np.nan)
    df = np.full(len(fits), np.nan)
    p = np.full(len(fits), np.nan)
    chisq[1:] = np.maximum(dev[:-1] - dev[1:], 0.0)
    df[1:] = np.diff(npar)
    p[1:] = stats.chi2.sf(chisq[1:], df[1:])
    table = pd.DataFrame({"model": [r.formula for r in fits], "npar": npar, "loglik": loglik,
                          "deviance": dev, "aic": aic, "bic": bic, "chisq": chisq, "df": df,
                          "p_value": p})
    table.index = pd.RangeIndex(1, len(fits) + 1, name="model_number")
    if any(_random_structure(a) != _random_structure(b) for a, b in itertools.pairwise(fits)):
        notes.append(Note("boundary_test", "Tests of variance components: the null value lies on "
                          "the boundary of the parameter space (a variance of zero), so these "
                          "p-values are conservative (too large); halving the p-value is a common "
                          "correction for one added variance."))
    if criterion == "REML":
        notes.append(Note("reml_criterion", "All models are REML fits with the same fixed effects: "
                          "the REML criteria are compared."))
    return LRTResult(table=table, results=tuple(fits), refitted=tuple(refitted),
                     criterion=criterion, notes=tuple(notes))
