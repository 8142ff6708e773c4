"""The profiles of the parameters: ζ walked from the estimate on each side, and its crossings."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import brentq

from ..covparams import check_level, parameter_names
from ..errors import MixedModelError
from ..notes import Note
from ..simulate import check_result
from .glmm_profiler import GlmmProfiler
from .lmm_profiler import LmmProfiler
from .result import ProfileResult

__all__ = ["MAX_STEPS", "ZETA_STEP", "profile"]

#: Steps of the walk away from the estimate, per side.
MAX_STEPS = 40
#: Target increase of |ζ| per step of the walk.
ZETA_STEP = 0.4

class _Curve:
    """The evaluated points of one parameter's profile, with memoized ζ."""

    def __init__(self, prof, i: int, dev0: float):
        self.prof, self.i, self.dev0 = prof, i, dev0
        self.est = prof.est[i]
        self.points: dict = {}           # v -> (zeta, dev, params, warm)
        self.min_dev = dev0

    def at(self, v: float, warm):
        if v in self.points:
            return self.points[v][0]
        dev, params, w = self.prof.evaluate(self.i, v, warm)
        self.min_dev = min(self.min_dev, dev)
        z = math.copysign(math.sqrt(max(dev - self.dev0, 0.0)), v - self.est) if v != self.est \
            else 0.0
        self.points[v] = (z, dev, params, w)
        return z

    def nearest_warm(self, v: float):
        key = min(self.points, key=lambda u: abs(u - v))
        return self.points[key][3]

    def walk(self, direction: int, max_zeta: float) -> bool:
        """Walk from the estimate until |ζ| ≥ max_zeta or a bound; True when the bound was hit."""
        lo, hi = self.prof.bounds(self.i)
        v_prev, z_prev = self.est, 0.0
        warm = self.points[self.est][3]
        h = self.prof.step(self.i)
        v = self.est + direction * h
        for _ in range(MAX_STEPS):
            at_bound = False
            if v <= lo:
                v, at_bound = lo, True
            elif v >= hi:
                v, at_bound = hi, True
            if v == v_prev:
                return True
            z = self.at(v, warm)
            warm = self.points[v][3]
            if direction * z >= max_zeta:
                return False
            if at_bound:
                return True
            slope = (z - z_prev) / (v - v_prev)
            last = abs(v - v_prev)
            if slope > 0 and math.isfinite(slope):
                stepsize = min(max(ZETA_STEP / slope, 0.5 * last), 4 * last)
            else:
                stepsize = 2 * last
            v_prev, z_prev = v, z
            v = v + direction * stepsize
        return False

    def crossing(self, target: float, direction: int, at_bound: bool) -> float:
        """The value where ζ = target, by Brent's method between bracketing points."""
        vs = sorted(self.points)
        if direction < 0:
            vs = vs[::-1]
        vs = [u for u in vs if direction * (u - self.est) >= 0]
        for a, b in itertools.pairwise(vs):
            za, zb = self.points[a][0], self.points[b][0]
            if (za - target) * (zb - target) <= 0:
                if zb == target:
                    return b
                scale = max(abs(a), abs(b), abs(b - a), 1e-8)
                return brentq(lambda u: self.at(u, self.nearest_warm(u)) - target,
                              min(a, b), max(a, b), xtol=1e-10 * scale, rtol=1e-12)
        if at_bound:
            lo, hi = self.prof.bounds(self.i)
            return lo if direction < 0 else hi
        return math.nan


def profile(result, *, parm=None, level: float = 0.95, max_zeta: float | None = None
            ) -> ProfileResult:
    """Profile the likelihood of each parameter and find the profile confidence intervals.

    Parameters
    ----------
    result : MixedModelResult
        An LMM (ML or REML: REML fits are refitted by ML, as lme4 does) or a GLMM without a
        dispersion parameter.
    parm : list of str, optional
        Parameters to profile (lme4 names, see :func:`mm_core.covparams.parameter_names`);
        default all.
    level : float
        Coverage of the intervals (exact crossings of ζ = ±Φ⁻¹((1 + level)/2)).
    max_zeta : float, optional
        How far the ζ curves are walked (default max(z, 2.576): enough for 99 % intervals).

    Returns
    -------
    ProfileResult

    Notes
    -----
    Equivalent to ``confint(profile(m), level = level)`` (lme4, ``oldNames = FALSE``).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> ci = profile(m).intervals
    >>> round(float(ci.loc["sigma", "lower"]), 2), round(float(ci.loc["sigma", "upper"]), 2)
    (38.23, 67.66)
    """
    check_result(result)
    check_level(level)
    notes = []
    prof: LmmProfiler | GlmmProfiler
    if result.is_lmm:
        if result.reml:
            from ..lrt import refit_ml
            result = refit_ml(result)
            notes.append(Note("refit_ml", "The REML fit was refitted by maximum likelihood: "
                              "profiles are on the ML deviance (as lme4's)."))
        prof = LmmProfiler(result)
    else:
        prof = GlmmProfiler(result)     # a clear error for families with a dispersion
    names = prof.names
    if parm is None:
        which = list(range(len(names)))
    else:
        parm = [parm] if isinstance(parm, str) else list(parm)
        unknown = [p for p in parm if p not in names]
        if unknown:
            raise MixedModelError(f"unknown parameter(s) {unknown}; the parameters are {names}")
        which = [names.index(p) for p in parm]
    z = float(stats.norm.ppf(0.5 + level / 2))
    max_zeta = max(z, 2.576) if max_zeta is None else max(float(max_zeta), z)
    rows = []
    lower = np.full(len(names), np.nan)
    upper = np.full(len(names), np.nan)
    min_dev = prof.dev0
    for i in which:
        curve = _Curve(prof, i, prof.dev0)
        curve.points[curve.est] = (0.0, prof.dev0, prof.est.copy(), prof.start(i))
        bounds = {}
        for d in (-1, 1):
            lo, hi = prof.bounds(i)
            if (d < 0 and curve.est <= lo) or (d > 0 and curve.est >= hi):
                bounds[d] = True     # the estimate is on the bound (e.g. a zero sd)
                continue
            bounds[d] = curve.walk(d, max_zeta)
        lower[i] = curve.crossing(-z, -1, bounds[-1])
        upper[i] = curve.crossing(z, 1, bounds[1])
        min_dev = min(min_dev, curve.min_dev)
        for v in sorted(curve.points):
            zeta, dev, params, _ = curve.points[v]
            rows.append([names[i], zeta, dev, *params])
    if min_dev < prof.dev0 - 1e-6:
        notes.append(Note("not_optimum", f"Profiling found a deviance {prof.dev0 - min_dev:.3g} "
                          "below the fit's: the fit had not reached the optimum; refit the model "
                          "before trusting these intervals."))
    table = pd.DataFrame(rows, columns=["parameter", "zeta", "deviance", *names])
    info = parameter_names(result)
    intervals = info.copy()
    intervals["estimate"] = prof.est
    intervals["lower"] = lower
    intervals["upper"] = upper
    intervals = intervals.iloc[which]
    intervals.attrs.update(level=level, method="profile")
    return ProfileResult(table=table, intervals=intervals,
                         estimates=pd.Series(prof.est, index=names, name="estimate"),
                         deviance=prof.dev0, level=level, notes=tuple(notes))
