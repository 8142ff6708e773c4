"""Profile of the residual standard deviation σ (LMM).

With σ held fixed the deviance is minimized by BOBYQA over θ directly.
"""
from __future__ import annotations

import math

import numpy as np

from .profiler import minimize

__all__ = ["evaluate"]


def evaluate(prof, sigma, warm):
    """(deviance, parameters, θ) with σ held at ``sigma``."""
    model = prof.model
    lower = np.asarray(model.lower, float)

    def fun(theta):
        f = prof.factor(model, theta)
        return prof.deviance(f, sigma) if f is not None else math.nan

    theta = minimize(fun, np.maximum(warm, lower), lower, np.full(prof.k, math.inf),
                     0.05 * np.maximum(np.abs(warm), 0.1))
    f = prof.factor(model, theta)
    if f is None:
        return math.inf, np.full(len(prof.names), np.nan), theta
    return prof.deviance(f, sigma), prof.params(theta, sigma, prof.beta(f, prof.p)), theta
