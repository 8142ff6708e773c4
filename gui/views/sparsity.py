"""Sparsity patterns of Z'Z and of its Cholesky factor L, for teaching (as lme4's authors draw
them: crossed factors fill in L, nested ones do not). No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

MAX_DENSE_Q = 4500     # largest q for which the fill-in of L is computed (dense Cholesky)
MAX_PIXELS = 400       # patterns larger than this are block-aggregated for drawing


@dataclass
class Patterns:
    """Drawable patterns of Z'Z and L (lower triangle), with term boundaries.

    Fields
    ------
    ztz, chol : ndarray of bool
        Patterns for drawing (possibly block-aggregated); ``chol`` is None when q is too large.
    q : int
        Order of Z'Z (total number of random effects).
    nnz_ztz, nnz_chol : int
        Non-zeros of the full lower triangles.
    boundaries : list of int
        Positions (in the drawn pattern) where a new term's block starts.
    terms : list of str
        Terms in the order used (decreasing number of levels, as lme4).
    note : str
    """

    ztz: np.ndarray
    chol: np.ndarray | None
    q: int
    nnz_ztz: int
    nnz_chol: int | None
    boundaries: list
    terms: list
    note: str = ""


def z_matrix(reterms: list, n: int) -> sp.csc_matrix:
    """Z (n × q) with each term's columns interleaved within levels (lme4's layout)."""
    blocks = []
    for t in reterms:
        z = np.asarray(t.z, float)
        p = z.shape[0]
        refs = np.asarray(t.refs)
        rows = np.repeat(np.arange(n), p)
        cols = (refs[:, None] * p + np.arange(p)[None, :]).ravel()
        vals = z.T.ravel()
        blocks.append(sp.csc_matrix((vals, (rows, cols)), shape=(n, t.nlevels * p)))
    return sp.hstack(blocks).tocsc()


def _aggregate(M: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    q = M.shape[0]
    if q <= size:
        return M, 1.0
    f = int(np.ceil(q / size))
    pad = f * int(np.ceil(q / f)) - q
    Mp = np.pad(M, ((0, pad), (0, pad)))
    k = Mp.shape[0] // f
    return np.asarray(Mp.reshape(k, f, k, f).any(axis=(1, 3))), float(f)


def sparsity_patterns(formula: str, data: pd.DataFrame, rows: Any = None) -> Patterns:
    from gui.engine import materialize

    d = materialize(formula, data)
    terms = sorted(d.reterms, key=lambda t: -t.nlevels)
    Z = z_matrix(terms, d.nobs)
    A = (Z.T @ Z).tocsr()
    q = A.shape[0]
    pattern = A.copy()
    pattern.data = np.ones_like(pattern.data)
    lower = sp.tril(pattern)
    nnz_ztz = int(lower.nnz)
    sizes = [t.nlevels * t.ncols for t in terms]
    starts = list(np.cumsum([0] + sizes[:-1]))
    dense_ztz = (pattern.toarray() > 0) if q <= MAX_DENSE_Q else None
    chol = None
    nnz_chol = None
    note = "terms ordered by decreasing number of levels (lme4's order); Λ = identity for the pattern"
    if q <= MAX_DENSE_Q:
        M = A.toarray() + np.eye(q)
        L = np.linalg.cholesky(M)
        chol = np.abs(L) > 1e-10 * np.sqrt(np.outer(np.diag(M), np.diag(M)))
        chol = np.tril(chol)
        nnz_chol = int(chol.sum())
    else:
        note += f"; q = {q:,} is too large to compute the fill-in of L here"
    if dense_ztz is None:
        # aggregate directly from the sparse matrix
        f = int(np.ceil(q / MAX_PIXELS))
        coo = lower.tocoo()
        k = int(np.ceil(q / f))
        agg = np.zeros((k, k), bool)
        agg[coo.row // f, coo.col // f] = True
        agg = agg | agg.T
        ztz_draw, factor = agg, float(f)
    else:
        ztz_draw, factor = _aggregate(dense_ztz, MAX_PIXELS)
    chol_draw = _aggregate(chol, MAX_PIXELS)[0] if chol is not None else None
    bounds = [round(s / factor) for s in starts[1:]]
    return Patterns(ztz=ztz_draw, chol=chol_draw, q=q, nnz_ztz=nnz_ztz, nnz_chol=nnz_chol, boundaries=bounds,
                    terms=[f"{t.group} ({t.nlevels} levels × {t.ncols})" for t in terms], note=note)
