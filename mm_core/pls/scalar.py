"""The weighted system for models whose random-effects terms are all scalar (PIRLS's common case).

Random intercepts (and scalar slopes) make the leading term's block diagonal and the Schur
complement of the others small or sparse; this system keeps exactly the pair structures that
case needs and refreshes them from new weights with a few ``bincount`` calls, which is what
PIRLS does on every iteration.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..dense import cho_solve
from .base import NotPositiveDefinite, PicklableSystem, unscaled_vcov

try:  # CHOLMOD for large sparse Schur complements (nested factors); dense LAPACK otherwise
    from sksparse import cholmod as _cholmod
except ImportError:  # pragma: no cover
    _cholmod = None

#: Largest Schur complement of the non-leading terms solved by :class:`ScalarSystem`.
SCALAR_SCHUR_MAX = 2000
#: Largest dense A_R1 (q_R × ℓ₁ entries) and number of entry pairs for the sparse A_R1 D A_R1ᵀ;
#: a model needing more than both goes to the blocked system (:mod:`.blocked`).
DENSE_AR1_MAX = 4_000_000
GATHER_MAX = 20_000_000
#: A Schur complement at least this large and at most this dense is factored by CHOLMOD.
SPARSE_SCHUR_MIN = 64
SPARSE_SCHUR_DENSITY = 0.1


class TooLarge(Exception):
    """The scalar system's precomputed pair structures would be too large."""


