"""Penalized least squares for a mixed model: cross-products once, a blocked Cholesky per θ.

The system solved for a given relative covariance factor Λθ is (lme4 JSS paper, eq. 18)::

    [ ΛᵀZᵀWZΛ + I   ΛᵀZᵀWX ] [u]   [ΛᵀZᵀWy]
    [ XᵀWZΛ         XᵀWX   ] [β] = [XᵀWy ]

Terms are sorted by decreasing number of levels (as lme4 does). The leading term's diagonal block
is block-diagonal by level and is factored directly (a scalar or a batch of p×p Cholesky factors).
Eliminating it leaves, with ``D = blockdiag(λ₁ (λ₁ᵀA₁₁ₖλ₁ + I)⁻¹ λ₁ᵀ)``,

* the Schur complement of the remaining random effects
  ``S = Λ_Rᵀ (A_RR − A_R1 D A_R1ᵀ) Λ_R + I``, factored densely or by CHOLMOD;
* the downdated ``[X y]`` block
  ``C = A_XX − A_X1 D A_X1ᵀ − B_XR S⁻¹ B_XRᵀ`` with ``B_XR = (A_XR − A_X1 D A_R1ᵀ) Λ_R``,

whose Cholesky factor gives ``log|R_X|²`` and, in its last diagonal element, the penalized
residual sum of squares ``r²θ`` (MixedModels.jl's augmented-matrix trick). No evaluation touches
an array of length n: every product with Z, X or y is precomputed in :class:`CrossProducts`.

Where S is dense, :meth:`BlockedPLS.gradient` differentiates the criterion analytically by
reverse mode through these steps, at about the cost of one more evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dtrtri as _dtrtri

from ..dense import cho_solve, chol, tri_inv, tri_solve
from .base import NotPositiveDefinite, PicklableSystem, term_layouts, unscaled_vcov
from .crossprod import CrossProducts

try:  # CHOLMOD is optional: without it large crossed models fall back to dense Cholesky
    from sksparse import cholmod as _cholmod
except ImportError:  # pragma: no cover - exercised only where scikit-sparse is absent
    _cholmod = None


@dataclass
class Factor:
    """Blocked Cholesky factor of the PLS system at one θ.

    Fields
    ------
    theta : ndarray
        The θ it was computed at.
    Minv : ndarray, shape (ℓ₁, p₁, p₁)
        (λ₁ᵀA₁₁ₖλ₁ + I)⁻¹ per level; ``L11`` gives the lower Cholesky factors of the matrices.
    D : ndarray, shape (ℓ₁, p₁, p₁)
        λ₁ (λ₁ᵀA₁₁ₖλ₁ + I)⁻¹ λ₁ᵀ per level.
    S : object
        Factor of the Schur complement of the remaining random effects (``SchurFactor``).
    RX : ndarray, shape (p+1, p+1)
        Lower Cholesky factor of the downdated [X y] block; ``RX[-1, -1]² = r²θ``.
    BXR : ndarray, shape (p+1, q_R)
        (A_XR − A_X1 D A_R1ᵀ) Λ_R.
    logdet_L : float
        log|L_θ|², the log-determinant of ΛᵀZᵀWZΛ + I.
    logdet_RX : float
        log|R_X|² (first p diagonal elements of RX).
    pwrss : float
        Penalized weighted residual sum of squares r²θ.
    Mid : ndarray or None
        A_RR − A_R1 D A_R1ᵀ (dense S only; the analytic gradient needs it).
    B0 : ndarray or None
        A_XR − A_X1 D A_R1ᵀ, the B_XR before Λ_R (dense S only).
    """

    theta: np.ndarray
    Minv: np.ndarray
    D: np.ndarray
    S: Any
    RX: np.ndarray
    BXR: np.ndarray
    logdet_L: float
    logdet_RX: float
    pwrss: float
    Mid: np.ndarray | None = None
    B0: np.ndarray | None = None

    @property
    def L11(self) -> np.ndarray:
        """Lower Cholesky factors of λ₁ᵀA₁₁ₖλ₁ + I (computed on demand)."""
        return np.linalg.cholesky(np.linalg.inv(self.Minv))


class DenseSchur:
    """Dense lower Cholesky factor of S."""

    kind = "dense"

    def __init__(self, S: np.ndarray):
        try:
            self.L = chol(S, overwrite=True)
        except np.linalg.LinAlgError as e:
            raise NotPositiveDefinite(str(e)) from e
        self.logdet = 2.0 * float(np.sum(np.log(np.diag(self.L))))

    def solve_L(self, B) -> np.ndarray:
        """L_S⁻¹ B (B dense or sparse)."""
        if sp.issparse(B):
            B = B.toarray()
        return tri_solve(self.L, B)

    def solve(self, b: np.ndarray) -> np.ndarray:
        """S⁻¹ b."""
        return cho_solve(self.L, b)


class CholmodSchur:
    """Sparse supernodal CHOLMOD factor of S (P S Pᵀ = L Lᵀ)."""

    kind = "cholmod"

    def __init__(self, symbolic, S: sp.csc_matrix):
        try:
            self.F = symbolic.cholesky(S)
        except _cholmod.CholmodNotPositiveDefiniteError as e:
            raise NotPositiveDefinite(str(e)) from e
        self.logdet = float(self.F.logdet())

    def solve_L(self, B):
        """L⁻¹ P B (the permuted triangular solve; norms of its columns are what is needed)."""
        if sp.issparse(B):
            B = B.tocsc()
        out = self.F.solve_L(self.F.apply_P(B), use_LDLt_decomposition=False)
        return out.toarray() if sp.issparse(out) else out

    def solve(self, b):
        return self.F.solve_A(b)


class BlockedPLS(PicklableSystem):
    """Per-θ evaluation of the blocked factorization on fixed cross-products.

    Parameters
    ----------
    reterms : list of ReTerm
        In fitting order (decreasing number of levels).
    cp : CrossProducts
        Built from the same terms.
    plan : SchurPlan
        How the Schur complement S is formed and factored (:func:`mm_core.pls.schur_plan`).
    """

    def __init__(self, reterms: list, cp: CrossProducts, plan):
        self.reterms = reterms
        self.layouts = term_layouts(reterms)
        self.cp = cp
        self.ntheta = sum(t.ntheta for t in reterms)
        self.scalar1 = reterms[0].ncols == 1
        self.scalar_R = all(t.ncols == 1 for t in reterms[1:])
        self.schur_kind = plan.kind
        self.use_gather = plan.use_gather
        self.dense_products = plan.dense_products
        self._prepare_schur(plan.pattern)

    # -- structure of S --------------------------------------------------------------------------
    def _prepare_schur(self, pattern) -> None:
        """The scatter map of A_R1 D A_R1ᵀ, or CHOLMOD's fixed pattern of S."""
        cp = self.cp
        qR = cp.qR
        if qR == 0:
            return
        if self.use_gather:
            self._build_gather(cp.AR1.tocsc())
        else:
            self.refresh()
        if self.schur_kind == "cholmod":
            full = (pattern + sp.tril(pattern, -1, format="csc").T).tocsc()
            full = (full + sp.identity(qR, format="csc")).tocsc()
            full.sort_indices()
            full.data[:] = 1.0
            self._cholmod_pattern = full
            keys = full.indices.astype(np.int64) + qR * np.repeat(np.arange(qR), np.diff(full.indptr))
            self._cholmod_keys = keys
            self._rebuild()

    _transient = ("_symbolic", "_E", "_ARR_dense")

    def _dense_blocks(self) -> None:
        """A_R1 (as ℓ₁ blocks of p₁ columns) and A_RR as dense arrays, for the dense products."""
        cp = self.cp
        if getattr(self, "dense_products", False):
            self._E = cp.AR1.toarray().reshape(cp.qR, cp.l1, cp.p1)
            self._ARR_dense = cp.ARR.toarray()

    def _rebuild(self) -> None:
        """The dense copies of A_R1 and A_RR, or CHOLMOD's symbolic analysis of the fixed
        pattern of S (a supernodal factor): what is not pickled."""
        self._dense_blocks()
        if self.schur_kind != "cholmod":
            return
        full = self._cholmod_pattern
        qR = full.shape[0]
        Sinit = full.copy()
        Sinit.data = np.where(full.indices == np.repeat(np.arange(qR), np.diff(full.indptr)),
                              float(qR) + 1.0, 0.01)
        self._symbolic = _cholmod.analyze(Sinit, mode="supernodal", ordering_method="best")

    def _build_gather(self, AR1: sp.csc_matrix) -> None:
        """Precompute (A_RR − A_R1 D A_R1ᵀ) as a sparse linear map of the blocks D (ℓ₁, p₁, p₁).

        Entry (a, b) of A_R1 D A_R1ᵀ is Σₖ Σᵢⱼ A[a,(k,i)] Dₖ[i,j] A[b,(k,j)]: a matrix G with one
        row per position of the lower-triangular pattern and one column per (k, i, j), whose
        entries are the products A[a,(k,i)] A[b,(k,j)], turns ``D.ravel()`` into those values
        with one sparse mat-vec — the same few vectorized operations whatever the number of
        levels. The entries of level k's columns are contiguous in CSC order, so the pairs are
        generated level block by level block without a loop over levels.
        """
        cp = self.cp
        qR, p1 = cp.qR, cp.p1
        indptr, idx = AR1.indptr.astype(np.int64), AR1.indices
        col = np.repeat(np.arange(AR1.shape[1], dtype=np.int64), np.diff(indptr))
        level = col // p1
        bstart = indptr[::p1][:-1] if p1 > 1 else indptr[:-1]
        bcount = np.diff(np.append(bstart, indptr[-1]))
        rep = bcount[level]                                    # pairs of each entry in its block
        e1 = np.repeat(np.arange(len(idx), dtype=np.int64), rep)
        offs = np.arange(len(e1), dtype=np.int64) - np.repeat(np.cumsum(rep) - rep, rep)
        e2 = np.repeat(bstart[level], rep) + offs
        a, b = idx[e1], idx[e2]
        keep = a >= b
        e1, e2, a, b = e1[keep], e2[keep], a[keep], b[keep]
        gcol = level[e1] * (p1 * p1) + (col[e1] % p1) * p1 + col[e2] % p1
        lin = a.astype(np.int64) * qR + b
        ARR = sp.tril(cp.ARR, format="coo")
        lin_arr = ARR.row.astype(np.int64) * qR + ARR.col
        if qR * qR <= 50_000_000:   # dedupe through a mark array: no sort of the pairs
            mark = np.zeros(qR * qR, dtype=bool)
            mark[lin] = True
            mark[lin_arr] = True
            uniq = np.flatnonzero(mark)
            pos = np.cumsum(mark, dtype=np.int64) - 1
            inv_pairs, inv_arr = pos[lin], pos[lin_arr]
        else:
            uniq, inv = np.unique(np.concatenate([lin, lin_arr]), return_inverse=True)
            inv_pairs, inv_arr = inv[:len(lin)], inv[len(lin):]
        self._g_rows = (uniq // qR).astype(np.int64)
        self._g_cols = (uniq % qR).astype(np.int64)
        m = len(uniq)
        G = sp.csr_matrix((np.arange(1.0, len(lin) + 1), (inv_pairs, gcol)),
                          shape=(m, cp.l1 * p1 * p1))
        order = G.data.astype(np.int64) - 1          # CSR position -> pair
        self._G = G
        self._g_e1, self._g_e2 = e1[order], e2[order]
        self._g_csc_perm = _csr_to_csc_data_map(self.cp.AR1)
        self._g_arr_pos = inv_arr
        self._g_arr_src = _tril_data_index(self.cp.ARR)
        self._g_base = np.zeros(m)
        self._g_diag = np.flatnonzero(self._g_rows == self._g_cols)
        self.refresh()

    def refresh(self) -> None:
        """Recompute value-dependent precomputations after the cross-products changed."""
        cp = self.cp
        if cp.qR:
            self._AR1T = cp.AR1.T.tocsr()
        self._dense_blocks()
        if not getattr(self, "use_gather", False):
            return
        val = self.cp.AR1.data[self._g_csc_perm]
        self._G.data[:] = val[self._g_e1] * val[self._g_e2]
        self._GT = self._G.T.tocsr()      # the gradient applies the map's transpose
        self._g_base = np.bincount(self._g_arr_pos, weights=self.cp.ARR.data[self._g_arr_src],
                                   minlength=len(self._g_base)).astype(float)

    def update(self, weights: np.ndarray | None, y: np.ndarray) -> None:
        """New weights (and response): recompute the cross-products and derived maps."""
        self.cp.update_weights(weights, y)
        self.refresh()

    # -- Λ helpers ---------------------------------------------------------------------------------
    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        return [lay.lam(theta) for lay in self.layouts]

    def _lamR_diag(self, lams: list[np.ndarray]) -> np.ndarray:
        """Diagonal of Λ_R when every later term is scalar."""
        return np.concatenate([np.full(lay.nlevels, lam[0, 0])
                               for lay, lam in zip(self.layouts[1:], lams[1:])])

    def _lamR_sparse(self, lams: list[np.ndarray]) -> sp.csr_matrix:
        blocks = [sp.kron(sp.identity(lay.nlevels), sp.csr_matrix(lam), format="csr")
                  for lay, lam in zip(self.layouts[1:], lams[1:])]
        return sp.block_diag(blocks, format="csr")

    # -- evaluation ------------------------------------------------------------------------------
    def factor(self, theta: np.ndarray) -> Factor:
        """Blocked Cholesky factor at θ (raises :class:`NotPositiveDefinite`)."""
        cp = self.cp
        theta = np.asarray(theta, float)
        lams = self.lambdas(theta)
        lam1 = lams[0]
        p1 = cp.p1
        if self.scalar1:
            l = lam1[0, 0]
            m = l * l * cp.A11[:, 0, 0] + 1.0
            Minv = (1.0 / m)[:, None, None]
            dvec = (l * l) / m
            D = dvec[:, None, None]
            logdet = float(np.sum(np.log(m)))
            AX1D = cp.AX1 * dvec
        elif p1 == 2:
            # closed form for the common random intercept and slope: with λ = [[l0, 0], [l1, l2]]
            # and A₁₁ₖ = [[a, b], [b, c]], M = λᵀAλ + I, M⁻¹ and D = λM⁻¹λᵀ are elementwise
            # formulas over the levels (no stack of 2×2 matrix products)
            l0, l1, l2 = lam1[0, 0], lam1[1, 0], lam1[1, 1]
            A11 = cp.A11
            a, b, c = A11[:, 0, 0], A11[:, 1, 0], A11[:, 1, 1]
            blc = b * l0 + c * l1
            m00 = a * l0 * l0 + (b * l0) * (2.0 * l1) + c * l1 * l1 + 1.0
            m01 = l2 * blc
            m11 = (l2 * l2) * c + 1.0
            det = m00 * m11 - m01 * m01
            if not np.all(det > 0):
                raise NotPositiveDefinite("a 2×2 block is not positive definite")
            logdet = float(np.sum(np.log(det)))
            i00, i01, i11 = m11 / det, -m01 / det, m00 / det
            Minv = np.empty((cp.l1, 2, 2))
            Minv[:, 0, 0], Minv[:, 1, 1] = i00, i11
            Minv[:, 0, 1] = Minv[:, 1, 0] = i01
            D = np.empty((cp.l1, 2, 2))
            d00 = (l0 * l0) * i00
            d01 = l0 * (l1 * i00 + l2 * i01)
            d11 = (l1 * l1) * i00 + (2.0 * l1 * l2) * i01 + (l2 * l2) * i11
            D[:, 0, 0], D[:, 1, 1] = d00, d11
            D[:, 0, 1] = D[:, 1, 0] = d01
            dvec = None
            x0, x1 = cp.AX1[:, 0::2], cp.AX1[:, 1::2]
            AX1D = np.empty_like(cp.AX1)
            AX1D[:, 0::2] = x0 * d00 + x1 * d01
            AX1D[:, 1::2] = x0 * d01 + x1 * d11
        else:
            M = lam1.T @ cp.A11 @ lam1
            M[:, np.arange(p1), np.arange(p1)] += 1.0
            sign, ld = np.linalg.slogdet(M)
            if not np.all(sign > 0):
                raise NotPositiveDefinite("a diagonal block is not positive definite")
            logdet = float(np.sum(ld))
            Minv = np.linalg.inv(M)
            D = lam1 @ Minv @ lam1.T          # λ M_k⁻¹ λᵀ per level
            dvec = None
            AX1b = cp.AX1.reshape(cp.p + 1, cp.l1, p1).transpose(1, 0, 2)
            AX1D = (AX1b @ D).transpose(1, 0, 2).reshape(cp.p + 1, -1)
        C = cp.AXX - AX1D @ cp.AX1.T
        BXR = np.zeros((cp.p + 1, 0))
        S = Mid = B0 = None
        if cp.qR:
            S, BXR, Mid, B0 = self._schur(lams, D, dvec, AX1D)
            W = S.solve_L(BXR.T)
            C -= W.T @ W
            logdet += S.logdet
        C = 0.5 * (C + C.T)
        try:
            RX = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            RX = _cholesky_psd(C)
        diag = np.diag(RX)
        with np.errstate(divide="ignore"):
            logdet_RX = 2.0 * float(np.sum(np.log(diag[:-1]))) if cp.p else 0.0
        return Factor(theta, Minv, D, S, RX, BXR, logdet, logdet_RX, float(diag[-1] ** 2),
                      Mid, B0)

    def _schur(self, lams, D, dvec, AX1D):
        cp = self.cp
        qR = cp.qR
        if self.scalar_R:
            lamR = self._lamR_diag(lams)
        elif not self.use_gather and self.schur_kind != "dense":
            LamR = self._lamR_sparse(lams)
        # middle matrix  A_RR − A_R1 D A_R1ᵀ (kept whole when S is dense: the gradient needs it)
        Mid = None
        if self.dense_products:
            # A_RR − (A_R1 D) A_R1ᵀ by one BLAS product, A_R1 D by level blocks
            F = _blocks_times(self._E, D)
            Mid = self._ARR_dense - F.reshape(qR, -1) @ self._E.reshape(qR, -1).T
        elif self.use_gather:
            vals = self._g_base - self._G @ (dvec if dvec is not None else D.ravel())
            if self.schur_kind == "dense":
                Mid = np.zeros((qR, qR))
                vals[self._g_diag] *= 0.5
                Mid[self._g_rows, self._g_cols] = vals
                Mid += Mid.T
            else:
                if self.scalar_R:
                    vals = vals * lamR[self._g_rows] * lamR[self._g_cols]
                Sl = sp.csc_matrix((vals, (self._g_rows, self._g_cols)), shape=(qR, qR))
                Sfac = self._cholmod(Sl + sp.tril(Sl, -1).T + sp.identity(qR))
        else:
            Dmat = _blockdiag(D)
            if self.schur_kind == "dense":
                # one sparse product, then dense arithmetic (no sparse scaling products)
                Mid = -((cp.AR1 @ Dmat) @ self._AR1T).toarray()
                arr = cp.ARR.tocoo()
                Mid[arr.row, arr.col] += arr.data
            else:
                Mid_sp = cp.ARR - cp.AR1 @ Dmat @ cp.AR1.T
                Sm = (sp.diags(lamR) @ Mid_sp @ sp.diags(lamR) if self.scalar_R
                      else LamR.T @ Mid_sp @ LamR)
                Sfac = self._cholmod(sp.csc_matrix(Sm) + sp.identity(qR))
        if Mid is not None:
            S = Mid * lamR[:, None] * lamR[None, :] if self.scalar_R else self._lamR_sandwich(Mid, lams)
            S[np.diag_indices(qR)] += 1.0
            Sfac = DenseSchur(S)  # lower triangle is all LAPACK reads
        # B_XR = (A_XR − A_X1 D A_R1ᵀ) Λ_R
        B0 = cp.AXR - np.asarray(cp.AR1 @ AX1D.T).T
        if self.scalar_R:
            B = B0 * lamR
        elif self.use_gather or self.schur_kind == "dense":
            B = self._times_lamR(B0, lams)
        else:
            B = np.asarray(LamR.T @ B0.T).T
        return Sfac, B, Mid, (B0 if Mid is not None else None)

    def _times_lamR(self, B: np.ndarray, lams, transpose: bool = False) -> np.ndarray:
        """B Λ_R (or B Λ_Rᵀ) for a dense B with q_R columns: one batched product per later term."""
        out = np.empty_like(B)
        for lay, lam in zip(self.layouts[1:], lams[1:]):
            sl = slice(lay.offset, lay.offset + lay.nlevels * lay.ncols)
            # one (rows·ℓ × p) @ (p × p) product, not a stack of p × p products
            out[:, sl] = (B[:, sl].reshape(-1, lay.ncols)
                          @ (lam.T if transpose else lam)).reshape(B.shape[0], -1)
        return out

    def _lamR_sandwich(self, M: np.ndarray, lams) -> np.ndarray:
        """Λ_Rᵀ M Λ_R for a dense symmetric q_R × q_R matrix M."""
        return self._times_lamR(self._times_lamR(M, lams).T.copy(), lams)

    def _cholmod(self, S: sp.spmatrix) -> CholmodSchur:
        """Factor S on the fixed pattern analysed once (values scattered into it)."""
        S = sp.csc_matrix(S)
        S.sum_duplicates()
        qR = S.shape[0]
        keys = S.indices.astype(np.int64) + qR * np.repeat(np.arange(qR), np.diff(S.indptr))
        pos = np.searchsorted(self._cholmod_keys, keys)
        A = self._cholmod_pattern.copy()
        A.data[:] = 0.0
        A.data[pos] = S.data
        return CholmodSchur(self._symbolic, A)

    # -- solutions ---------------------------------------------------------------------------------
    def solve(self, f: Factor) -> tuple[np.ndarray, np.ndarray]:
        """β̂ and the spherical random effects û (in fitting order, level-major within each term)."""
        cp = self.cp
        RX = f.RX
        p = cp.p
        beta = tri_solve(RX[:p, :p], RX[p, :p], trans=True) if p else np.zeros(0)
        return beta, self.solve_u(f, cp.AX1[p] - beta @ cp.AX1[:p], cp.AXR[p] - beta @ cp.AXR[:p])

    def solve_u(self, f: Factor, r1: np.ndarray, rR: np.ndarray) -> np.ndarray:
        """Solve (ΛᵀZᵀWZΛ + I) u = Λᵀ [r1; rR] where r = ZᵀW(y − Xβ) is given in b-space."""
        cp = self.cp
        lams = self.lambdas(f.theta)
        lam1 = lams[0]
        p1 = cp.p1
        r1 = r1.reshape(cp.l1, p1) @ lam1          # Λ₁ᵀ r1 per level
        Minv_r1 = (f.Minv @ r1[..., None])[..., 0]   # M11⁻¹ Λ₁ᵀ r1
        if not cp.qR:
            return Minv_r1.ravel()
        # B_R1 = Λ_Rᵀ A_R1 Λ₁ ; rhs_R = Λ_Rᵀ rR − B_R1 M11⁻¹ Λ₁ᵀ r1 (Λ_Rᵀx as the row xᵀΛ_R)
        t = cp.AR1 @ (Minv_r1 @ lam1.T).ravel()
        uR = f.S.solve(self._times_lamR(np.asarray(rR - t, float)[None, :], lams)[0])
        back = self._times_lamR(np.ravel(uR).astype(float)[None, :], lams, transpose=True)[0]
        w = (cp.AR1.T @ back).reshape(cp.l1, p1) @ lam1
        u1 = Minv_r1 - (f.Minv @ w[..., None])[..., 0]
        return np.concatenate([u1.ravel(), np.ravel(uR)])


    # -- the analytic gradient --------------------------------------------------------------------
    @property
    def has_gradient(self) -> bool:  # type: ignore[override]
        """The gradient is analytic, and costs about one evaluation, where S is dense."""
        return self.schur_kind != "cholmod"

    @property
    def gradient_first(self) -> bool:  # type: ignore[override]
        """A quasi-Newton method on the gradient replaces BOBYQA wherever it exists."""
        return self.has_gradient

    def gradient(self, f: Factor, reml: bool) -> np.ndarray:
        """Gradient of the ML deviance (or REML criterion) at the factor's θ (dense S only).

        Reverse-mode differentiation through :meth:`factor`. The criterion is
        ``Σₖ log|Mₖ| + log|S| [+ log|C_XX|] + k·log r²θ`` (k = n, or n − p for REML) with
        r²θ = C_yy − C_yX C_XX⁻¹ C_Xy. Its adjoint in C is
        ``C̄ = [C_XX⁻¹ padded] + (k/r²θ) v vᵀ`` with v = [−C_XX⁻¹C_Xy; 1]; then, through
        ``C = A_XX − A_X1 D A_1X − B S⁻¹ Bᵀ``, ``S̄ = S⁻¹ + S⁻¹BᵀC̄BS⁻¹`` and
        ``B̄ = −2 C̄ B S⁻¹``; through ``S = Λ_RᵀMΛ_R + I`` and ``B = B₀Λ_R`` (M = A_RR − A_R1DA_R1ᵀ,
        B₀ = A_XR − A_X1DA_R1ᵀ) ``Λ̄_R = 2 M Λ_R S̄ + B₀ᵀB̄``, ``M̄ = Λ_R S̄ Λ_Rᵀ``,
        ``B̄₀ = B̄Λ_Rᵀ``; the level blocks of ``D̄ = −A_1X C̄ A_X1 − A_R1ᵀ M̄ A_R1 − A_1X B̄₀ A_R1``
        (the middle one by the transpose of the scatter map); and through
        ``Dₖ = λ₁Mₖ⁻¹λ₁ᵀ``, ``Mₖ = λ₁ᵀA₁₁ₖλ₁ + I``: ``M̄ₖ = Mₖ⁻¹ − Mₖ⁻¹λ₁ᵀD̄ₖλ₁Mₖ⁻¹`` and
        ``λ̄₁ = Σₖ 2 D̄ₖλ₁Mₖ⁻¹ + 2 A₁₁ₖλ₁M̄ₖ``. Only level blocks (summed over levels for the
        later terms) are formed: a few vectorized operations, nothing of length n.
        """
        if not self.has_gradient:
            raise NotImplementedError("the analytic gradient needs a dense Schur complement")
        cp = self.cp
        p, p1, l1 = cp.p, cp.p1, cp.l1
        lams = self.lambdas(f.theta)
        lam1 = lams[0]
        RX = f.RX
        beta = tri_solve(RX[:p, :p], RX[p, :p], trans=True) if p else np.zeros(0)
        v = np.append(-beta, 1.0)
        k = cp.n - p if reml else cp.n
        Cbar = (k / f.pwrss) * np.outer(v, v)
        if reml and p:
            Cbar[:p, :p] += unscaled_vcov(RX[:p, :p])
        AX1b = cp.AX1.reshape(p + 1, l1, p1)
        # D̄ from C: −A_1X C̄ A_X1 (level blocks)
        Dbar = -_level_blocks(AX1b, (Cbar @ cp.AX1).reshape(p + 1, l1, p1))
        lam_bars = [np.zeros_like(lam) for lam in lams]
        if cp.qR:
            Sfac, Mid, B0 = f.S, f.Mid, f.B0
            assert isinstance(Sfac, DenseSchur) and Mid is not None and B0 is not None
            Sinv = _inverse_from_cholesky(Sfac.L)
            BS = f.BXR @ Sinv
            Sbar = Sinv + BS.T @ (Cbar @ BS)
            Bbar = -2.0 * (Cbar @ BS)
            U = self._times_lamR(Sbar, lams, transpose=True)            # S̄Λ_Rᵀ = (Λ_R S̄)ᵀ
            Midbar = self._times_lamR(U.T, lams, transpose=True).T      # Λ_R S̄ Λ_Rᵀ
            B0bar = self._times_lamR(Bbar, lams, transpose=True)
            for lay, lam_bar in zip(self.layouts[1:], lam_bars[1:]):
                sl = slice(lay.offset, lay.offset + lay.nlevels * lay.ncols)
                lam_bar += 2.0 * _summed_blocks(Mid[sl], U[sl], lay.ncols)
                lam_bar += _summed_blocks(B0[:, sl].T, Bbar[:, sl].T, lay.ncols)
            # D̄ from B₀: −A_1X B̄₀ A_R1
            V = np.asarray(self._AR1T @ B0bar.T).T
            Dbar -= _level_blocks(AX1b, V.reshape(p + 1, l1, p1))
            # D̄ from M: −A_R1ᵀ M̄ A_R1
            Dbar -= self._gather_adjoint(Midbar)
        Dbar = 0.5 * (Dbar + Dbar.transpose(0, 2, 1))
        Minv = f.Minv
        lMi = np.tensordot(lam1, Minv, axes=(1, 1)).transpose(1, 0, 2)    # λ₁Mₖ⁻¹
        Mbar = Minv - _stack_matmul(lMi.transpose(0, 2, 1), _stack_matmul(Dbar, lMi))
        lam_bars[0] = 2.0 * (_summed_product(Dbar, lMi)
                             + _summed_product(cp.A11, np.tensordot(lam1, Mbar, axes=(1, 1))
                                               .transpose(1, 0, 2)))
        grad = np.empty(len(f.theta))
        for lay, lam_bar in zip(self.layouts, lam_bars):
            grad[lay.theta_slice] = lam_bar[lay.theta_rows, lay.theta_cols]
        return grad

    def _gather_adjoint(self, Mbar: np.ndarray) -> np.ndarray:
        """Level blocks (ℓ₁, p₁, p₁) of A_R1ᵀ M̄ A_R1 for a dense symmetric q_R × q_R M̄."""
        cp = self.cp
        l1, p1 = cp.l1, cp.p1
        if self.dense_products:
            Y = Mbar @ self._E.reshape(cp.qR, -1)
            return _level_blocks(self._E, Y.reshape(cp.qR, l1, p1))
        if self.use_gather:
            # the transpose of the scatter map, on the lower-triangular pattern: each
            # off-diagonal position stands for two entries of the symmetric matrix
            w = 2.0 * Mbar[self._g_rows, self._g_cols]
            w[self._g_diag] *= 0.5
            return np.asarray(self._GT @ w).reshape(l1, p1, p1)
        # Σₐ A[a,(k,i)] (M̄ A_R1)[a,(k,j)] over the nonzeros of A_R1, in chunks of levels
        AR1 = cp.AR1.tocsc()
        out = np.empty((l1, p1, p1))
        chunk = max(1, 2_000_000 // max(cp.qR * p1, 1))
        for s in range(0, l1, chunk):
            e = min(s + chunk, l1)
            block = AR1[:, s * p1:e * p1]
            Y = np.asarray(block.T @ Mbar)                     # ((e−s)p₁ × q_R)
            coo = block.tocoo()
            for i in range(p1):
                rows = (coo.col // p1) * p1 + i
                vals = coo.data * Y[rows, coo.row]
                out[s:e, i, :] = np.bincount(coo.col, weights=vals,
                                             minlength=(e - s) * p1).reshape(e - s, p1)
        return out

    # -- the inverse: conditional variances and leverage -----------------------------------------
    def _inverse_pieces(self, theta):
        """Factor, λs, M11⁻¹ and H = B_R1 M11⁻¹ (pieces of (ΛᵀZᵀWZΛ + I)⁻¹)."""
        cp = self.cp
        f = self.factor(theta)
        lams = self.lambdas(theta)
        H = None
        if cp.qR:
            LamR = self._lamR_sparse(lams)
            Lam1Minv = _blockdiag(lams[0] @ f.Minv)
            H = (LamR.T @ cp.AR1 @ Lam1Minv).tocsc()
        return f, lams, f.Minv, H

    def inverse_diag_blocks(self, theta) -> list[np.ndarray]:
        """Diagonal blocks (ℓᵢ, pᵢ, pᵢ) of (ΛᵀZᵀWZΛ + I)⁻¹ per term, in fitting order."""
        cp = self.cp
        f, _lams, M11inv, H = self._inverse_pieces(theta)
        p1 = cp.p1
        blocks = [M11inv.copy()]
        if cp.qR:
            # term 1: M11⁻¹ + Hₖᵀ S⁻¹ Hₖ, from V = L_S⁻¹ P H in column chunks
            chunk = max(1, 4_000_000 // max(cp.qR, 1))
            for s in range(0, H.shape[1], chunk * p1):
                V = f.S.solve_L(H[:, s:s + chunk * p1])
                m = V.shape[1] // p1
                Vb = V.reshape(cp.qR, m, p1)
                blocks[0][s // p1:s // p1 + m] += np.einsum("qli,qlj->lij", Vb, Vb)
            # later terms: diagonal blocks of S⁻¹ = (L⁻¹P)ᵀ(L⁻¹P)
            off = 0
            for t in self.reterms[1:]:
                p, ell = t.ncols, t.nlevels
                out = np.zeros((ell, p, p))
                step = max(1, 4_000_000 // max(cp.qR, 1)) // p * p or p
                for s in range(0, t.q, step):
                    cols = np.arange(off + s, off + min(s + step, t.q))
                    E = sp.csc_matrix((np.ones(len(cols)), (cols, np.arange(len(cols)))),
                                      shape=(cp.qR, len(cols)))
                    V = f.S.solve_L(E)
                    m = V.shape[1] // p
                    Vb = V.reshape(cp.qR, m, p)
                    out[s // p:s // p + m] = np.einsum("qli,qlj->lij", Vb, Vb)
                blocks.append(out)
                off += t.q
        return blocks

    def hat_diag(self, theta) -> np.ndarray:
        """‖𝓛⁻¹ aᵢ‖² for aᵢ = [Λᵀzᵢ; xᵢ]: the leverage before prior weights."""
        cp = self.cp
        f, lams, M11inv, H = self._inverse_pieces(theta)
        p = cp.p
        lam1 = lams[0]
        l1, p1 = cp.l1, cp.p1
        T1 = (_blockdiag(np.broadcast_to(lam1.T, (l1, p1, p1)).copy()) @ cp.Z1T).tocsc()  # Λ₁ᵀZ₁ᵀ
        # v1 = L11ₖ⁻¹ Λ₁ᵀ z₁ᵢ   ->  |v1|² = aᵀ M11ₖ⁻¹ a
        h = np.asarray((T1.multiply(_blockdiag(M11inv) @ T1)).sum(axis=0)).ravel()
        Rxx = f.RX[:p, :p]
        G1 = _blockdiag(lam1 @ M11inv)                         # Λ₁ M11⁻¹
        AX1L = np.asarray(G1.T @ cp.AX1[:p].T).T              # A_X1 Λ₁ M11⁻¹  (p × q1)
        if cp.qR:
            TR = (self._lamR_sparse(lams).T @ cp.ZRT).tocsc()  # Λ_RᵀZ_Rᵀ
            WX = f.S.solve_L(f.BXR[:p].T) if p else np.zeros((cp.qR, 0))  # L_S⁻¹P B_XRᵀ
            dense = f.S.kind == "dense"
            if dense:
                E = tri_inv(f.S.L)
                V = E @ H.toarray()
        chunk = 4096
        for s in range(0, cp.n, chunk):
            sl = slice(s, min(s + chunk, cp.n))
            t1c = T1[:, sl]
            x = cp.X[sl].T.copy()
            if p:
                x -= AX1L @ t1c
            if cp.qR:
                if dense:
                    v2 = (TR[:, sl].T @ E.T).T - (t1c.T @ V.T).T
                else:
                    v2 = f.S.solve_L((TR[:, sl] - H @ t1c).tocsc())
                h[sl] += np.einsum("ij,ij->j", v2, v2)
                if p:
                    x -= WX.T @ v2
            if p:
                v3 = tri_solve(Rxx, x)
                h[sl] += np.einsum("ij,ij->j", v3, v3)
        return h


# --------------------------------------------------------------------------------------------
def _csr_to_csc_data_map(A: sp.csr_matrix) -> np.ndarray:
    """Positions in ``A.data`` (CSR) of the entries of ``A.tocsc().data``."""
    B = sp.csr_matrix((np.arange(A.nnz, dtype=float), A.indices, A.indptr), shape=A.shape)
    return B.tocsc().data.astype(np.int64)


def _tril_data_index(A: sp.csr_matrix) -> np.ndarray:
    """Positions in ``A.data`` of the entries of ``sp.tril(A, format="coo")``, in that order."""
    B = sp.csr_matrix((np.arange(A.nnz, dtype=float) + 1, A.indices, A.indptr), shape=A.shape)
    return sp.tril(B, format="coo").data.astype(np.int64) - 1


def _blockdiag(D: np.ndarray) -> sp.csr_matrix:
    """Sparse block-diagonal matrix from a stack (ℓ, p, p)."""
    l, p, _ = D.shape
    if p == 1:
        return sp.diags(D[:, 0, 0], format="csr")
    rows = (np.arange(l)[:, None, None] * p + np.arange(p)[None, :, None]) + np.zeros((1, 1, p), int)
    cols = (np.arange(l)[:, None, None] * p + np.arange(p)[None, None, :]) + np.zeros((1, p, 1), int)
    return sp.csr_matrix((D.ravel(), (rows.ravel(), cols.ravel())), shape=(l * p, l * p))


def _level_blocks(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Σₓ X[x,k,i] Y[x,k,j] for stacks (m, ℓ, p): the level blocks of XᵀY, shape (ℓ, p, p)."""
    p = X.shape[2]
    out = np.empty((X.shape[1], p, p))
    for i in range(p):
        for j in range(p):
            out[:, i, j] = np.einsum("xk,xk->k", X[:, :, i], Y[:, :, j])
    return out


def _summed_blocks(X: np.ndarray, Y: np.ndarray, p: int) -> np.ndarray:
    """Σₖ Σₘ X[(k,a),m] Y[(k,b),m] for X, Y with ℓ·p rows: the level blocks of XYᵀ, summed."""
    m = X.shape[1]
    Xs = X.reshape(-1, p, m).transpose(1, 0, 2).reshape(p, -1)
    Ys = Y.reshape(-1, p, m).transpose(1, 0, 2).reshape(p, -1)
    return Xs @ Ys.T


def _blocks_times(E: np.ndarray, D: np.ndarray) -> np.ndarray:
    """F[a,k,j] = Σᵢ E[a,k,i] D[k,i,j]: each level's columns of E times that level's block."""
    p = D.shape[2]
    F = E[:, :, :1] * D[None, :, 0, :]
    for i in range(1, p):
        F += E[:, :, i:i + 1] * D[None, :, i, :]
    return F


def _stack_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A_k B_k for stacks (ℓ, p, p) of small matrices.

    For p ≤ 3 the p³ products run over the levels as whole vectors (numpy's stacked matmul and
    broadcasting loop over the tiny inner dimensions one matrix at a time)."""
    p = A.shape[2]
    if p > 3:
        return A @ B
    At, Bt = np.moveaxis(A, 0, -1), np.moveaxis(B, 0, -1)
    out = np.empty((p, p, A.shape[0]))
    for i in range(p):
        for j in range(p):
            acc = At[i, 0] * Bt[0, j]
            for m in range(1, p):
                acc += At[i, m] * Bt[m, j]
            out[i, j] = acc
    return np.moveaxis(out, -1, 0)


def _summed_product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Σₖ A_k B_k for stacks (ℓ, p, p), by one matrix product."""
    p = A.shape[2]
    return A.transpose(1, 0, 2).reshape(p, -1) @ B.reshape(-1, p)


def _inverse_from_cholesky(L: np.ndarray) -> np.ndarray:
    """(L Lᵀ)⁻¹ from a lower Cholesky factor (LAPACK ``potri``)."""
    Li, info = _dtrtri(L, lower=1)
    if info:
        raise NotPositiveDefinite("the Schur complement is singular")
    return Li.T @ Li


def _cholesky_psd(C: np.ndarray) -> np.ndarray:
    """Cholesky of a matrix that is positive semi-definite up to rounding (zero pwrss)."""
    n = C.shape[0]
    L = np.zeros_like(C)
    for j in range(n):
        d = C[j, j] - L[j, :j] @ L[j, :j]
        if d <= 0:
            if j < n - 1:
                raise NotPositiveDefinite("fixed-effects block is not positive definite")
            d = 0.0
        L[j, j] = np.sqrt(d)
        if j < n - 1 and L[j, j] > 0:
            L[j + 1:, j] = (C[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L
