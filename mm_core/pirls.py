"""Penalized iteratively reweighted least squares (PIRLS) for the conditional modes of a GLMM.

For relative covariance parameters θ (and, in lme4's second stage, fixed effects β) the
conditional modes ũ of the spherical random effects minimise the penalized deviance

    pdev(u) = Σᵢ dᵢ(yᵢ, μᵢ) + ‖u‖²,   μ = g⁻¹(o + Xβ + ZΛθu),

where dᵢ is −2 × the log-likelihood of observation i (the family's AIC scale: R's
``family()$aic`` terms, normalising constants included) for families without a dispersion
parameter, and the unit deviance for the others. Each PIRLS iteration solves a weighted
penalized least-squares problem with the working weights ``w = pw μ'(η)²/V(μ)`` and the
working response ``z = η − o + (y − μ)/μ'(η)``:

    (ΛᵀZᵀWZΛ + I) u = ΛᵀZᵀW(z − Xβ)                (β fixed: :func:`pirls`, ``beta`` given)

or the full PLS system for (β, u) when β is profiled (lme4's ``nAGQ = 0`` stage).

Stopping rule and step-halving (lme4's ``pwrssUpdate`` with tighter, named tolerances):

* an iteration whose penalized deviance exceeds the previous one (by more than rounding,
  ``ROUNDOFF`` relative), or whose μ is invalid for the family, is halved towards the previous
  iterate up to ``MAX_HALVINGS`` times; if that does not help the run fails with
  :class:`PirlsError`;
* the run stops when the largest change of the linear predictor is below ``tol`` (an absolute
  change on the link scale), or when the steps stop shrinking at rounding level; it fails
  after ``maxit`` iterations. With a canonical link PIRLS is Newton's method, whose steps
  shrink quadratically: a step below ``NEWTON_FINISH·√tol`` leaves the iterate within ~tol of
  the mode, so the run ends there with one more factorization at the final weights instead of
  another iteration. lme4 stops on a relative change of the penalized deviance below 1e-7.

The log-determinant ``log|ΛᵀZᵀWZΛ + I|`` of the Laplace approximation comes from the factor of
the last iteration, i.e. the weights of the previous iterate (lme4 does the same), which differs
from its value at the final μ by O(step) < tol; after a Newton finish it is exact. lme4's
criterion leaves that lag at O(√(1e-7·pdev)), which puts up to ~6e-4 into its objective and
noise into its finite-difference Hessian (lme4 issue #998; tests/core/test_pirls.py).

Two implementations of the weighted system share one interface: :class:`ScalarSystem`, a lean
blocked solver for models whose random-effects terms are all scalar (the common GLMM: random
intercepts) with a small Schur complement, and :class:`PLSSystem`, which delegates to the
general blocked factorization of :mod:`mm_core.pls` (vector-valued terms, large crossed factors).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .dense import cho_solve, tri_inv
from .errors import MixedModelError
from .pls import PLS, CrossProducts, NotPositiveDefinite, PicklableSystem

try:  # CHOLMOD for large sparse Schur complements (nested factors); dense LAPACK otherwise
    from sksparse import cholmod as _cholmod
except ImportError:  # pragma: no cover
    _cholmod = None

#: Step-halvings tried before an iteration that does not reduce the penalized deviance fails.
MAX_HALVINGS = 10
#: PIRLS iterations before giving up.
MAX_ITER = 100
#: Largest Schur complement of the non-leading terms solved by :class:`ScalarSystem`.
SCALAR_SCHUR_MAX = 2000
#: Largest dense A_R1 (q_R × ℓ₁ entries) and number of entry pairs for the sparse A_R1 D A_R1ᵀ;
#: a model needing more than both goes to the general PLS.
DENSE_AR1_MAX = 4_000_000
GATHER_MAX = 20_000_000
#: A Schur complement at least this large and at most this dense is factored by CHOLMOD.
SPARSE_SCHUR_MIN = 64
SPARSE_SCHUR_DENSITY = 0.1
_EPS = float(np.finfo(float).eps)
#: With a canonical link (PIRLS is Newton's method) a step below NEWTON_FINISH·√tol ends the
#: run: the next step would be below tol.
NEWTON_FINISH = 0.1
#: Relative increase of the penalized deviance treated as rounding error rather than a bad step.
ROUNDOFF = 1e-11


class PirlsError(MixedModelError):
    """PIRLS could not find the conditional modes (no convergence, or no valid step)."""


# --------------------------------------------------------------------------------------------
# Family kernels used in the inner loop
# --------------------------------------------------------------------------------------------
class FamilyKernel:
    """Vectorized family quantities needed by PIRLS, with fast paths for canonical links.

    Parameters
    ----------
    family : mm_core.families.Family
    y : ndarray
        Response (proportions for the binomial).
    pw : ndarray
        Prior weights (numbers of trials for the binomial, times user weights).

    ``dev(eta, mu)`` returns per-observation values dᵢ whose sum differs from the family's
    −2 log-likelihood (R's ``aic``) by the constant ``const`` (no dispersion) or equals the sum of
    unit deviances (dispersion families). The fast paths (binomial/logit, Poisson/log) use
    ``2 pw (softplus(η) − yη)`` and ``2 pw (exp(η) − yη)``.
    """

    def __init__(self, family, y: np.ndarray, pw: np.ndarray, n_trials: np.ndarray | None = None):
        self.family = family
        self.n_trials = n_trials
        self.y = y
        self.pw = pw
        self.dispersion = bool(family.has_dispersion)
        link = family.link.name
        if family.name == "binomial" and link == "logit":
            self.kind = "logit"
        elif family.name == "poisson" and link == "log":
            self.kind = "log"
        else:
            self.kind = "generic"
        self.pwy = pw * y
        self.const = 0.0
        self.continuous = False

    # -- mean, deviance and working quantities --------------------------------------------------
    def evaluate(self, eta: np.ndarray):
        """(μ, Σ dev terms, aux) at η; the sum is ``inf`` where μ is invalid for the family.

        Logit: with t = exp(−|η|), μ = 1/(1+t) or t/(1+t), μ' = t/(1+t)² and
        softplus(η) = log1p(t) + max(η, 0), all from one exponential.
        """
        if self.kind == "logit":
            t = np.exp(-np.abs(eta))
            s = 1.0 / (1.0 + t)
            mu = np.where(eta >= 0, s, t * s)
            dmu = t * s * s
            dev = 2.0 * (self.pw @ (np.log1p(t) + np.maximum(eta, 0.0)) - self.pwy @ eta)
            return mu, float(dev), dmu
        if self.kind == "log":
            mu = np.maximum(np.exp(eta), _EPS)
            return mu, float(2.0 * (self.pw @ mu - self.pwy @ eta)), None
        fam = self.family
        with np.errstate(all="ignore"):
            mu = fam.linkinv(eta)
            if not (np.all(np.isfinite(eta)) and fam.valid_eta(eta) and fam.valid_mu(mu)):
                return mu, math.inf, None
            dev = float(np.sum(fam.dev_resids(self.y, mu, self.pw)))
        return mu, (dev if math.isfinite(dev) else math.inf), None

    def working(self, eta: np.ndarray, mu: np.ndarray, aux=None):
        """Working weights ``w = pw μ'²/V(μ)`` and working residuals ``(y − μ)/μ'(η)``."""
        if self.kind == "logit":
            dmu = np.maximum(aux if aux is not None else mu * (1.0 - mu), _EPS)
            return self.pw * dmu, (self.y - mu) / dmu
        if self.kind == "log":
            return self.pw * mu, (self.y - mu) / mu
        fam = self.family
        dmu = fam.mu_eta(eta)
        var = fam.variance(mu)
        return self.pw * dmu * dmu / var, (self.y - mu) / dmu

    def mu(self, eta: np.ndarray) -> np.ndarray:
        return self.evaluate(eta)[0]

    def dev(self, eta: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
        """Per-observation deviance terms (see the class docstring)."""
        if self.kind == "logit":
            sp_ = np.log1p(np.exp(-np.abs(eta))) + np.maximum(eta, 0.0)
            return 2.0 * (self.pw * sp_ - self.pwy * eta)
        if self.kind == "log":
            mu = np.maximum(np.exp(eta), _EPS) if mu is None else mu
            return 2.0 * (self.pw * mu - self.pwy * eta)
        if mu is None:
            mu = self.family.linkinv(eta)
        return self.family.dev_resids(self.y, mu, self.pw)

    def calibrate(self, eta: np.ndarray) -> None:
        """Set ``const`` so that Σ dev + const is R's ``aic`` (families without dispersion).

        R's ``dpois`` is −∞ at non-integer counts, which would make the whole log-likelihood
        −∞; there the continuous extension ``y log μ − μ − lgamma(y + 1)`` is used instead
        (``continuous`` is set), which equals R's value at integer counts.
        """
        self.continuous = False
        if self.dispersion:
            return
        mu, dev, _ = self.evaluate(eta)
        with np.errstate(all="ignore"):
            aic = self.family.aic(self.y, self.n_trials, mu, self.pw, 0.0)
        if not math.isfinite(aic) and self.family.name == "poisson":
            from scipy.special import gammaln, xlogy
            aic = float(-2.0 * np.sum(self.pw * (xlogy(self.y, mu) - mu - gammaln(self.y + 1.0))))
            self.continuous = True
        self.const = float(aic - dev)


# --------------------------------------------------------------------------------------------
# Weighted penalized least-squares systems
# --------------------------------------------------------------------------------------------
def _unscaled_vcov(RX) -> np.ndarray:
    """(R_XᵀR_X)⁻¹ from the lower factor R_X (empty without fixed effects)."""
    if RX is None:
        return np.zeros((0, 0))
    Ri = tri_inv(RX)
    return Ri.T @ Ri


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
            raise _TooLarge
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
        return _unscaled_vcov(self.last_RX if self.p else None)

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


class PLSSystem(PicklableSystem):
    """The weighted system through :mod:`mm_core.pls` (any term structure).

    Two PLS objects share the terms: one without fixed effects for the u-only PIRLS of stage 2,
    one with X for the β-profiled stage 1 and the final (β, u) system.
    """

    def __init__(self, reterms: list, X: np.ndarray):
        self.reterms = reterms
        self.n, self.p = X.shape
        self.X = X
        self.q = sum(t.q for t in reterms)
        self._pls = {}
        self.full = False

    def _get(self, full: bool) -> PLS:
        key = bool(full and self.p)
        if key not in self._pls:
            X = self.X if key else np.zeros((self.n, 0))
            cp = CrossProducts(self.reterms, X, np.zeros(self.n), None)
            self._pls[key] = PLS(self.reterms, cp)
        return self._pls[key]

    def update(self, w: np.ndarray, z: np.ndarray | None, full: bool) -> None:
        self.full = bool(full and self.p)
        self._cur = self._get(full)
        self._cur.update(w, np.zeros(self.n) if z is None else z)

    def factor(self, theta: np.ndarray):
        f = self._cur.factor(np.asarray(theta, float))
        f.logdet = f.logdet_L
        return f

    def solve(self, f):
        beta, u = self._cur.solve(f)
        if self.full:
            self.last_RX = f.RX[:self.p, :self.p].copy()
            return beta, u
        return None, u

    def zlam(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        pls = self._get(False)
        lams = pls.lambdas(np.asarray(theta, float))
        out = np.zeros(self.n)
        off = 0
        for t, lam in zip(self.reterms, lams):
            b = u[off:off + t.q].reshape(t.nlevels, t.ncols) @ lam.T
            out += np.einsum("jn,nj->n", t.z, b[t.refs])
            off += t.q
        return out

    def unscaled_vcov(self) -> np.ndarray:
        """(R_XᵀR_X)⁻¹ from the last full solve."""
        return _unscaled_vcov(self.last_RX if self.p else None)



class _TooLarge(Exception):
    """The scalar system's precomputed pair structures would be too large."""


def make_system(reterms: list, X: np.ndarray):
    """The fastest system that handles these terms."""
    if all(t.ncols == 1 for t in reterms) and sum(t.nlevels for t in reterms[1:]) <= SCALAR_SCHUR_MAX:
        try:
            return ScalarSystem(reterms, X)
        except _TooLarge:
            pass
    return PLSSystem(reterms, X)


# --------------------------------------------------------------------------------------------
# The PIRLS loop
# --------------------------------------------------------------------------------------------
@dataclass
class PirlsState:
    """Conditional modes at one (θ, β) and what the Laplace approximation needs.

    Fields
    ------
    theta : ndarray
    beta : ndarray
        Fixed effects (given, or profiled in stage 1).
    u : ndarray
        Spherical conditional modes (fitting order, level-major).
    eta, mu : ndarray
        Linear predictor and mean at ``u``.
    dev : float
        Σ dev terms (see :class:`FamilyKernel`) at μ.
    sqrl : float
        ‖u‖².
    logdet : float
        log|ΛᵀZᵀWZΛ + I| with the weights of the last iteration.
    factor : object
        That factor (the leading term's diagonal serves adaptive quadrature).
    iterations : int
    halvings : int
        Step-halvings over all iterations.
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    dev: float
    sqrl: float
    logdet: float
    factor: object
    iterations: int
    halvings: int = 0

    @property
    def pdev(self) -> float:
        return self.dev + self.sqrl


def pirls(kernel: FamilyKernel, system, X: np.ndarray, offset: np.ndarray, theta: np.ndarray,
          beta: np.ndarray, u: np.ndarray, *, profile_beta: bool, tol: float = 1e-9,
          maxit: int = MAX_ITER, eta_start: np.ndarray | None = None) -> PirlsState:
    """Conditional modes at θ (and β, unless ``profile_beta``) by PIRLS with step-halving.

    Parameters
    ----------
    kernel, system
        Family kernel and weighted PLS system of the model.
    X, offset : ndarray
    theta : ndarray
    beta : ndarray
        Fixed effects (the start when ``profile_beta``).
    u : ndarray
        Starting spherical modes (warm start).
    profile_beta : bool
        Solve for β as well (lme4's nAGQ = 0 stage).
    tol : float
        Convergence: largest change in η (see the module docstring).
    maxit : int
    eta_start : ndarray, optional
        Linear predictor to take the first weights from instead of the one implied by
        (β, u); its penalized deviance is not compared with the first iterate (lme4's start from
        the family's ``mustart``).

    Raises
    ------
    PirlsError
        No convergence within ``maxit`` iterations, or step-halving could not reduce the
        penalized deviance.
    NotPositiveDefinite
        The weighted system could not be factored.
    """
    theta = np.asarray(theta, float)
    beta = np.asarray(beta, float).copy()
    xb = X @ beta if X.shape[1] else np.zeros(X.shape[0])
    newton = kernel.family.is_canonical
    if eta_start is not None:
        eta = np.asarray(eta_start, float)
        mu, _, aux = kernel.evaluate(eta)
        pdev = math.inf
        # project the start onto the model space (weighted PLS fit of η itself), so that
        # step-halving always moves between linear predictors the model can represent
        w, _ = kernel.working(eta, mu, aux)
        system.update(w, eta - offset - (0.0 if profile_beta else xb), full=profile_beta)
        beta_p, u_p = system.solve(system.factor(theta))
        beta_p = beta if beta_p is None else beta_p
        xb_p = X @ beta_p if profile_beta and X.shape[1] else xb
        eta_p = offset + xb_p + system.zlam(theta, u_p)
        mu_p, dev_p, aux_p = kernel.evaluate(eta_p)
        if math.isfinite(dev_p):
            u, eta, mu, aux, pdev = u_p, eta_p, mu_p, aux_p, dev_p + float(u_p @ u_p)
            if profile_beta:
                beta, xb = beta_p, xb_p
    else:
        eta = offset + xb + system.zlam(theta, u)
        mu, dev, aux = kernel.evaluate(eta)
        pdev = dev + float(u @ u)
    last_step = math.inf
    step = math.nan
    total_halvings = 0
    for it in range(1, maxit + 1):
        w, wres = kernel.working(eta, mu, aux)
        if profile_beta:
            z = eta - offset + wres                       # working response for (β, u)
        else:
            z = eta - offset - xb + wres                  # ... for u with Xβ in the offset
        system.update(w, z, full=profile_beta)
        f = system.factor(theta)
        beta_new, u_new = system.solve(f)
        if beta_new is None:                              # no fixed effects (p = 0)
            beta_new = beta
        if profile_beta:
            xb_new = X @ beta_new if X.shape[1] else xb
        else:
            beta_new, xb_new = beta, xb
        eta_new = offset + xb_new + system.zlam(theta, u_new)
        mu_new, dev_new, aux_new = kernel.evaluate(eta_new)
        pdev_new = dev_new + float(u_new @ u_new)
        slack = ROUNDOFF * (abs(pdev) + 1.0) if math.isfinite(pdev) else math.inf
        halvings = 0
        while (not math.isfinite(pdev_new) or pdev_new > pdev + slack) and halvings < MAX_HALVINGS:
            # step-halving towards the previous iterate
            u_new = 0.5 * (u + u_new)
            if profile_beta:
                beta_new = 0.5 * (beta + beta_new)
                xb_new = 0.5 * (xb + xb_new)
            eta_new = 0.5 * (eta + eta_new)
            mu_new, dev_new, aux_new = kernel.evaluate(eta_new)
            pdev_new = dev_new + float(u_new @ u_new)
            halvings += 1
        total_halvings += halvings
        if not math.isfinite(pdev_new):
            raise PirlsError("the linear predictor left the range the family and link can map "
                             "(invalid means); the model may not suit these data")
        if pdev_new > pdev + slack:
            raise PirlsError("step-halving failed to reduce the penalized deviance")
        step = float(np.max(np.abs(eta_new - eta))) if eta.size else 0.0
        u, beta, xb, eta, mu, aux, pdev = u_new, beta_new, xb_new, eta_new, mu_new, aux_new, pdev_new
        # converged: a step below tol, or steps that stopped shrinking at rounding level
        if step < tol or (step < 1e4 * tol and step > 0.5 * last_step):
            return PirlsState(theta, beta, u, eta, mu, dev_new, float(u @ u), f.logdet, f, it,
                              total_halvings)
        if newton and halvings == 0 and step < NEWTON_FINISH * math.sqrt(tol):
            # Newton (canonical link): the iterate is within ~step² of the mode; factor once
            # more at its weights for an exact log-determinant instead of another iteration
            w, _ = kernel.working(eta, mu, aux)
            system.update(w, None, full=False)
            f = system.factor(theta)
            return PirlsState(theta, beta, u, eta, mu, dev_new, float(u @ u), f.logdet, f, it,
                              total_halvings)
        last_step = step
    raise PirlsError(f"PIRLS did not converge in {maxit} iterations (largest change of the "
                     f"linear predictor in the last one: {step:.3g})")
