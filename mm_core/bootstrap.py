"""Parametric bootstrap: simulate from the fitted model, refit, and summarize the replicates.

Each replicate simulates a response from the fitted model (:mod:`mm_core.simulate`) and refits
it. Everything that does not depend on the response is reused: the model's cross-products are
updated for the new response only (``CrossProducts.update_response``, O(n)), BOBYQA starts at
the fitted θ with a small initial step, and no convergence check, result object, table or
formula is built per replicate. A replicate records β, their standard errors, θ, σ, the
objective and whether the refit is singular.

Replicate ``j`` draws from child ``j`` of ``SeedSequence(seed)``, so the table is the same
whatever the number of workers or the chunking; replicates run in chunks on a process pool
(by default) or on any ``concurrent.futures.Executor`` (e.g. a ``dask.distributed`` client's
``get_executor()``). A replicate engine pickles as the model's design and settings only, and
rebuilds its model once per worker process (whatever the factorization backend holds).
"""
from __future__ import annotations

import itertools
import math
import os
import pickle
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._threads import blas_threads
from .dense import chol, tri_inv, tri_solve
from .errors import MixedModelError, NotFittedError
from .intervals import covariance_layout, estimates, parameter_names, sdcor
from .simulate import ResponseSimulator, check_count, check_result, replicate_rng, seed_entropy

__all__ = [
    "BootstrapResult",
    "make_replicator",
    "parametric_bootstrap",
    "run_replicates",
    "shortest_interval",
]

#: Diagonal elements of λ below this are tried at 0 after a refit.
SNAP_TOL = 1e-3


# ============================================================================ replicate engines
class ScalarTermCriterion:
    """The profiled ML deviance / REML criterion of a model with one scalar random-effects term.

    The same quantity as ``model.objective(θ)``, from cross-products of its own: with
    ``mₖ = θ² (ZᵀWZ)ₖₖ + 1`` per level, ``log|L|² = Σ log mₖ`` and the downdated block
    ``C = [X y]ᵀW[X y] − A_X1 diag(θ²/mₖ) A_X1ᵀ`` (``A_X1 = [X y]ᵀWZ``), whose Cholesky factor
    gives ``log|R_X|²`` and the penalized residual sum of squares. A handful of array operations
    per evaluation, for the bootstrap of models such as ``y ~ 1 + (1 | g)``;
    :meth:`set_response` updates the blocks that involve y in O(n).
    """

    def __init__(self, model):
        terms = model.reterms
        if len(terms) != 1 or terms[0].ncols != 1:
            raise ValueError("ScalarTermCriterion needs one scalar random-effects term")
        t = terms[0]
        self.refs, self.l1 = t.refs, t.nlevels
        self.X = np.ascontiguousarray(model.X, float)
        self.n, self.p = self.X.shape
        self.w = (np.ones(self.n) if model.weights is None
                  else np.asarray(model.weights, float))
        self.wz = self.w * t.z[0]
        self.a11 = np.bincount(self.refs, self.wz * t.z[0], minlength=self.l1)
        p = self.p
        self.AX1 = np.zeros((p + 1, self.l1))
        for k in range(p):
            self.AX1[k] = np.bincount(self.refs, self.wz * self.X[:, k], minlength=self.l1)
        self.AXX = np.zeros((p + 1, p + 1))
        self.AXX[:p, :p] = self.X.T @ (self.X * self.w[:, None])
        self.reml = model.reml
        self.log_det_w = model.log_det_w
        self.set_response(model.y)

    def set_response(self, y: np.ndarray) -> None:
        """New response (minus offset): the row and column of y in the cross-products."""
        p = self.p
        wy = self.w * y
        self.AX1[p] = np.bincount(self.refs, self.wz * y, minlength=self.l1)
        xy = self.X.T @ wy
        self.AXX[:p, p] = xy
        self.AXX[p, :p] = xy
        self.AXX[p, p] = y @ wy

    def factor(self, theta):
        """(lower Cholesky factor of C, log|L|²); (None, nan) where not positive definite."""
        t2 = theta[0] * theta[0]
        m = t2 * self.a11 + 1.0
        C = self.AXX - (self.AX1 * (t2 / m)) @ self.AX1.T
        try:
            RX = chol(C, overwrite=True)
        except np.linalg.LinAlgError:
            return None, math.nan
        return RX, float(np.log(m).sum())

    def criterion(self, RX, logdet) -> float:
        p, n = self.p, self.n
        pwrss = RX[p, p] ** 2
        if not pwrss > 0:
            return math.nan
        if self.reml:
            logdet_rx = 2.0 * float(np.log(np.diagonal(RX)[:p]).sum()) if p else 0.0
            return (logdet + logdet_rx - self.log_det_w
                    + (n - p) * (1.0 + math.log(2.0 * math.pi * pwrss / (n - p))))
        return logdet - self.log_det_w + n * (1.0 + math.log(2.0 * math.pi * pwrss / n))

    def __call__(self, theta) -> float:
        RX, logdet = self.factor(theta)
        return math.nan if RX is None else self.criterion(RX, logdet)


def _fresh_lmm(design, reml: bool, weights):
    from .lmm import LinearMixedModel
    return LinearMixedModel(design, reml=reml, weights=weights, allow_more_random_effects=True)


