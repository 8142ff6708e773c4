"""What every profiler shares: the parameters of the fit and their kinds, and BOBYQA."""
from __future__ import annotations

import numpy as np

from ..covparams import covariance_layout, estimates, parameter_names
from ..optimize import FALLBACK_VALUE, Recorder, bobyqa

__all__ = ["Profiler", "minimize"]


class Profiler:
    """What every profiler knows of the fit: its parameters, their kinds and the optimum."""

    def __init__(self, result, scale_kinds: tuple = ()):
        self.result = result
        self.model = result.model
        self.layout = covariance_layout(self.model.design)
        self.k = len(result.theta)
        self.p = len(result.beta)
        self.names = list(parameter_names(result).index)
        self.est = estimates(result).to_numpy()
        self.dev0 = float(result.objective)
        self.kinds = (["cor" if nm.startswith("cor_") else "sd" for nm in self.names[:self.k]]
                      + list(scale_kinds) + ["beta"] * self.p)


def minimize(fun, x0, lower, upper, step, *, ftol_abs: float = 1e-10, xtol_abs: float = 1e-9):
    """BOBYQA (NLopt, guarded by :func:`mm_core.optimize.bobyqa`); returns the best point seen."""
    x0 = np.asarray(x0, float)
    k = len(x0)
    if k == 0:
        return x0
    run = Recorder(fun, None, stage="profile")
    try:
        bobyqa(fun, x0, lower, upper=upper, ftol_rel=1e-14, ftol_abs=ftol_abs, xtol_abs=xtol_abs,
               maxeval=20_000, initial_step=step, recorder=run)
    except (RuntimeError, ValueError):
        pass                                  # the best point so far stands
    return run.best_x if run.best_x is not None and run.best < FALLBACK_VALUE else x0.copy()
