"""Profiles of a GLMM without a dispersion parameter: the Laplace (or AGQ) deviance with one
parameter held fixed, minimized over the standard deviations, correlations and fixed effects."""
from __future__ import annotations

import math

import numpy as np

from ..covparams import sdcor, theta_from_sdcor
from ..errors import MixedModelError
from .profiler import Profiler, minimize

__all__ = ["GlmmProfiler"]


class GlmmProfiler(Profiler):
    """Laplace/AGQ deviance of a GLMM (no dispersion) with one parameter held fixed."""

    def __init__(self, result):
        from ..glmm import safe_cholesky
        model = result.model
        if model.family.has_dispersion:
            raise MixedModelError("profile intervals are available for linear mixed models and for "
                                  "GLMMs without a dispersion parameter (binomial, Poisson); use "
                                  "Wald or bootstrap intervals for this family")
        if result.n_agq == 0:
            raise MixedModelError("profile intervals need a full fit (not fast=True / nAGQ=0): "
                                  "β is not a free parameter of a fast fit's objective")
        super().__init__(result)
        self.V = np.asarray(result.vcov, float)
        self._chol = safe_cholesky
        self.se = result.stderror.to_numpy()
        self.state0 = model.final_state(result)

    def bounds(self, i):
        kind = self.kinds[i]
        return {"sd": (0.0, math.inf), "cor": (-1.0, 1.0)}.get(kind, (-math.inf, math.inf))

    def step(self, i):
        kind = self.kinds[i]
        if kind == "beta":
            return 0.5 * self.se[i - self.k]
        if kind == "cor":
            return 0.05
        return 0.1 * max(self.est[i], 0.05)

    def start(self, i):
        free = [j for j in range(self.k + self.p) if j != i]
        return (np.zeros(len(free)), self.state0)

    def evaluate(self, i, v, warm):
        from ..glmm import PIRLS_TOL, GlmmObjective
        model, k, p = self.model, self.k, self.p
        free = [j for j in range(k + p) if j != i]
        free_psi = [j for j in free if j < k]
        free_beta = [j - k for j in free if j >= k]
        scales = np.array([1.0 if self.kinds[j] == "cor" else max(self.est[j], 0.05)
                           for j in free_psi])
        # β moves in coordinates scaled by the Cholesky factor of their covariance
        T = self._chol(self.V[np.ix_(free_beta, free_beta)])
        base = self.est.copy()
        base[i] = v
        psi0, beta0 = base[:k].copy(), base[k:].copy()
        npsi = len(free_psi)

        def to_args(x):
            psi = psi0.copy()
            psi[free_psi] = x[:npsi] * scales + self.est[free_psi]
            beta = beta0.copy()
            if free_beta:
                beta[free_beta] = self.est[k:][free_beta] + T @ x[npsi:]
            return theta_from_sdcor(psi, None, self.layout), beta

        x0, st = warm
        obj = GlmmObjective(model, to_args, st, profile_beta=False, tol=PIRLS_TOL)
        lower = np.array([(-1.0 - self.est[j]) if self.kinds[j] == "cor" else -self.est[j] / s
                          for j, s in zip(free_psi, scales)] + [-math.inf] * len(free_beta))
        upper = np.array([(1.0 - self.est[j]) if self.kinds[j] == "cor" else math.inf
                          for j in free_psi] + [math.inf] * len(free_beta))
        step = np.array([0.05] * npsi + [0.1] * len(free_beta))
        x = minimize(obj, np.clip(x0, lower, upper), lower, upper, step) if len(x0) else x0
        theta, beta = to_args(x)
        from ..glmm import PIRLS_TOL_TIGHT
        from ..pirls import PirlsError
        from ..pls import NotPositiveDefinite
        try:
            st = model.solve(theta, beta, obj.best.u, profile_beta=False, tol=PIRLS_TOL_TIGHT)
        except (PirlsError, NotPositiveDefinite, FloatingPointError):
            return math.inf, np.full(len(self.names), np.nan), (x, obj.best)
        dev = model.objective_at(st)
        params = np.concatenate([sdcor(theta, None, self.layout)[0], beta])
        params[i] = v
        return dev, params, (x, obj.best)