def _fresh_glmm(spec: dict):
    import warnings

    from .glmm import GeneralizedLinearMixedModel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the fit has already reported them
        return GeneralizedLinearMixedModel(spec["design"], family=spec["family"],
                                           weights=spec["weights"], n_agq=spec["n_agq"],
                                           allow_more_random_effects=True)


class LmmReplicator:
    """Refits a linear mixed model to simulated responses (the per-replicate inner loop).

    Parameters
    ----------
    model : LinearMixedModel
        A private copy: its cross-products are overwritten for every response
        (``cp.update_response``), or, for one scalar term, :class:`ScalarTermCriterion`'s.
    simulator : ResponseSimulator
    theta0 : ndarray
        Start of BOBYQA (the fitted θ).
    step : float
        Initial trust-region radius relative to max(|θᵢ|, 1).

    ``__call__(j, entropy)`` returns one row ``[objective, sigma, singular, β…, se…, θ…]``.
    """

    def __init__(self, model, simulator: ResponseSimulator, theta0, *, step: float = 0.1,
                 ftol_rel: float = 1e-12, ftol_abs: float = 1e-8, xtol_abs: float = 1e-10,
                 maxeval: int = 10_000):
        self.model = model
        self.sim = simulator
        self.theta0 = np.asarray(theta0, float)
        self.k = len(self.theta0)
        self.p = model.p
        self.step = np.maximum(step * np.maximum(np.abs(self.theta0), 1.0), 1e-3)
        self.opts = dict(ftol_rel=ftol_rel, ftol_abs=ftol_abs, xtol_abs=xtol_abs,
                         maxeval=maxeval)
        self._opt = None
        scalar = len(model.reterms) == 1 and model.reterms[0].ncols == 1
        self.fast = ScalarTermCriterion(model) if scalar else None

    def __getstate__(self):
        state = self.__dict__.copy()
        m = state.pop("model")
        state.pop("fast")
        state["_opt"] = None
        state["_spec"] = (m.design, m.reml, m.weights)
        return state

    def __setstate__(self, state):
        design, reml, weights = state.pop("_spec")
        self.__dict__.update(state)
        self.model = _fresh_lmm(design, reml, weights)
        scalar = len(self.model.reterms) == 1 and self.model.reterms[0].ncols == 1
        self.fast = ScalarTermCriterion(self.model) if scalar else None

    def width(self) -> int:
        return 3 + 2 * self.p + self.k

    def _optimizer(self):
        import nlopt
        opt = nlopt.opt(nlopt.LN_BOBYQA, self.k)
        opt.set_lower_bounds(np.asarray(self.model.lower, float).tolist())
        opt.set_upper_bounds([math.inf] * self.k)
        opt.set_ftol_rel(self.opts["ftol_rel"])
        opt.set_ftol_abs(self.opts["ftol_abs"])
        opt.set_xtol_abs(self.opts["xtol_abs"])
        opt.set_maxeval(self.opts["maxeval"])
        opt.set_initial_step(self.step.tolist())
        return opt

    def __call__(self, j: int, entropy: int) -> np.ndarray:
        return self.refit(self.sim.draw(replicate_rng(entropy, j)))

    def _factor(self, theta):
        """(RX, pwrss, criterion) at θ, or None where the factorization fails."""
        from .pls import NotPositiveDefinite
        fast, p = self.fast, self.p
        if fast is not None:
            RX, logdet = fast.factor(theta)
            return None if RX is None else (RX, RX[p, p] ** 2, fast.criterion(RX, logdet))
        try:
            f = self.model.pls.factor(theta)
        except NotPositiveDefinite:
            return None
        return f.RX, f.pwrss, self.model.criterion(f)

    def refit(self, y: np.ndarray) -> np.ndarray:
        """One row of the result table for the response ``y`` (on the scale of the fit's y)."""
        model = self.model
        if model.offset is not None:
            y = y - model.offset                  # the model's response excludes the offset
        if self.fast is not None:
            self.fast.set_response(y)
        else:
            model.cp.update_response(y)
        best = [math.inf, None]

        def fun(x, grad=None):
            got = self._factor(np.asarray(x))
            val = got[2] if got is not None else math.nan
            if not math.isfinite(val):
                return 1e300
            if val < best[0]:
                best[0], best[1] = val, np.array(x)
            return val

        theta = self.theta0
        if self.k:
            import nlopt
            if self._opt is None:
                self._opt = self._optimizer()
            self._opt.set_min_objective(fun)
            try:
                self._opt.optimize(np.maximum(self.theta0, model.lower).tolist())
            except (nlopt.RoundoffLimited, RuntimeError, ValueError):
                pass
            theta = best[1]
            if theta is not None:
                theta = self._snap(fun, theta, best[0])
        out = np.full(self.width(), np.nan)
        got = self._factor(theta) if theta is not None else None
        if got is None:
            return out
        RX, pwrss, crit = got
        p, n = self.p, model.n
        sigma2 = pwrss / (n - p if model.reml else n)
        out[0] = crit
        out[1] = math.sqrt(sigma2)
        out[2] = float(model.is_singular(theta))
        if p:
            Rxx = np.ascontiguousarray(RX[:p, :p])
            beta = tri_solve(Rxx, np.ascontiguousarray(RX[p, :p]), trans=True)
            Rinv = tri_inv(Rxx)                          # lower triangular inverse
            out[3:3 + p] = beta
            out[3 + p:3 + 2 * p] = math.sqrt(sigma2) * np.sqrt(np.einsum("ij,ij->j", Rinv, Rinv))
        out[3 + 2 * p:] = theta
        return out

    def _snap(self, fun, theta: np.ndarray, fbest: float) -> np.ndarray:
        """Set near-zero diagonal elements of λ to exactly 0 where that does not raise the
        objective (BOBYQA approaches a bound slowly; the fresh fit's check does the same)."""
        near = np.flatnonzero((self.model.lower == 0) & (theta > 0) & (theta < SNAP_TOL))
        for i in near:
            trial = theta.copy()
            trial[i] = 0.0
            val = fun(trial)
            if val <= fbest:
                theta, fbest = trial, val
        return theta


