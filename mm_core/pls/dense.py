"""Penalized least squares for small models: one dense Cholesky of the augmented system.

When Z has few columns (a classroom dataset: dyestuff q = 6, sleepstudy q = 36, penicillin
q = 30), bookkeeping of the blocked factorization (:mod:`mm_core.pls.blocked`) costs more than the
arithmetic. Here ``A = [Z X y]ᵀ W [Z X y]`` is formed once and, per θ, the whole matrix

    [ ΛᵀA_ZZΛ + I   ΛᵀA_ZX   ΛᵀA_Zy ]
    [ A_XZΛ          A_XX     A_Xy   ]
    [ A_yZΛ          A_yX     A_yy   ]

is factored by one LAPACK ``dpotrf`` (MixedModels.jl's augmented-matrix scheme): the first q
diagonal elements give log|L_θ|², the next p give log|R_X|², and the last one √r²θ.
:class:`DensePLS` implements the protocol of :mod:`mm_core.pls.base`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dense import cho_solve, chol, tri_solve
from .base import NotPositiveDefinite, PicklableSystem, term_layouts

#: Models whose Z has at most this many columns are factored densely ...
DENSE_Q_MAX = 100
#: ... and up to this many when θ has so many elements that a gradient-based optimizer (which
#: this engine supports) beats BOBYQA, whose own work grows with the cube of their number.
DENSE_Q_MAX_GRADIENT = 400
#: Number of θ elements from which the gradient-based optimizer is used.
MANY_THETA = 30
#: ... unless forming A = [Z X y]ᵀW[Z X y] would cost more than this many flops.
DENSE_FLOPS_MAX = 2e9


def use_dense(reterms: list, n: int, p: int) -> bool:
    """Whether the dense augmented factorization suits a model of this size."""
    q = sum(t.q for t in reterms)
    ntheta = sum(t.ntheta for t in reterms)
    limit = DENSE_Q_MAX_GRADIENT if ntheta > MANY_THETA else DENSE_Q_MAX
    return q <= limit and n * (q + p + 1) ** 2 <= DENSE_FLOPS_MAX


class DenseCrossProducts:
    """A = [Z X y]ᵀ W [Z X y] as one dense matrix.

    Fields
    ------
    n, p, q : int
        Observations, fixed-effects columns, random-effects columns.
    X, y, w : ndarray
        Fixed-effects matrix, response, prior weights (ones when none were given).
    ZXY : ndarray, shape (n, q + p + 1)
        [Z X y], Z's columns level-major within each term, terms in fitting order.
    A : ndarray, shape (q + p + 1, q + p + 1)
    """

    def __init__(self, reterms: list, X: np.ndarray, y: np.ndarray, weights):
        self.n, self.p = X.shape
        self.q = sum(t.q for t in reterms)
        self.X = X
        N = self.q + self.p + 1
        ZXY = np.zeros((self.n, N))
        off = 0
        for t in reterms:
            t.scatter_into(ZXY[:, off:off + t.q])
            off += t.q
        ZXY[:, self.q:self.q + self.p] = X
        self.ZXY = ZXY
        self.update_weights(weights, y)

    @property
    def AXX(self) -> np.ndarray:
        """[X y]ᵀW[X y] (the lower-right block of A)."""
        return self.A[self.q:, self.q:]

    def update_weights(self, weights, y: np.ndarray) -> None:
        self.w = np.ones(self.n) if weights is None else np.asarray(weights, float)
        self.ZXY[:, -1] = y
        self.y = np.asarray(y, float)
        WZ = self.ZXY * self.w[:, None] if weights is not None else self.ZXY
        self.A = self.ZXY.T @ WZ

    def update_response(self, y: np.ndarray) -> None:
        """New response, same weights: only the last row and column of A change."""
        self.ZXY[:, -1] = y
        self.y = np.asarray(y, float)
        col = self.ZXY.T @ (self.w * self.y)
        self.A[:, -1] = col
        self.A[-1, :] = col


@dataclass
class DenseFactor:
    """Lower Cholesky factor L of the augmented matrix at θ.

    Fields
    ------
    theta : ndarray
    L : ndarray, shape (q + p + 1, q + p + 1)
    RX : ndarray, shape (p + 1, p + 1)
        Its lower-right block: R_X and, in the last row, the response.
    logdet_L, logdet_RX, pwrss : float
    """

    theta: np.ndarray
    L: np.ndarray
    RX: np.ndarray
    logdet_L: float
    logdet_RX: float
    pwrss: float


class DensePLS(PicklableSystem):
    """The dense augmented-matrix system (the protocol of :mod:`mm_core.pls.base`)."""

    schur_kind = "small-dense"
    use_gather = False
    has_gradient = True

    def __init__(self, reterms: list, X: np.ndarray, y: np.ndarray, weights=None):
        self.reterms = reterms
        self.layouts = term_layouts(reterms)
        self.cp = DenseCrossProducts(reterms, X, y, weights)
        self.ntheta = sum(t.ntheta for t in reterms)
        self.q = self.cp.q
        self.scalar = all(t.ncols == 1 for t in reterms)
        N = self.A_size = self.q + self.cp.p + 1
        self._scale = np.ones(N)
        self._diag_q = np.arange(self.q) * (N + 1)          # flat positions of the Z diagonal
        self._lam_template = np.eye(N)
        self._lam_template.ravel()[self._diag_q] = 0.0
        # positions of Λ's entries in the N × N matrix diag(Λ, I): Λ[r, c] = θ[k]
        rr, cc, kk, off = [], [], [], 0
        for lay in self.layouts:
            p = lay.ncols
            k = np.arange(lay.theta_slice.start, lay.theta_slice.stop)
            base = off + np.arange(lay.nlevels)[:, None] * p
            rr.append((base + lay.theta_rows[None, :]).ravel())
            cc.append((base + lay.theta_cols[None, :]).ravel())
            kk.append(np.broadcast_to(k, (lay.nlevels, len(k))).ravel())
            off += lay.nlevels * p
        self._lam_idx = (np.concatenate(rr), np.concatenate(cc))
        self._lam_theta = np.concatenate(kk)

    def update(self, weights, y: np.ndarray) -> None:
        self.cp.update_weights(weights, y)

    def refresh(self) -> None:
        """Nothing is derived from the cross-products' values."""

    def lambdas(self, theta) -> list[np.ndarray]:
        return [lay.lam(np.asarray(theta, float)) for lay in self.layouts]

    def _lam_full(self, theta: np.ndarray) -> np.ndarray:
        """diag(Λ, I) as a dense N × N matrix."""
        Lam = self._lam_template.copy()
        Lam[self._lam_idx] = theta[self._lam_theta]
        return Lam

    def factor(self, theta) -> DenseFactor:
        theta = np.asarray(theta, float)
        A, q = self.cp.A, self.q
        if self.scalar:
            s = self._scale
            for lay in self.layouts:
                s[lay.start:lay.start + lay.nlevels] = theta[lay.theta_slice][0]
            M = A * np.outer(s, s)
        else:
            Lam = self._lam_full(theta)
            M = Lam.T @ A @ Lam
        M.ravel()[self._diag_q] += 1.0
        try:  # a zero r²θ (an exact fit) also stops here: its last pivot is not positive
            L = chol(M, overwrite=True)
        except np.linalg.LinAlgError as e:
            raise NotPositiveDefinite(str(e)) from e
        d = L.ravel()[::self.A_size + 1]
        logs = np.log(d[:-1])
        logdet_L = 2.0 * float(logs[:q].sum())
        logdet_RX = 2.0 * float(logs[q:].sum())
        return DenseFactor(theta, L, L[q:, q:], logdet_L, logdet_RX, float(d[-1] ** 2))

    def gradient(self, f: DenseFactor, reml: bool) -> np.ndarray:
        """Gradient of the ML deviance (or REML criterion) at the factor's θ.

        With M = Λ̃ᵀAΛ̃ + diag(I, 0) over [Z X], ∂log|M|/∂θₖ = 2 Σ [M⁻¹Λ̃ᵀA]_{c,r} over the
        positions (r, c) where Λ holds θₖ (the Z block only for ML, [Z X] for REML, whose
        log|L|² + log|R_X|² is log|M| of the whole block); and, the penalized residual sum of
        squares being a minimum over (u, β), ∂r²/∂θₖ = −2 Σ (ZᵀW r)_r u_c with r the
        penalized residual — all from the cross-products, nothing of length n.
        """
        q, p = self.q, self.cp.p
        m = q + p if reml else q
        A = self.cp.A
        theta = f.theta
        Lam = self._lam_full(theta)
        beta, u = self.solve(f)
        rows, cols = self._lam_idx
        LtA = (Lam[:m, :m].T @ A[:m, :q])             # (Λ̃ᵀA)[:m, :q]
        G = cho_solve(f.L[:m, :m], LtA)                # M⁻¹ Λ̃ᵀ A, columns of Z
        dlogdet = 2.0 * G[cols, rows]
        b = Lam[:q, :q] @ u
        g = A[:q, -1] - A[:q, q:q + p] @ beta - A[:q, :q] @ b    # ZᵀW(y − Xβ − ZΛu)
        dr2 = -2.0 * g[rows] * u[cols]
        dof = self.cp.n - p if reml else self.cp.n
        per_position = dlogdet + dof * dr2 / f.pwrss
        return np.bincount(self._lam_theta, weights=per_position, minlength=len(theta))

    def solve(self, f: DenseFactor) -> tuple[np.ndarray, np.ndarray]:
        """β̂ and û: Lᵀ [u; β] = (last row of L)."""
        m = self.q + self.cp.p
        x = tri_solve(f.L[:m, :m], f.L[m, :m], trans=True)
        return x[self.q:], x[:self.q]

    def solve_u(self, f: DenseFactor, r1: np.ndarray, rR: np.ndarray) -> np.ndarray:
        """Solve (ΛᵀZᵀWZΛ + I) u = Λᵀ r for r given in b-space (leading term, then the rest)."""
        r = np.concatenate([np.ravel(r1), np.ravel(rR)])
        lam_r = self._lam_t_times(f.theta, r)
        return cho_solve(f.L[:self.q, :self.q], lam_r)

    def _lam_t_times(self, theta, r: np.ndarray) -> np.ndarray:
        out = np.empty_like(r)
        for lay, lam in zip(self.layouts, self.lambdas(theta)):
            sl = slice(lay.start, lay.start + lay.nlevels * lay.ncols)
            out[sl] = (r[sl].reshape(lay.nlevels, lay.ncols) @ lam).ravel()
        return out

    def inverse_diag_blocks(self, theta) -> list[np.ndarray]:
        """Diagonal blocks (ℓᵢ, pᵢ, pᵢ) of (ΛᵀZᵀWZΛ + I)⁻¹ per term, in fitting order."""
        f = self.factor(theta)
        Minv = cho_solve(f.L[:self.q, :self.q], np.eye(self.q))
        out = []
        for lay in self.layouts:
            p, ell = lay.ncols, lay.nlevels
            o = lay.start
            blk = Minv[o:o + ell * p, o:o + ell * p].reshape(ell, p, ell, p)
            out.append(blk[np.arange(ell), :, np.arange(ell), :])
        return out

    def hat_diag(self, theta) -> np.ndarray:
        """‖𝓛⁻¹ aᵢ‖² for aᵢ = [Λᵀzᵢ; xᵢ]: the leverage before prior weights."""
        f = self.factor(theta)
        m = self.q + self.cp.p
        Lm = f.L[:m, :m]
        Lam = self._lam_full(np.asarray(theta, float))[:m, :m] if not self.scalar else None
        h = np.empty(self.cp.n)
        for s in range(0, self.cp.n, 8192):
            Zc = self.cp.ZXY[s:s + 8192, :m]
            if self.scalar:
                a = (Zc * self._scale_vector(theta)[None, :m]).T
            else:
                a = (Zc @ Lam).T
            v = tri_solve(Lm, a)
            h[s:s + 8192] = np.einsum("ij,ij->j", v, v)
        return h

    def _scale_vector(self, theta) -> np.ndarray:
        s = np.ones(self.A_size)
        for lay in self.layouts:
            s[lay.start:lay.start + lay.nlevels] = np.asarray(theta)[lay.theta_slice][0]
        return s
