"""The fixed-effects matrix: detection of redundant (collinear or constant) columns.

R's ``model.matrix`` followed by lme4's rank check keeps the leftmost set of linearly
independent columns: a column is dropped when its residual after projection on the columns to
its left is below a relative tolerance (LINPACK ``dqrdc2`` with ``tol = 1e-7``). An unpivoted
Householder QR gives exactly those residual norms on the diagonal of R.

The test is scale-free: each column is first divided by a power of two near its largest absolute
value (an exact operation), so a predictor measured in units of 1e-300 or 1e300 is judged like
the same predictor in ordinary units instead of underflowing or overflowing.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dgeqrf

#: Relative tolerance on a column's residual norm (R's ``qr`` default).
RANK_TOL = 1e-7


def independent_columns(X: np.ndarray, tol: float = RANK_TOL) -> np.ndarray:
    """Indices of the leftmost maximal set of linearly independent columns of ``X``.

    Parameters
    ----------
    X : ndarray, shape (n, p)
    tol : float
        A column is redundant when ``|R_jj| <= tol * ||x_j||``.

    Returns
    -------
    ndarray of int
        Kept column indices, in their original order.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [1., 2, 3, 4], [2., 4, 6, 8]])
    >>> independent_columns(X).tolist()
    [0, 1]
    """
    n, p = X.shape
    if p == 0:
        return np.arange(0)
    X = X * column_scales(X)
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    keep: list[int] = []
    diag = np.zeros(p)
    k = min(n, p)
    diag[:k] = np.abs(np.diag(_qr_r(X)[:k, :k]))
    for j in range(p):
        if norms[j] > 0 and diag[j] > tol * norms[j]:
            keep.append(j)
    keep_arr = np.asarray(keep, dtype=int)
    if len(keep_arr) < p and len(keep_arr) > 0:
        # dependent columns change later diagonals only through rounding; confirm on the subset
        R2 = _qr_r(X[:, keep_arr])
        m = min(n, len(keep_arr))
        d2 = np.zeros(len(keep_arr))
        d2[:m] = np.abs(np.diag(R2[:m, :m]))
        ok = d2 > tol * norms[keep_arr]
        keep_arr = keep_arr[ok]
    return keep_arr


def column_scales(X: np.ndarray) -> np.ndarray:
    """Powers of two that bring each column's largest absolute value into [0.5, 1).

    Multiplying by them is exact in floating point; an all-zero or non-finite column gets 1.
    """
    with np.errstate(invalid="ignore"):
        top = np.max(np.abs(X), axis=0) if X.shape[0] else np.zeros(X.shape[1])
    ok = np.isfinite(top) & (top > 0)
    _, e = np.frexp(np.where(ok, top, 1.0))
    return np.where(ok, np.ldexp(1.0, -e), 1.0)


def _qr_r(X: np.ndarray) -> np.ndarray:
    """The upper-left block of R from an unpivoted Householder QR (LAPACK dgeqrf), no Q, no copy
    of the n × p triangle."""
    qr, _tau, _work, info = dgeqrf(np.asfortranarray(X, dtype=float))
    if info != 0:
        raise np.linalg.LinAlgError(f"dgeqrf failed (info={info})")
    return qr[:X.shape[1], :]
