"""Dense triangular solves and Cholesky factors through LAPACK directly.

``scipy.linalg`` wrappers add tens of microseconds of argument handling per call, and on small
matrices OpenBLAS's threaded level-3 routines can cost milliseconds when the cores are busy (a
server with several sessions, a bootstrap with worker processes). The objective is evaluated
thousands of times on matrices of size 1–100, so those calls go straight to LAPACK here.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg.lapack import dpotrf, dpotrs, dtrtrs

#: Above this size the scipy wrappers (which pick the best LAPACK path) are used.
SMALL = 256


def tri_solve(L: np.ndarray, B: np.ndarray, *, lower: bool = True, trans: bool = False) -> np.ndarray:
    """Solve L x = B (or Lᵀ x = B with ``trans``) for triangular L."""
    if L.shape[0] == 0:
        return np.zeros_like(B, dtype=float)
    if L.shape[0] <= SMALL:
        x, info = dtrtrs(L, B, lower=int(lower), trans=int(trans))
        if info != 0:
            raise np.linalg.LinAlgError(f"singular triangular matrix (info={info})")
        return x
    return sla.solve_triangular(L, B, lower=lower, trans=int(trans), check_finite=False)


def chol(A: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Lower Cholesky factor of a symmetric positive definite matrix (lower triangle read)."""
    c, info = dpotrf(A, lower=1, clean=1, overwrite_a=int(overwrite))
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix is not positive definite (leading minor {info})")
    return c


def cho_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve (L Lᵀ) x = B from a lower Cholesky factor."""
    if L.shape[0] == 0:
        return np.zeros_like(B, dtype=float)
    x, info = dpotrs(L, B, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotrs failed (info={info})")
    return x


def tri_inv(L: np.ndarray, *, lower: bool = True) -> np.ndarray:
    """Inverse of a triangular matrix."""
    return tri_solve(L, np.eye(L.shape[0]), lower=lower)
