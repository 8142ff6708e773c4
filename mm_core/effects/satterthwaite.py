"""Satterthwaite's denominator degrees of freedom, as lmerTest computes them.

lmerTest (Kuznetsova, Brockhoff & Christensen 2017, ``as_lmerModLT``) writes the REML criterion
(or ML deviance) of a linear mixed model as a function of the variance parameters
``varpar = (θ, σ)``, with β profiled out::

    d(θ, σ) = log|L_θ|² [+ log|R_X|²] + r²(θ)/σ² + (n [− p]) log(2πσ²)

and takes

* ``A = 2 H⁻¹``, H the Hessian of d at the estimates (Moore–Penrose inverse over the
  eigenvalues above 1e-8): the asymptotic covariance of varpar;
* ``J_k = ∂ vcov(β̂)/∂ varpar_k`` with ``vcov(β̂) = σ² (R_XᵀR_X)⁻¹(θ)``.

For a contrast l, ``df = 2 (lᵀVl)² / (gᵀ A g)`` with ``g_k = lᵀ J_k l``. For an F test of a
q-row hypothesis L, the q t statistics of the eigen-decomposition of ``L V Lᵀ`` get their own
df ν_m, combined as ``2E/(E − q)`` with ``E = Σ ν_m/(ν_m − 2)`` (lmerTest's ``contestMD``).

Here the pieces ``log|L_θ|² + log|R_X|²``, ``r²(θ)`` and ``R_X`` come from the engine's blocked
factorization at θ (:mod:`mm_core.pls`, :mod:`mm_core.pls_dense`); their θ-derivatives are taken
by central differences of those exact evaluations (k² + k + 1 of them for k elements of θ),
while every σ-derivative is analytic. The table of a model with 73,000 observations and 4,000
crossed random effects takes well under a second.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import MixedModelError

#: Eigenvalues of the Hessian at or below this are treated as zero (lmerTest's ``tol``).
HESSIAN_TOL = 1e-8
#: Refuse (with a message) when the k² + k + 1 evaluations are estimated to take longer.
MAX_SECONDS = 120.0
#: Relative step of the central differences in θ (absolute for |θ| below ``STEP_FLOOR``).
STEP = 1e-3
STEP_FLOOR = 0.1


@dataclass(frozen=True)
class VarparCovariance:
    """Covariance of β̂ and its derivatives with respect to the variance parameters.

    Fields
    ------
    vcov_beta : ndarray, shape (p, p)
    jacobian : ndarray, shape (k + 1, p, p)
        ∂ vcov(β̂)/∂θ_1 … ∂θ_k, ∂σ.
    vcov_varpar : ndarray, shape (k + 1, k + 1)
        Asymptotic covariance of (θ, σ): twice the (pseudo-)inverse Hessian of the deviance.
    hessian : ndarray, shape (k + 1, k + 1)
        That Hessian.
    """

    vcov_beta: np.ndarray
    jacobian: np.ndarray
    vcov_varpar: np.ndarray
    hessian: np.ndarray

    def t_df(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Variance and Satterthwaite df of each row of L (lmerTest's ``contest1D``)."""
        L = np.atleast_2d(np.asarray(L, float))
        var = np.einsum("ij,jk,ik->i", L, self.vcov_beta, L)
        grad = np.einsum("ij,mjk,ik->im", L, self.jacobian, L)
        denom = np.einsum("im,mn,in->i", grad, self.vcov_varpar, grad)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = 2.0 * var ** 2 / denom
        return var, df

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> tuple[float, int, float]:
        """(F, numerator df, denominator df) of H0: Lβ = 0 (lmerTest's ``contestMD``)."""
        L = np.atleast_2d(np.asarray(L, float))
        if L.shape[0] == 1:
            var, df = self.t_df(L)
            return float((L[0] @ beta) ** 2 / var[0]), 1, float(df[0])
        VL = L @ self.vcov_beta @ L.T
        d, P = np.linalg.eigh(0.5 * (VL + VL.T))
        d, P = d[::-1], P[:, ::-1]
        tol = max(np.sqrt(np.finfo(float).eps) * d[0], 0.0)
        q = int(np.sum(d > tol))
        if q == 0:
            return np.nan, 0, np.nan
        PtL = (P.T @ L)[:q]
        var, nu = self.t_df(PtL)
        t2 = (PtL @ beta) ** 2 / d[:q]
        return float(np.sum(t2) / q), q, combined_df(nu)


