"""The hypothesis (contrast) matrices of type I, II and III tests of the fixed-effects terms.

Definitions of lmerTest (``get_contrasts_type1``, ``get_contrasts_type2_unfolded``,
``get_contrasts_type3``), each a dict term label -> matrix L (rows × coefficients):

Type I
    Sequential: the rows of the unit upper-triangular Doolittle factor of XᵀX that belong to
    the term's columns.
Type II
    A term contained in no other term: its coefficients (marginal). Otherwise the term's rows of
    the Doolittle factor of XᵀX with the columns reordered as (unrelated, term, containing).
Type III
    Hypotheses that do not depend on the contrast coding: in treatment coding, each term's
    columns of ``L = (X⁺ X_full)ᵀ`` (X_full the design with every factor coded by indicators of
    all its levels), orthogonalised against the columns of the terms containing it (higher
    order first), then carried into the fit's coding by ``X_treat⁺ X_fit``. All three designs
    are built on the cells of the factors (with generic values of the covariates), where the
    algebra is exact; when the fit dropped columns for empty cells, on the observed cells.

Terms, containment and codings come from :mod:`mm_core.effects.model_terms`.
"""
from __future__ import annotations

import numpy as np

from ..errors import MixedModelError
from ..simulate import fixef_columns
from .model_terms import FixedStructure, fixed_structure

#: Largest cell design built for the type III hypotheses (rows).
MAX_CELLS = 200_000
#: Entries below this (relative to the largest) are set to zero (R's ``zapsmall``).
ZAP = 1e-9


def _zap(A: np.ndarray) -> np.ndarray:
    A = np.array(A, float)
    scale = np.max(np.abs(A)) if A.size else 0.0
    A[np.abs(A) <= ZAP * max(scale, 1.0)] = 0.0
    return A


