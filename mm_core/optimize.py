"""Derivative-free optimization of the profiled objective, and the record of how it went.

The optimizer is BOBYQA (Powell's bounded quadratic-model trust-region method), through NLopt,
the default of lme4's ``lmer`` (``nloptwrap``). Every evaluation is recorded, as lme4's
``verbose`` output and MixedModels.jl's ``fitlog`` do. After the run the gradient and Hessian at
the optimum are estimated by central differences (cheap here: an evaluation costs no O(n) work)
and the verdict is based on the *scaled* gradient H⁻¹g over the parameters that are not on a
boundary, so a fit that BOBYQA reports as converged is not flagged for a tiny raw gradient.

The parts, in the order a fit uses them:

* :class:`OptimizerSettings`: the stopping rules, validated once (:func:`optimizer_settings`);
* :class:`GuardedObjective`: an objective that always returns a finite number (a quadratic-model
  optimizer cannot step past a failed evaluation);
* :class:`Recorder`: every evaluation, progress reports and cancellation;
* :func:`bobyqa`: the one BOBYQA run;
* :func:`deriv12`: central-difference gradient and Hessian (lme4's ``deriv12``);
* :class:`ConvergenceCheck`: the verdict of :func:`check_convergence` and its relatives;
* :func:`summarize`: the :class:`OptSummary` of a run, its trace and its check.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from .errors import FitCancelled, MixedModelError
from .pls import NotPositiveDefinite

try:
    import nlopt
except ImportError:  # pragma: no cover - nlopt is a pinned requirement
    nlopt = None

_NLOPT_RESULTS = {1: "success", 2: "stopval reached", 3: "ftol reached", 4: "xtol reached",
                  5: "maximum evaluations reached", 6: "time limit reached",
                  -1: "failure", -2: "invalid arguments", -3: "out of memory",
                  -4: "roundoff limited", -5: "forced stop"}
#: Reasons for stopping after which a fit is not reported as converged.
FAILED_RETURNS = ("maximum evaluations reached", "failure", "roundoff limited")

#: Relative (Hessian-scaled) gradient above which a fit is reported as not converged (lme4: 2e-3).
GRADIENT_TOL = 2e-3
#: Step of the central differences (lme4's ``deriv12``: 1e-4).
DELTA = 1e-4
#: A parameter this close to its lower bound is on the bound (left out of the derivatives).
BOUNDARY_TOL = 1e-4
#: The value an objective reports where it cannot be evaluated before any finite value is known.
FALLBACK_VALUE = 1e300

@dataclass(frozen=True)
class Progress:
    """What every progress callback of the engine receives: after each objective evaluation of
    a fit, and after each chunk of a bootstrap or power run.

    Fields
    ------
    evaluations : int
        Work done so far: objective evaluations in a fit; finished replicates (or simulations)
        in a bootstrap or power run (also as :attr:`done`).
    objective : float
        The value just computed (NaN in a bootstrap or power run).
    best : float
        Lowest value so far (NaN in a bootstrap or power run).
    theta : ndarray
        Parameters of this evaluation (empty in a bootstrap or power run).
    elapsed : float
        Seconds since the optimization or the run started.
    stage : str
        ``"optimize"``, ``"check"`` (the finite-difference convergence check) or
        ``"replicates"`` (a bootstrap or power run).
    total : int or None
        Replicates requested in a bootstrap or power run; None in a fit.
    """

    evaluations: int
    objective: float
    best: float
    theta: np.ndarray
    elapsed: float
    stage: str = "optimize"
    total: int | None = None

    @property
    def done(self) -> int:
        """Work done so far (:attr:`evaluations`): the name that reads right for replicates."""
        return self.evaluations

    @classmethod
    def replicates(cls, done: int, total: int, elapsed: float) -> Progress:
        """The record of a bootstrap or power run: ``done`` of ``total`` replicates."""
        return cls(done, math.nan, math.nan, np.empty(0), elapsed, "replicates", total)


@dataclass(frozen=True)
class OptSummary:
    """How the optimizer ran: settings, every evaluation, and a convergence verdict.

    Equivalent to lme4's ``m@optinfo`` and MixedModels.jl's ``m.optsum``.

    Fields
    ------
    optimizer : str
        ``"LN_BOBYQA"`` (NLopt), or ``"L-BFGS-B (analytic gradient)"`` where the penalized
        least-squares system gives the gradient at about the cost of an evaluation.
    initial : ndarray
        Starting parameters.
    final : ndarray
        Parameters at the optimum.
    fmin : float
        Objective at ``final``.
    evaluations : int
        Objective evaluations during the optimization (the check adds ``check_evaluations``).
    check_evaluations : int
        Evaluations spent on the finite-difference gradient and Hessian.
    return_value : str
        NLopt's reason for stopping (``"ftol reached"``, ...).
    ftol_rel, ftol_abs, xtol_abs : float
        Stopping tolerances.
    maxeval : int
        Evaluation budget.
    gradient : ndarray
        Central-difference gradient at ``final`` (NaN for parameters on a boundary).
    scaled_gradient : float
        max |H⁻¹g| over interior parameters (NaN when not computed).
    converged : bool
        The verdict: True unless the budget ran out or the scaled gradient exceeds
        ``GRADIENT_TOL`` or the Hessian is not positive definite at an interior optimum.
    verdict : str
        One line for people ("converged", "converged at a boundary (singular fit)", ...).
    messages : tuple of str
        Plain-language notes on anything unusual, with what to do about it.
    elapsed : float
        Seconds spent optimizing.
    trace_objective : ndarray
        Objective of every evaluation, in order: the optimizer's, then the check's.
    trace_parameters : ndarray, shape (evaluations + check_evaluations, k)
        Parameters of every evaluation.
    parameter_names : tuple of str
        Names of the parameters (``"θ1"``, ... or ``"β: (Intercept)"`` for GLMMs).
    """

    optimizer: str
    initial: np.ndarray
    final: np.ndarray
    fmin: float
    evaluations: int
    check_evaluations: int
    return_value: str
    ftol_rel: float
    ftol_abs: float
    xtol_abs: float
    maxeval: int
    gradient: np.ndarray
    scaled_gradient: float
    converged: bool
    verdict: str
    messages: tuple
    elapsed: float
    trace_objective: np.ndarray
    trace_parameters: np.ndarray
    parameter_names: tuple = field(default=())

    @property
    def trace(self) -> pd.DataFrame:
        """Every evaluation: ``evaluation, stage, objective`` and one column per parameter.

        ``stage`` is ``"optimize"`` for the optimizer's evaluations and ``"check"`` for those
        of the convergence check and the Newton steps that follow it.
        """
        names = self.parameter_names or tuple(f"theta_{i + 1}"
                                              for i in range(self.trace_parameters.shape[1]))
        total = len(self.trace_objective)
        df = pd.DataFrame(self.trace_parameters, columns=list(names))
        df.insert(0, "objective", self.trace_objective)
        stage = np.where(np.arange(total) < total - self.check_evaluations, "optimize", "check")
        df.insert(0, "stage", stage.astype(object))
        df.insert(0, "evaluation", np.arange(1, total + 1))
        return df


@dataclass(frozen=True)
class OptimizerSettings:
    """BOBYQA's stopping rules: NLopt's relative and absolute function tolerances, absolute
    parameter tolerance, and evaluation budget (lme4's ``optCtrl`` for ``nloptwrap``).

    Build it with :func:`optimizer_settings`, which checks names and values.

    Examples
    --------
    >>> optimizer_settings({"maxeval": 500}).maxeval
    500
    """

    ftol_rel: float = 1e-12
    ftol_abs: float = 1e-8
    xtol_abs: float = 1e-10
    maxeval: int = 100_000

    def options(self) -> dict:
        """The settings as keyword arguments of :func:`bobyqa`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Names of the optimizer settings, in their documented order.
SETTING_NAMES = tuple(f.name for f in fields(OptimizerSettings))


def optimizer_settings(options: Mapping) -> OptimizerSettings:
    """Validate optimizer settings given by name; missing ones take their defaults.

    The same check (and the same message) serves linear and generalized linear mixed models.
    In R: ``lmerControl(optCtrl = list(ftol_abs = ..., maxeval = ...))``.

    Raises
    ------
    MixedModelError
        An unknown name (the message lists the valid ones) or a value that is not a finite
        number: negative tolerances, or a budget below one evaluation.

    Examples
    --------
    >>> optimizer_settings({"ftol_abs": 1e-6}).ftol_abs
    1e-06
    """
    unknown = [k for k in options if k not in SETTING_NAMES]
    if unknown:
        raise MixedModelError(
            f"unknown optimizer setting{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}; valid settings: {', '.join(SETTING_NAMES)}")
    for k, v in options.items():
        ok = (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
              and bool(np.isfinite(v)) and (v > 0 if k == "maxeval" else v >= 0))
        if not ok:
            raise MixedModelError(f"optimizer setting {k} must be a "
                                  f"{'positive' if k == 'maxeval' else 'non-negative'} number "
                                  f"(default {getattr(OptimizerSettings, k):g}), not {v!r}")
    values = dict(options)
    if "maxeval" in values:
        values["maxeval"] = int(values["maxeval"])
    return OptimizerSettings(**values)


class FiniteFallback:
    """The stand-in for a failed evaluation: the first finite value seen, else ``FALLBACK_VALUE``.

    A quadratic-model optimizer needs a number everywhere, and the starting value is never the
    optimum, so the optimizer steps back from a point where the objective cannot be evaluated
    (lme4's ``nloptwrap`` objectives do the same).

    Fields
    ------
    fun : callable
        The objective.
    first : float or None
        The first finite value seen.
    failures : int
        Evaluations that failed.
    """

    def __init__(self, fun: Callable):
        self.fun = fun
        self.first: float | None = None
        self.failures = 0

    def fallback(self) -> float:
        """Count a failed evaluation and return the value that stands in for it."""
        self.failures += 1
        return self.first if self.first is not None else FALLBACK_VALUE

    def accept(self, value: float) -> float:
        """Remember the first finite value and return ``value``."""
        if self.first is None:
            self.first = value
        return value


class GuardedObjective(FiniteFallback):
    """``fun(x) -> float`` that always returns a finite number: where ``fun`` gives a non-finite
    value or raises :class:`mm_core.pls.NotPositiveDefinite`, :meth:`fallback` stands in.

    Examples
    --------
    >>> f = GuardedObjective(lambda x: float(x[0]) if x[0] > 0 else math.nan)
    >>> f([2.0]), f([-1.0]), f.failures
    (2.0, 2.0, 1)
    """

    def __call__(self, x) -> float:
        try:
            value = self.fun(x)
        except NotPositiveDefinite:
            value = math.nan
        return self.accept(value) if math.isfinite(value) else self.fallback()


class GuardedGradient(FiniteFallback):
    """``fun(x) -> (value, gradient)`` with the guard of :class:`GuardedObjective`; a failed
    evaluation has a zero gradient."""

    def __call__(self, x) -> tuple[float, np.ndarray]:
        try:
            value, gradient = self.fun(x)
        except NotPositiveDefinite:
            value, gradient = math.nan, None
        if not math.isfinite(value) or gradient is None:
            return self.fallback(), np.zeros(len(x))
        return self.accept(value), gradient


def guarded(fun: Callable) -> GuardedObjective:
    """``fun`` as a :class:`GuardedObjective`: itself when it already is one; a
    :class:`Recorder`'s function when it is a recorder (the caller records)."""
    if isinstance(fun, Recorder):
        fun = fun.fun
    return fun if isinstance(fun, GuardedObjective) else GuardedObjective(fun)


class Recorder:
    """Wraps the objective: records every evaluation, reports progress, honours cancellation."""

    def __init__(self, fun: Callable, progress: Callable | None, stage: str = "optimize"):
        self.fun = fun
        self.progress = progress
        self.values: list[float] = []
        self.params: list[np.ndarray] = []
        self.best = math.inf
        self.best_x: np.ndarray | None = None
        self.t0 = time.perf_counter()
        self.stage = stage

    def __call__(self, x) -> float:
        x = np.array(x, dtype=float)
        return self.record(x, float(self.fun(x)))

    def record(self, x: np.ndarray, val: float) -> float:
        """Log one evaluation, report progress, and honour a cancellation."""
        self.values.append(val)
        self.params.append(x)
        if val < self.best:
            self.best, self.best_x = val, x
        if self.progress is not None:
            info = Progress(len(self.values), val, self.best, x, time.perf_counter() - self.t0,
                            self.stage)
            if self.progress(info) is False:
                raise FitCancelled("the fit was cancelled")
        return val


def bobyqa(fun: Callable, x0: np.ndarray, lower: np.ndarray, *, upper: np.ndarray | None = None,
           ftol_rel: float = 1e-12, ftol_abs: float = 1e-8, xtol_abs: float = 1e-10,
           maxeval: int = 100_000, initial_step: float | np.ndarray = 0.75,
           recorder: Recorder | None = None, progress: Callable | None = None):
    """Minimize ``fun`` from ``x0`` within bounds by BOBYQA; returns (x, fmin, return_value, recorder).

    ``fun`` is evaluated through :func:`guarded` (a failed evaluation counts as the first
    finite value seen), and every evaluation is logged by ``recorder`` (a new
    :class:`Recorder` reporting to ``progress`` when not given). The result is the best point
    recorded, which can be better than the one NLopt reports after a rounding-limited stop.
    ``x0`` is moved into the bounds. ``return_value`` is NLopt's reason for stopping in words
    (``"ftol reached"``, ``"maximum evaluations reached"``, ...).

    In R: ``nloptr::nloptr(x0, fn, lb = lower, opts = list(algorithm = "NLOPT_LN_BOBYQA",
    ftol_rel = ..., ftol_abs = ..., xtol_abs = ..., maxeval = ...))``.

    Examples
    --------
    The profiled deviance of sleepstudy's model with correlated random intercepts and slopes:

    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> from mm_core.lmm import LinearMixedModel
    >>> m = LinearMixedModel(materialize("reaction ~ 1 + days + (1 + days | subj)",
    ...                                  datasets.load("sleepstudy")))
    >>> x, fmin, why, rec = bobyqa(m.objective, m.theta0, m.optimizer_lower)
    >>> round(fmin, 4), why
    (1751.9393, 'ftol reached')
    """
    objective = guarded(fun)
    rec = recorder or Recorder(objective, progress)

    def evaluate(x, grad=None) -> float:
        x = np.array(x, dtype=float)
        return rec.record(x, float(objective(x)))

    x0 = np.asarray(x0, float)
    k = len(x0)
    lower = np.asarray(lower, float)
    upper = np.full(k, np.inf) if upper is None else np.asarray(upper, float)
    x0 = np.clip(x0, lower, upper)
    if k == 0:
        return x0, evaluate(x0), "no parameters", rec
    step = np.broadcast_to(np.asarray(initial_step, float), (k,)).copy()
    if nlopt is None:  # pragma: no cover
        from scipy.optimize import minimize
        r = minimize(evaluate, x0, method="Powell", bounds=list(zip(lower, upper)),
                     options={"xtol": xtol_abs, "ftol": ftol_rel, "maxfev": maxeval})
        return np.asarray(r.x), float(r.fun), str(r.message), rec
    opt = nlopt.opt(nlopt.LN_BOBYQA, k)
    opt.set_min_objective(evaluate)
    opt.set_lower_bounds(lower.tolist())
    opt.set_upper_bounds(upper.tolist())
    opt.set_ftol_rel(ftol_rel)
    opt.set_ftol_abs(ftol_abs)
    opt.set_xtol_abs(xtol_abs)
    opt.set_maxeval(maxeval)
    opt.set_initial_step(step.tolist())
    try:
        x = np.asarray(opt.optimize(x0.tolist()))
        code = opt.last_optimize_result()
        fmin = opt.last_optimum_value()
    except (nlopt.RoundoffLimited, RuntimeError) as e:
        if isinstance(e, FitCancelled) or rec.best_x is None:
            raise
        x, fmin, code = rec.best_x, rec.best, -4
    if rec.best < fmin and rec.best_x is not None:  # the record is authoritative
        x, fmin = rec.best_x, rec.best
    return x, float(fmin), _NLOPT_RESULTS.get(code, str(code)), rec


def deriv12(fun: Callable, x: np.ndarray, *, free: np.ndarray | None = None,
            lower: np.ndarray | None = None, delta: float = DELTA, fx: float | None = None,
            cross: str | None = "corners"):
    """Central-difference gradient and Hessian of ``fun`` at ``x`` over the ``free`` coordinates.

    Parameters
    ----------
    fun : callable
    x : ndarray
    free : ndarray of bool, optional
        Coordinates to differentiate (all by default).
    lower : ndarray, optional
        Lower bounds of the four-point scheme: where ``x − δ`` would cross one, the step below
        is shortened to the bound (lme4's ``deriv12``).
    delta : float
    fx : float, optional
        ``fun(x)`` when known (else evaluated first).
    cross : {"corners", "diagonal", None}
        Off-diagonal elements from the four points ``x ± δeᵢ ± δeⱼ`` (lme4's ``deriv12``:
        1 + 2m + 2m(m − 1) evaluations for m free coordinates); from the two points
        ``x ± δ(eᵢ + eⱼ)`` and the diagonal ones (1 + 2m + m(m − 1) evaluations; the steps are
        not shortened); or no Hessian at all (the gradient alone: 2m evaluations).

    Returns
    -------
    gradient : ndarray, shape (m,)
    hessian : ndarray, shape (m, m), or None when ``cross`` is None

    Notes
    -----
    In R: ``lme4:::deriv12(fun, x, delta = 1e-4, fx = fx, lower = lower)``.

    Examples
    --------
    >>> g, H = deriv12(lambda x: float(x[0] ** 2 + 3 * x[0] * x[1]), np.array([1.0, 2.0]))
    >>> np.round(g, 6).tolist(), np.round(H, 4).tolist()
    ([8.0, 3.0], [[2.0, 3.0], [3.0, 0.0]])
    """
    x = np.asarray(x, float)
    idx = np.arange(len(x)) if free is None else np.flatnonzero(free)
    m = len(idx)
    f0 = math.nan if cross is None else float(fun(x) if fx is None else fx)
    up, down = np.full(m, delta), np.full(m, delta)
    plus, minus = x[idx] + delta, x[idx] - delta
    if lower is not None and cross == "corners":
        low = np.asarray(lower, float)[idx]
        act = np.isfinite(low) & (minus < low)
        down[act] = (x[idx] - low)[act]
        minus[act] = low[act]

    def at(pos: list[int], vals: list[float]) -> float:
        y = x.copy()
        y[idx[pos]] = vals
        return fun(y)

    g = np.zeros(m)
    H = np.zeros((m, m))
    fp, fm = np.zeros(m), np.zeros(m)
    for j in range(m):
        fp[j], fm[j] = at([j], [plus[j]]), at([j], [minus[j]])
        g[j] = (fp[j] - fm[j]) / (up[j] + down[j])
        if cross == "corners":
            H[j, j] = fp[j] / up[j] ** 2 - 2 * f0 / (up[j] * down[j]) + fm[j] / down[j] ** 2
            for i in range(j):
                H[i, j] = H[j, i] = (at([i, j], [plus[i], plus[j]]) / (up[i] + up[j]) ** 2
                                     - at([i, j], [plus[i], minus[j]]) / (up[i] + down[j]) ** 2
                                     - at([i, j], [minus[i], plus[j]]) / (down[i] + up[j]) ** 2
                                     + at([i, j], [minus[i], minus[j]]) / (down[i] + down[j]) ** 2)
        elif cross == "diagonal":
            H[j, j] = (fp[j] - 2 * f0 + fm[j]) / delta ** 2
    if cross == "diagonal":
        for a in range(m):
            for b in range(a):
                fpp, fmm = at([a, b], [plus[a], plus[b]]), at([a, b], [minus[a], minus[b]])
                H[a, b] = H[b, a] = (fpp - fp[a] - fp[b] + 2 * f0 - fm[a] - fm[b] + fmm) / (2 * delta ** 2)
    return g, (H if cross is not None else None)


#: What a person reads when the Hessian at the optimum is not positive definite.
HESSIAN_MESSAGE = ("The objective is flat or curved the wrong way in some direction at the "
                   "optimum (the Hessian is not positive definite): the model may be "
                   "over-parameterized; consider simplifying the random effects.")


def _stopped_message(scaled: float) -> str:
    return (f"The optimizer stopped where the scaled gradient is {scaled:.2g} (tolerance "
            f"{GRADIENT_TOL:g}); the estimates may not be the optimum. Rescaling covariates or "
            "simplifying the random effects usually helps.")


@dataclass(frozen=True)
class ConvergenceCheck:
    """The derivatives at an optimum and the verdict drawn from them.

    Fields
    ------
    gradient : ndarray
        Gradient at the point (NaN for parameters on a bound or not examined).
    scaled_gradient : float
        max |H⁻¹g| over the free parameters (max |g| when H is not positive definite; NaN when
        not computed).
    ok : bool
        Whether the point passes (scaled gradient below ``GRADIENT_TOL``).
    messages : tuple of str
        Plain-language notes on what failed and what to do.
    newton : ndarray or None
        The Newton step −H⁻¹g over the free parameters (zeros elsewhere) when H is positive
        definite: on a flat objective a derivative-free optimizer stops a little short of the
        optimum, and this step finishes the job.
    hessian : ndarray or None
        The Hessian over all parameters (zeros outside the free block), when positive definite.
    """

    gradient: np.ndarray
    scaled_gradient: float
    ok: bool
    messages: tuple[str, ...] = ()
    newton: np.ndarray | None = None
    hessian: np.ndarray | None = None

    @classmethod
    def skipped(cls, k: int) -> ConvergenceCheck:
        """No check: all parameters on a bound, too many of them, or one too close to a bound."""
        return cls(np.full(k, np.nan), math.nan, True)


def free_parameters(x: np.ndarray, lower: np.ndarray, boundary_tol: float = BOUNDARY_TOL) -> np.ndarray:
    """Which parameters are not on their lower bound."""
    return ~(np.isfinite(lower) & (x - lower < boundary_tol))


def _not_checked(free: np.ndarray, x: np.ndarray, lower: np.ndarray, delta: float,
                 max_params: int) -> bool:
    """Whether the check is skipped: no free parameter, too many, or central differences that
    would cross a bound."""
    m = int(free.sum())
    return m == 0 or m > max_params or bool(np.any(free & np.isfinite(lower) & (x - lower < 2 * delta)))


def _from_step(gradient: np.ndarray, g: np.ndarray, idx: np.ndarray,
               hessian: np.ndarray) -> ConvergenceCheck:
    """The verdict from the Newton step with a positive definite Hessian."""
    step = np.linalg.solve(hessian[np.ix_(idx, idx)], g)
    newton = np.zeros(len(gradient))
    newton[idx] = -step
    scaled = float(np.max(np.abs(step)))
    ok = scaled < GRADIENT_TOL
    messages = () if ok else (_stopped_message(scaled),)
    return ConvergenceCheck(gradient, scaled, ok, messages, newton, hessian)


def _assess(g: np.ndarray, H: np.ndarray, idx: np.ndarray, k: int) -> ConvergenceCheck:
    """The verdict from the gradient and Hessian over the free parameters ``idx``."""
    gradient = np.full(k, np.nan)
    gradient[idx] = g
    try:
        ev = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        ev = np.array([np.nan])
    if not np.all(np.isfinite(ev)) or ev.min() <= 0:
        # a flat direction or numerical noise: judge on the raw gradient instead
        scaled = float(np.max(np.abs(g)))
        if scaled > GRADIENT_TOL * 10:
            return ConvergenceCheck(gradient, scaled, False, (HESSIAN_MESSAGE, _stopped_message(scaled)))
        return ConvergenceCheck(gradient, scaled, True)
    full = np.zeros((k, k))
    full[np.ix_(idx, idx)] = H
    return _from_step(gradient, g, idx, full)


def check_convergence(fun: Callable, x: np.ndarray, lower: np.ndarray, *, delta: float = DELTA,
                      boundary_tol: float = BOUNDARY_TOL, max_params: int = 30) -> ConvergenceCheck:
    """Scaled-gradient convergence check at ``x`` by central differences of ``fun``.

    The gradient and Hessian over the parameters off their bounds come from :func:`deriv12`
    with the two-point cross differences (1 + 2m + m(m − 1) evaluations); the check is skipped
    (``ok``) beyond ``max_params`` free parameters. In R: lme4's ``checkConv`` on
    ``deriv12``'s output (``check.conv.grad``, tolerance 2e-3).

    Examples
    --------
    >>> c = check_convergence(lambda x: float(np.sum((x - 1) ** 2)), np.ones(2), np.zeros(2))
    >>> c.ok, bool(c.scaled_gradient < 1e-6)
    (True, True)
    """
    free = free_parameters(x, lower, boundary_tol)
    if _not_checked(free, x, lower, delta, max_params):
        return ConvergenceCheck.skipped(len(x))
    g, H = deriv12(fun, x.copy(), free=free, delta=delta, cross="diagonal")
    return _assess(g, H, np.flatnonzero(free), len(x))


def recheck_gradient(fun: Callable, x: np.ndarray, lower: np.ndarray, hessian: np.ndarray,
                     *, delta: float = DELTA, boundary_tol: float = BOUNDARY_TOL) -> ConvergenceCheck:
    """Central-difference gradient at a new point, scaled by a Hessian computed nearby.

    Used after a Newton step, where the curvature has not changed but the gradient has
    (2m evaluations); the record carries ``hessian`` on.
    """
    free = free_parameters(x, lower, boundary_tol)
    idx = np.flatnonzero(free)
    g, _ = deriv12(fun, x, free=free, delta=delta, cross=None)
    gradient = np.full(len(x), np.nan)
    gradient[idx] = g
    if not len(idx):
        return ConvergenceCheck(gradient, math.nan, True, hessian=hessian)
    return _from_step(gradient, g, idx, hessian)


def quasi_newton(fun_grad: Callable, x0: np.ndarray, lower: np.ndarray, recorder: Recorder,
                 *, maxeval: int = 100_000, restarts: int = 1, ftol: float = 1e-15,
                 gtol: float = 1e-9):
    """L-BFGS-B with an analytic gradient; returns (x, fmin, return_value, recorder).

    ``fun_grad(x) -> (f, g)``. Each evaluation is logged by ``recorder``. A line search that
    ends abnormally (rounding near the optimum) is followed by ``restarts`` fresh runs from the
    best point, which rebuild the curvature memory.
    """
    from scipy.optimize import minimize

    def wrapped(x):
        x = np.asarray(x, float)
        f, g = fun_grad(x)
        recorder.record(x.copy(), float(f))
        return f, g

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    x = np.asarray(x0, float)
    message = ""
    for _ in range(1 + restarts):
        res = minimize(wrapped, x, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxeval, "maxfun": maxeval, "ftol": ftol,
                                "gtol": gtol, "maxcor": 30})
        x = np.asarray(recorder.best_x if recorder.best_x is not None else res.x, float)
        message = str(res.message)
        if res.success and "ABNORMAL" not in message.upper():
            break
    return x, float(recorder.best), message, recorder


