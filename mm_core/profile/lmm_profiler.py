"""Profiles of a linear mixed model: the ML deviance with one parameter held fixed.

The deviance is ``log|L_θ|² − log|W| + n log(2πσ²) + r²(θ)/σ²`` with θ = λ(sd, cor)/σ. Each
kind of parameter is profiled by its own module: the standard deviations and correlations of
the random effects (:mod:`~mm_core.profile.varcomp`), σ (:mod:`~mm_core.profile.sigma`) and
the fixed effects (:mod:`~mm_core.profile.fixef`).
"""
from __future__ import annotations

import math

import numpy as np

from ..covparams import sdcor
from . import fixef, sigma, varcomp
from .profiler import Profiler

__all__ = ["LmmProfiler"]


class LmmProfiler(Profiler):
    """Deviance of an ML-fitted LMM with one parameter held fixed (see :mod:`mm_core.profile`)."""

    def __init__(self, result) -> None:
        super().__init__(result, scale_kinds=("sigma",))
        model = self.model
        self.sigma_hat = float(result.sigma)
        self.theta_hat = np.asarray(result.theta, float)
        self.n = model.n
        self.lw = model.log_det_w
        self._reduced: dict = {}

    # -- pieces --------------------------------------------------------------------------------
    def bounds(self, i: int) -> tuple[float, float]:
        kind = self.kinds[i]
        if kind == "sd":
            return 0.0, math.inf
        if kind == "cor":
            return -1.0, 1.0
        if kind == "sigma":
            return 0.0, math.inf
        return -math.inf, math.inf

    def step(self, i: int) -> float:
        kind = self.kinds[i]
        if kind == "beta":
            return 0.5 * float(self.result.stderror.iloc[i - self.k - 1])
        if kind == "cor":
            return 0.05
        if kind == "sigma":
            return 0.05 * self.sigma_hat
        return 0.1 * max(self.est[i], 0.05 * self.sigma_hat)

    def beta(self, f, p) -> np.ndarray:
        """The fixed effects of a factorization of the system with ``p`` of them."""
        RX = f.RX
        return np.linalg.solve(RX[:p, :p].T, RX[p, :p]) if p else np.zeros(0)

    def deviance(self, f, sigma: float) -> float:
        """The ML deviance of a factorization at the residual standard deviation ``sigma``."""
        return (f.logdet_L - self.lw + self.n * math.log(2 * math.pi * sigma * sigma)
                + f.pwrss / (sigma * sigma))

    def factor(self, model, theta):
        """The penalized least-squares factorization of ``model`` at θ; None where it fails."""
        from ..pls import NotPositiveDefinite
        try:
            return model.pls.factor(np.asarray(theta, float))
        except NotPositiveDefinite:
            return None

    def params(self, theta, sigma, beta) -> np.ndarray:
        return np.concatenate([sdcor(theta, sigma, self.layout)[0], [sigma], beta])

    def start(self, i: int):
        """The warm start at the estimate for parameter ``i``."""
        kind = self.kinds[i]
        if kind in ("sd", "cor"):
            return varcomp.start(self, i, self.est[:self.k], self.sigma_hat)
        return self.theta_hat.copy()

    # -- the three kinds of profile --------------------------------------------------------------
    def evaluate(self, i: int, v: float, warm):
        kind = self.kinds[i]
        if kind in ("sd", "cor"):
            return varcomp.evaluate(self, i, v, warm)
        if kind == "sigma":
            return sigma.evaluate(self, v, warm)
        return fixef.evaluate(self, i - self.k - 1, v, warm)

    def reduced_model(self, j):
        """The model with fixed effect ``j`` in the offset (built once per fixed effect)."""
        if j not in self._reduced:
            self._reduced[j] = fixef.ReducedModel(self.model, j)
        return self._reduced[j]
