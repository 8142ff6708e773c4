"""Profiles of the fixed effects (LMM).

With βⱼ held at v the model is refitted with ``v xⱼ`` as an offset, σ profiled out analytically
(the cross-products are updated, not recomputed), θ by BOBYQA.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .profiler import minimize

__all__ = ["ReducedModel", "evaluate"]


def evaluate(prof, j, v, warm):
    """(deviance, parameters, θ) with fixed effect ``j`` held at ``v``."""
    red = prof.reduced_model(j)
    red.set_beta(v)
    model = red.model
    lower = np.asarray(model.lower, float)

    def fun(theta):
        f = prof.factor(model, theta)
        return model.criterion(f, reml=False) if f is not None else math.nan

    theta = minimize(fun, np.maximum(warm, lower), lower, np.full(prof.k, math.inf),
                     0.05 * np.maximum(np.abs(warm), 0.1))
    f = prof.factor(model, theta)
    if f is None:
        return math.inf, np.full(len(prof.names), np.nan), theta
    dev = model.criterion(f, reml=False)
    sigma = math.sqrt(f.pwrss / prof.n)
    beta = np.insert(prof.beta(f, prof.p - 1), j, v)
    return dev, prof.params(theta, sigma, beta), theta


class ReducedModel:
    """The LMM with fixed effect j moved to the offset: ``y − v xⱼ`` on the other columns of X.

    Built once per fixed effect (the design without that column); each value v only replaces
    the response, which updates the cross-products that involve y (``cp.update_response``).
    """

    def __init__(self, model, j: int):
        from ..lmm import LinearMixedModel
        design = model.design
        keep = [int(c) for c in model.keep]
        rest = [c for c in keep if c != keep[j]]
        reduced = dataclasses.replace(
            design, X=np.ascontiguousarray(design.X[:, rest]),
            fixef_names=[design.fixef_names[c] for c in rest],
            fixef_terms=[design.fixef_terms[c] for c in rest])
        self.model = LinearMixedModel(reduced, reml=False, weights=model.weights,
                                      allow_more_random_effects=True)
        self.y = np.asarray(model.y, float)            # response minus offset
        self.xj = np.asarray(model.X[:, j], float)

    def set_beta(self, v: float) -> None:
        self.model.cp.update_response(self.y - v * self.xj)


