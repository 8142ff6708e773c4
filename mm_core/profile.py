"""Profile likelihood of every parameter, and the confidence intervals it gives.

For a parameter ψ with estimate ψ̂ the signed square root of the likelihood-ratio statistic

    ζ(v) = sign(v − ψ̂) √(d(v) − d(ψ̂)),   d(v) = min over the other parameters of the deviance
                                                   with ψ held at v,

is close to a straight line in v when the Wald approximation is good; the ``level`` interval is
where |ζ| ≤ Φ⁻¹((1 + level)/2). As lme4's ``profile``/``confint(method = "profile")``:

* linear mixed models are profiled on the ML deviance (a REML fit is refitted by ML first);
  the covariance parameters are the standard deviations and correlations of the random effects
  and σ, and the deviance is ``log|L_θ|² − log|W| + n log(2πσ²) + r²(θ)/σ²`` with θ = λ(sd,
  cor)/σ, minimized by BOBYQA over the other standard deviations, correlations and σ. Holding σ
  fixed, the minimum is over θ directly; holding a fixed effect βⱼ fixed, the model is refitted
  with ``βⱼ xⱼ`` as an offset, σ profiled out analytically (the cross-products are updated, not
  recomputed);
* GLMMs without a dispersion parameter are profiled on the Laplace (or AGQ) deviance over
  (standard deviations, correlations, β), with PIRLS for the conditional modes.

Unlike lme4, which interpolates ζ with splines through about a dozen points per side, the
crossings ζ = ±z are found by Brent's method on ζ itself, so the interval ends are exact to the
optimizer's tolerance; the points walked to bracket them are kept for plots (``table``). A
standard deviation whose ζ never reaches −z before 0 gets the lower limit 0 (a correlation: ±1).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import brentq

from .covparams import check_level, covariance_layout, estimates, parameter_names, sdcor, theta_from_sdcor
from .errors import MixedModelError
from .notes import Note
from .simulate import check_result

__all__ = ["ProfileResult", "profile"]

#: Steps of the walk away from the estimate, per side.
MAX_STEPS = 40
#: Target increase of |ζ| per step of the walk.
ZETA_STEP = 0.4


@dataclass(frozen=True, eq=False)
class ProfileResult:
    """Profile ζ curves and intervals.

    Fields
    ------
    table : pandas.DataFrame
        Every evaluated point: ``parameter`` (the one held fixed), ``zeta``, ``deviance`` and
        the values of all parameters there (columns named as lme4: ``sd_(Intercept)|subj``,
        ``sigma``, coefficient names), sorted by parameter and value.
    intervals : pandas.DataFrame
        ``type, group, name, estimate, lower, upper`` at ``level`` (exact crossings).
    estimates : pandas.Series
        The estimates (ML for LMMs), by parameter name.
    deviance : float
        Deviance at the estimates (ζ = 0).
    level : float
    notes : tuple of str
    """

    table: pd.DataFrame
    intervals: pd.DataFrame
    estimates: pd.Series
    deviance: float
    level: float
    notes: tuple

    def zeta(self, parameter: str) -> pd.DataFrame:
        """``value, zeta`` along the profile of one parameter."""
        if parameter not in self.estimates.index:
            raise MixedModelError(f"unknown parameter {parameter!r}; the parameters are "
                                  f"{list(self.estimates.index)}")
        sub = self.table[self.table["parameter"] == parameter]
        return pd.DataFrame({"value": sub[parameter].to_numpy(), "zeta": sub["zeta"].to_numpy()})

    def confint(self, level: float | None = None) -> pd.DataFrame:
        """Intervals at ``level``: exact at the profiled level, else monotone interpolation of ζ."""
        if level is None or abs(level - self.level) < 1e-12:
            return self.intervals.copy()
        check_level(level)
        from scipy.interpolate import PchipInterpolator
        z = stats.norm.ppf(0.5 + level / 2)
        out = self.intervals.copy()
        for name in out.index:
            if name not in set(self.table["parameter"]):
                out.loc[name, ["lower", "upper"]] = np.nan
                continue
            zt = self.zeta(name).sort_values("zeta").drop_duplicates("zeta")
            zz, vv = zt["zeta"].to_numpy(), zt["value"].to_numpy()
            if len(zz) < 2 or np.any(np.diff(vv) <= 0):
                out.loc[name, ["lower", "upper"]] = np.nan
                continue
            f = PchipInterpolator(zz, vv, extrapolate=False)
            lo = float(f(-z)) if zz[0] <= -z else float(self.intervals.loc[name, "lower"])
            hi = float(f(z)) if zz[-1] >= z else float(self.intervals.loc[name, "upper"])
            out.loc[name, "lower"] = lo if zz[0] <= -z else (vv[0] if self._bounded(name, vv[0])
                                                             else np.nan)
            out.loc[name, "upper"] = hi if zz[-1] >= z else (vv[-1] if self._bounded(name, vv[-1])
                                                             else np.nan)
        out.attrs.update(level=level, method="profile")
        return out

    @staticmethod
    def _bounded(name: str, v: float) -> bool:
        return (name.startswith("sd_") and v == 0.0) or (name.startswith("cor_") and abs(v) == 1.0)


# ============================================================================ LMM
class _Profiler:
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


class _LmmProfiler(_Profiler):
    """Deviance of an ML-fitted LMM with one parameter held fixed (see the module docstring)."""

    def __init__(self, result):
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

    def _beta(self, f, p) -> np.ndarray:
        RX = f.RX
        return np.linalg.solve(RX[:p, :p].T, RX[p, :p]) if p else np.zeros(0)

    def _dev_sigma(self, f, sigma: float) -> float:
        return (f.logdet_L - self.lw + self.n * math.log(2 * math.pi * sigma * sigma)
                + f.pwrss / (sigma * sigma))

    def _factor(self, model, theta):
        from .pls import NotPositiveDefinite
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
            return self._psi_x(i, self.est[:self.k], self.sigma_hat)
        return self.theta_hat.copy()

    # -- the three kinds of profile --------------------------------------------------------------
    def evaluate(self, i: int, v: float, warm):
        kind = self.kinds[i]
        if kind in ("sd", "cor"):
            return self._eval_psi(i, v, warm)
        if kind == "sigma":
            return self._eval_sigma(v, warm)
        return self._eval_beta(i - self.k - 1, v, warm)

    def _psi_scales(self, i):
        free = [j for j in range(self.k) if j != i]
        scales = np.array([1.0 if self.kinds[j] == "cor" else
                           (self.est[j] if self.est[j] > 0 else 0.1 * self.sigma_hat)
                           for j in free] + [self.sigma_hat])
        return free, scales

    def _psi_x(self, i, psi, sigma):
        free, scales = self._psi_scales(i)
        return np.concatenate([np.asarray(psi)[free], [sigma]]) / scales

    def _eval_psi(self, i, v, warm):
        free, scales = self._psi_scales(i)
        kinds = [self.kinds[j] for j in free]
        lower = np.array([-1.0 if kd == "cor" else 0.0 for kd in kinds] + [1e-8])
        upper = np.array([1.0 if kd == "cor" else math.inf for kd in kinds] + [math.inf])
        psi = self.est[:self.k].copy()
        model = self.model

        def unpack(x):
            vals = x * scales
            psi[free] = vals[:-1]
            psi[i] = v
            return psi, vals[-1]

        def fun(x):
            ps, sigma = unpack(x)
            f = self._factor(model, theta_from_sdcor(ps, sigma, self.layout))
            return self._dev_sigma(f, sigma) if f is not None else math.nan

        x = _minimize(fun, np.clip(warm, lower, upper), lower, upper, 0.05)
        ps, sigma = unpack(x)
        theta = theta_from_sdcor(ps, sigma, self.layout)
        f = self._factor(model, theta)
        if f is None:
            return math.inf, np.full(len(self.names), np.nan), x
        out = self.params(theta, sigma, self._beta(f, self.p))
        out[i] = v
        return self._dev_sigma(f, sigma), out, x

    def _eval_sigma(self, sigma, warm):
        model = self.model
        lower = np.asarray(model.lower, float)

        def fun(theta):
            f = self._factor(model, theta)
            return self._dev_sigma(f, sigma) if f is not None else math.nan

        theta = _minimize(fun, np.maximum(warm, lower), lower, np.full(self.k, math.inf),
                          0.05 * np.maximum(np.abs(warm), 0.1))
        f = self._factor(model, theta)
        if f is None:
            return math.inf, np.full(len(self.names), np.nan), theta
        return self._dev_sigma(f, sigma), self.params(theta, sigma, self._beta(f, self.p)), theta

    def _eval_beta(self, j, v, warm):
        red = self._reduced_model(j)
        red.set_beta(v)
        model = red.model
        lower = np.asarray(model.lower, float)

        def fun(theta):
            f = self._factor(model, theta)
            return model.criterion(f, reml=False) if f is not None else math.nan

        theta = _minimize(fun, np.maximum(warm, lower), lower, np.full(self.k, math.inf),
                          0.05 * np.maximum(np.abs(warm), 0.1))
        f = self._factor(model, theta)
        if f is None:
            return math.inf, np.full(len(self.names), np.nan), theta
        dev = model.criterion(f, reml=False)
        sigma = math.sqrt(f.pwrss / self.n)
        beta = np.insert(self._beta(f, self.p - 1), j, v)
        return dev, self.params(theta, sigma, beta), theta

    def _reduced_model(self, j):
        if j not in self._reduced:
            self._reduced[j] = _ReducedModel(self.model, j)
        return self._reduced[j]


class _ReducedModel:
    """The LMM with fixed effect j moved to the offset: ``y − v xⱼ`` on the other columns of X.

    Built once per fixed effect (the design without that column); each value v only replaces
    the response, which updates the cross-products that involve y (``cp.update_response``).
    """

    def __init__(self, model, j: int):
        from .lmm import LinearMixedModel
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


# ============================================================================ GLMM
class _GlmmProfiler(_Profiler):
    """Laplace/AGQ deviance of a GLMM (no dispersion) with one parameter held fixed."""

    def __init__(self, result):
        from .glmm import safe_cholesky
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
        from .glmm import PIRLS_TOL, GlmmObjective
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
        x = _minimize(obj, np.clip(x0, lower, upper), lower, upper, step) if len(x0) else x0
        theta, beta = to_args(x)
        from .glmm import PIRLS_TOL_TIGHT
        from .pirls import PirlsError
        from .pls import NotPositiveDefinite
        try:
            st = model.solve(theta, beta, obj.best.u, profile_beta=False, tol=PIRLS_TOL_TIGHT)
        except (PirlsError, NotPositiveDefinite, FloatingPointError):
            return math.inf, np.full(len(self.names), np.nan), (x, obj.best)
        dev = model.objective_at(st)
        params = np.concatenate([sdcor(theta, None, self.layout)[0], beta])
        params[i] = v
        return dev, params, (x, obj.best)


# ============================================================================ driver
def _minimize(fun, x0, lower, upper, step, *, ftol_abs: float = 1e-10, xtol_abs: float = 1e-9):
    """BOBYQA (NLopt) with a finite fallback value; returns the best point seen."""
    import nlopt
    x0 = np.asarray(x0, float)
    k = len(x0)
    if k == 0:
        return x0
    best = [math.inf, x0.copy()]
    finit = [None]

    def f(x, grad=None):
        val = fun(np.asarray(x))
        if not math.isfinite(val):
            return finit[0] if finit[0] is not None else 1e300
        if finit[0] is None:
            finit[0] = val
        if val < best[0]:
            best[0], best[1] = val, np.array(x)
        return val

    opt = nlopt.opt(nlopt.LN_BOBYQA, k)
    opt.set_min_objective(f)
    opt.set_lower_bounds(np.asarray(lower, float).tolist())
    opt.set_upper_bounds(np.asarray(upper, float).tolist())
    opt.set_ftol_rel(1e-14)
    opt.set_ftol_abs(ftol_abs)
    opt.set_xtol_abs(xtol_abs)
    opt.set_maxeval(20_000)
    opt.set_initial_step(np.broadcast_to(np.asarray(step, float), (k,)).tolist())
    try:
        opt.optimize(x0.tolist())
    except (nlopt.RoundoffLimited, RuntimeError, ValueError):
        pass
    return best[1]


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
        for a, b in zip(vs[:-1], vs[1:]):
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
    if result.is_lmm:
        if result.reml:
            from .lrt import refit_ml
            result = refit_ml(result)
            notes.append(Note("refit_ml", "The REML fit was refitted by maximum likelihood: "
                              "profiles are on the ML deviance (as lme4's)."))
        prof = _LmmProfiler(result)
    else:
        prof = _GlmmProfiler(result)     # a clear error for families with a dispersion
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
