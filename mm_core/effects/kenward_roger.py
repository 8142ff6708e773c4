"""Kenward–Roger's adjusted covariance of β̂ and denominator df, as pbkrtest computes them.

With the marginal covariance ``Σ = Σ_r γ_r G_r`` of a linear mixed model (γ: the elements of
each random-effects covariance matrix that the model estimates, then σ²; ``G_r = Z E_r Zᵀ``
with ``E_r`` the indicator of element r in every level's block, and ``G = I`` for σ²),
pbkrtest's ``vcovAdj`` (Kenward & Roger 1997; Halekoh & Højsgaard 2014) forms, with
``Φ = (XᵀΣ⁻¹X)⁻¹``::

    P_r  = −XᵀΣ⁻¹G_rΣ⁻¹X,       Q_rs = XᵀΣ⁻¹G_rΣ⁻¹G_sΣ⁻¹X,
    I_rs = tr(Σ⁻¹G_rΣ⁻¹G_s) − 2 tr(ΦQ_rs) + tr(ΦP_rΦP_s),     W = 2 I⁻¹,
    U    = Σ_rs W_rs (Q_rs − P_rΦP_s),     Φ_A = Φ + 2 Φ U Φ,

and, for a hypothesis L of rank q, the scaled F statistic and its df from
``A1 = Σ W_rs tr(ΘΦP_rΦ) tr(ΘΦP_sΦ)`` and ``A2 = Σ W_rs tr(ΘΦP_rΦ ΘΦP_sΦ)`` with
``Θ = Lᵀ(LΦLᵀ)⁻¹L`` (``.KR_adjust``, ``Lb_ddf``).

pbkrtest builds Σ as an n × n matrix. Here every quantity is reduced by the Woodbury identity
to the random-effects dimension q: with ``K = σ²Σ⁻¹ = I − ZΛC⁻¹ΛᵀZᵀ``, ``C = ΛᵀZᵀZΛ + I`` and
``F = I − ZᵀZ Λ C⁻¹Λᵀ``, one has ``ZᵀKᵐ = Fᵐ Zᵀ``, so ``ZᵀΣ⁻ᵐZ``, ``ZᵀΣ⁻ᵐX``, ``XᵀΣ⁻ᵐX`` and
``tr(Σ⁻²)`` need only q × q products, and the ``E_r`` are row selections. The cost is that of a
few dense q × q products, whatever the number of observations; above ``MAX_Q`` random effects
the method is refused with a recommendation of Satterthwaite's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dpotri

from ..dense import chol
from ..errors import MixedModelError

#: Largest number of random effects (columns of Z) Kenward–Roger is computed for.
MAX_Q = 3000


@dataclass(frozen=True)
class KenwardRoger:
    """Kenward–Roger ingredients of a fit.

    Fields
    ------
    vcov : ndarray
        Φ, the unadjusted covariance of β̂.
    vcov_adjusted : ndarray
        Φ_A, the adjusted covariance.
    P : ndarray, shape (m, p, p)
        The P_r matrices, one per covariance parameter (σ² last).
    W : ndarray, shape (m, m)
        Twice the inverse expected information of the covariance parameters.
    """

    vcov: np.ndarray
    vcov_adjusted: np.ndarray
    P: np.ndarray
    W: np.ndarray

    def _a12(self, L: np.ndarray) -> tuple[float, float, int]:
        Phi = self.vcov
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        TP = Theta @ Phi
        U = np.einsum("ij,mjk,kl->mil", TP, self.P, Phi)
        tr = np.einsum("mii->m", U)
        cross = np.einsum("mij,nji->mn", U, U)
        A1 = float(tr @ self.W @ tr)
        A2 = float(np.sum(self.W * cross))
        q = int(np.linalg.matrix_rank(L))
        return A1, A2, q

    def _df(self, L: np.ndarray) -> tuple[float, float, int, float]:
        """(df2, F scaling, q, A2) of pbkrtest's ``.KR_adjust``."""
        A1, A2, q = self._a12(L)
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        c1 = g / (3 * q + 2 * (1 - g))
        c2 = (q - g) / (3 * q + 2 * (1 - g))
        c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
        V0 = 1 + c1 * B
        V1 = 1 - c2 * B
        V2 = 1 - c3 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        x = 1 - A2 / q
        ratio = 1.0 if abs(x) < 1e-14 and abs(V1) < 1e-14 else x / V1
        rho = ratio ** 2 * V0 / V2 / q
        df2 = 4 + (q + 2) / (q * rho - 1)
        scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
        return df2, scaling, q, A2

    def t_df(self, L) -> tuple[np.ndarray, np.ndarray]:
        """Adjusted variance and Kenward–Roger df of each row of L (pbkrtest's ``Lb_ddf``)."""
        L = np.atleast_2d(np.asarray(L, float))
        var = np.einsum("ij,jk,ik->i", L, self.vcov_adjusted, L)
        df = np.array([self._df(row[None, :])[0] if np.any(row) else np.nan for row in L])
        return var, df

    def f_test(self, L, beta) -> tuple[float, int, float, float]:
        """(unscaled F, q, df, F scaling) of H0: Lβ = 0 (pbkrtest's ``KRmodcomp``)."""
        L = np.atleast_2d(np.asarray(L, float))
        df2, scaling, q, _ = self._df(L)
        Lb = L @ beta
        wald = float(Lb @ np.linalg.solve(L @ self.vcov_adjusted @ L.T, Lb))
        return wald / q, q, df2, scaling