class ScalarSystem(PicklableSystem):
    """Blocked PLS solver for models whose random-effects terms are all scalar.

    The leading term's block ΛᵀZ₁ᵀWZ₁Λ + I is diagonal (m₁ = λ₁²a₁ + 1); the Schur complement
    of the other terms, ``S = Λ_R(A_RR − A_R1 D A_R1ᵀ)Λ_R + I`` with ``D = diag(λ₁²/m₁)``, is
    factored densely (LAPACK) or, when large and sparse (nested factors), by CHOLMOD on a
    pattern analysed once. Cross-products are refreshed from new weights with a few
    ``bincount`` calls on level pairs precomputed at construction (O(n) per update).

    Parameters
    ----------
    reterms : list of ReTerm
        Scalar terms in fitting order.
    X : ndarray (n, p)
    """

    def __init__(self, reterms: list, X: np.ndarray):
        n = X.shape[0]
        self.n, self.p = n, X.shape[1]
        self.X = X
        t1 = reterms[0]
        self.l1 = t1.nlevels
        self.refs1 = t1.refs.astype(np.intp)
        self.z1 = np.ascontiguousarray(t1.z[0], dtype=float)
        self.z1_is_one = bool(np.all(self.z1 == 1.0))
        rest = reterms[1:]
        self.nR = [t.nlevels for t in rest]
        self.qR = int(sum(self.nR))
        self.q = self.l1 + self.qR
        self.Zt_1 = sp.csr_matrix((self.z1, (self.refs1, np.arange(n))), shape=(self.l1, n))
        self.full = False
        if not self.qR:
            return
        offs = np.cumsum([0] + self.nR)
        self.gR = [(off + t.refs).astype(np.intp) for off, t in zip(offs[:-1], rest)]
        self.zR = [np.ascontiguousarray(t.z[0], dtype=float) for t in rest]
        self.zR_ones = all(bool(np.all(zk == 1.0)) for zk in self.zR)
        self.gR_all = np.concatenate(self.gR)
        self.Zt_R = sp.csr_matrix((np.concatenate(self.zR), (self.gR_all, np.tile(np.arange(n), len(rest)))),
                                  shape=(self.qR, n))
        # level pairs (later term level, leading level) met in the data: the pattern of A_R1
        key = np.concatenate([g * self.l1 + self.refs1 for g in self.gR])
        uniq, pid = np.unique(key, return_inverse=True)
        self.p1_pid = pid
        self.p1_rows = (uniq // self.l1).astype(np.intp)
        self.p1_cols = (uniq % self.l1).astype(np.intp)
        self.np1 = len(uniq)
        # pairs of later terms (a < b); the same-term blocks are diagonal
        keys, self.rr_terms = [], []
        for a in range(len(rest)):
            for b in range(a + 1, len(rest)):
                keys.append(self.gR[a] * self.qR + self.gR[b])
                self.rr_terms.append((a, b))
        self.nrr = 0
        if keys:
            uniq, pid = np.unique(np.concatenate(keys), return_inverse=True)
            self.rr_pid = pid
            self.rr_rows = (uniq // self.qR).astype(np.intp)
            self.rr_cols = (uniq % self.qR).astype(np.intp)
            self.nrr = len(uniq)
        # A_R1 with a fixed CSR pattern: refreshing it is a permutation of the pair sums
        A = sp.csr_matrix((np.arange(1.0, self.np1 + 1), (self.p1_rows, self.p1_cols)),
                          shape=(self.qR, self.l1))
        self.p1_perm = A.data.astype(np.intp) - 1
        self.AR1 = A
        self.AR1T = A.T                   # a CSC view sharing A's data array
        counts = np.bincount(self.p1_cols, minlength=self.l1).astype(np.int64)
        n_gather = int(np.sum(counts * (counts + 1) // 2))
        dense_ok = self.qR * self.l1 <= DENSE_AR1_MAX
        if n_gather > GATHER_MAX and not dense_ok:
            raise TooLarge
        self.has_gather = n_gather <= GATHER_MAX
        if self.has_gather:
            self._build_gather(counts)
        self._choose_schur(dense_ok)

    def _build_gather(self, counts: np.ndarray) -> None:
        """Entry pairs (e, f) of A_R1 in the same column: (A_R1 D A_R1ᵀ)[r_e, r_f] += v_e v_f d_k."""
        order = np.argsort(self.p1_cols, kind="stable")          # entries grouped by column
        starts = np.concatenate([[0], np.cumsum(counts)])[self.p1_cols[order]]
        rep = np.arange(len(order)) - starts + 1                  # pair with the column's first i+1
        e = np.repeat(np.arange(len(order)), rep)
        f = np.repeat(starts, rep) + (np.arange(int(rep.sum())) - np.repeat(np.cumsum(rep) - rep, rep))
        self.g_e, self.g_f = order[e], order[f]
        self.g_col = self.p1_cols[self.g_e]
        ra, rb = self.p1_rows[self.g_e], self.p1_rows[self.g_f]
        lin = np.maximum(ra, rb) * self.qR + np.minimum(ra, rb)   # lower triangle
        self.g_uniq, self.g_pos = np.unique(lin, return_inverse=True)
        self.g_rows = (self.g_uniq // self.qR).astype(np.intp)
        self.g_cols = (self.g_uniq % self.qR).astype(np.intp)

    def _choose_schur(self, dense_ok: bool) -> None:
        """Dense or CHOLMOD factor of S, and for a dense S how to form A_R1 D A_R1ᵀ."""
        qR = self.qR
        self.sparse_S = False
        if self.has_gather and _cholmod is not None and qR >= SPARSE_SCHUR_MIN:
            rows = np.concatenate([self.g_rows, self.rr_cols if self.nrr else [], np.arange(qR)])
            cols = np.concatenate([self.g_cols, self.rr_rows if self.nrr else [], np.arange(qR)])
            lin = np.unique(np.maximum(rows, cols).astype(np.int64) * qR + np.minimum(rows, cols))
            self.sparse_S = len(lin) / (qR * (qR + 1) / 2) < SPARSE_SCHUR_DENSITY
        self.dense_AR1 = not self.sparse_S and dense_ok and (
            not self.has_gather or qR * qR * self.l1 <= 8 * len(self.g_e))
        if self.dense_AR1:   # position of each observation's pair in the dense (q_R × ℓ₁) array
            self.p1_lin = (self.p1_rows * self.l1 + self.p1_cols)[self.p1_pid]
        if not self.sparse_S:
            return
        # full symmetric CSC pattern of S and where each contribution goes in its data array
        r = (lin // qR).astype(np.intp)
        c = (lin % qR).astype(np.intp)
        off = r != c
        R = np.concatenate([r, c[off]])
        C = np.concatenate([c, r[off]])
        keys = C.astype(np.int64) * qR + R                       # CSC order: column-major
        order = np.argsort(keys)
        keys = keys[order]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(C, minlength=qR))])
        self.S_pattern = sp.csc_matrix((np.ones(len(keys)), R[order], indptr), shape=(qR, qR))
        self.S_rows, self.S_cols = R[order], C[order]

        def pos(rr, cc):
            return np.searchsorted(keys, cc.astype(np.int64) * qR + rr)

        # A_R1 D A_R1ᵀ: lower entries (g) in both triangles
        goff = self.g_rows != self.g_cols
        self.S_g_pos = np.concatenate([pos(self.g_rows, self.g_cols), pos(self.g_cols[goff], self.g_rows[goff])])
        self.S_g_src = np.concatenate([np.arange(len(self.g_rows)), np.flatnonzero(goff)])
        self.S_diag_pos = pos(np.arange(qR), np.arange(qR))
        if self.nrr:
            self.S_rr_pos = np.concatenate([pos(self.rr_rows, self.rr_cols), pos(self.rr_cols, self.rr_rows)])
        self.S_nnz = len(keys)
        self._rebuild()

    # -- per-weights work -----------------------------------------------------------------------
    def update(self, w: np.ndarray, z: np.ndarray | None, full: bool) -> None:
        """Weighted cross-products for weights ``w`` and the right-hand side for response ``z``."""
        self.full = full
        wz1 = w if self.z1_is_one else w * self.z1
        self.a1 = np.bincount(self.refs1, wz1 if self.z1_is_one else wz1 * self.z1,
                              minlength=self.l1)
        if self.qR:
            m = len(self.zR)
            if self.zR_ones:
                vals = wz1 if m == 1 else np.tile(wz1, m)
                dvals = w if m == 1 else np.tile(w, m)
            else:
                vals = np.concatenate([wz1 * zk for zk in self.zR])
                dvals = np.concatenate([w * zk * zk for zk in self.zR])
            self.aRdiag = np.bincount(self.gR_all, dvals, minlength=self.qR)
            if self.nrr:
                rv = np.concatenate([w * self.zR[a] * self.zR[b] for a, b in self.rr_terms])
                self.vrr = np.bincount(self.rr_pid, rv, minlength=self.nrr)
            if self.dense_AR1:
                self.AR1d = np.bincount(self.p1_lin, vals, minlength=self.qR * self.l1).reshape(
                    self.qR, self.l1)
            else:
                v1 = np.bincount(self.p1_pid, vals, minlength=self.np1)
                self.AR1.data[:] = v1[self.p1_perm]
                self.g_val = v1[self.g_e] * v1[self.g_f]
        if full and self.p:
            WX = self.X * w[:, None]
            self.AX1 = np.asarray(self.Zt_1 @ WX)                 # (ℓ₁, p)
            self.AXR = np.asarray(self.Zt_R @ WX) if self.qR else None
            self.AXX = self.X.T @ WX
        if z is not None:
            wz = w * z
            self.r1 = np.bincount(self.refs1, wz * self.z1 if not self.z1_is_one else wz,
                                  minlength=self.l1)
            if self.qR:
                self.rR = self.Zt_R @ wz
            if full and self.p:
                self.rX = self.X.T @ wz

    def _lam(self, theta: np.ndarray):
        lam1 = float(theta[0])
        lamR = np.repeat(np.asarray(theta[1:], float), self.nR) if self.qR else np.zeros(0)
        return lam1, lamR

    def factor(self, theta: np.ndarray):
        """Factor at θ with the current weights; returns a ``_ScalarFactor``."""
        lam1, lamR = self._lam(theta)
        m1 = lam1 * lam1 * self.a1 + 1.0
        d = (lam1 * lam1) / m1
        logdet = float(np.sum(np.log(m1)))
        S = None
        if self.qR:
            S = self._schur(lamR, d)
            logdet += S.logdet
        return _ScalarFactor(theta, lam1, lamR, m1, d, S, logdet)

    def _schur(self, lamR: np.ndarray, d: np.ndarray):
        qR = self.qR
        if self.sparse_S:
            gv = np.bincount(self.g_pos, self.g_val * d[self.g_col], minlength=len(self.g_uniq))
            data = -np.bincount(self.S_g_pos, gv[self.S_g_src], minlength=self.S_nnz)
            data[self.S_diag_pos] += self.aRdiag
            if self.nrr:
                data += np.bincount(self.S_rr_pos, np.tile(self.vrr, 2), minlength=self.S_nnz)
            data *= lamR[self.S_rows] * lamR[self.S_cols]
            data[self.S_diag_pos] += 1.0
            A = self.S_pattern
            A.data[:] = data
            F = self.S_symbolic
            try:
                F.cholesky_inplace(A)
            except _cholmod.CholmodNotPositiveDefiniteError as e:
                raise NotPositiveDefinite(str(e)) from e
            return _SparseS(F, float(F.logdet()))
        if self.dense_AR1:
            M = -((self.AR1d * d) @ self.AR1d.T)
        else:
            gv = np.bincount(self.g_pos, self.g_val * d[self.g_col], minlength=len(self.g_uniq))
            M = np.zeros((qR, qR))
            M[self.g_rows, self.g_cols] = -gv
            M[self.g_cols, self.g_rows] = -gv
        idx = np.arange(qR)
        M[idx, idx] += self.aRdiag
        if self.nrr:
            M[self.rr_rows, self.rr_cols] += self.vrr
            M[self.rr_cols, self.rr_rows] += self.vrr
        M *= lamR[:, None]
        M *= lamR[None, :]
        M[idx, idx] += 1.0
        LS, info = sla.lapack.dpotrf(M, lower=1, overwrite_a=1, clean=0)
        if info != 0:
            raise NotPositiveDefinite("the random-effects system is not positive definite")
        return _DenseS(LS, 2.0 * float(np.sum(np.log(np.diag(LS)))))

    def solve(self, f) -> tuple[np.ndarray | None, np.ndarray]:
        """(β, u) for the full system (after ``update(full=True)``) or (None, u).

        Eliminating u₁ (diagonal block m₁) and then u_R (S) leaves the p × p system for β; all
        products with A_R1 use the fixed-pattern sparse matrix."""
        lam1, lamR, m1 = f.lam1, f.lamR, f.m1
        rhs1 = lam1 * self.r1
        full = self.full and self.p
        t1 = rhs1 / m1
        if full:
            C1 = lam1 * self.AX1                                  # (ℓ₁, p)
            XX = self.AXX - C1.T @ (C1 / m1[:, None])
            rX = self.rX - C1.T @ t1
        if not self.qR:
            if not full:
                return None, t1
            RX = _chol(XX)
            beta = cho_solve(RX, rX)
            self.last_RX = RX
            return beta, (rhs1 - C1 @ beta) / m1
        AR1, AR1T = (self.AR1d, self.AR1d.T) if self.dense_AR1 else (self.AR1, self.AR1T)
        rR = lamR * (self.rR - lam1 * (AR1 @ t1))               # λR rR − B t1
        if not full:
            uR = f.S.solve(rR)
            u1 = t1 - lam1 * (AR1T @ (lamR * uR)) / m1
            return None, np.concatenate([u1, uR])
        CR = lamR[:, None] * (self.AXR - lam1 * (AR1 @ (C1 / m1[:, None])))
        Si = f.S.solve(np.column_stack([CR, rR]))               # S⁻¹ [C_R  r_R]
        XX = XX - CR.T @ Si[:, :-1]
        rX = rX - CR.T @ Si[:, -1]
        RX = _chol(XX)
        beta = cho_solve(RX, rX)
        self.last_RX = RX
        uR = Si[:, -1] - Si[:, :-1] @ beta
        u1 = (rhs1 - C1 @ beta - lam1 * (AR1T @ (lamR * uR))) / m1
        return beta, np.concatenate([u1, uR])

    def zlam(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """ZΛu (n)."""
        lam1 = float(theta[0])
        out = (lam1 * u[:self.l1])[self.refs1]
        if not self.z1_is_one:
            out *= self.z1
        if self.qR:
            bR = u[self.l1:] * np.repeat(np.asarray(theta[1:], float), self.nR)
            for g, zk in zip(self.gR, self.zR):
                out += bR[g] if self.zR_ones else bR[g] * zk
        return out

    def unscaled_vcov(self) -> np.ndarray:
        """(R_XᵀR_X)⁻¹ from the last full solve."""
        return unscaled_vcov(self.last_RX if self.p else None)

    # CHOLMOD's symbolic factor does not pickle; AR1T is a view of AR1's data
    _transient = ("S_symbolic", "AR1T")

    def _rebuild(self) -> None:
        if "AR1" in self.__dict__:
            self.AR1T = self.AR1.T
        if getattr(self, "sparse_S", False):
            self.S_symbolic = _cholmod.analyze(self.S_pattern, mode="simplicial",
                                               ordering_method="amd")


class _DenseS:
    def __init__(self, L: np.ndarray, logdet: float):
        self.L, self.logdet = L, logdet

    def solve(self, b):
        return cho_solve(self.L, b)


class _SparseS:
    def __init__(self, F, logdet: float):
        self.F, self.logdet = F, logdet

    def solve(self, b):
        return self.F.solve_A(b)


@dataclass
class _ScalarFactor:
    theta: np.ndarray
    lam1: float
    lamR: np.ndarray
    m1: np.ndarray
    d: np.ndarray
    S: object
    logdet: float

    @property
    def leading_diag(self) -> np.ndarray:
        """Diagonal of the Cholesky factor for the leading term (sqrt(λ²a + 1))."""
        return np.sqrt(self.m1)


def _chol(A: np.ndarray) -> np.ndarray:
    L, info = sla.lapack.dpotrf(0.5 * (A + A.T), lower=1, clean=1)
    if info != 0:
        raise NotPositiveDefinite("the fixed-effects system is not positive definite")
    return L