class GlmmReplicator:
    """Refits a GLMM to simulated responses.

    The response and the family kernel of a private copy of the model are replaced (the
    model's design, PLS structure and fill-reducing analysis are reused). When the fit's
    Hessian of the deviance over (θ, β) is positive definite, a replicate is a quasi-Newton
    minimization started at the fitted (θ, β) in coordinates whitened by that Hessian
    (``x = x̂ + L z`` with ``LLᵀ = H⁻¹``, where the replicate's objective is nearly ``½‖z‖²`` plus
    a linear term): forward-difference gradients, BFGS updates from the identity, stopped when
    the step is below ``NEWTON_XTOL`` standard deviations. That takes a few dozen evaluations
    instead of the ~200 of a BOBYQA run at full precision. Otherwise (a singular fit, a step
    that leaves the bounds, no decrease) BOBYQA starts from the best point so far, with β in
    the coordinates scaled by the Cholesky factor of its covariance, as the fit's stage 2. PIRLS
    is warm-started from the previous evaluation throughout. ``fast`` fits (nAGQ = 0) optimize
    θ with β profiled in PIRLS. Standard errors are the penalized least-squares ones (no Hessian
    per replicate).
    """

    def __init__(self, result, simulator: ResponseSimulator, *, step: float = 0.1,
                 ftol_rel: float = 1e-12, ftol_abs: float = 1e-8, xtol_abs: float = 1e-10,
                 maxeval: int = 100_000):
        from .glmm import safe_cholesky
        m0 = result.model
        self._spec = dict(design=m0.design, family=m0.family, weights=m0.user_weights,
                          n_agq=m0.n_agq)
        self.model = _fresh_glmm(self._spec)
        self.sim = simulator
        self.theta0 = np.asarray(result.theta, float)
        self.beta0 = np.asarray(result.beta, float)
        self.k, self.p = len(self.theta0), len(self.beta0)
        self.fast = self.model.n_agq == 0
        vcov = np.asarray(result.extras.get("vcov_pls", result.vcov), float)
        self.T = safe_cholesky(vcov)
        self.step = step
        self.opts = dict(ftol_rel=ftol_rel, ftol_abs=ftol_abs, xtol_abs=xtol_abs, maxeval=maxeval)
        self.eta0 = self.model.X @ self.beta0 + self.model.offset
        self.dispersion = bool(self.model.family.has_dispersion)
        # whitening of the optimizer's coordinates (θ, γ), β = β̂ + Tγ, by the fit's Hessian
        self.L = None
        H = result.extras.get("hessian")
        if not self.fast and H is not None:
            A = np.eye(self.k + self.p)
            A[self.k:, self.k:] = self.T
            self.L = _whitening(A.T @ np.asarray(H, float) @ A)

    def width(self) -> int:
        return 3 + 2 * self.p + self.k

    def __call__(self, j: int, entropy: int) -> np.ndarray:
        return self.refit(self.sim.draw(replicate_rng(entropy, j)))

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("model")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.model = _fresh_glmm(self._spec)

    def _set_response(self, y: np.ndarray) -> None:
        from .pirls import FamilyKernel
        m = self.model
        m.y = np.asarray(y, float)
        m.kernel = FamilyKernel(m.family, m.y, m.pw, m.trials)
        m.kernel.calibrate(self.eta0)

    def refit(self, y: np.ndarray) -> np.ndarray:
        import nlopt

        from .glmm import PIRLS_TOL, PIRLS_TOL_TIGHT, GlmmObjective, pls_vcov
        from .pirls import PirlsError
        from .pls import NotPositiveDefinite
        failures = (PirlsError, NotPositiveDefinite, FloatingPointError, np.linalg.LinAlgError)
        m, k, p = self.model, self.k, self.p
        out = np.full(self.width(), np.nan)
        self._set_response(y)
        try:
            st0 = m.solve(self.theta0, self.beta0, np.zeros(m.system.q),
                          profile_beta=self.fast, tol=PIRLS_TOL)
        except failures:
            return out
        if self.fast:
            def to_args(x):
                return x, None
            x0, lower = self.theta0.copy(), np.asarray(m.lower, float)
            step = np.maximum(self.step * np.abs(x0), 0.02)
        else:
            T, beta0 = self.T, self.beta0

            def to_args(x):
                return x[:k], beta0 + T @ x[k:]
            x0 = np.concatenate([self.theta0, np.zeros(p)])
            lower = np.concatenate([m.lower, np.full(p, -np.inf)])
            step = np.concatenate([np.maximum(self.step * np.abs(self.theta0), 0.02),
                                   np.full(p, 0.1)])
        obj = GlmmObjective(m, to_args, st0, profile_beta=self.fast, tol=PIRLS_TOL)
        best = [math.inf, None]

        def fun(x, grad=None):
            val = obj(np.asarray(x))
            if val < best[0]:
                best[0], best[1] = val, np.array(x)
            return val

        if self.L is None or not _quasi_newton(fun, x0, self.L, lower):
            if best[1] is not None:           # BOBYQA from the best point of the quasi-Newton
                x0 = np.maximum(best[1], lower)
            opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
            opt.set_min_objective(fun)
            opt.set_lower_bounds(lower.tolist())
            opt.set_upper_bounds([math.inf] * len(x0))
            opt.set_ftol_rel(self.opts["ftol_rel"])
            opt.set_ftol_abs(self.opts["ftol_abs"])
            opt.set_xtol_abs(self.opts["xtol_abs"])
            opt.set_maxeval(self.opts["maxeval"])
            opt.set_initial_step(step.tolist())
            try:
                opt.optimize(np.maximum(x0, lower).tolist())
            except (nlopt.RoundoffLimited, RuntimeError, ValueError):
                pass
        if best[1] is None:
            return out
        x, fx = best[1], best[0]
        # near-zero diagonal elements of λ: try them at the bound
        for i in np.flatnonzero((m.lower == 0) & (x[:k] > 0) & (x[:k] < SNAP_TOL)):
            trial = x.copy()
            trial[i] = 0.0
            val = fun(trial)
            if val <= fx:
                x, fx = trial, val
        theta, beta = to_args(x)
        try:
            st = m.solve(theta, beta if beta is not None else obj.best.beta, obj.best.u,
                         profile_beta=self.fast, tol=PIRLS_TOL_TIGHT)
            vcov = pls_vcov(m, st)
        except failures:
            return out
        out[0] = m.laplace(st) if self.fast else m.objective_at(st)
        out[1] = math.sqrt(m.dispersion(st)) if self.dispersion else np.nan
        out[2] = float(m.is_singular(theta))
        out[3:3 + p] = st.beta
        out[3 + p:3 + 2 * p] = np.sqrt(np.maximum(np.diag(vcov), 0.0)) if p else []
        out[3 + 2 * p:] = theta
        return out


