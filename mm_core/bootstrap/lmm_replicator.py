"""Refitting a linear mixed model to a simulated response: one bootstrap replicate of an LMM.

Everything that does not depend on the response is reused: the model's cross-products are
updated for the new response only (``CrossProducts.update_response``, O(n)), BOBYQA starts at
the fitted θ with a small initial step, and no convergence check, result object, table or
formula is built per replicate. A model with one scalar random-effects term is refitted on
cross-products of its own (:class:`ScalarTermCriterion`). A replicate records β, their
standard errors, θ, σ, the objective and whether the refit is singular.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dense import chol, tri_inv, tri_solve
from ..optimize import bobyqa
from ..simulate import ResponseSimulator, replicate_rng

__all__ = ["SNAP_TOL", "LmmReplicator", "ScalarTermCriterion", "fresh_lmm"]

#: Diagonal elements of λ below this are tried at 0 after a refit.
SNAP_TOL = 1e-3


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


def fresh_lmm(design, reml: bool, weights):
    from ..lmm import LinearMixedModel
    return LinearMixedModel(design, reml=reml, weights=weights, allow_more_random_effects=True)


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
        self.opts: dict[str, Any] = dict(ftol_rel=ftol_rel, ftol_abs=ftol_abs, xtol_abs=xtol_abs,
                         maxeval=maxeval)
        scalar = len(model.reterms) == 1 and model.reterms[0].ncols == 1
        self.fast = ScalarTermCriterion(model) if scalar else None

    def __getstate__(self):
        state = self.__dict__.copy()
        m = state.pop("model")
        state.pop("fast")
        state["_spec"] = (m.design, m.reml, m.weights)
        return state

    def __setstate__(self, state):
        design, reml, weights = state.pop("_spec")
        self.__dict__.update(state)
        self.model = fresh_lmm(design, reml, weights)
        scalar = len(self.model.reterms) == 1 and self.model.reterms[0].ncols == 1
        self.fast = ScalarTermCriterion(self.model) if scalar else None

    def width(self) -> int:
        return 3 + 2 * self.p + self.k

    def __call__(self, j: int, entropy: int) -> np.ndarray:
        return self.refit(self.sim.draw(replicate_rng(entropy, j)))

    def _factor(self, theta):
        """(RX, pwrss, criterion) at θ, or None where the factorization fails."""
        from ..pls import NotPositiveDefinite
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
        best: list[Any] = [math.inf, None]        # lowest value and its point

        def fun(x, grad=None):
            got = self._factor(np.asarray(x))
            val = got[2] if got is not None else math.nan
            if math.isfinite(val) and val < best[0]:   # optimize.bobyqa guards the rest
                best[0], best[1] = val, np.array(x)
            return val

        theta = self.theta0
        if self.k:
            try:
                bobyqa(fun, self.theta0, model.lower, initial_step=self.step, **self.opts)
            except (RuntimeError, ValueError):
                pass                              # the best point so far stands
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
