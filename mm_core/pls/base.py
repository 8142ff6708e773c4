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

import numpy as np

from ..dense import tri_inv
from ..design.reterm import TermLayout, term_layouts

__all__ = [
    "NotPositiveDefinite",
    "PicklableSystem",
    "TermLayout",
    "initial_theta",
    "term_layouts",
    "theta_lower_bounds",
    "unscaled_vcov",
]


class NotPositiveDefinite(np.linalg.LinAlgError):
    """A factorization failed at this θ; the optimizer receives a large finite objective."""


def initial_theta(reterms: list) -> np.ndarray:
    """lme4's start: λᵢ = I for every term (1 on the diagonal, 0 elsewhere)."""
    return np.concatenate([t.theta_start() for t in reterms]) if reterms else np.zeros(0)


def theta_lower_bounds(reterms: list) -> np.ndarray:
    """0 for diagonal elements of λ, −∞ for off-diagonal ones (lme4's ``lower``)."""
    return np.concatenate([t.theta_lower() for t in reterms]) if reterms else np.zeros(0)


class PicklableSystem:
    """The pickling rule of every penalized least-squares system.

    CHOLMOD's factor objects do not pickle. Attributes named in ``_transient`` are dropped
    when the object is pickled and :meth:`_rebuild` restores them after unpickling (a symbolic
    analysis of the same pattern), so a fitted result pickles whichever system fitted it.
    """

    _transient: tuple = ()
    #: Whether ``gradient(f, reml)`` gives the criterion's gradient analytically.
    has_gradient: bool = False
    #: Whether the gradient costs about one evaluation, so that a quasi-Newton method should
    #: replace the derivative-free optimizer.
    gradient_first: bool = False

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