#: The quasi-Newton refit of a GLMM replicate stops when its step is below this many standard
#: deviations of every parameter (the fit's Hessian sets the scale), or after NEWTON_MAXITER.
#: BFGS converges superlinearly, so the estimates are then within ~1e-3 standard deviations of
#: the optimum (contra with a random slope: 0.1 % of a standard error, −2ℓ within 1e-5).
NEWTON_XTOL = 1e-2
NEWTON_MAXITER = 20
#: Forward-difference step of the gradient, in the same whitened units.
NEWTON_DELTA = 1e-4


def _whitening(H: np.ndarray) -> np.ndarray | None:
    """L with LLᵀ = (H/2)⁻¹ for a positive definite Hessian H of the deviance (−2ℓ); None when
    H is missing, not finite or not positive definite (a fit on a boundary)."""
    if not np.all(np.isfinite(H)):
        return None
    try:
        R = np.linalg.cholesky(0.5 * (H + H.T) / 2.0)
    except np.linalg.LinAlgError:
        return None
    return tri_inv(np.ascontiguousarray(R)).T


def _quasi_newton(fun, x0: np.ndarray, L: np.ndarray, lower: np.ndarray) -> bool:
    """Minimize ``fun`` from ``x0`` by BFGS in the whitened coordinates ``x = x0 + L z``.

    ``fun`` is −2ℓ, so ``½fun`` is nearly ``½‖z‖²`` plus a linear term and the BFGS matrix starts
    at the identity; a step that would cross a bound is shortened to stay inside. Returns True
    on convergence (step below :data:`NEWTON_XTOL` in every coordinate); False when the
    iterate reaches a bound or a step does not decrease ``fun``, or after
    :data:`NEWTON_MAXITER` iterations (the caller then continues with BOBYQA).
    """
    n = len(x0)
    z = np.zeros(n)
    f = 0.5 * fun(x0)
    if not math.isfinite(f):
        return False
    eye = np.eye(n)

    def grad(z, f):
        g = np.empty(n)
        for i in range(n):
            zi = z.copy()
            zi[i] += NEWTON_DELTA
            g[i] = (0.5 * fun(x0 + L @ zi) - f) / NEWTON_DELTA
        return g

    g = grad(z, f)
    B = eye.copy()
    for _ in range(NEWTON_MAXITER):
        d = -np.linalg.solve(B, g)
        t = 1.0
        dx = L @ d
        xz = x0 + L @ z
        out = (xz + dx < lower) & (dx < 0)
        if out.any():                         # stop short of the bounds (λ's diagonal ≥ 0)
            t = 0.9 * float(np.min((lower[out] - xz[out]) / dx[out]))
            if t < 1e-3:
                return False
        for _halving in range(4):
            x = np.maximum(x0 + L @ (z + t * d), lower)
            f_new = 0.5 * fun(x)
            if math.isfinite(f_new) and f_new <= f:
                break
            t *= 0.5
        else:
            return False
        step = t * d
        if np.max(np.abs(step)) < NEWTON_XTOL:
            return True
        z_new = z + step
        g_new = grad(z_new, f_new)
        yv = g_new - g
        sy = float(step @ yv)
        if sy > 1e-12:                                  # BFGS update of the Hessian
            Bs = B @ step
            B = B + np.outer(yv, yv) / sy - np.outer(Bs, Bs) / float(step @ Bs)
        z, f, g = z_new, f_new, g_new
    return False


