"""Derivative-free optimization of the profiled objective, and the record of how it went.

The optimizer is BOBYQA (Powell's bounded quadratic-model trust-region method), through NLopt,
the default of lme4's ``lmer`` (``nloptwrap``). Every evaluation is recorded, as lme4's
``verbose`` output and MixedModels.jl's ``fitlog`` do. After the run the gradient and Hessian at
the optimum are estimated by central differences (cheap here: an evaluation costs no O(n) work)
and the verdict is based on the *scaled* gradient H⁻¹g over the parameters that are not on a
boundary, so a fit that BOBYQA reports as converged is not flagged for a tiny raw gradient.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import FitCancelled

try:
    import nlopt
except ImportError:  # pragma: no cover - nlopt is a pinned requirement
    nlopt = None

_NLOPT_RESULTS = {1: "success", 2: "stopval reached", 3: "ftol reached", 4: "xtol reached",
                  5: "maximum evaluations reached", 6: "time limit reached",
                  -1: "failure", -2: "invalid arguments", -3: "out of memory",
                  -4: "roundoff limited", -5: "forced stop"}

#: Relative (Hessian-scaled) gradient above which a fit is reported as not converged (lme4: 2e-3).
GRADIENT_TOL = 2e-3


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives after each objective evaluation.

    Fields
    ------
    evaluations : int
        Objective evaluations so far.
    objective : float
        The value just computed.
    best : float
        Lowest value so far.
    theta : ndarray
        Parameters of this evaluation.
    elapsed : float
        Seconds since the optimization started.
    stage : str
        ``"optimize"`` or ``"check"`` (the finite-difference convergence check).
    """

    evaluations: int
    objective: float
    best: float
    theta: np.ndarray
    elapsed: float
    stage: str = "optimize"


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


class Recorder:
    """Wraps the objective: records every evaluation, reports progress, honours cancellation."""

    def __init__(self, fun: Callable, progress: Callable | None, stage: str = "optimize"):
        self.fun = fun
        self.progress = progress
        self.values: list[float] = []
        self.params: list[np.ndarray] = []
        self.best = math.inf
        self.best_x = None
        self.t0 = time.perf_counter()
        self.stage = stage

    def __call__(self, x, grad=None) -> float:
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


def verdict(converged: bool, singular: bool, messages, return_value: str) -> str:
    """The one-line convergence verdict shown to people."""
    if not converged:
        return "not converged: " + (messages[-1] if messages else return_value)
    return "converged at a boundary (singular fit)" if singular else "converged"


def bobyqa(fun: Callable, x0: np.ndarray, lower: np.ndarray, *, upper: np.ndarray | None = None,
           ftol_rel: float = 1e-12, ftol_abs: float = 1e-8, xtol_abs: float = 1e-10,
           maxeval: int = 100_000, initial_step: float | np.ndarray = 0.75,
           recorder: Recorder | None = None, progress: Callable | None = None):
    """Minimize ``fun`` from ``x0`` with bounds; returns (x, fmin, return_value, recorder)."""
    rec = recorder or Recorder(fun, progress)
    x0 = np.asarray(x0, float)
    k = len(x0)
    lower = np.asarray(lower, float)
    upper = np.full(k, np.inf) if upper is None else np.asarray(upper, float)
    x0 = np.clip(x0, lower, upper)
    if k == 0:
        return x0, rec(x0), "no parameters", rec
    step = np.broadcast_to(np.asarray(initial_step, float), (k,)).copy()
    if nlopt is None:  # pragma: no cover
        from scipy.optimize import minimize
        r = minimize(rec, x0, method="Powell", bounds=list(zip(lower, upper)),
                     options={"xtol": xtol_abs, "ftol": ftol_rel, "maxfev": maxeval})
        return np.asarray(r.x), float(r.fun), str(r.message), rec
    opt = nlopt.opt(nlopt.LN_BOBYQA, k)
    opt.set_min_objective(rec)
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
    if rec.best < fmin:  # NLopt reports its own best; the record is authoritative
        x, fmin = rec.best_x, rec.best
    return x, float(fmin), _NLOPT_RESULTS.get(code, str(code)), rec


