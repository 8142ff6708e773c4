"""Adaptive Gauss–Hermite quadrature for a GLMM with a single scalar random-effects term.

With one scalar term the spherical random effects are independent across levels given the
data, so the integral of the likelihood factorises into one-dimensional integrals, one per
level j. Each is centred at the conditional mode ũⱼ and scaled by the conditional standard
deviation sⱼ = √φ / Lⱼⱼ (Lⱼⱼ² = λ² Σ_{i∈j} wᵢzᵢ² + 1 with the PIRLS weights; φ = 1 without a
dispersion parameter). With the Gauss–Hermite rule (zₖ, wₖ) for the standard normal kernel:

    devc_j(u)  = (u² + Σ_{i∈j} dᵢ(u)) / φ
    mult_j     = Σₖ wₖ exp((zₖ² + devc_j(ũⱼ) − devc_j(ũⱼ + zₖ sⱼ)) / 2)
    −2ℓ_AGQ    = −2ℓ_Laplace − 2 Σⱼ log mult_j

(ENGINE_NOTES §1; lme4's ``glmerAGQ``; MixedModels.jl's ``deviance(m, nAGQ)``). With k = 1 the
rule is (0, 1), mult = 1 and the Laplace approximation is recovered.

Scale. lme4 1.1-31 sums the *unit deviances* in devc and reports ``devc0 + log|L|² − 2 Σ log mult``,
which for Bernoulli responses equals −2ℓ but for binomial responses with trials and for Poisson
responses leaves out the saturated model's log-likelihood (a constant). Here the constant is kept:
the AGQ objective is on the same −2 log-likelihood scale as the Laplace one, so the two can be
compared, and for Bernoulli responses both agree with lme4.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import MixedModelError
from .gausshermite import gauss_hermite_normalized


def check_agq(n_agq, reterms: list, fast: bool) -> int:
    """Validate ``n_agq`` for these random-effects terms; returns it as an int.

    Raises
    ------
    MixedModelError
        ``n_agq`` not a non-negative integer, or above 1 with several or vector-valued terms,
        or combined with ``fast``.
    """
    if isinstance(n_agq, bool) or not isinstance(n_agq, (int, np.integer)):
        raise MixedModelError(f"n_agq must be a whole number (1 = Laplace), not {n_agq!r}")
    n_agq = int(n_agq)
    if n_agq < 0:
        raise MixedModelError(f"n_agq must be 0 (fast), 1 (Laplace) or more, not {n_agq}")
    if n_agq > 1:
        if fast:
            raise MixedModelError("fast=True (lme4's nAGQ = 0) cannot be combined with "
                                  f"n_agq = {n_agq} quadrature points; choose one")
        if len(reterms) != 1 or reterms[0].ncols != 1:
            desc = (f"{len(reterms)} random-effects terms" if len(reterms) != 1 else
                    f"a vector-valued term ({reterms[0].ncols} columns for '{reterms[0].group}')")
            raise MixedModelError(
                f"adaptive Gauss-Hermite quadrature (n_agq = {n_agq}) needs a single scalar "
                f"random-effects term such as (1 | group); this model has {desc}. "
                "Use n_agq = 1 (the Laplace approximation).")
        gauss_hermite_normalized(n_agq)     # range check with its own message
    return n_agq


def level_indicator(term) -> sp.csr_matrix:
    """n × ℓ indicator of the term's levels (sums per level as one sparse product)."""
    n = len(term.refs)
    return sp.csr_matrix((np.ones(n), (np.arange(n), term.refs)), shape=(n, term.nlevels))


def agq_adjustment(kernel, term, theta: np.ndarray, state, n_agq: int, phi: float = 1.0,
                   indicator: sp.csr_matrix | None = None) -> float:
    """−2 Σⱼ log mult_j for the state's conditional modes (0 for ``n_agq`` ≤ 1).

    Parameters
    ----------
    kernel : pirls.FamilyKernel
    term : ReTerm
        The single scalar term.
    theta : ndarray
        (λ,)
    state : pirls.PirlsState
        Converged PIRLS state; its factor supplies Lⱼⱼ.
    n_agq : int
    phi : float
        Dispersion (1 for families without one).
    indicator : scipy.sparse.csr_matrix, optional
        :func:`level_indicator` of the term (computed when not given).
    """
    if n_agq <= 1:
        return 0.0
    z, w = gauss_hermite_normalized(n_agq)
    nz = z != 0.0
    zk, wk = z[nz], w[nz]
    ind = level_indicator(term) if indicator is None else indicator
    lam = float(theta[0])
    sd = np.sqrt(phi) / state.factor.leading_diag
    u = state.u
    devc0 = u * u + np.asarray(ind.T @ kernel.dev(state.eta, state.mu))
    du = zk[:, None] * sd[None, :]                                   # (K, ℓ) node offsets
    eta = state.eta[None, :] + (lam * term.z[0])[None, :] * du[:, term.refs]
    if kernel.kind == "generic":                                     # family code is 1-D
        dev = np.vstack([kernel.dev(e) for e in eta])
    else:
        dev = kernel.dev(eta)
    uk = u[None, :] + du
    devc = uk * uk + np.asarray((ind.T @ dev.T).T)                   # (K, ℓ)
    mult = float(np.sum(w[~nz])) + np.sum(
        wk[:, None] * np.exp(0.5 * (zk[:, None] ** 2 - (devc - devc0[None, :]) / phi)), axis=0)
    return float(-2.0 * np.sum(np.log(mult)))
