"""Estimated marginal means and slopes (emmeans' ``emmeans`` and ``emtrends``).

A marginal mean is a linear function of β̂: the average, with equal weights, of the model's
predictions over the reference grid (:mod:`mm_core.effects.grid`) at one combination of the
variables named in ``specs`` and ``by``. Its standard error and df come from the chosen df
method (:mod:`mm_core.effects.inference`). On the response scale of a generalized linear mixed
model the mean and its interval ends are back-transformed through the inverse link and the
standard error by the delta method (emmeans' ``summary(type = "response")``); the test
statistic stays that of the link scale.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import MixedModelError
from ..results import labels
from .grid import ReferenceGrid, covariate_range, reference_grid
from .inference import check_fitted, check_level, inference, resolve_ddf, t_table

MEANS_COLUMNS = ["estimate", "std_error", "df", "lower", "upper", "statistic", "p_value"]


@dataclass(frozen=True, eq=False)
class EMMeans:
    """Marginal means (or slopes) of a fitted model.

    Fields
    ------
    table : pandas.DataFrame
        One column per variable of ``specs`` then ``by``, then ``estimate, std_error, df,
        lower, upper, statistic, p_value``.
    specs, by : tuple of str
        The variables the means are for, and the grouping variables (pairwise comparisons are
        made within each combination of ``by``).
    linfct : ndarray, shape (rows, p)
        The linear functions of β̂ the rows estimate (link scale).
    estimable : ndarray of bool
        False for a mean the data cannot estimate (a cell without observations when the fit
        dropped redundant columns); its numbers are NaN, as emmeans' ``nonEst``.
    ddf : str
        Df method.
    level : float
    scale : {"link", "response"}
    link : str
        The model's link (``"identity"`` for an LMM).
    var : str or None
        For slopes, the covariate differentiated.
    result : MixedModelResult
    """

    table: pd.DataFrame
    specs: tuple
    by: tuple
    linfct: np.ndarray
    estimable: np.ndarray
    ddf: str
    level: float
    scale: str
    link: str
    var: str | None = None
    result: object = field(default=None, repr=False)

    @property
    def back_transformed(self) -> bool:
        """Whether the table is on the response scale of a non-identity link."""
        return self.scale == "response" and self.link != "identity" and self.var is None


def parse_specs(specs, by=None) -> tuple[list, list]:
    """Variables of ``specs`` (``"a"``, ``"~ a * b | c"``, ``["a", "b"]``; ``"1"`` for the overall
    mean) and of ``by``."""
    def names(x):
        if x is None:
            return []
        if isinstance(x, str):
            return [s.strip() for s in re.split(r"[*:+]", x) if s.strip() not in ("", "1")]
        if isinstance(x, (list, tuple)):
            out = []
            for item in x:
                out += names(item)
            return out
        raise MixedModelError(f"specs must be a variable name, a list of names or text such as "
                              f"'~ a | b', not {type(x).__name__}")
    if isinstance(specs, str):
        text = specs.strip()
        text = text[1:] if text.startswith("~") else text
        left, _, right = text.partition("|")
        spec_vars, by_vars = names(left), names(right)
    else:
        spec_vars, by_vars = names(specs), []
    by_vars += [b for b in names(by) if b not in by_vars]
    dup = [v for v in spec_vars if v in by_vars]
    if dup:
        raise MixedModelError(f"{dup[0]!r} is in both specs and by")
    return spec_vars, by_vars


def _averaging(grid: ReferenceGrid, keep: list) -> tuple[np.ndarray, pd.DataFrame]:
    """Equal-weight averaging matrix (rows of the means × grid rows) and the means' labels."""
    frame = grid.frame
    values = {}
    for v in keep:
        values[v] = grid.variables[v] if v in grid.variables else [grid.covariates[v]]
    n = len(frame)
    index = np.zeros(n, np.int64)
    stride = 1
    for v in keep:
        vals = values[v]
        lookup = {val: i for i, val in enumerate(vals)}
        codes = np.array([lookup[x] for x in frame[v]], np.int64) if v in grid.variables \
            else np.zeros(n, np.int64)
        index += codes * stride
        stride *= len(vals)
    W = np.zeros((stride, n))
    W[index, np.arange(n)] = 1.0
    W /= np.maximum(W.sum(axis=1, keepdims=True), 1.0)
    combos = np.arange(stride)
    cols, s = {}, 1
    for v in keep:
        vals = values[v]
        cols[v] = [vals[(c // s) % len(vals)] for c in combos]
        s *= len(vals)
    return W, pd.DataFrame(cols)


def _check_vars(grid: ReferenceGrid, variables: list, at: dict, what: str) -> None:
    known = list(grid.structure.factor_columns) + list(grid.structure.covariate_columns)
    for v in variables:
        if v in grid.structure.factor_columns:
            continue
        if v in grid.structure.covariate_columns:
            if v not in at:
                raise MixedModelError(
                    f"'{v}' in {what} is a covariate: give the values to show it at, e.g. "
                    f"at={{'{v}': [...]}} (without them it is held at its mean)")
            continue
        raise MixedModelError(f"'{v}' in {what} is not a variable of the model's fixed part "
                              f"(its variables: {', '.join(repr(k) for k in known) or 'none'})")


def _table(keys: pd.DataFrame, cols: dict) -> pd.DataFrame:
    out = keys.reset_index(drop=True).copy()
    for c in MEANS_COLUMNS:
        out[c] = np.asarray(cols[c], float)
    out.columns = labels(out.columns)
    return out


def mean_offset(result) -> float:
    """The mean of the formula's offsets over the rows used (emmeans' offset in the grid)."""
    offset = result.model.design.offset
    return float(np.mean(offset)) if offset is not None else 0.0


def _summarise(result, L, ddf, level, scale, link_name, estimable, offset=0.0) -> dict:
    inf = inference(result, ddf)
    est, se, df = inf.t(L)
    est = est + offset
    cols = t_table(est, se, df, level)
    if scale == "response" and link_name != "identity":
        from ..families import get_link
        link = get_link(link_name)
        lo, hi = link.linkinv(cols["lower"]), link.linkinv(cols["upper"])
        cols["lower"], cols["upper"] = np.minimum(lo, hi), np.maximum(lo, hi)
        cols["std_error"] = np.abs(link.mu_eta(est)) * se
        cols["estimate"] = link.linkinv(est)
    return {c: np.where(estimable, v, np.nan) for c, v in cols.items()}


def _prepare(result, specs, by, at, ddf, level):
    """Checked arguments shared by :func:`emmeans` and :func:`emtrends`."""
    check_fitted(result)
    level = check_level(level)
    method = resolve_ddf(result, ddf)
    spec_vars, by_vars = parse_specs(specs, by)
    return level, method, spec_vars, by_vars, dict(at or {})


def emmeans(result, specs, *, by=None, at=None, ddf=None, scale: str = "link",
            level: float = 0.95, data=None) -> EMMeans:
    """Estimated marginal means over the reference grid.

    Parameters
    ----------
    result : MixedModelResult
    specs : str or list of str
        The factor(s) to show means for: ``"recipe"``, ``["recipe", "temp"]`` or emmeans'
        formula ``"~ temp | recipe"`` (``|`` introduces ``by`` variables). A covariate may
        appear when ``at`` gives its values (predictions over a covariate grid).
    by : str or list of str, optional
        Grouping variables: means (and their pairwise comparisons) within each combination.
    at : dict, optional
        Covariate -> value(s) instead of its mean; factor -> subset of its levels.
    ddf : {"satterthwaite", "kenward-roger", "asymptotic"}, optional
        Default Satterthwaite for LMMs, asymptotic for GLMMs.
    scale : {"link", "response"}
        For GLMMs, ``"response"`` back-transforms means and interval ends (probabilities,
        rates) with delta-method standard errors.
    level : float
        Confidence level.
    data : pandas.DataFrame, optional
        The fitted table, needed only for covariates that are not terms of their own.

    Returns
    -------
    EMMeans
        ``.table`` has one column per variable in ``specs`` and ``by``, then ``estimate,
        std_error, df, lower, upper, statistic, p_value``.

    Raises
    ------
    MixedModelError
        Unknown variable in ``specs``/``by``/``at``, a covariate in ``specs`` without ``at``,
        unknown ``ddf``.

    Notes
    -----
    R equivalent: ``summary(emmeans(m, ~ temp | recipe, lmer.df = "satterthwaite"),
    infer = c(TRUE, TRUE), type = "response")``.

    Examples
    --------
    >>> from mm_core import datasets, emmeans, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)
    >>> e = emmeans(m, "days", at={"days": [0, 9]})
    >>> e.table["estimate"].round(1).tolist()
    [251.4, 345.6]
    """
    level, method, spec_vars, by_vars, at = _prepare(result, specs, by, at, ddf, level)
    if scale not in ("link", "response"):
        raise MixedModelError(f"scale must be 'link' or 'response', not {scale!r}")
    grid = reference_grid(result, at=at, data=data)
    _check_vars(grid, spec_vars, at, "specs")
    _check_vars(grid, by_vars, at, "by")
    W, keys = _averaging(grid, spec_vars + by_vars)
    L = W @ grid.X
    ok = grid.estimable(W @ grid.X_full)
    cols = _summarise(result, L, method, level, scale, result.link, ok, mean_offset(result))
    return EMMeans(table=_table(keys, cols), specs=tuple(spec_vars), by=tuple(by_vars),
                   linfct=L, estimable=ok, ddf=method, level=level, scale=scale,
                   link=result.link, result=result)


def emtrends(result, specs, var: str, *, by=None, at=None, ddf=None, level: float = 0.95,
             data=None) -> EMMeans:
    """Estimated marginal slopes of a covariate (emmeans' ``emtrends``).

    Parameters
    ----------
    result : MixedModelResult
    specs : str or list of str
        The factor(s) at whose levels the slope is estimated (as in :func:`emmeans`).
    var : str
        The covariate whose slope (derivative of the linear predictor) is estimated.
    by, at, ddf, level, data
        As in :func:`emmeans`; the slope is taken at ``var``'s mean unless ``at`` sets it.

    Returns
    -------
    EMMeans
        Same table shape as :func:`emmeans`; ``estimate`` is the slope (link scale).

    Notes
    -----
    R equivalent: ``emtrends(m, ~ recipe, var = "x", lmer.df = "satterthwaite")``. As there,
    the derivative is a forward difference of the model matrix with step 0.001 × the range of
    ``var`` (exact for terms linear in ``var``).

    Examples
    --------
    >>> from mm_core import datasets, emtrends, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)
    >>> round(float(emtrends(m, "1", "days").table["estimate"].iloc[0]), 2)
    10.47
    """
    level, method, spec_vars, by_vars, at = _prepare(result, specs, by, at, ddf, level)
    base = reference_grid(result, at=at, data=data)
    if var not in base.structure.covariate_columns:
        raise MixedModelError(f"var must be a numeric covariate of the model's fixed part; "
                              f"{var!r} is not (covariates: "
                              f"{', '.join(repr(c) for c in base.structure.covariate_columns) or 'none'})")
    if var in base.variables:
        raise MixedModelError(f"give a single value of '{var}' in at= for its slope, not several")
    _check_vars(base, spec_vars, at, "specs")
    _check_vars(base, by_vars, at, "by")
    x0 = base.covariates[var]
    # emmeans' forward difference with step 0.001 × the covariate's range (exact for terms
    # linear in var; the same approximation otherwise)
    rng = covariate_range(result, var, data)
    h = 1e-3 * rng if rng else 1e-4 * max(abs(x0), 1.0)
    ahead = reference_grid(result, at={**at, var: x0 + h}, data=data)
    W, keys = _averaging(base, spec_vars + by_vars)
    L = W @ ((ahead.X - base.X) / h)
    L[np.abs(L) < 1e-9 * max(1.0, np.abs(L).max())] = 0.0
    ok = base.estimable(W @ ((ahead.X_full - base.X_full) / h))
    cols = _summarise(result, L, method, level, "link", "identity", ok)
    return EMMeans(table=_table(keys, cols), specs=tuple(spec_vars), by=tuple(by_vars),
                   linfct=L, estimable=ok, ddf=method, level=level, scale="link",
                   link=result.link, var=var, result=result)