def doolittle(A: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Unit lower-triangular factor L of A = LU without pivoting (lmerTest's ``doolittle``)."""
    n = A.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = A[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = A[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L


def _term_columns(result) -> tuple[np.ndarray, list, list]:
    """The fit's X (estimated columns), their names and the term of each column."""
    design = result.model.design
    names = list(result.fixef.index)
    cols = fixef_columns(design, names)
    owner = [design.fixef_terms[j] for j in cols]
    return np.asarray(result.model.design.X[:, cols], float), names, owner


def _term_labels(structure: FixedStructure) -> list:
    return [t.label for t in structure.terms]


def type1(result) -> dict:
    """Sequential hypotheses (lmerTest's ``get_contrasts_type1``)."""
    X, _names, owner_list = _term_columns(result)
    structure = fixed_structure(result.model.design)
    p = X.shape[1]
    L = doolittle(X.T @ X).T if p > 1 else np.eye(p)
    owner = np.asarray(owner_list, dtype=object)
    return {t: L[owner == t] for t in _term_labels(structure) if np.any(owner == t)}


def type2(result) -> dict:
    """Type II hypotheses (lmerTest's ``get_contrasts_type2_unfolded``)."""
    structure = fixed_structure(result.model.design)
    terms = _term_labels(structure)
    X, _names, owner_list = _term_columns(result)
    if X.shape[1] <= 1 or len(terms) <= 1:
        return type1(result)
    owner = np.asarray(owner_list, dtype=object)
    contained = structure.containment()
    out = {}
    for t in terms:
        cols_t = np.flatnonzero(owner == t)
        if not len(cols_t):
            continue
        if not contained[t]:
            out[t] = np.eye(X.shape[1])[cols_t]
            continue
        # R: cols of the term then of the terms containing it, in their own order
        related = np.concatenate([np.flatnonzero(owner == u) for u in [t] + contained[t]])
        order = np.concatenate([np.setdiff1d(np.arange(X.shape[1]), related), related])
        Xn = X[:, order]
        Lc = doolittle(Xn.T @ Xn).T
        rows = Lc[owner[order] == t]
        back = np.empty_like(rows)
        back[:, order] = rows
        out[t] = back
    return out


def type3(result) -> dict:
    """Type III hypotheses independent of the contrast coding (lmerTest's ``get_contrasts_type3``)."""
    design = result.model.design
    structure = fixed_structure(design)
    terms = _term_labels(structure)
    X, names, _owner = _term_columns(result)
    if X.shape[1] <= 1 or len(terms) <= 1:
        return type1(result)
    codes, values = _cells(structure)
    if result.dropped_columns and not structure.numerics:
        codes, values = _observed_cells(structure, codes, values, design.X)
    X_fit, fit_names, _ = structure.model_matrix(codes, values, "model")
    X_treat, treat_names, treat_owner = structure.model_matrix(codes, values, "treatment")
    X_full, full_names, _ = structure.model_matrix(codes, values, "full")
    if fit_names != list(design.fixef_names):
        raise MixedModelError("type III hypotheses are not available for this formula: its "
                              "model matrix could not be rebuilt on the cells of its factors")
    keep = fixef_columns(design, names)
    X_fit, X_treat = X_fit[:, keep], X_treat[:, keep]
    treat_names = [treat_names[j] for j in keep]
    treat_owner = np.asarray([treat_owner[j] for j in keep], dtype=object)
    if np.linalg.matrix_rank(X_treat) < X_treat.shape[1]:
        raise MixedModelError("type III hypotheses need every coefficient to be estimable on "
                              "the cells of the factors; use type 2 or 1")
    L = _zap(np.linalg.lstsq(X_treat, X_full, rcond=None)[0].T)      # rows: full columns
    contained = structure.containment()
    degree = {t.label: t.degree for t in structure.terms}
    for t in sorted(terms, key=lambda u: -degree[u]):
        if contained[t]:
            ct = np.flatnonzero(treat_owner == t)
            cc = np.flatnonzero(np.isin(treat_owner, contained[t]))
            if len(ct) and len(cc):
                A = L[:, cc]
                coef = np.linalg.lstsq(A, L[:, ct], rcond=None)[0]
                L[:, ct] = _zap(L[:, ct] - A @ coef)
    full_index = {nm: i for i, nm in enumerate(full_names)}
    missing = [nm for nm in treat_names if nm not in full_index]
    if missing:
        raise MixedModelError("type III hypotheses are not available for this formula "
                              f"(column {missing[0]!r} has no cell indicator)")
    Lsq = L[[full_index[nm] for nm in treat_names]]
    to_fit = _zap(np.linalg.lstsq(X_treat, X_fit, rcond=None)[0])
    out = {}
    for t in terms:
        ct = np.flatnonzero(treat_owner == t)
        if not len(ct):
            continue
        Lt = Lsq[:, ct].T
        Lt = Lt[np.sum(np.abs(Lt), axis=1) > 1e-8]
        out[t] = Lt @ to_fit
    return out


def _cells(structure: FixedStructure) -> tuple[dict, dict]:
    """Every combination of the factors' levels, repeated with generic covariate values."""
    keys = list(structure.factors)
    sizes = [len(structure.factors[k][1]) for k in keys]
    reps = len(structure.numerics) + 2
    total = int(np.prod(sizes)) * reps if sizes else reps
    if total > MAX_CELLS:
        raise MixedModelError(f"type III hypotheses need all {total:,} combinations of the "
                              "factors' levels; use type 2 for a model this large")
    grids = np.meshgrid(*[np.arange(s) for s in sizes], np.arange(reps), indexing="ij")
    codes = {k: g.ravel() for k, g in zip(keys, grids[:-1])}
    n = grids[-1].size
    # generic (irrational, distinct) covariate values: any values give the same hypotheses
    values = {k: np.sqrt(np.arange(n) * (i + 2.0) + 1.0) * ((-1.0) ** (np.arange(n) % 3))
              + np.sin(np.arange(n) * (i + 1.3))
              for i, k in enumerate(structure.numerics)}
    return codes, values


def _observed_cells(structure: FixedStructure, codes: dict, values: dict, X: np.ndarray):
    """The cells that hold observations, found by their rows of the fit's design matrix.

    With empty cells lmerTest's hypotheses come from the observed cells only (its regression of
    the indicator design on X over the data); any replication of a cell gives the same result.
    """
    X_cells, _, _ = structure.model_matrix(codes, values, "model")
    scale = np.maximum(np.abs(X).max(axis=0), 1.0)
    key = lambda M: [tuple(r) for r in np.round(M / scale, 8)]  # noqa: E731
    seen = set(key(X))
    keep = np.array([k in seen for k in key(X_cells)])
    return {k: v[keep] for k, v in codes.items()}, {k: v[keep] for k, v in values.items()}


TYPES = {1: type1, 2: type2, 3: type3}


def hypotheses(result, type: int) -> dict:
    """Term label -> hypothesis matrix (rows × the fit's coefficients) for ``type`` 1, 2 or 3.

    Notes
    -----
    R equivalent: ``attr(anova(m, type = type), "hypotheses")`` of an lmerTest fit.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("diameter ~ 1 + sample + (1 | plate)", datasets.load("penicillin"), reml=True)
    >>> hypotheses(m, 3)["sample"].shape
    (5, 6)
    """
    return TYPES[type](result)