def make_replicator(result, *, beta=None, theta=None, sigma=None, step: float = 0.1,
                    **options):
    """The replicate engine for a fit (a picklable callable ``(j, entropy) -> row``)."""
    simulator = ResponseSimulator.from_result(result, beta=beta, theta=theta, sigma=sigma)
    if result.is_lmm:
        m = result.model                  # a model of our own: the fit's is left untouched
        return LmmReplicator(_fresh_lmm(m.design, m.reml, m.weights), simulator, result.theta,
                             step=step, **options)
    return GlmmReplicator(result, simulator, step=step, **options)


# ============================================================================ workers
_WORKER_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()
_WORKER_BLAS: list = []


_POOL_SIGNALS: dict = {}


def _worker_init(token: str, payload: bytes, stop=None, counter=None) -> None:
    # a worker process of our own pool: one BLAS thread for good (the pool is the parallelism)
    _WORKER_BLAS.append(blas_threads(1))
    _WORKER_CACHE[(token, threading.get_ident())] = pickle.loads(payload)
    _POOL_SIGNALS[token] = (stop, counter)


def _replicator_for(token: str, payload: bytes | None):
    """This thread's replicator (a replicator mutates its model, so threads never share one)."""
    key = (token, threading.get_ident())
    with _CACHE_LOCK:
        rep = _WORKER_CACHE.get(key)
        if rep is None:
            if payload is None:
                raise RuntimeError("bootstrap worker was not initialized")
            if len(_WORKER_CACHE) >= 16:
                _WORKER_CACHE.clear()
            rep = _WORKER_CACHE[key] = pickle.loads(payload)
        return rep


def _run_chunk(token: str, payload: bytes | None, entropy: int, start: int,
               stop: int) -> tuple[int, np.ndarray]:
    """Replicates ``start … stop−1`` (runs in a worker; the replicator is cached per thread).

    In a pool of our own, the driver's stop event ends the chunk after the replicate under way
    (the rows done so far are returned) and a shared counter reports each finished replicate.
    """
    rep = _replicator_for(token, payload)
    halt, counter = _POOL_SIGNALS.get(token, (None, None))
    out = np.empty((stop - start, rep.width()))
    with blas_threads():
        for i, j in enumerate(range(start, stop)):
            if halt is not None and halt.is_set():
                return start, out[:i]
            out[i] = rep(j, entropy)
            if counter is not None:
                with counter.get_lock():
                    counter.value += 1
    return start, out


def _mp_context():
    """``fork`` in a single-threaded process (fast, nothing re-imported), else ``forkserver``."""
    import multiprocessing as mp
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["mm_core.bootstrap"])
        return ctx
    return mp.get_context("spawn")