def quasi_newton_even_bounds(fun_grad: Callable, x0: np.ndarray, lower: np.ndarray,
                             recorder: Recorder, *, maxeval: int = 100_000, ftol: float = 1e-15,
                             probe: float = 1e-4, snap: float = 1e-3, max_probes: int = 5):
    """:func:`quasi_newton` for an objective even in each coordinate that has a finite bound.

    The profiled criterion depends on a diagonal element of λ that is alone in its column only
    through its square, so at its bound 0 the gradient vanishes by symmetry and a gradient
    method cannot tell a minimum there from a maximum (it can be stopped by the projection of
    an early step). The first run therefore ignores those bounds (the objective is smooth
    across them) and its result is reflected into them; a result farther than ``snap`` from
    every bound is a stationary point inside them and is returned. Otherwise the bounded run
    continues, from the point moved onto the bounds where that is no worse; after it, every
    coordinate at its bound is probed one ``probe`` step inside (the derivatives in the other
    coordinates are even too, so the curvature across the bound is seen coordinate by
    coordinate), and where the objective decreases the run restarts from the best probe.
    Returns (x, fmin, return_value, recorder).
    """
    lower = np.asarray(lower, float)
    even = np.isfinite(lower)
    x = np.asarray(x0, float)
    if even.any():
        # first without those bounds (the objective is even, hence smooth, across them): the
        # projection onto a bound cannot stop the run early on a face of the box
        x, fmin, ret, recorder = quasi_newton(fun_grad, x, np.where(even, -np.inf, lower),
                                              recorder, maxeval=maxeval, ftol=ftol)
        lo = np.where(even, lower, 0.0)
        x = np.where(even, lo + np.abs(x - lo), x)
        near = even & (x - lower < snap)
        if not near.any():      # a stationary point inside the bounds
            return x, fmin, ret, recorder
        # next to a bound: the optimum may be on it, where the bounded run ends exactly
        snapped = np.where(near, lower, x)
        fs, _ = fun_grad(snapped)
        recorder.record(snapped, float(fs))
        if fs <= fmin + 1e-10 * max(1.0, abs(fmin)):
            x = snapped
    x, fmin, ret, recorder = quasi_newton(fun_grad, x, lower, recorder,
                                          maxeval=maxeval - len(recorder.values), ftol=ftol)
    for _ in range(max_probes):
        at_bound = np.flatnonzero(np.isfinite(lower) & (x <= lower))
        best_x, best_f = None, fmin - 1e-12 * max(1.0, abs(fmin))
        for i in at_bound:
            xp = x.copy()
            xp[i] = lower[i] + probe
            fp, _ = fun_grad(xp)
            recorder.record(xp, float(fp))
            if fp < best_f:
                best_x, best_f = xp, fp
        if best_x is None or len(recorder.values) >= maxeval:
            break
        x, fmin, ret, recorder = quasi_newton(fun_grad, best_x, lower, recorder,
                                              maxeval=maxeval - len(recorder.values), ftol=ftol)
    return x, fmin, ret, recorder


