"""ANOVA tables of the fixed-effects terms: F tests (LMMs) and Wald chi-square tests (GLMMs).

For a linear mixed model each term's hypothesis matrix (:mod:`mm_core.effects.hypotheses`) is
tested by :meth:`mm_core.effects.inference.Inference.f` with Satterthwaite's or Kenward–Roger's
denominator df, as lmerTest's ``anova``. For a generalized linear mixed model the Wald
chi-square tests of ``car::Anova``: type III tests each term's coefficients (with an
``(Intercept)`` row), type II each term after the terms not containing it, orthogonally to the
terms containing it in the metric of vcov(β̂) (car's ``ConjComp``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import MixedModelError
from ..results import labels
from .hypotheses import hypotheses
from .inference import check_fitted, inference, resolve_ddf, wald_f
from .model_terms import fixed_structure

F_COLUMNS = ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]
CHISQ_COLUMNS = ["chisq", "df", "p_value"]


def _check_type(type) -> int:
    t = {"1": 1, "2": 2, "3": 3, "i": 1, "ii": 2, "iii": 3}.get(str(type).strip().lower())
    if t is None:
        raise MixedModelError(f"unknown ANOVA type {type!r}; use 3 (III), 2 (II) or 1 (I)")
    return t


def anova(result, type=3, ddf=None) -> pd.DataFrame:
    """ANOVA table of the model's fixed-effects terms.

    Parameters
    ----------
    result : MixedModelResult
    type : {3, 2, 1}
        Type III (hypotheses independent of the contrast coding), II or I (sequential).
    ddf : {"satterthwaite", "kenward-roger", "asymptotic"}, optional
        Denominator df of the F tests (LMMs; default Satterthwaite). GLMMs get Wald
        chi-square tests.

    Returns
    -------
    pandas.DataFrame
        Indexed by term label as R writes it (``"recipe:temp"``). LMMs: ``sum_sq, mean_sq,
        num_df, den_df, f_value, p_value``; GLMMs: ``chisq, df, p_value`` (type III with an
        ``(Intercept)`` row, as car).

    Raises
    ------
    MixedModelError
        Unknown ``type`` or ``ddf``; Kenward–Roger for a GLMM or an ML fit.

    Notes
    -----
    R equivalent: ``anova(lmerTest::lmer(...), type = 3, ddf = "Satterthwaite")``;
    ``car::Anova(glmer(...), type = 3)`` for GLMMs.

    Examples
    --------
    >>> from mm_core import anova, datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)
    >>> round(float(anova(m).loc["days", "den_df"]), 2)
    17.0
    """
    check_fitted(result)
    t = _check_type(type)
    method = resolve_ddf(result, ddf)
    if not result.is_lmm:
        return _wald_chisq(result, t)
    inf = inference(result, method)
    rows = []
    Ls = hypotheses(result, t)
    for L in Ls.values():
        r = inf.f(L)
        rows.append([r["mean_sq"] * r["num_df"], r["mean_sq"], r["num_df"], r["den_df"],
                     r["f_value"], r["p_value"]])
    table = pd.DataFrame(np.array(rows, float).reshape(len(rows), len(F_COLUMNS)),
                         index=labels(Ls, "term"), columns=labels(F_COLUMNS))
    return table


def _wald_chisq(result, t: int) -> pd.DataFrame:
    if t == 1:
        raise MixedModelError("type I tests are not available for generalized linear mixed "
                              "models (car::Anova offers types II and III); use type 3 or 2")
    beta = np.asarray(result.beta, float)
    V = np.asarray(result.tables.vcov, float)
    design = result.model.design
    names = list(result.fixef.index)
    owner = np.asarray([design.fixef_terms[design.fixef_names.index(n)] for n in names],
                       dtype=object)
    structure = fixed_structure(design)
    terms = [u.label for u in structure.terms]
    p = len(beta)
    I = np.eye(p)
    Ls: dict = {}
    if t == 3:
        if "(Intercept)" in owner:
            Ls["(Intercept)"] = I[owner == "(Intercept)"]
        for u in terms:
            if np.any(owner == u):
                Ls[u] = I[owner == u]
    else:
        contained = structure.containment(same_covariates=False)
        for u in terms:
            cols = np.flatnonzero(owner == u)
            if not len(cols):
                continue
            rel = np.flatnonzero(np.isin(owner, contained[u]))
            Ls[u] = I[cols] if not len(rel) else _conj_comp(I[rel], I[np.concatenate([rel, cols])], V)
    rows = []
    for L in Ls.values():
        F, q = wald_f(L, beta, V)
        chisq = F * q
        rows.append([chisq, q, float(stats.chi2.sf(chisq, q)) if q else np.nan])
    return pd.DataFrame(np.array(rows, float).reshape(len(rows), 3), index=labels(Ls, "term"),
                        columns=labels(CHISQ_COLUMNS))


def _conj_comp(H1: np.ndarray, H2: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Rows spanning the part of row-space(H2) orthogonal to row-space(H1) in the metric V."""
    M = H2 @ V @ H1.T
    Q, R = np.linalg.qr(M, mode="complete")
    rank = int(np.sum(np.abs(np.diag(R)) > 1e-10 * max(np.abs(R).max(), 1.0))) if R.size else 0
    return (H2.T @ Q[:, rank:]).T