# ============================================================================ the result
def shortest_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Shortest interval containing ``ceil(level·n)`` of the finite values.

    MixedModels.jl's ``shortestcovint``.
    """
    v = np.sort(np.asarray(values, float)[np.isfinite(values)])
    n = len(v)
    if n == 0:
        return (math.nan, math.nan)
    k = int(math.ceil(n * level))
    if k >= n:
        return (float(v[0]), float(v[-1]))
    widths = v[k - 1:] - v[:n - k + 1]
    i = int(np.argmin(widths))
    return (float(v[i]), float(v[i + k - 1]))


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """The replicates of a parametric bootstrap.

    Fields
    ------
    fits : pandas.DataFrame
        One row per finished replicate: ``replicate, objective, sigma, singular``,
        ``beta[<name>]``, ``se[<name>]``, ``theta[<k>]``.
    tidy : pandas.DataFrame
        Long table: ``replicate, parameter, type, group, name, value`` with ``type`` ``"beta"``
        (fixed effect), ``"sigma"`` (a random-effect standard deviation, or the residual σ with
        group ``"residual"``) or ``"rho"`` (a correlation); ``parameter`` is lme4's name
        (``sd_(Intercept)|subj``).
    estimates : pandas.Series
        The parameters of the original fit, by lme4 name.
    parameters : pandas.DataFrame
        ``type, group, name`` of each parameter, by lme4 name.
    n_requested : int
        Replicates asked for.
    seed : int
        Entropy of ``SeedSequence(seed)``; replicate ``j`` uses its child ``j``.
    cancelled : bool
        The progress callback stopped the run (the finished replicates are kept).
    elapsed : float
        Seconds.
    workers : int
        Worker processes used (1: in this process).
    """

    fits: pd.DataFrame
    tidy: pd.DataFrame
    estimates: pd.Series
    parameters: pd.DataFrame
    n_requested: int
    seed: int
    cancelled: bool
    elapsed: float
    workers: int
    values: pd.DataFrame = field(repr=False)

    @property
    def n(self) -> int:
        """Number of finished replicates."""
        return len(self.fits)

    @property
    def singular(self) -> np.ndarray:
        return self.fits["singular"].to_numpy(bool)

    @property
    def singular_fraction(self) -> float:
        """Fraction of replicates whose refit is singular."""
        return float(self.singular.mean()) if self.n else math.nan

    @property
    def n_failed(self) -> int:
        """Replicates whose refit failed (NaN rows)."""
        return int(self.fits["objective"].isna().sum())

    def confint(self, level: float = 0.95, method: str = "shortest") -> pd.DataFrame:
        """Coverage intervals of every parameter.

        Parameters
        ----------
        level : float
        method : {"shortest", "equaltail"}
            Shortest interval covering ``level`` of the replicates (MixedModels.jl's
            ``shortestcovint``) or the ``(1−level)/2`` and ``(1+level)/2`` quantiles.

        Returns
        -------
        pandas.DataFrame
            ``type, group, name, estimate, lower, upper`` by lme4 parameter name.
        """
        if not 0 < level < 1:
            raise MixedModelError(f"level must be between 0 and 1, not {level!r}")
        rows = []
        for name in self.values.columns:
            v = self.values[name].to_numpy()
            v = v[np.isfinite(v)]
            if method == "shortest":
                lo, hi = shortest_interval(v, level)
            elif method in ("equaltail", "percentile", "quantile"):
                lo, hi = ((np.quantile(v, (1 - level) / 2), np.quantile(v, (1 + level) / 2))
                          if len(v) else (math.nan, math.nan))
            else:
                raise MixedModelError(f"unknown interval method {method!r}; use 'shortest' "
                                      "or 'equaltail'")
            rows.append((float(lo), float(hi)))
        out = self.parameters.copy()
        out["estimate"] = self.estimates
        out["lower"] = [r[0] for r in rows]
        out["upper"] = [r[1] for r in rows]
        out.attrs.update(level=level, method=f"bootstrap-{method}")
        return out

    def summary(self) -> pd.DataFrame:
        """Mean, standard deviation and the shortest 95 % interval of each parameter."""
        ci = self.confint(0.95)
        ci["mean"] = self.values.mean()
        ci["std"] = self.values.std()
        return ci


def _assemble(result, rows: np.ndarray, reps: np.ndarray, n: int, entropy: int,
              cancelled: bool, elapsed: float, workers: int) -> BootstrapResult:
    names = list(result.fixef.index)
    p, k = len(names), len(result.theta)
    cols = (["objective", "sigma", "singular"] + [f"beta[{nm}]" for nm in names]
            + [f"se[{nm}]" for nm in names] + [f"theta[{i + 1}]" for i in range(k)])
    fits = pd.DataFrame(rows, columns=cols)
    fits["singular"] = fits["singular"].fillna(0).astype(bool)
    fits.insert(0, "replicate", reps.astype(np.int64))
    info = parameter_names(result)
    layout = covariance_layout(result.model.design)
    sigma = rows[:, 1]
    has_scale = "sigma" in info.index
    theta = rows[:, 3 + 2 * p:]
    values = pd.DataFrame(sdcor(theta, sigma if has_scale else None, layout)
                          if k else np.zeros((len(rows), 0)),
                          columns=list(info.index[:k]))
    if has_scale:
        values["sigma"] = sigma
    for i, nm in enumerate(names):
        values[nm] = rows[:, 3 + i]
    values.index = pd.Index(reps, name="replicate")
    long = values.reset_index().melt(id_vars="replicate", var_name="parameter",
                                     value_name="value")
    long = long.join(info, on="parameter")[["replicate", "parameter", "type", "group", "name",
                                            "value"]]
    return BootstrapResult(fits=fits, tidy=long, estimates=estimates(result), parameters=info,
                           n_requested=n, seed=entropy, cancelled=cancelled, elapsed=elapsed,
                           workers=workers, values=values)


# ============================================================================ the driver
#: Seconds between progress reports while replicates run (the callback can cancel at each).
PROGRESS_INTERVAL = 0.25
#: Tasks in flight per worker: new chunks are submitted as earlier ones finish, so a huge
#: ``n`` never creates more than this many futures per worker.
WINDOW_PER_WORKER = 2


def _chunks(n: int, size: int, ramp: bool):
    """(start, stop) of the chunks, lazily; with ``ramp`` the sizes grow 1, 2, 4, ... up to
    ``size``, so the first replicates report (and can be cancelled) at once."""
    s, k = 0, 1 if ramp else size
    while s < n:
        e = min(s + k, n)
        yield s, e
        s, k = e, min(2 * k, size)


class _Tally:
    """Finished rows by chunk start, and the progress callback's verdict."""

    def __init__(self, progress, n: int, keep_partial: bool):
        self.progress, self.n, self.keep_partial = progress, n, keep_partial
        self.done: dict[int, np.ndarray] = {}
        self.t0 = time.perf_counter()
        self.last = self.t0

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.done.values())

    def add(self, start: int, rows: np.ndarray, complete: bool) -> None:
        if len(rows) and (complete or self.keep_partial):
            self.done[start] = rows

    def report(self, count: int | None = None) -> bool:
        """Call the progress callback; True when it asked to stop."""
        self.last = time.perf_counter()
        if self.progress is None:
            return False
        return self.progress(self.count if count is None else count,
                             self.last - self.t0) is False

    def due(self) -> bool:
        return time.perf_counter() - self.last >= PROGRESS_INTERVAL