def combined_df(nu: np.ndarray, tol: float = 1e-8) -> float:
    """Denominator df of a mean of squared t statistics with df ν (lmerTest's ``get_Fstat_ddf``)."""
    nu = np.asarray(nu, float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2.0 * E / (E - len(nu))


def varpar_covariance(result) -> VarparCovariance:
    """The Satterthwaite ingredients of a fitted linear mixed model.

    Parameters
    ----------
    result : MixedModelResult
        A linear mixed model, fitted by REML or ML.

    Returns
    -------
    VarparCovariance

    Notes
    -----
    R equivalent: the slots ``vcov_varpar`` and ``Jac_list`` of ``lmerTest::as_lmerModLmerTest(m)``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)
    >>> vc = varpar_covariance(m)
    >>> vc.jacobian.shape
    (4, 2, 2)
    """
    model = result.model
    theta = np.asarray(result.theta, float)
    sigma = float(result.sigma)
    k = len(theta)
    p = model.p
    m = model.n - p if model.reml else model.n
    h = STEP * np.maximum(np.abs(theta), STEP_FLOOR)

    def pieces(th):
        f = model.pls.factor(th)
        a = f.logdet_L + (f.logdet_RX if model.reml else 0.0)
        Rx = f.RX[:p, :p]
        Rinv = np.linalg.inv(Rx)
        return a, f.pwrss, Rinv.T @ Rinv

    t0 = time.perf_counter()
    a0, r0, C0 = pieces(theta)
    evaluations = k * k + k
    estimate = evaluations * (time.perf_counter() - t0)
    if estimate > MAX_SECONDS:
        raise MixedModelError(
            f"Satterthwaite's df need {evaluations:,} more evaluations of the REML criterion for "
            f"the {k} covariance parameters of this model (about {estimate:.0f} s); use "
            "ddf='asymptotic', or simplify the random effects")
    plus, minus = [], []
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        plus.append(pieces(theta + e))
        minus.append(pieces(theta - e))
    s2 = sigma * sigma
    H = np.zeros((k + 1, k + 1))
    J = np.zeros((k + 1, p, p))
    dr = np.zeros(k)
    for i in range(k):
        (ap, rp, Cp), (am, rm, Cm) = plus[i], minus[i]
        H[i, i] = (ap - 2 * a0 + am) / h[i] ** 2 + (rp - 2 * r0 + rm) / h[i] ** 2 / s2
        dr[i] = (rp - rm) / (2 * h[i])
        J[i] = s2 * (Cp - Cm) / (2 * h[i])
    f0 = a0 + r0 / s2
    fp = [a + r / s2 for a, r, _ in plus]
    fm = [a + r / s2 for a, r, _ in minus]
    for i in range(k):
        for j in range(i):
            # f(θ + hᵢ + hⱼ) + f(θ − hᵢ − hⱼ) − f(θ ± hᵢ) − f(θ ± hⱼ) + 2 f(θ) = 2 hᵢhⱼ ∂²f + O(h⁴)
            e = np.zeros(k)
            e[i], e[j] = h[i], h[j]
            a, r, _ = pieces(theta + e)
            b, q, _ = pieces(theta - e)
            H[i, j] = H[j, i] = ((a + r / s2) + (b + q / s2) - fp[i] - fm[i] - fp[j] - fm[j]
                                 + 2 * f0) / (2 * h[i] * h[j])
    H[:k, k] = H[k, :k] = -2.0 * dr / sigma ** 3
    H[k, k] = 6.0 * r0 / sigma ** 4 - 2.0 * m / s2
    J[k] = 2.0 * sigma * C0
    evals, evecs = np.linalg.eigh(0.5 * (H + H.T))
    pos = evals > HESSIAN_TOL
    Hinv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    return VarparCovariance(vcov_beta=s2 * C0, jacobian=J, vcov_varpar=2.0 * Hinv, hessian=H)
