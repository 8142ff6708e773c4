"""What every penalized least-squares system shares: its failure, its pickling rule and θ's layout.

The protocol
------------
A system is built from the random-effects terms in fitting order and the weighted cross-products
of ``[Z X y]``; for a relative covariance parameter θ it offers

* ``factor(theta)`` → a factor with ``logdet_L`` (log|ΛᵀZᵀWZΛ + I|), ``logdet_RX`` and
  ``pwrss`` (r²θ), raising :class:`NotPositiveDefinite` where the factorization fails;
* ``solve(f)`` → (β̂, û); ``solve_u(f, r1, rR)``; ``lambdas(theta)``;
* ``update(weights, y)`` (new weights and response, as PIRLS needs) and ``refresh()``;
* ``inverse_diag_blocks(theta)`` and ``hat_diag(theta)`` (conditional variances, leverage);
* optionally ``gradient(f, reml)``, the analytic gradient of the criterion.

Implementations: :mod:`.blocked` (any design), :mod:`.dense` (small Z, one dense factor) and
:mod:`.scalar` (scalar terms under PIRLS). All derive from :class:`PicklableSystem`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dense import tri_inv


class NotPositiveDefinite(np.linalg.LinAlgError):
    """A factorization failed at this θ; the optimizer receives a large finite objective."""



@dataclass(frozen=True)
class TermLayout:
    """Where one random-effects term sits in Z and in θ.

    Fields
    ------
    nlevels, ncols : int
        ℓᵢ and pᵢ.
    offset : int
        First column of the term in its block of Z (term 1: 0; later terms: position in Z_R).
    start : int
        First column of the term in the whole of Z (terms in fitting order).
    theta_rows, theta_cols : ndarray of int
        Positions in λᵢ of the term's elements of θ (column-major lower triangle of the free mask).
    theta_slice : slice
        The term's elements within θ.
    """

    nlevels: int
    ncols: int
    offset: int
    start: int
    theta_rows: np.ndarray
    theta_cols: np.ndarray
    theta_slice: slice

    def lam(self, theta: np.ndarray) -> np.ndarray:
        """λᵢ (pᵢ × pᵢ, lower triangular) from θ."""
        lam = np.zeros((self.ncols, self.ncols))
        lam[self.theta_rows, self.theta_cols] = theta[self.theta_slice]
        return lam


def term_layouts(reterms: list) -> list[TermLayout]:
    """Layouts of terms already in fitting order (the first is the leading term)."""
    out, start, col, zcol = [], 0, 0, 0
    for i, t in enumerate(reterms):
        rows, cols = t.theta_index
        k = len(rows)
        out.append(TermLayout(t.nlevels, t.ncols, 0 if i == 0 else col, zcol, np.asarray(rows),
                              np.asarray(cols), slice(start, start + k)))
        start += k
        zcol += t.q
        if i > 0:
            col += t.q
    return out



def initial_theta(reterms: list) -> np.ndarray:
    """lme4's start: λᵢ = I for every term (1 on the diagonal, 0 elsewhere)."""
    parts = []
    for t in reterms:
        r, c = t.theta_index
        parts.append((np.asarray(r) == np.asarray(c)).astype(float))
    return np.concatenate(parts) if parts else np.zeros(0)


def theta_lower_bounds(reterms: list) -> np.ndarray:
    """0 for diagonal elements of λ, −∞ for off-diagonal ones (lme4's ``lower``)."""
    parts = []
    for t in reterms:
        r, c = t.theta_index
        parts.append(np.where(np.asarray(r) == np.asarray(c), 0.0, -np.inf))
    return np.concatenate(parts) if parts else np.zeros(0)



class PicklableSystem:
    """The pickling rule of every penalized least-squares system.

    CHOLMOD's factor objects do not pickle. Attributes named in ``_transient`` are dropped
    when the object is pickled and :meth:`_rebuild` restores them after unpickling (a symbolic
    analysis of the same pattern), so a fitted result pickles whichever system fitted it.
    """

    _transient: tuple = ()

    def __getstate__(self):
        d = self.__dict__.copy()
        for name in self._transient:
            d.pop(name, None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._rebuild()

    def _rebuild(self) -> None:
        """Recreate the attributes dropped by ``__getstate__``."""



def unscaled_vcov(RX) -> np.ndarray:
    """(R_XᵀR_X)⁻¹ from the lower Cholesky factor R_X of the fixed-effects block."""
    if RX is None:
        return np.zeros((0, 0))
    Ri = tri_inv(RX)
    return Ri.T @ Ri