def _run_here(replicator, chunks, entropy, tally: _Tally) -> bool:
    """Run chunks in this process; returns whether the run was cancelled.

    With ``tally.keep_partial`` progress is also reported between replicates (every
    :data:`PROGRESS_INTERVAL` seconds), and a cancellation keeps the replicates of the chunk
    under way.
    """
    for s, e in chunks:
        out = np.empty((e - s, replicator.width()))
        with blas_threads():
            for i, j in enumerate(range(s, e)):
                out[i] = replicator(j, entropy)
                if tally.keep_partial and i + 1 < e - s and tally.due():
                    if tally.report(tally.count + i + 1):
                        tally.add(s, out[:i + 1], False)
                        return tally.count < tally.n
        tally.add(s, out, True)
        if tally.report():
            return tally.count < tally.n
    return False


def _run_pool(replicator, chunks, entropy, tally: _Tally, executor, workers) -> bool:
    """Run chunks on an executor (ours when ``executor`` is None); True when cancelled.

    At most :data:`WINDOW_PER_WORKER` chunks per worker are in flight. With a pool of our own,
    a shared counter makes progress move with every finished replicate and a stop event ends
    the running chunks after their current replicate when the callback cancels.
    """
    payload = pickle.dumps(replicator, protocol=pickle.HIGHEST_PROTOCOL)
    token = uuid.uuid4().hex
    own = executor is None
    halt = counter = None
    if own:
        ctx = _mp_context()
        halt, counter = ctx.Event(), ctx.Value("q", 0)
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                       initializer=_worker_init,
                                       initargs=(token, payload, halt, counter))
    send = None if own else payload
    window = WINDOW_PER_WORKER * max(1, workers or getattr(executor, "_max_workers", 0) or 4)
    chunks = iter(chunks)
    pending: dict = {}
    cancelled = False

    def fill():
        while len(pending) < window:
            nxt = next(chunks, None)
            if nxt is None:
                return
            pending[executor.submit(_run_chunk, token, send, entropy, *nxt)] = nxt

    def collect(futures):
        for fut in futures:
            s, e = pending.pop(fut)
            if fut.cancelled():
                continue
            start, out = fut.result()
            tally.add(start, out, len(out) == e - s)

    try:
        fill()
        while pending:
            finished, _ = wait(list(pending), timeout=PROGRESS_INTERVAL,
                               return_when=FIRST_COMPLETED)
            collect(finished)
            fill()
            count = None
            if counter is not None and tally.keep_partial:
                count = max(tally.count, counter.value)
            if (finished or (tally.keep_partial and tally.due())) and tally.report(count):
                cancelled = True
                break
        if cancelled:
            if halt is not None:
                halt.set()                    # running chunks stop after their replicate
            for fut in pending:
                fut.cancel()
            if own:
                collect(wait(list(pending))[0])
            return tally.count < tally.n
        return False
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)


def _check_fitted(result, allow_unconverged: bool) -> None:
    check_result(result)
    finite = (np.isfinite(result.objective) and np.all(np.isfinite(result.theta))
              and np.all(np.isfinite(result.beta)))
    if not finite:
        raise NotFittedError("the fit failed (its estimates are not finite); there is nothing "
                             "to bootstrap")
    if not result.converged and not allow_unconverged:
        raise NotFittedError("the fit did not converge (" + result.optsum.verdict + "); a "
                             "bootstrap around it would be misleading. Fix the fit first, or "
                             "pass allow_unconverged=True.")


