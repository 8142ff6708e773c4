"""Profiles of the standard deviations and correlations of the random effects (LMM).

With one of them held at v, the deviance is minimized by BOBYQA over the other standard
deviations and correlations and σ (θ = λ(sd, cor)/σ), in coordinates scaled by their estimates.
"""
from __future__ import annotations

import math

import numpy as np

from ..covparams import theta_from_sdcor
from .profiler import minimize

__all__ = ["evaluate", "free_and_scales", "start"]


def free_and_scales(prof, i):
    """The free parameters when parameter ``i`` is held (the others and σ), and their scales."""
    free = [j for j in range(prof.k) if j != i]
    scales = np.array([1.0 if prof.kinds[j] == "cor" else
                       (prof.est[j] if prof.est[j] > 0 else 0.1 * prof.sigma_hat)
                       for j in free] + [prof.sigma_hat])
    return free, scales


def start(prof, i, psi, sigma):
    """The optimizer's coordinates of the standard deviations and correlations ``psi`` and σ."""
    free, scales = free_and_scales(prof, i)
    return np.concatenate([np.asarray(psi)[free], [sigma]]) / scales


def evaluate(prof, i, v, warm):
    """(deviance, parameters, optimizer's point) with parameter ``i`` held at ``v``."""
    free, scales = free_and_scales(prof, i)
    kinds = [prof.kinds[j] for j in free]
    lower = np.array([-1.0 if kd == "cor" else 0.0 for kd in kinds] + [1e-8])
    upper = np.array([1.0 if kd == "cor" else math.inf for kd in kinds] + [math.inf])
    psi = prof.est[:prof.k].copy()
    model = prof.model

    def unpack(x):
        vals = x * scales
        psi[free] = vals[:-1]
        psi[i] = v
        return psi, vals[-1]

    def fun(x):
        ps, sigma = unpack(x)
        f = prof.factor(model, theta_from_sdcor(ps, sigma, prof.layout))
        return prof.deviance(f, sigma) if f is not None else math.nan

    x = minimize(fun, np.clip(warm, lower, upper), lower, upper, 0.05)
    ps, sigma = unpack(x)
    theta = theta_from_sdcor(ps, sigma, prof.layout)
    f = prof.factor(model, theta)
    if f is None:
        return math.inf, np.full(len(prof.names), np.nan), x
    out = prof.params(theta, sigma, prof.beta(f, prof.p))
    out[i] = v
    return prof.deviance(f, sigma), out, x
