"""The random-effects term and its place among the model's terms.

:class:`ReTerm` is one grouping factor with the columns that vary by its levels (MixedModels.jl's
``ReMat``): it owns the grouping codes and levels, the term's columns of Z, the positions of its
free elements of θ in λ, λ(θ), its block of Z and of ZΛ, and its share of the linear predictor.
:class:`TermLayout` places a term among the others: where its columns start in Z and where its
elements sit in θ, with the terms in lme4's fitting order (:func:`fitting_order`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

__all__ = ["ReTerm", "TermLayout", "fitting_order", "term_layouts"]


@dataclass(frozen=True)
class ReTerm:
    """One random-effects term: a grouping factor and the columns that vary by its levels.

    Terms on the same grouping factor are amalgamated into one ``ReTerm`` (as
    MixedModels.jl does): ``(1|g) + (0+x|g)`` becomes one term with a block-diagonal
    pattern of free elements in its relative covariance factor λ.

    Fields
    ------
    group : str
        Name of the grouping factor as written in the formula (``"subj"``, ``"batch:cask"``).
    refs : ndarray of int32, shape (n,)
        0-based level code of each observation.
    levels : list of str
        Level labels, observed levels only, in sorted order (R's factor order).
    z : ndarray of float64, shape (p, n)
        Transposed model matrix of the term's left-hand side (row j = column j of X_i).
    names : list of str
        Column names in lme4's spelling (``"(Intercept)"``, ``"days"``, ``"factor(days)1"``).
    theta_mask : ndarray of bool, shape (p, p)
        Lower-triangular pattern of the free elements of λ: the full lower triangle for a
        correlated term, the diagonal for ``||`` / ``zerocorr``, block-diagonal when
        several terms share the factor. θ holds the free elements in column-major order.

    Notes
    -----
    lme4 equivalent: one element of ``getME(m, "reTrms")$Ztlist`` with its ``flist`` factor,
    ``cnms`` names and its part of ``Lind``.

    Examples
    --------
    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> t = materialize("reaction ~ 1 + days + (1 + days | subj)",
    ...                 datasets.load("sleepstudy")).reterms[0]
    >>> t.group, t.nlevels, t.names, t.ntheta
    ('subj', 18, ['(Intercept)', 'days'], 3)
    >>> t.lam([1.0, 0.5, 2.0]).tolist()
    [[1.0, 0.0], [0.5, 2.0]]
    """

    group: str
    refs: np.ndarray
    levels: list
    z: np.ndarray
    names: list
    theta_mask: np.ndarray

    @property
    def nlevels(self) -> int:
        return len(self.levels)

    @property
    def ncols(self) -> int:
        return self.z.shape[0]

    @property
    def q(self) -> int:
        """Number of columns of Z for this term (levels × columns)."""
        return self.nlevels * self.ncols

    @property
    def ntheta(self) -> int:
        return int(self.theta_mask.sum())

    @cached_property
    def theta_index(self) -> tuple:
        """(rows, cols) of the free elements of λ, column-major order."""
        cols, rows = np.nonzero(self.theta_mask.T)
        return rows, cols

    # -- θ and λ ---------------------------------------------------------------------------------
    def lam(self, values) -> np.ndarray:
        """λ (p × p, lower triangular) from the term's elements of θ (``ntheta`` values)."""
        rows, cols = self.theta_index
        out = np.zeros((self.ncols, self.ncols))
        out[rows, cols] = values
        return out

    def theta_of(self, lam: np.ndarray) -> np.ndarray:
        """The term's elements of θ read from λ (the inverse of :meth:`lam`)."""
        rows, cols = self.theta_index
        return np.asarray(lam)[rows, cols]

    def theta_start(self) -> np.ndarray:
        """lme4's start, λ = I: 1 for diagonal elements, 0 for the others."""
        rows, cols = self.theta_index
        return (rows == cols).astype(float)

    def theta_lower(self) -> np.ndarray:
        """lme4's lower bounds: 0 for diagonal elements of λ, −∞ for off-diagonal ones."""
        rows, cols = self.theta_index
        return np.where(rows == cols, 0.0, -np.inf)

    # -- Z, ZΛ and the linear predictor ----------------------------------------------------------
    def zmatrix(self, offset: int = 0, ncols: int | None = None,
                lam: np.ndarray | None = None) -> sp.csr_matrix:
        """Sparse n × q block of Z (columns level-major), or of ZΛ when ``lam`` (λ) is given,
        placed at column ``offset`` of a matrix with ``ncols`` columns (default: the block
        alone)."""
        n, p = self.refs.shape[0], self.ncols
        cols = offset + self.refs.astype(np.int64)[:, None] * p + np.arange(p)[None, :]
        z = self.z if lam is None else np.asarray(lam).T @ self.z   # row j: column j of Z_t λ
        return sp.csr_matrix((z.T.ravel(), (np.repeat(np.arange(n), p), cols.ravel())),
                             shape=(n, self.q if ncols is None else ncols))

    def lambda_block(self, lam: np.ndarray) -> sp.csr_matrix:
        """The term's q × q diagonal block of Λ: λ for every level (I_ℓ ⊗ λ), zeros not
        stored."""
        return sp.kron(sp.identity(self.nlevels, format="csr"), sp.csr_matrix(lam), format="csr")

    def scatter_into(self, out: np.ndarray) -> None:
        """Write the term's n × q block of Z into the dense array ``out`` (columns level-major),
        as :meth:`zmatrix` lays it out, without a sparse intermediate."""
        rows = np.arange(self.refs.shape[0])
        base = self.refs.astype(np.int64) * self.ncols
        for j in range(self.ncols):
            out[rows, base + j] = self.z[j]

    def ranef(self, u: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """b = λu per level (ℓ × p) from the spherical effects u (level-major, length q)."""
        return np.asarray(u).reshape(self.nlevels, self.ncols) @ lam.T

    def eta(self, b: np.ndarray, cols: list[int] | None = None) -> np.ndarray:
        """The term's share Z b of the linear predictor, for b per level (ℓ × p); ``cols``
        restricts it to some of the term's columns."""
        b = np.asarray(b, float)
        if cols is None:
            return np.einsum("jn,nj->n", self.z, b[self.refs])
        return np.einsum("jn,nj->n", self.z[cols], b[self.refs][:, cols])


def fitting_order(reterms: list) -> list[int]:
    """Terms by decreasing number of levels, ties in formula order (lme4's ordering)."""
    return sorted(range(len(reterms)), key=lambda i: -reterms[i].nlevels)


@dataclass(frozen=True)
class TermLayout:
    """Where one random-effects term sits in Z and in θ (terms in fitting order).

    The term itself (:class:`ReTerm`) owns its levels, columns and λ(θ); the layout adds its
    positions among the other terms, and names the term's covariance parameters as lme4's
    ``confint(m, oldNames = FALSE)`` does.

    Fields
    ------
    term : ReTerm
    offset : int
        First column of the term in its block of Z (term 1: 0; later terms: position in Z_R).
    start : int
        First column of the term in the whole of Z.
    theta_slice : slice
        The term's elements within θ.

    Examples
    --------
    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> d = materialize("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> [name for name, _, _ in term_layouts(d.reterms)[0].labels()]
    ['sd_(Intercept)|subj', 'cor_days.(Intercept)|subj', 'sd_days|subj']
    """

    term: ReTerm
    offset: int
    start: int
    theta_slice: slice

    @property
    def group(self) -> str:
        return self.term.group

    @property
    def names(self) -> tuple:
        return tuple(self.term.names)

    @property
    def nlevels(self) -> int:
        return self.term.nlevels

    @property
    def ncols(self) -> int:
        return self.term.ncols

    @property
    def ntheta(self) -> int:
        return self.term.ntheta

    @property
    def theta_rows(self) -> np.ndarray:
        """Rows in λᵢ of the term's elements of θ (column-major lower triangle of the free mask)."""
        return self.term.theta_index[0]

    @property
    def theta_cols(self) -> np.ndarray:
        return self.term.theta_index[1]

    def lam(self, theta: np.ndarray) -> np.ndarray:
        """λᵢ (pᵢ × pᵢ, lower triangular) from the whole θ."""
        return self.term.lam(theta[self.theta_slice])

    def labels(self) -> list[tuple[str, str, str]]:
        """(lme4 name, type, name) of each element of the term's θ: ``sd_`` on the diagonal of
        λ, ``cor_`` below it."""
        out = []
        names, group = self.names, self.group
        for r, c in zip(self.theta_rows.tolist(), self.theta_cols.tolist()):
            if r == c:
                out.append((f"sd_{names[r]}|{group}", "sigma", names[r]))
            else:
                out.append((f"cor_{names[r]}.{names[c]}|{group}", "rho",
                            f"{names[c]}, {names[r]}"))
        return out


def term_layouts(reterms: list) -> list[TermLayout]:
    """Layouts of terms already in fitting order (the first is the leading term)."""
    out, start, col, zcol = [], 0, 0, 0
    for i, t in enumerate(reterms):
        out.append(TermLayout(t, 0 if i == 0 else col, zcol, slice(start, start + t.ntheta)))
        start += t.ntheta
        zcol += t.q
        if i > 0:
            col += t.q
    return out