def derivatives(fun: Callable, x: np.ndarray, free: np.ndarray, delta: float = 1e-4):
    """Central-difference gradient and Hessian of ``fun`` at ``x`` over the ``free`` coordinates.

    Uses 1 + 2m + 2m(m−1) evaluations for m free coordinates (lme4's ``deriv12``).
    """
    idx = np.flatnonzero(free)
    m = len(idx)
    f0 = fun(x)
    g = np.zeros(m)
    H = np.zeros((m, m))
    fp = np.zeros(m)
    fm = np.zeros(m)
    for a, i in enumerate(idx):
        e = np.zeros_like(x)
        e[i] = delta
        fp[a], fm[a] = fun(x + e), fun(x - e)
        g[a] = (fp[a] - fm[a]) / (2 * delta)
        H[a, a] = (fp[a] - 2 * f0 + fm[a]) / delta ** 2
    for a in range(m):
        for b in range(a):
            ea = np.zeros_like(x)
            eb = np.zeros_like(x)
            ea[idx[a]] = delta
            eb[idx[b]] = delta
            fpp, fmm = fun(x + ea + eb), fun(x - ea - eb)
            H[a, b] = H[b, a] = (fpp - fp[a] - fp[b] + 2 * f0 - fm[a] - fm[b] + fmm) / (2 * delta ** 2)
    return g, H


def check_convergence(fun: Callable, x: np.ndarray, lower: np.ndarray, *, delta: float = 1e-4,
                      boundary_tol: float = 1e-4, max_params: int = 30):
    """Scaled-gradient convergence check; returns (gradient, scaled_max, ok, messages, newton, H).

    ``newton`` is the Newton step −H⁻¹g over the interior coordinates (zeros elsewhere) when the
    Hessian is positive definite, else None: on a flat objective a derivative-free optimizer stops
    on its function tolerance a little short of the optimum, and this step finishes the job.
    """
    on_bound = (np.isfinite(lower)) & (x - lower < boundary_tol)
    free = ~on_bound
    # step back from a bound so that central differences stay inside the domain
    grad = np.full(len(x), np.nan)
    if free.sum() == 0 or free.sum() > max_params:
        return grad, float("nan"), True, [], None, None
    xs = x.copy()
    near = free & np.isfinite(lower) & (x - lower < 2 * delta)
    if near.any():
        return grad, float("nan"), True, [], None, None
    g, H = derivatives(fun, xs, free, delta)
    grad[free] = g
    msgs = []
    try:
        ev = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        ev = np.array([np.nan])
    if not np.all(np.isfinite(ev)) or ev.min() <= 0:
        # a flat direction or numerical noise: judge on the raw gradient instead
        scaled = float(np.max(np.abs(g)))
        if scaled > GRADIENT_TOL * 10:
            msgs.append("The objective is flat or curved the wrong way in some direction at the "
                        "optimum (the Hessian is not positive definite): the model may be "
                        "over-parameterized; consider simplifying the random effects.")
            return grad, scaled, False, msgs, None, None
        return grad, scaled, True, msgs, None, None
    step = np.linalg.solve(H, g)
    scaled = float(np.max(np.abs(step)))
    newton = np.zeros_like(x)
    newton[free] = -step
    H_full = np.zeros((len(x), len(x)))
    H_full[np.ix_(free, free)] = H
    return grad, scaled, scaled < GRADIENT_TOL, msgs, newton, H_full


