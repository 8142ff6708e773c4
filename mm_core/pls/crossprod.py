"""Weighted cross-products of ``[Z X y]`` for the blocked system, computed once per weights.

Every product with Z, X or y that the per-θ evaluation needs is formed here from the terms'
level codes with ``bincount`` (nothing of length n is touched afterwards); the random-effects
blocks keep a sparsity pattern fixed at construction, so new weights only refill their values.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def zmatrix(terms: list, n: int) -> sp.csr_matrix:
    """Sparse n × Σqᵢ model matrix of the given terms (each term's block from the term)."""
    if not terms:
        return sp.csr_matrix((n, 0))
    return sp.hstack([t.zmatrix() for t in terms], format="csr")


def ztm(terms: list, M: np.ndarray) -> np.ndarray:
    """(Zᵀ M)ᵀ for the given terms, by one ``bincount`` per (column of M, column of the term)."""
    out = np.empty((M.shape[1], sum(t.q for t in terms)))
    off = 0
    for t in terms:
        p, ell = t.ncols, t.nlevels
        block = out[:, off:off + t.q].reshape(M.shape[1], ell, p)   # a view: level-major columns
        for j in range(p):
            zj = t.z[j]
            ones = bool(np.all(zj == 1.0)) if j == 0 else False
            for c in range(M.shape[1]):
                v = np.bincount(t.refs, weights=M[:, c] if ones else M[:, c] * zj, minlength=ell)
                if p == 1:
                    out[c, off:off + ell] = v
                else:
                    block[c, :, j] = v
        off += t.q
    return out


class PairGram:
    """Z_aᵀ W Z_b for groups of terms, on a sparsity pattern fixed at construction.

    Each observation contributes a p_a × p_b block at (its level of a, its level of b). The
    distinct level pairs are found once; afterwards new weights cost one ``bincount`` per
    column pair, and the CSR data array is refilled in place, so the pattern (and everything
    derived from it: scatter maps, CHOLMOD's symbolic analysis) never changes.
    """

    def __init__(self, rows: list, cols: list, n: int):
        self.pieces = []
        coo_r, coo_c = [], []
        nrow = sum(t.q for t in rows)
        ncol = sum(t.q for t in cols)
        size = 0
        roff = 0
        for ta in rows:
            coff = 0
            for tb in cols:
                key = ta.refs.astype(np.int64) * tb.nlevels + tb.refs
                uniq, pair = np.unique(key, return_inverse=True)
                la, lb = uniq // tb.nlevels, uniq % tb.nlevels
                pa, pb = ta.ncols, tb.ncols
                r = (roff + la[:, None, None] * pa + np.arange(pa)[None, :, None]
                     + np.zeros((1, 1, pb), np.int64))
                c = (coff + lb[:, None, None] * pb + np.arange(pb)[None, None, :]
                     + np.zeros((1, pa, 1), np.int64))
                coo_r.append(r.ravel())
                coo_c.append(c.ravel())
                self.pieces.append((ta, tb, pair.astype(np.int64), len(uniq), size))
                size += r.size
                coff += tb.q
            roff += ta.q
        r = np.concatenate(coo_r) if coo_r else np.zeros(0, np.int64)
        c = np.concatenate(coo_c) if coo_c else np.zeros(0, np.int64)
        order = np.lexsort((c, r))
        self.perm = order
        indptr = np.zeros(nrow + 1, np.int64)
        np.add.at(indptr, r + 1, 1)
        self.matrix = sp.csr_matrix((np.zeros(len(r)), c[order], np.cumsum(indptr)),
                                    shape=(nrow, ncol))
        self.flat = np.zeros(len(r))

    def update(self, w: np.ndarray) -> sp.csr_matrix:
        flat = self.flat
        for ta, tb, pair, npairs, start in self.pieces:
            pa, pb = ta.ncols, tb.ncols
            block = flat[start:start + npairs * pa * pb].reshape(npairs, pa, pb)
            for j in range(pa):
                wz = w * ta.z[j]
                for k in range(pb):
                    block[:, j, k] = np.bincount(pair, weights=wz * tb.z[k], minlength=npairs)
        self.matrix.data[:] = flat[self.perm]
        return self.matrix


class CrossProducts:
    """The weighted cross-product blocks of ``[Z X y]`` for terms in fitting order.

    Fields
    ------
    A11 : ndarray, shape (ℓ₁, p₁, p₁)
        Per-level blocks of Z₁ᵀWZ₁.
    AR1 : scipy.sparse.csr_matrix, shape (q_R, q₁)
        Z_RᵀWZ₁ (fixed pattern).
    ARR : scipy.sparse.csr_matrix, shape (q_R, q_R)
        Z_RᵀWZ_R (fixed pattern).
    AX1, AXR : ndarray, shapes (p+1, q₁) and (p+1, q_R)
        [X y]ᵀWZ₁ and [X y]ᵀWZ_R.
    AXX : ndarray, shape (p+1, p+1)
        [X y]ᵀW[X y].

    ``update_weights`` recomputes everything for new weights (PIRLS); ``update_response``
    recomputes only the rows and columns that involve y (a new response in the bootstrap).
    """

    def __init__(self, reterms: list, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None):
        self.reterms = reterms
        self.n = X.shape[0]
        self.p = X.shape[1]
        self.X = X
        t1 = reterms[0]
        self.l1, self.p1 = t1.nlevels, t1.ncols
        self.Z1 = zmatrix([t1], self.n)
        self.ZR = zmatrix(reterms[1:], self.n)
        self.qR = self.ZR.shape[1]
        self.Z1T = self.Z1.T.tocsr()
        self.ZRT = self.ZR.T.tocsr()
        self._gR1 = PairGram(reterms[1:], [t1], self.n)
        self._gRR = PairGram(reterms[1:], reterms[1:], self.n)
        self.update_weights(weights, y)

    def update_weights(self, weights: np.ndarray | None, y: np.ndarray) -> None:
        t1 = self.reterms[0]
        w = np.ones(self.n) if weights is None else np.asarray(weights, float)
        self.w = w
        p1 = self.p1
        A11 = np.empty((self.l1, p1, p1))
        for a in range(p1):
            wz = t1.z[a] * w
            for b in range(a + 1):
                v = np.bincount(t1.refs, weights=wz * t1.z[b], minlength=self.l1)
                A11[:, a, b] = v
                A11[:, b, a] = v
        self.A11 = A11
        self.AR1 = self._gR1.update(w)
        self.ARR = self._gRR.update(w)
        self.update_response(y)

    def update_response(self, y: np.ndarray) -> None:
        """Recompute the blocks that involve [X y] (weights unchanged)."""
        XY = np.empty((self.n, self.p + 1))
        XY[:, :self.p] = self.X
        XY[:, self.p] = y
        WXY = XY * self.w[:, None]
        self.y = np.asarray(y, float)
        self.AX1 = ztm(self.reterms[:1], WXY)
        self.AXR = ztm(self.reterms[1:], WXY) if self.qR else np.zeros((self.p + 1, 0))
        self.AXX = XY.T @ WXY
