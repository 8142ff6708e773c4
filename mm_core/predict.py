"""Predictions from a fitted mixed model, on the data it was fitted to or on new data.

New data go through the same formula machinery as the fit (:mod:`mm_core.design`), with the
fit's :class:`~mm_core.design.ModelSpec`: every categorical predictor is coded against the levels
*of the fit* (so a table holding only some of the levels, or in another order, gives the same
columns as the fit) with the fit's contrasts, and ``scale(x)`` / ``center(x)`` use the mean and
standard deviation of the fitted data, as R's ``predict`` does through ``makepredictcall``. The
random-effects part adds, for each grouping factor, the conditional mode of the level named in
the row; a level the fit has not seen contributes 0 (the population value,
``new_levels="population"``, lme4's ``allow.new.levels = TRUE``), NaN (``"missing"``) or an
error (``"error"``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .design import (
    Materializer,
    NewLevelError,
    ReTerm,
    check_column_names,
    column_kind,
    level_labels,
    text_column_names,
)
from .errors import DataError, MixedModelError
from .formula import parse_formula
from .formula.terms import Call
from .simulate import check_result, conditional_eta, fixef_columns, result_family, term_columns

__all__ = ["NewLevelError", "fixed_effects_matrix", "predict"]


def _select_random(formula, re_form):
    """The random-effects terms to include: None = all, NA/population = none, or a formula."""
    if re_form is None:
        return {r.group_label: None for r in formula.random}
    if re_form is False or (isinstance(re_form, str) and re_form.strip().lower() in
                            ("na", "~0", "~ 0", "population", "none", "")):
        return {}
    if isinstance(re_form, float) and np.isnan(re_form):
        return {}
    text = str(re_form).strip()
    if text.startswith("~"):
        text = "y " + text
    f = parse_formula(text)
    out: dict = {}
    for r in f.random:
        names = (["(Intercept)"] if r.intercept else []) + [t.label for t in r.terms]
        out.setdefault(r.group_label, set()).update(names)
    return out


def _required_columns(formula, groups) -> list[str]:
    cols = []
    for t in formula.fixed:
        cols += [c for c in t.columns if c not in cols]
    for o in formula.offsets:
        cols += [c for c in o.columns if c not in cols]
    for r in formula.random:
        if r.group_label in groups:
            cols += [c for c in r.columns if c not in cols]
    return cols


def predict(result, newdata: pd.DataFrame | None = None, *, new_levels: str = "population",
            scale: str = "response", re_form=None) -> pd.Series:
    """Predict from a fitted model.

    Parameters
    ----------
    result : MixedModelResult
    newdata : pandas.DataFrame, optional
        Rows to predict; default the rows the model was fitted to. Needs every predictor column
        of the formula (not the response) and the grouping factors of the random-effects terms
        included.
    new_levels : {"population", "missing", "error"}
        A grouping-factor level the fit has not seen: its random effects are 0 (the population
        prediction for that factor), the prediction is NaN, or a :class:`NewLevelError`.
    scale : {"response", "link"}
        Mean of the response, or the linear predictor (the same for an LMM).
    re_form : None, "NA" or str
        Random effects to include: all (None, the conditional prediction), none (``"NA"``,
        ``False``: the population-level prediction Xβ + offset), or those of a formula such
        as ``"~ (1 | subj)"``.

    Returns
    -------
    pandas.Series
        One prediction per row of ``newdata`` (NaN where a used column is missing).

    Raises
    ------
    DataError
        A predictor column is missing from ``newdata``.
    NewLevelError
        A level unseen in a fixed-effects factor, or in a grouping factor with
        ``new_levels="error"``.

    Notes
    -----
    Equivalent to lme4's ``predict(m, newdata, re.form = re_form, allow.new.levels = TRUE,
    type = scale)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> new = pd.DataFrame({"subj": ["S308", "S999"], "days": [2.5, 4.0]})
    >>> predict(m, new).round(2).tolist()
    [303.08, 293.27]
    """
    check_result(result)
    if new_levels not in ("population", "missing", "error"):
        raise MixedModelError(f"new_levels must be 'population', 'missing' or 'error', not "
                              f"{new_levels!r}")
    if scale not in ("response", "link"):
        raise MixedModelError(f"scale must be 'response' or 'link', not {scale!r}")
    design = result.model.design
    formula = design.formula
    groups = _select_random(formula, re_form)
    unknown = set(groups) - {t.group for t in design.reterms}
    if unknown:
        raise MixedModelError(f"re_form names grouping factor(s) {sorted(unknown)} that are not "
                              f"in the model ({[t.group for t in design.reterms]})")
    family = result_family(result)
    if newdata is None:
        eta = conditional_eta(result, groups)
    else:
        eta = _newdata_eta(result, newdata, groups, new_levels)
    if scale == "response" and family is not None:
        with np.errstate(all="ignore"):
            eta = family.linkinv(eta)
    index = newdata.index if newdata is not None else pd.RangeIndex(len(eta))
    return pd.Series(eta, index=index, name="predicted")


def _newdata_eta(result, newdata, groups, new_levels) -> np.ndarray:
    if not isinstance(newdata, pd.DataFrame):
        raise MixedModelError("newdata must be a table (pandas DataFrame)")
    newdata = text_column_names(newdata)
    check_column_names(newdata)
    design = result.model.design
    formula = design.formula
    needed = _required_columns(formula, groups)
    missing = [c for c in needed if c not in newdata.columns]
    if missing:
        have = ", ".join(f"'{c}'" for c in list(newdata.columns)[:12])
        raise DataError(f"newdata has no column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(c) for c in missing)}, which the model uses "
                        f"(newdata's columns: {have or 'none'})")
    nrow = len(newdata)
    out = np.full(nrow, np.nan)
    if nrow == 0:
        return out
    complete = np.ones(nrow, bool)
    for c in needed:
        complete &= ~newdata[c].isna().to_numpy()
    rows = np.flatnonzero(complete)
    if rows.size == 0:
        return out
    _check_numeric_columns(design, newdata, rows, groups)
    b = Materializer.for_new_rows(design.spec, newdata, rows)
    X, names, _, _ = b.model_matrix(formula.fixed, formula.intercept, fixed=True)
    if list(names) != list(design.fixef_names):
        raise DataError("the fixed-effects columns built from newdata "
                        f"({names}) differ from the fit's ({design.fixef_names})")
    eta = X[:, fixef_columns(design, list(result.fixef.index))] @ result.beta
    for o in formula.offsets:
        eta = eta + b.numeric(o)
    for t in design.reterms:
        if t.group not in groups:
            continue
        eta = eta + _random_part(b, t, result.ranef[t.group].to_numpy(),
                                 term_columns(t, groups[t.group]), new_levels)
    out[rows] = eta
    return out


def _check_numeric_columns(design, newdata, rows, groups) -> None:
    """Refuse new data whose column is text where the fit used numbers."""
    formula = design.formula
    grouping = {g for r in formula.random for g in r.group}
    numeric = set()
    for t in formula.fixed:
        for fac in t.factors:
            if not (isinstance(fac, Call) and fac.func in ("factor", "C", "fulldummy")):
                numeric |= fac.columns
    for o in formula.offsets:
        numeric |= o.columns
    for r in formula.random:
        if r.group_label in groups:
            for t in r.terms:
                for fac in t.factors:
                    if not (isinstance(fac, Call) and fac.func in ("factor", "C", "fulldummy")):
                        numeric |= fac.columns
    for c in sorted(numeric - set(design.spec.levels) - grouping):
        s = newdata[c].iloc[rows]
        if column_kind(s) in ("numeric", "bool"):
            continue
        values = pd.to_numeric(s, errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy())
        shown = ", ".join(f"row {rows[i] + 1} ({str(s.iloc[i])[:20]!r})" for i in bad[:5])
        raise DataError(f"column '{c}' holds numbers in the fitted data but "
                        f"{'text' if len(bad) else 'numbers stored as text'} in newdata"
                        + (f": {shown}{', ...' if len(bad) > 5 else ''} are not numbers"
                           if len(bad) else "; convert it to numbers first"))


def _random_part(b: Materializer, term: ReTerm, values: np.ndarray, cols: list[int],
                 new_levels: str) -> np.ndarray:
    """The share Σⱼ zⱼ b[level, j] of one random-effects term in the linear predictor of the
    new rows (``values``: the fit's conditional modes, levels × columns)."""
    zs: list = []
    names: list = []
    group_cols: tuple = ()
    for r in b.f.random:
        if r.group_label != term.group:
            continue
        Zr, nm, _, _ = b.model_matrix(r.terms, r.intercept, fixed=False)
        zs.append(Zr)
        names += list(nm)
        group_cols = r.group
    if names != list(term.names):
        raise DataError(f"the random-effects columns for '{term.group}' built from newdata "
                        f"({names}) differ from the fit's ({list(term.names)})")
    labels = level_labels(b.data[group_cols[0]].iloc[b.rows])
    for g in group_cols[1:]:
        lab = level_labels(b.data[g].iloc[b.rows])
        labels = np.array([f"{a}:{c}" for a, c in zip(labels, lab)], dtype=object)
    index = {lv: i for i, lv in enumerate(term.levels)}
    codes = np.array([index.get(lv, -1) for lv in labels], dtype=np.int64)
    new = codes < 0
    if new.any() and new_levels == "error":
        unseen = sorted(set(labels[new]))
        raise NewLevelError(f"grouping factor '{term.group}' has level(s) "
                            f"{', '.join(repr(u) for u in unseen[:5])} that the fit has not seen; "
                            "use new_levels='population' to predict them at the population level")
    on_new_rows = ReTerm(term.group, np.maximum(codes, 0).astype(np.int32), term.levels,
                         np.ascontiguousarray(np.hstack(zs).T), names, term.theta_mask)
    contrib = on_new_rows.eta(values, cols)
    if new.any():
        contrib[new] = np.nan if new_levels == "missing" else 0.0
    return contrib


def fixed_effects_matrix(result, newdata: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The fixed-effects model matrix of the fit's formula on new rows.

    Parameters
    ----------
    result : MixedModelResult
    newdata : pandas.DataFrame
        Every predictor column of the fixed part, without missing values; categorical columns
        hold levels of the fit, coded with the fit's contrasts.

    Returns
    -------
    X : ndarray, shape (len(newdata), number of columns of the fit's design)
        All columns of the design, including those the fit dropped as redundant.
    names : list of str
        Column names (``"(Intercept)"``, ``"recipeB:tempT185"``).

    Notes
    -----
    R equivalent: ``model.matrix(delete.response(terms(m)), newdata)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 | subj)", datasets.load("sleepstudy"))
    >>> fixed_effects_matrix(m, pd.DataFrame({"days": [0.0, 2.0]}))[0].tolist()
    [[1.0, 0.0], [1.0, 2.0]]
    """
    check_result(result)
    design = result.model.design
    formula = design.formula
    b = Materializer.for_new_rows(design.spec, newdata, np.arange(len(newdata)))
    X, names, _, _ = b.model_matrix(formula.fixed, formula.intercept, fixed=True)
    return X, list(names)