def recheck_gradient(fun: Callable, x: np.ndarray, lower: np.ndarray, H_full: np.ndarray,
                     *, delta: float = 1e-4, boundary_tol: float = 1e-4):
    """Central-difference gradient at a new point, scaled by a Hessian computed nearby.

    Returns (gradient, scaled_max, ok, newton) with ``newton`` the next step −H⁻¹g. Used after
    a Newton step, where the curvature has not changed but the gradient has.
    """
    free = ~((np.isfinite(lower)) & (x - lower < boundary_tol))
    idx = np.flatnonzero(free)
    grad = np.full(len(x), np.nan)
    g = np.zeros(len(idx))
    for a, i in enumerate(idx):
        e = np.zeros_like(x)
        e[i] = delta
        g[a] = (fun(x + e) - fun(x - e)) / (2 * delta)
    grad[idx] = g
    if not len(idx):
        return grad, float("nan"), True, None
    step = np.linalg.solve(H_full[np.ix_(idx, idx)], g)
    newton = np.zeros_like(x)
    newton[idx] = -step
    scaled = float(np.max(np.abs(step)))
    return grad, scaled, scaled < GRADIENT_TOL, newton


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


def check_convergence_gradient(fun_grad: Callable, recorder: Recorder, x: np.ndarray,
                               lower: np.ndarray, *, delta: float = 1e-4,
                               boundary_tol: float = 1e-4, max_params: int = 30):
    """:func:`check_convergence` for an objective with an analytic gradient.

    The gradient is exact and the Hessian comes from central differences of the gradient:
    1 + 2m evaluations for m free parameters instead of 1 + 2m + m(m − 1). Returns the same
    (gradient, scaled_max, ok, messages, newton, H) tuple.
    """
    def evaluate(point):
        f, g = fun_grad(point)
        recorder.record(np.array(point, dtype=float), float(f))
        return g

    on_bound = np.isfinite(lower) & (x - lower < boundary_tol)
    free = ~on_bound
    grad = np.full(len(x), np.nan)
    if free.sum() == 0 or free.sum() > max_params:
        return grad, float("nan"), True, [], None, None
    if np.any(free & np.isfinite(lower) & (x - lower < 2 * delta)):
        return grad, float("nan"), True, [], None, None
    idx = np.flatnonzero(free)
    g_full = evaluate(x)
    g = g_full[idx]
    grad[idx] = g
    H = np.zeros((len(idx), len(idx)))
    for a, i in enumerate(idx):
        e = np.zeros_like(x)
        e[i] = delta
        H[a] = (evaluate(x + e)[idx] - evaluate(x - e)[idx]) / (2 * delta)
    H = 0.5 * (H + H.T)
    ev = np.linalg.eigvalsh(H)
    if not np.all(np.isfinite(ev)) or ev.min() <= 0:
        scaled = float(np.max(np.abs(g)))
        if scaled > GRADIENT_TOL * 10:
            return grad, scaled, False, [
                "The objective is flat or curved the wrong way in some direction at the "
                "optimum (the Hessian is not positive definite): the model may be "
                "over-parameterized; consider simplifying the random effects."], None, None
        return grad, scaled, True, [], None, None
    step = np.linalg.solve(H, g)
    newton = np.zeros_like(x)
    newton[idx] = -step
    H_full = np.zeros((len(x), len(x)))
    H_full[np.ix_(idx, idx)] = H
    scaled = float(np.max(np.abs(step)))
    return grad, scaled, scaled < GRADIENT_TOL, [], newton, H_full


def regradient(fun_grad: Callable, recorder: Recorder, x: np.ndarray, lower: np.ndarray,
               H_full: np.ndarray, *, boundary_tol: float = 1e-4):
    """:func:`recheck_gradient` with an analytic gradient: one evaluation."""
    f, g_full = fun_grad(x)
    recorder.record(np.array(x, dtype=float), float(f))
    free = ~(np.isfinite(lower) & (x - lower < boundary_tol))
    idx = np.flatnonzero(free)
    grad = np.full(len(x), np.nan)
    grad[idx] = g_full[idx]
    if not len(idx):
        return grad, float("nan"), True, None
    step = np.linalg.solve(H_full[np.ix_(idx, idx)], g_full[idx])
    newton = np.zeros_like(x)
    newton[idx] = -step
    scaled = float(np.max(np.abs(step)))
    return grad, scaled, scaled < GRADIENT_TOL, newton