def parametric_bootstrap(result, n: int, *, seed=None, rng: np.random.Generator | None = None,
                         progress: Callable | None = None, executor: Executor | None = None,
                         workers: int | None = None, chunk_size: int | None = None,
                         beta=None, theta=None, sigma=None, allow_unconverged: bool = False,
                         step: float = 0.1, **optimizer) -> BootstrapResult:
    """Parametric bootstrap of a fitted linear or generalized linear mixed model.

    Parameters
    ----------
    result : MixedModelResult
        A converged fit.
    n : int
        Number of replicates.
    seed : int or numpy.random.Generator, optional
        Replicate ``j`` draws from child ``j`` of ``numpy.random.SeedSequence(seed)``: the same
        seed gives the same table whatever ``workers``, ``executor`` or ``chunk_size``.
    rng : numpy.random.Generator, optional
        Alternative to ``seed`` (128 bits of entropy are drawn from it).
    progress : callable, optional
        ``progress(done, elapsed)`` after each chunk and, with the default chunking, every
        ``PROGRESS_INTERVAL`` seconds while replicates run; returning ``False`` cancels the
        run: the running replicates stop after the one under way (in this process or a pool of
        our own) and the finished replicates are kept (``result.cancelled`` is True).
    executor : concurrent.futures.Executor, optional
        Where chunks run, e.g. ``distributed.Client(...).get_executor()``. Default: a process
        pool of ``workers`` processes created (and shut down) here.
    workers : int, optional
        Size of the default pool; default ``os.cpu_count()``; 1 runs in this process.
    chunk_size : int, optional
        Replicates per task. Default: tasks of 1, 2, 4, ... replicates growing to about 1/64
        of ``n`` (between 16 and 1000), so that progress moves from the first replicates, and
        a cancelled run keeps every finished replicate. Given explicitly, every task has that
        size and a cancelled run keeps whole tasks only. Tasks are submitted as earlier ones
        finish (a few per worker in flight), so any ``n`` starts at once.
    beta, theta, sigma : optional
        Simulate at these parameter values instead of the estimates.
    allow_unconverged : bool
        Bootstrap a fit that did not converge instead of raising.
    step : float
        BOBYQA's initial step, relative to max(|θᵢ|, 1).
    **optimizer
        ``ftol_rel``, ``ftol_abs``, ``xtol_abs``, ``maxeval`` for the refits.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    NotFittedError
        ``result`` is not a fitted model, its fit failed or did not converge.
    MixedModelError
        ``n`` is not a positive integer.

    Notes
    -----
    Equivalent to MixedModels.jl's ``parametricbootstrap(rng, n, m)`` and lme4's
    ``bootMer(m, FUN, nsim = n, type = "parametric", use.u = FALSE)``. The refits use the
    fit's criterion (REML or ML). A refit is singular when a diagonal element of λ is below
    1e-4 (lme4's ``isSingular`` tolerance).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> b = parametric_bootstrap(m, 200, seed=1, workers=1)
    >>> b.n, sorted(b.tidy["type"].unique())
    (200, ['beta', 'sigma'])
    """
    _check_fitted(result, allow_unconverged)
    n = check_count(n)
    entropy = seed_entropy(seed, rng)
    if workers is not None:
        workers = check_count(workers, "workers")
    if chunk_size is not None:
        chunk_size = check_count(chunk_size, "chunk_size")
    replicator = make_replicator(result, beta=beta, theta=theta, sigma=sigma, step=step,
                                 **optimizer)
    rows, reps, cancelled, used, elapsed = run_replicates(
        replicator, n, entropy, progress=progress, executor=executor, workers=workers,
        chunk_size=chunk_size)
    return _assemble(result, rows, reps, n, entropy, cancelled, elapsed, used)


def run_replicates(replicator, n: int, entropy: int, *, progress: Callable | None = None,
                   executor: Executor | None = None, workers: int | None = None,
                   chunk_size: int | None = None) -> tuple:
    """Run replicates ``0 … n−1`` of a replicate engine, in chunks, here or on workers.

    ``replicator`` is a picklable callable ``(j, entropy) -> row`` with a ``width()``; row ``j``
    depends on ``j`` and ``entropy`` only, so the table is the same whatever the workers,
    executor or chunking. Chunks are submitted as earlier ones finish (a few per worker in
    flight), so any ``n`` starts at once. Without ``chunk_size`` the chunks grow 1, 2, 4, …
    replicates and ``progress(done, elapsed)`` is called every ``PROGRESS_INTERVAL`` seconds
    too; returning ``False`` stops the run and keeps the finished replicates (whole chunks
    only when ``chunk_size`` is given).

    Returns
    -------
    (rows, replicates, cancelled, workers_used, elapsed)
        ``rows`` (finished × width) in replicate order and their replicate numbers.
    """
    ramp = chunk_size is None
    if chunk_size is None:
        chunk_size = min(max(16, math.ceil(n / 64)), 1000)
    tally = _Tally(progress, n, keep_partial=ramp)
    cancelled = False
    if executor is None:
        workers = workers or (os.cpu_count() or 1)
        workers = sum(1 for _ in itertools.islice(_chunks(n, chunk_size, ramp), workers))
    if executor is None and workers <= 1:
        used = 1
        cancelled = _run_here(replicator, _chunks(n, chunk_size, ramp), entropy, tally)
    else:
        own = executor is None
        used = workers if own else (getattr(executor, "_max_workers", 0) or 0)
        try:
            cancelled = _run_pool(replicator, _chunks(n, chunk_size, ramp), entropy, tally,
                                  executor, workers)
        except BrokenProcessPool as e:
            if not own:
                raise
            # worker processes could not start (e.g. a script without the
            # ``if __name__ == "__main__":`` guard under forkserver): finish in this process
            warnings.warn(f"the worker processes failed ({e}); running the remaining "
                          "replicates in this process", RuntimeWarning, stacklevel=3)
            used = 1
            rest = _remaining(_chunks(n, chunk_size, ramp), tally.done)
            cancelled = _run_here(replicator, rest, entropy, tally)
    done = tally.done
    starts = sorted(done)
    if starts:
        rows = np.vstack([done[s] for s in starts])
        reps = np.concatenate([np.arange(s, s + len(done[s])) for s in starts])
    else:
        rows = np.zeros((0, replicator.width()))
        reps = np.zeros(0, np.int64)
    return rows, reps, cancelled, used, time.perf_counter() - tally.t0


def _remaining(chunks, done: dict):
    """The chunks, and parts of chunks, whose replicates are not in ``done``."""
    for s, e in chunks:
        got = len(done.get(s, ()))
        if s + got < e:
            if got:
                yield s + got, e
            else:
                yield s, e