def _spd_inverse(C: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix (Cholesky factor, then LAPACK's potri)."""
    try:
        c = chol(C, overwrite=True)
    except np.linalg.LinAlgError:
        raise MixedModelError("the random-effects covariance is not positive definite at the "
                              "estimates; Kenward–Roger cannot be computed") from None
    inv, _ = dpotri(c, lower=1, overwrite_c=1)
    il = np.tril_indices_from(inv, -1)
    inv[(il[1], il[0])] = inv[il]
    return inv


def _lambda_sandwich(Lam: sp.csr_matrix, M: np.ndarray) -> np.ndarray:
    """Λ M Λᵀ for sparse Λ."""
    return np.asarray(Lam @ np.asarray(Lam @ M.T).T)


def kenward_roger(result) -> KenwardRoger:
    """Kenward–Roger's adjusted covariance of β̂ for a linear mixed model fitted by REML.

    Parameters
    ----------
    result : MixedModelResult

    Returns
    -------
    KenwardRoger

    Raises
    ------
    MixedModelError
        An ML fit, prior weights, or more than ``MAX_Q`` random effects.

    Notes
    -----
    R equivalent: ``pbkrtest::vcovAdj(m)`` (its attributes ``P`` and ``W``).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)
    >>> kenward_roger(m).vcov_adjusted.shape
    (2, 2)
    """
    model = result.model
    if not result.reml:
        raise MixedModelError("Kenward–Roger degrees of freedom need a fit by REML (as in "
                              "pbkrtest); refit with reml=True or use ddf='satterthwaite'")
    if model.weights is not None:
        raise MixedModelError("Kenward–Roger is not available for models with prior weights; "
                              "use ddf='satterthwaite'")
    reterms, layouts = model.reterms, model.pls.layouts
    q = sum(t.q for t in reterms)
    if q > MAX_Q:
        raise MixedModelError(
            f"Kenward–Roger is limited to models with at most {MAX_Q:,} random effects; this "
            f"one has {q:,} (its cost grows with their cube). Use ddf='satterthwaite', whose "
            "df are close to Kenward–Roger's for models of this size.")
    X = np.asarray(model.X, float)
    n, p = X.shape
    s2 = float(result.sigma) ** 2
    Z = sp.hstack([t.zmatrix() for t in reterms], format="csr")
    A = (Z.T @ Z).tocsr()
    B = np.asarray(Z.T @ X)
    XX = X.T @ X
    Lam = sp.block_diag([lay.term.lambda_block(lam)
                         for lay, lam in zip(layouts, model.lambdas(result.theta))], format="csr")
    C = np.asarray((Lam.T @ A @ Lam).todense())
    C[np.diag_indices(q)] += 1.0
    S = _lambda_sandwich(Lam, _spd_inverse(C))   # Λ C⁻¹ Λᵀ
    AS = np.asarray(A @ S)                        # A S; S A is its transpose
    FA = -np.asarray(A @ AS.T)                    # F A = A − A S A (symmetric)
    coo = A.tocoo()
    np.add.at(FA, (coo.row, coo.col), coo.data)
    FB = B - AS @ B
    FFB = FB - AS @ FB
    T1 = FB / s2                                  # ZᵀΣ⁻¹X
    T2 = FFB / s2 ** 2                            # ZᵀΣ⁻²X
    G = B.T @ S
    X3 = (XX - G @ (B + FB + FFB)) / s2 ** 3      # XᵀΣ⁻³X
    X2 = (XX - G @ (B + FB)) / s2 ** 2            # XᵀΣ⁻²X
    trK = n - float(A.multiply(S).sum())
    tr_S2 = (trK - float(np.sum(S * FA))) / s2 ** 2

    def m2_entries(i, j):
        """Entries (i, j) of ZᵀΣ⁻²Z = F A Fᵀ = FA − FA (S A)."""
        return (FA[i, j] - np.einsum("kq,kq->k", FA[i], AS[j])) / s2 ** 2

    Phi = np.asarray(result.tables.vcov, float)

    # covariance parameters: the free elements of each λ (lme4's terms), then σ²
    params = []
    for lay in layouts:
        base = lay.start + np.arange(lay.nlevels) * lay.ncols
        for a, b in zip(lay.theta_rows, lay.theta_cols):
            ia, ib = base + a, base + b
            if a == b:
                params.append((ia, ia))
            else:
                params.append((np.concatenate([ia, ib]), np.concatenate([ib, ia])))
    m = len(params) + 1
    P = np.zeros((m, p, p))
    Q = np.zeros((m, m, p, p))
    K = np.zeros((m, m))
    for r, (rows_r, src_r) in enumerate(params):
        P[r] = -T1[rows_r].T @ T1[src_r]
        MT = FA[rows_r] / s2                      # rows of ZᵀΣ⁻¹Z = FA / σ²
        for s in range(r, len(params)):
            rows_s, src_s = params[s]
            Q[r, s] = T1[src_r].T @ MT[:, rows_s] @ T1[src_s]
            K[r, s] = K[s, r] = float(np.sum(FA[np.ix_(src_r, rows_s)]
                                             * FA[np.ix_(src_s, rows_r)].T)) / s2 ** 2
        Q[r, m - 1] = T1[rows_r].T @ T2[src_r]
        K[r, m - 1] = K[m - 1, r] = float(np.sum(m2_entries(src_r, rows_r)))
    P[m - 1] = -X2
    Q[m - 1, m - 1] = X3
    K[m - 1, m - 1] = tr_S2
    info = np.zeros((m, m))
    for i in range(m):
        PhiPi = Phi @ P[i]
        for j in range(i, m):
            info[i, j] = info[j, i] = (K[i, j] - 2 * np.sum(Phi * Q[i, j])
                                       + np.sum(PhiPi * (P[j] @ Phi)))
    ev = np.linalg.eigvalsh(info)
    W = 2 * (np.linalg.inv(info) if np.min(np.abs(ev)) > 1e-10 else np.linalg.pinv(info))
    W = 0.5 * (W + W.T)
    U = np.zeros((p, p))
    for i in range(m - 1):
        for j in range(i + 1, m):
            U += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j])
    U = U + U.T
    for i in range(m):
        U += W[i, i] * (Q[i, i] - P[i] @ Phi @ P[i])
    PhiA = Phi + 2 * Phi @ U @ Phi
    return KenwardRoger(vcov=Phi, vcov_adjusted=PhiA, P=P, W=W)