def projected_gradient(g: np.ndarray, x: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """The gradient with components that push into an active bound set to zero."""
    g = np.array(g, dtype=float)
    at_bound = np.isfinite(lower) & (x - lower <= 1e-8) & (g > 0)
    g[at_bound] = 0.0
    return g


def check_projected_gradient(g: np.ndarray, x: np.ndarray, lower: np.ndarray) -> ConvergenceCheck:
    """The verdict on an analytic gradient: its projection on the bounds below ``GRADIENT_TOL``."""
    pg = projected_gradient(g, x, lower)
    worst = float(np.max(np.abs(pg))) if len(pg) else 0.0
    ok = worst < GRADIENT_TOL
    messages = () if ok else (
        f"The optimizer stopped where the gradient is {worst:.2g} (tolerance {GRADIENT_TOL:g}); "
        "the estimates may not be the optimum. Simplifying the random effects usually helps.",)
    return ConvergenceCheck(np.asarray(g, float), math.nan, ok, messages)


def check_convergence_gradient(fun_grad: Callable, recorder: Recorder, x: np.ndarray,
                               lower: np.ndarray, *, delta: float = DELTA,
                               boundary_tol: float = BOUNDARY_TOL, max_params: int = 30) -> ConvergenceCheck:
    """:func:`check_convergence` for an objective with an analytic gradient.

    The gradient is exact and the Hessian comes from central differences of the gradient:
    1 + 2m evaluations for m free parameters instead of 1 + 2m + m(m − 1). Every evaluation
    is logged by ``recorder``.
    """
    def evaluate(point):
        f, g = fun_grad(point)
        recorder.record(np.array(point, dtype=float), float(f))
        return g

    free = free_parameters(x, lower, boundary_tol)
    if _not_checked(free, x, lower, delta, max_params):
        return ConvergenceCheck.skipped(len(x))
    idx = np.flatnonzero(free)
    g = evaluate(x)[idx]
    H = np.zeros((len(idx), len(idx)))
    for a, i in enumerate(idx):
        e = np.zeros_like(x)
        e[i] = delta
        H[a] = (evaluate(x + e)[idx] - evaluate(x - e)[idx]) / (2 * delta)
    return _assess(g, 0.5 * (H + H.T), idx, len(x))


def regradient(fun_grad: Callable, recorder: Recorder, x: np.ndarray, lower: np.ndarray,
               hessian: np.ndarray, *, boundary_tol: float = BOUNDARY_TOL) -> ConvergenceCheck:
    """:func:`recheck_gradient` with an analytic gradient: one evaluation."""
    f, g_full = fun_grad(x)
    recorder.record(np.array(x, dtype=float), float(f))
    idx = np.flatnonzero(free_parameters(x, lower, boundary_tol))
    gradient = np.full(len(x), np.nan)
    gradient[idx] = g_full[idx]
    if not len(idx):
        return ConvergenceCheck(gradient, math.nan, True, hessian=hessian)
    return _from_step(gradient, g_full[idx], idx, hessian)


def verdict(converged: bool, singular: bool, messages, return_value: str) -> str:
    """The one-line convergence verdict shown to people."""
    if not converged:
        return "not converged: " + (messages[-1] if messages else return_value)
    return "converged at a boundary (singular fit)" if singular else "converged"


def summarize(settings: OptimizerSettings, *, initial, final, fmin: float, return_value: str,
              check: ConvergenceCheck | None, singular: bool, run: Recorder,
              checks: Sequence[Recorder] = (), reported: Callable | None = None,
              names: tuple = (), started: float, optimizer: str = "LN_BOBYQA") -> OptSummary:
    """The :class:`OptSummary` of an optimization: its settings, trace, check and verdict.

    Parameters
    ----------
    settings : OptimizerSettings
        The settings asked for.
    initial, final : array_like
        Starting and final parameters (as reported).
    fmin : float
        Objective at ``final``.
    return_value : str
        The optimizer's reason for stopping.
    check : ConvergenceCheck or None
        The convergence check at ``final`` (None: not checked).
    singular : bool
        Whether ``final`` is on the boundary (a singular fit).
    run : Recorder
        The optimizer's evaluations.
    checks : sequence of Recorder
        The evaluations of the convergence checks (and of the steps that followed them).
    reported : callable, optional
        Maps the optimizer's parameters (rows of an array) to the reported ones.
    names : tuple of str
        Parameter names (default ``theta_1``, ...).
    started : float
        ``time.perf_counter()`` at the start.
    optimizer : str
        The optimizer's name.
    """
    k = len(final)
    check = check or ConvergenceCheck.skipped(k)
    messages = list(check.messages)
    if return_value == "maximum evaluations reached":
        messages.append(f"The optimizer used its whole budget of {settings.maxeval} evaluations "
                        "before converging; allow more with maxeval=.")
    converged = check.ok and return_value not in FAILED_RETURNS
    params = np.asarray(run.params, float).reshape(len(run.values), k)
    if reported is not None:
        params = reported(params)
    check_values = [v for c in checks for v in c.values]
    check_params = np.asarray([x for c in checks for x in c.params], float).reshape(len(check_values), k)
    return OptSummary(
        optimizer=optimizer, initial=np.asarray(initial, float), final=np.asarray(final, float),
        fmin=float(fmin), evaluations=len(run.values), check_evaluations=len(check_values),
        return_value=return_value, ftol_rel=settings.ftol_rel, ftol_abs=settings.ftol_abs,
        xtol_abs=settings.xtol_abs, maxeval=settings.maxeval,
        gradient=np.asarray(check.gradient, float), scaled_gradient=float(check.scaled_gradient),
        converged=bool(converged), verdict=verdict(converged, singular, messages, return_value),
        messages=tuple(messages), elapsed=time.perf_counter() - started,
        trace_objective=np.asarray(list(run.values) + check_values, float),
        trace_parameters=np.vstack([params, check_params]),
        parameter_names=names or tuple(f"theta_{i + 1}" for i in range(k)))
