"""Penalized least squares: one protocol, three implementations, and the choice between them.

For a relative covariance factor Λθ every system solves (lme4 JSS paper, eq. 18)::

    [ ΛᵀZᵀWZΛ + I   ΛᵀZᵀWX ] [u]   [ΛᵀZᵀWy]
    [ XᵀWZΛ         XᵀWX   ] [β] = [XᵀWy ]

and reports log|L_θ|², log|R_X|² and r²θ, from which :mod:`mm_core.lmm` forms the profiled
deviance and PIRLS (:mod:`mm_core.pirls`) the Laplace approximation. The protocol and what the
systems share (their failure, their pickling rule, θ's layout) are in :mod:`.base`.

Modules
-------
base
    :class:`NotPositiveDefinite`, :class:`PicklableSystem` (CHOLMOD objects are dropped when
    pickled and rebuilt on load), θ's layout, start and bounds.
crossprod
    :class:`CrossProducts`: the weighted cross-products of ``[Z X y]``, once per weights.
blocked
    :class:`BlockedPLS`: any design; the leading term by level blocks, the Schur complement of
    the others densely (LAPACK; then with the analytic gradient) or by CHOLMOD's supernodal
    factor.
dense
    :class:`DensePLS`: small Z; one dense factor of the augmented matrix, analytic gradient.
scalar
    :class:`ScalarSystem`: all-scalar terms under PIRLS, weights refreshed by ``bincount``.

This module chooses: :func:`lmm_system` picks the dense or the blocked system for a linear mixed
model, :func:`schur_plan` how the blocked system forms and factors its Schur complement.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import dense
from .base import (
    NotPositiveDefinite,
    PicklableSystem,
    TermLayout,
    initial_theta,
    term_layouts,
    theta_lower_bounds,
    unscaled_vcov,
)
from .blocked import BlockedPLS
from .crossprod import CrossProducts
from .dense import DensePLS
from .scalar import ScalarSystem

try:  # CHOLMOD is optional: without it large crossed models fall back to dense Cholesky
    from sksparse import cholmod as _cholmod
except ImportError:  # pragma: no cover - exercised only where scikit-sparse is absent
    _cholmod = None

# the dense system's module keeps its former import name
sys.modules.setdefault(__name__.rpartition(".")[0] + ".pls_dense", dense)

__all__ = [
    "BlockedPLS",
    "CrossProducts",
    "DensePLS",
    "NotPositiveDefinite",
    "PicklableSystem",
    "ScalarSystem",
    "SchurPlan",
    "TermLayout",
    "blocked_system",
    "initial_theta",
    "lmm_system",
    "schur_plan",
    "term_layouts",
    "theta_lower_bounds",
    "unscaled_vcov",
]

_warned_no_cholmod = False

#: Largest Schur complement factored densely when CHOLMOD is available and the pattern is sparse.
DENSE_MAX = 3000
#: Density of S above which the dense factorization is used whatever its size.
DENSE_FILL = 0.10
#: Entry pairs of the precomputed scatter map for ``A_R1 D A_R1ᵀ`` above which one sparse
#: product per θ is used instead: building the map costs about a microsecond and ~100 bytes
#: per pair, which beyond a few million pairs (10⁵ rows of 2,000 subjects × 500 items: 9·10⁶)
#: outweighs what its mat-vec saves over the product in a fit's ~100 evaluations.
GATHER_MAX = 4_000_000
#: Entries of A_R1 held as a dense q_R × q₁ array by the dense-product route (32 MB).
DENSE_PRODUCT_MAX = 4_000_000
#: The dense-product route forms A_R1 D A_R1ᵀ by one BLAS product of q_R²·q₁ multiply-adds;
#: it is chosen when that is below this many times the scatter map's entry pairs (a BLAS
#: multiply-add costs a small fraction of a sparse one, and the route needs no set-up).
DENSE_PRODUCT_RATIO = 16


@dataclass(frozen=True)
class SchurPlan:
    """How the blocked system forms and factors the Schur complement S of the later terms.

    Fields
    ------
    kind : str
        ``"none"`` (one term), ``"dense"`` (LAPACK) or ``"cholmod"`` (supernodal, sparse S).
    use_gather : bool
        Form A_R1 D A_R1ᵀ through the precomputed scatter map rather than a sparse product.
    pattern : scipy.sparse.csc_matrix or None
        Lower-triangular pattern of S (CHOLMOD analyses it once).
    dense_products : bool
        Form A_R1 D A_R1ᵀ by dense products with A_R1 held densely (small dense S; no scatter
        map to build).
    """

    kind: str
    use_gather: bool
    pattern: object = None
    dense_products: bool = False


def schur_plan(cp: CrossProducts, scalar_R: bool) -> SchurPlan:
    """Dense or sparse factor of S, and whether the scatter map pays, from the design's pattern.

    S is factored by CHOLMOD when it has more than ``DENSE_MAX`` rows and less than
    ``DENSE_FILL`` of its lower triangle is filled (a sparse crossed or nested design). A dense
    S is formed by dense products when A_R1 is small and they cost less than
    ``DENSE_PRODUCT_RATIO`` times the scatter map's entry pairs (a small crossed design);
    otherwise the scatter map is used while it has at most ``GATHER_MAX`` entry pairs and Λ_R
    can be applied to its values (scalar later terms, or a dense S).
    """
    global _warned_no_cholmod
    qR = cp.qR
    if qR == 0:
        return SchurPlan("none", False)
    AR1 = cp.AR1.tocsc()
    # pattern of A_R1 D A_R1ᵀ: pairs of nonzeros in the same level-block of columns
    counts = (np.diff(AR1.indptr).reshape(cp.l1, cp.p1).sum(axis=1) if AR1.nnz
              else np.zeros(cp.l1)).astype(np.int64)
    gather_size = int(np.sum(counts * (counts + 1) // 2))
    kind = "dense"
    pattern = None
    if qR > DENSE_MAX:   # the pattern of S decides only for a large S
        pattern = sp.tril((abs(cp.ARR) + abs(AR1) @ abs(AR1).T).tocsc(), format="csc")
        density = pattern.nnz / (qR * (qR + 1) / 2)
    if pattern is not None and density < DENSE_FILL:
        if _cholmod is not None:
            kind = "cholmod"
        elif not _warned_no_cholmod:
            _warned_no_cholmod = True
            warnings.warn("scikit-sparse (CHOLMOD) is not installed: large crossed random effects "
                          "are factored densely, which is slower and uses more memory.",
                          RuntimeWarning, stacklevel=4)
    if (kind == "dense" and qR * cp.AR1.shape[1] <= DENSE_PRODUCT_MAX
            and qR * qR * cp.AR1.shape[1] <= DENSE_PRODUCT_RATIO * gather_size):
        return SchurPlan(kind, False, None, dense_products=True)
    use_gather = (scalar_R or kind == "dense") and gather_size <= GATHER_MAX
    return SchurPlan(kind, use_gather, pattern if kind == "cholmod" else None)


def blocked_system(reterms: list, cp: CrossProducts) -> BlockedPLS:
    """The blocked system on these cross-products, with the Schur plan their pattern calls for."""
    return BlockedPLS(reterms, cp, schur_plan(cp, all(t.ncols == 1 for t in reterms[1:])))


def lmm_system(reterms: list, X: np.ndarray, y: np.ndarray, weights=None):
    """The system for a linear mixed model: dense for a small Z, blocked otherwise."""
    if dense.use_dense(reterms, *X.shape):
        return DensePLS(reterms, X, y, weights)
    return blocked_system(reterms, CrossProducts(reterms, X, y, weights))
