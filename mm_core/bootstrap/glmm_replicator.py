"""Refitting a generalized linear mixed model to a simulated response: one bootstrap replicate
of a GLMM, by quasi-Newton steps in coordinates whitened by the fit's Hessian, or BOBYQA.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dense import tri_inv
from ..optimize import bobyqa
from ..simulate import ResponseSimulator, replicate_rng
from .lmm_replicator import SNAP_TOL

__all__ = ["GlmmReplicator"]


def _fresh_glmm(spec: dict):
    import warnings

    from ..glmm import GeneralizedLinearMixedModel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the fit has already reported them
        return GeneralizedLinearMixedModel(spec["design"], family=spec["family"],
                                           weights=spec["weights"], n_agq=spec["n_agq"],
                                           allow_more_random_effects=True)


class GlmmReplicator:
    """Refits a GLMM to simulated responses.

    The response and the family kernel of a private copy of the model are replaced (the
    model's design, PLS structure and fill-reducing analysis are reused). When the fit's
    Hessian of the deviance over (θ, β) is positive definite, a replicate is a quasi-Newton
    minimization started at the fitted (θ, β) in coordinates whitened by that Hessian
    (``x = x̂ + L z`` with ``LLᵀ = H⁻¹``, where the replicate's objective is nearly ``½‖z‖²`` plus
    a linear term): forward-difference gradients, BFGS updates from the identity, stopped when
    the step is below ``NEWTON_XTOL`` standard deviations. That takes a few dozen evaluations
    instead of the ~200 of a BOBYQA run at full precision. Otherwise (a singular fit, a step
    that leaves the bounds, no decrease) BOBYQA starts from the best point so far, with β in
    the coordinates scaled by the Cholesky factor of its covariance, as the fit's stage 2. PIRLS
    is warm-started from the previous evaluation throughout. ``fast`` fits (nAGQ = 0) optimize
    θ with β profiled in PIRLS. Standard errors are the penalized least-squares ones (no Hessian
    per replicate).
    """

    def __init__(self, result, simulator: ResponseSimulator, *, step: float = 0.1,
                 ftol_rel: float = 1e-12, ftol_abs: float = 1e-8, xtol_abs: float = 1e-10,
                 maxeval: int = 100_000):
        from ..glmm import safe_cholesky
        m0 = result.model
        self._spec = dict(design=m0.design, family=m0.family, weights=m0.user_weights,
                          n_agq=m0.n_agq)
        self.model = _fresh_glmm(self._spec)
        self.sim = simulator
        self.theta0 = np.asarray(result.theta, float)
        self.beta0 = np.asarray(result.beta, float)
        self.k, self.p = len(self.theta0), len(self.beta0)
        self.fast = self.model.n_agq == 0
        vcov = np.asarray(result.extras.get("vcov_pls", result.vcov), float)
        self.T = safe_cholesky(vcov)
        self.step = step
        self.opts: dict[str, Any] = dict(ftol_rel=ftol_rel, ftol_abs=ftol_abs, xtol_abs=xtol_abs, maxeval=maxeval)
        self.eta0 = self.model.X @ self.beta0 + self.model.offset
        self.dispersion = bool(self.model.family.has_dispersion)
        # whitening of the optimizer's coordinates (θ, γ), β = β̂ + Tγ, by the fit's Hessian
        self.L = None
        H = result.extras.get("hessian")
        if not self.fast and H is not None:
            A = np.eye(self.k + self.p)
            A[self.k:, self.k:] = self.T
            self.L = _whitening(A.T @ np.asarray(H, float) @ A)

    def width(self) -> int:
        return 3 + 2 * self.p + self.k

    def __call__(self, j: int, entropy: int) -> np.ndarray:
        return self.refit(self.sim.draw(replicate_rng(entropy, j)))

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("model")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.model = _fresh_glmm(self._spec)

    def _set_response(self, y: np.ndarray) -> None:
        from ..pirls import FamilyKernel
        m = self.model
        m.y = np.asarray(y, float)
        m.kernel = FamilyKernel(m.family, m.y, m.pw, m.trials)
        m.kernel.calibrate(self.eta0)

    def refit(self, y: np.ndarray) -> np.ndarray:
        from ..glmm import PIRLS_TOL, PIRLS_TOL_TIGHT, GlmmObjective, pls_vcov
        from ..pirls import PirlsError
        from ..pls import NotPositiveDefinite
        failures = (PirlsError, NotPositiveDefinite, FloatingPointError, np.linalg.LinAlgError)
        m, k, p = self.model, self.k, self.p
        out = np.full(self.width(), np.nan)
        self._set_response(y)
        try:
            st0 = m.solve(self.theta0, self.beta0, np.zeros(m.system.q),
                          profile_beta=self.fast, tol=PIRLS_TOL)
        except failures:
            return out
        if self.fast:
            def to_args(x):
                return x, None
            x0, lower = self.theta0.copy(), np.asarray(m.lower, float)
            step = np.maximum(self.step * np.abs(x0), 0.02)
        else:
            T, beta0 = self.T, self.beta0

            def to_args(x):
                return x[:k], beta0 + T @ x[k:]
            x0 = np.concatenate([self.theta0, np.zeros(p)])
            lower = np.concatenate([m.lower, np.full(p, -np.inf)])
            step = np.concatenate([np.maximum(self.step * np.abs(self.theta0), 0.02),
                                   np.full(p, 0.1)])
        obj = GlmmObjective(m, to_args, st0, profile_beta=self.fast, tol=PIRLS_TOL)
        best: list[Any] = [math.inf, None]        # lowest value and its point

        def fun(x, grad=None):
            val = obj(np.asarray(x))
            if val < best[0]:
                best[0], best[1] = val, np.array(x)
            return val

        if self.L is None or not _quasi_newton(fun, x0, self.L, lower):
            if best[1] is not None:           # BOBYQA from the best point of the quasi-Newton
                x0 = np.maximum(best[1], lower)
            try:
                bobyqa(fun, x0, lower, initial_step=step, **self.opts)
            except (RuntimeError, ValueError):
                pass                          # the best point so far stands
        if best[1] is None:
            return out
        x, fx = best[1], best[0]
        # near-zero diagonal elements of λ: try them at the bound
        for i in np.flatnonzero((m.lower == 0) & (x[:k] > 0) & (x[:k] < SNAP_TOL)):
            trial = x.copy()
            trial[i] = 0.0
            val = fun(trial)
            if val <= fx:
                x, fx = trial, val
        theta, beta = to_args(x)
        try:
            st = m.solve(theta, beta if beta is not None else obj.best.beta, obj.best.u,
                         profile_beta=self.fast, tol=PIRLS_TOL_TIGHT)
            vcov = pls_vcov(m, st)
        except failures:
            return out
        out[0] = m.laplace(st) if self.fast else m.objective_at(st)
        out[1] = math.sqrt(m.dispersion(st)) if self.dispersion else np.nan
        out[2] = float(m.is_singular(theta))
        out[3:3 + p] = st.beta
        out[3 + p:3 + 2 * p] = np.sqrt(np.maximum(np.diag(vcov), 0.0)) if p else []
        out[3 + 2 * p:] = theta
        return out


#: The quasi-Newton refit of a GLMM replicate stops when its step is below this many standard
#: deviations of every parameter (the fit's Hessian sets the scale), or after NEWTON_MAXITER.
#: BFGS converges superlinearly, so the estimates are then within ~1e-3 standard deviations of
#: the optimum (contra with a random slope: 0.1 % of a standard error, −2ℓ within 1e-5).
NEWTON_XTOL = 1e-2
NEWTON_MAXITER = 20
#: Forward-difference step of the gradient, in the same whitened units.
NEWTON_DELTA = 1e-4


def _whitening(H: np.ndarray) -> np.ndarray | None:
    """L with LLᵀ = (H/2)⁻¹ for a positive definite Hessian H of the deviance (−2ℓ); None when
    H is missing, not finite or not positive definite (a fit on a boundary)."""
    if not np.all(np.isfinite(H)):
        return None
    try:
        R = np.linalg.cholesky(0.5 * (H + H.T) / 2.0)
    except np.linalg.LinAlgError:
        return None
    return tri_inv(np.ascontiguousarray(R)).T


def _quasi_newton(fun, x0: np.ndarray, L: np.ndarray, lower: np.ndarray) -> bool:
    """Minimize ``fun`` from ``x0`` by BFGS in the whitened coordinates ``x = x0 + L z``.

    ``fun`` is −2ℓ, so ``½fun`` is nearly ``½‖z‖²`` plus a linear term and the BFGS matrix starts
    at the identity; a step that would cross a bound is shortened to stay inside. Returns True
    on convergence (step below :data:`NEWTON_XTOL` in every coordinate); False when the
    iterate reaches a bound or a step does not decrease ``fun``, or after
    :data:`NEWTON_MAXITER` iterations (the caller then continues with BOBYQA).
    """
    n = len(x0)
    z = np.zeros(n)
    f = 0.5 * fun(x0)
    if not math.isfinite(f):
        return False
    eye = np.eye(n)

    def grad(z, f):
        g = np.empty(n)
        for i in range(n):
            zi = z.copy()
            zi[i] += NEWTON_DELTA
            g[i] = (0.5 * fun(x0 + L @ zi) - f) / NEWTON_DELTA
        return g

    g = grad(z, f)
    B = eye.copy()
    for _ in range(NEWTON_MAXITER):
        d = -np.linalg.solve(B, g)
        t = 1.0
        dx = L @ d
        xz = x0 + L @ z
        out = (xz + dx < lower) & (dx < 0)
        if out.any():                         # stop short of the bounds (λ's diagonal ≥ 0)
            t = 0.9 * float(np.min((lower[out] - xz[out]) / dx[out]))
            if t < 1e-3:
                return False
        for _halving in range(4):
            x = np.maximum(x0 + L @ (z + t * d), lower)
            f_new = 0.5 * fun(x)
            if math.isfinite(f_new) and f_new <= f:
                break
            t *= 0.5
        else:
            return False
        step = t * d
        if np.max(np.abs(step)) < NEWTON_XTOL:
            return True
        z_new = z + step
        g_new = grad(z_new, f_new)
        yv = g_new - g
        sy = float(step @ yv)
        if sy > 1e-12:                                  # BFGS update of the Hessian
            Bs = B @ step
            B = B + np.outer(yv, yv) / sy - np.outer(Bs, Bs) / float(step @ Bs)
        z, f, g = z_new, f_new, g_new
    return False
