"""Penalized iteratively reweighted least squares (PIRLS) for the conditional modes of a GLMM.

For relative covariance parameters θ (and, in lme4's second stage, fixed effects β) the
conditional modes ũ of the spherical random effects minimise the penalized deviance

    pdev(u) = Σᵢ dᵢ(yᵢ, μᵢ) + ‖u‖²,   μ = g⁻¹(o + Xβ + ZΛθu),

where dᵢ is −2 × the log-likelihood of observation i (the family's AIC scale: R's
``family()$aic`` terms, normalising constants included) for families without a dispersion
parameter, and the unit deviance for the others. Each PIRLS iteration solves a weighted
penalized least-squares problem with the working weights ``w = pw μ'(η)²/V(μ)`` and the
working response ``z = η − o + (y − μ)/μ'(η)``:

    (ΛᵀZᵀWZΛ + I) u = ΛᵀZᵀW(z − Xβ)                (β fixed: :func:`pirls`, ``beta`` given)

or the full PLS system for (β, u) when β is profiled (lme4's ``nAGQ = 0`` stage).

Stopping rule and step-halving (lme4's ``pwrssUpdate`` with tighter, named tolerances):

* an iteration whose penalized deviance exceeds the previous one (by more than rounding,
  ``ROUNDOFF`` relative), or whose μ is invalid for the family, is halved towards the previous
  iterate up to ``MAX_HALVINGS`` times; if that does not help the run fails with
  :class:`PirlsError`;
* the run stops when the largest change of the linear predictor is below ``tol`` (an absolute
  change on the link scale), or when the steps stop shrinking at rounding level; it fails
  after ``maxit`` iterations. With a canonical link PIRLS is Newton's method, whose steps
  shrink quadratically: a step below ``NEWTON_FINISH·√tol`` leaves the iterate within ~tol of
  the mode, so the run ends there with one more factorization at the final weights instead of
  another iteration. lme4 stops on a relative change of the penalized deviance below 1e-7.
* separation: when a fixed effect diverges (a logistic model where a predictor separates the
  0s from the 1s), the linear predictor of the separated observations moves by about one unit
  per iteration forever while their weights vanish. From iteration ``SEPARATION_ITER`` on, the
  step is therefore measured only over observations whose working weight exceeds
  ``SEPARATION_WEIGHT`` times the median one; observations below carry no information about
  the mode (lme4's deviance-based rule stops there too, with a large coefficient). When such
  weights (relative weight below ``SEPARATION_WEIGHT_SINGULAR``) make the weighted system
  singular to rounding before that, the previous iterate is returned as the mode.

The log-determinant ``log|ΛᵀZᵀWZΛ + I|`` of the Laplace approximation comes from the factor of
the last iteration, i.e. the weights of the previous iterate (lme4 does the same), which differs
from its value at the final μ by O(step) < tol; after a Newton finish it is exact. lme4's
criterion leaves that lag at O(√(1e-7·pdev)), which puts up to ~6e-4 into its objective and
noise into its finite-difference Hessian (lme4 issue #998; tests/core/test_pirls.py).

PIRLS solves the weighted system through the penalized least-squares protocol of
:mod:`mm_core.pls`: :class:`mm_core.pls.scalar.ScalarSystem` for models whose random-effects terms
are all scalar (the common GLMM: random intercepts) with a small Schur complement, and otherwise
:class:`PLSSystem`, which drives the blocked system (vector-valued terms, large crossed factors).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import MixedModelError
from .pls import BlockedPLS, CrossProducts, NotPositiveDefinite, PicklableSystem, blocked_system, unscaled_vcov
from .pls.scalar import SCALAR_SCHUR_MAX, ScalarSystem, TooLarge

#: Step-halvings tried before an iteration that does not reduce the penalized deviance fails.
MAX_HALVINGS = 10
#: PIRLS iterations before giving up.
MAX_ITER = 100
_EPS = float(np.finfo(float).eps)
#: With a canonical link (PIRLS is Newton's method) a step below NEWTON_FINISH·√tol ends the
#: run: the next step would be below tol.
NEWTON_FINISH = 0.1
#: Relative increase of the penalized deviance treated as rounding error rather than a bad step.
ROUNDOFF = 1e-11
#: Iteration from which observations of negligible working weight are left out of the step
#: (separation), and the weight relative to the median below which an observation is
#: negligible.
SEPARATION_ITER = 10
SEPARATION_WEIGHT = 1e-10
#: When the weighted system cannot be factored, observations with a relative working weight
#: below this are taken as separated (see the module docstring).
SEPARATION_WEIGHT_SINGULAR = 1e-6


class PirlsError(MixedModelError):
    """PIRLS could not find the conditional modes (no convergence, or no valid step)."""


# --------------------------------------------------------------------------------------------
# Family kernels used in the inner loop
# --------------------------------------------------------------------------------------------
class FamilyKernel:
    """Vectorized family quantities needed by PIRLS, with fast paths for canonical links.

    Parameters
    ----------
    family : mm_core.families.Family
    y : ndarray
        Response (proportions for the binomial).
    pw : ndarray
        Prior weights (numbers of trials for the binomial, times user weights).

    ``dev(eta, mu)`` returns per-observation values dᵢ whose sum differs from the family's
    −2 log-likelihood (R's ``aic``) by the constant ``const`` (no dispersion) or equals the sum of
    unit deviances (dispersion families). The fast paths (binomial/logit, Poisson/log) use
    ``2 pw (softplus(η) − yη)`` and ``2 pw (exp(η) − yη)``.
    """

    def __init__(self, family, y: np.ndarray, pw: np.ndarray, n_trials: np.ndarray | None = None):
        self.family = family
        self.n_trials = n_trials
        self.y = y
        self.pw = pw
        self.dispersion = bool(family.has_dispersion)
        self.kind = family.kernel_kind
        self.pwy = pw * y
        self.const = 0.0
        self.continuous = False

    # -- mean, deviance and working quantities --------------------------------------------------
    def evaluate(self, eta: np.ndarray):
        """(μ, Σ dev terms, aux) at η; the sum is ``inf`` where μ is invalid for the family.

        Logit: with t = exp(−|η|), μ = 1/(1+t) or t/(1+t), μ' = t/(1+t)² and
        softplus(η) = log1p(t) + max(η, 0), all from one exponential.
        """
        if self.kind == "logit":
            t = np.exp(-np.abs(eta))
            s = 1.0 / (1.0 + t)
            mu = np.where(eta >= 0, s, t * s)
            dmu = t * s * s
            dev = 2.0 * (self.pw @ (np.log1p(t) + np.maximum(eta, 0.0)) - self.pwy @ eta)
            return mu, float(dev), dmu
        if self.kind == "log":
            mu = np.maximum(np.exp(eta), _EPS)
            return mu, float(2.0 * (self.pw @ mu - self.pwy @ eta)), None
        fam = self.family
        with np.errstate(all="ignore"):
            mu = fam.linkinv(eta)
            if not (np.all(np.isfinite(eta)) and fam.valid_eta(eta) and fam.valid_mu(mu)):
                return mu, math.inf, None
            dev = float(np.sum(fam.dev_resids(self.y, mu, self.pw)))
        return mu, (dev if math.isfinite(dev) else math.inf), None

    def working(self, eta: np.ndarray, mu: np.ndarray, aux=None):
        """Working weights ``w = pw μ'²/V(μ)`` and working residuals ``(y − μ)/μ'(η)``."""
        if self.kind == "logit":
            dmu = np.maximum(aux if aux is not None else mu * (1.0 - mu), _EPS)
            return self.pw * dmu, (self.y - mu) / dmu
        if self.kind == "log":
            return self.pw * mu, (self.y - mu) / mu
        fam = self.family
        dmu = fam.mu_eta(eta)
        var = fam.variance(mu)
        return self.pw * dmu * dmu / var, (self.y - mu) / dmu

    def mu(self, eta: np.ndarray) -> np.ndarray:
        return self.evaluate(eta)[0]

    def dev(self, eta: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
        """Per-observation deviance terms (see the class docstring)."""
        if self.kind == "logit":
            sp_ = np.log1p(np.exp(-np.abs(eta))) + np.maximum(eta, 0.0)
            return 2.0 * (self.pw * sp_ - self.pwy * eta)
        if self.kind == "log":
            mu = np.maximum(np.exp(eta), _EPS) if mu is None else mu
            return 2.0 * (self.pw * mu - self.pwy * eta)
        if mu is None:
            mu = self.family.linkinv(eta)
        return self.family.dev_resids(self.y, mu, self.pw)

    def calibrate(self, eta: np.ndarray) -> None:
        """Set ``const`` so that Σ dev + const is R's ``aic`` (families without dispersion).

        R's ``dpois`` is −∞ at non-integer counts, which would make the whole log-likelihood
        −∞; there the continuous extension ``y log μ − μ − lgamma(y + 1)`` is used instead
        (``continuous`` is set), which equals R's value at integer counts.
        """
        self.continuous = False
        if self.dispersion:
            return
        mu, dev, _ = self.evaluate(eta)
        with np.errstate(all="ignore"):
            aic = self.family.aic(self.y, self.n_trials, mu, self.pw, 0.0)
        extended = None if math.isfinite(aic) else self.family.aic_continuous(self.y, mu, self.pw)
        if extended is not None:
            aic = extended
            self.continuous = True
        self.const = float(aic - dev)


# --------------------------------------------------------------------------------------------
# The weighted systems PIRLS solves
# --------------------------------------------------------------------------------------------
class PLSSystem(PicklableSystem):
    """The weighted system through :mod:`mm_core.pls` (any term structure).

    Two PLS objects share the terms: one without fixed effects for the u-only PIRLS of stage 2,
    one with X for the β-profiled stage 1 and the final (β, u) system.
    """

    def __init__(self, reterms: list, X: np.ndarray):
        self.reterms = reterms
        self.n, self.p = X.shape
        self.X = X
        self.q = sum(t.q for t in reterms)
        self._pls: dict[bool, BlockedPLS] = {}
        self.full = False

    def _get(self, full: bool) -> BlockedPLS:
        key = bool(full and self.p)
        if key not in self._pls:
            X = self.X if key else np.zeros((self.n, 0))
            cp = CrossProducts(self.reterms, X, np.zeros(self.n), None)
            self._pls[key] = blocked_system(self.reterms, cp)
        return self._pls[key]

    def update(self, w: np.ndarray, z: np.ndarray | None, full: bool) -> None:
        self.full = bool(full and self.p)
        self._cur = self._get(full)
        self._cur.update(w, np.zeros(self.n) if z is None else z)

    def factor(self, theta: np.ndarray):
        f: Any = self._cur.factor(np.asarray(theta, float))
        f.logdet = f.logdet_L           # log|ΛᵀZᵀWZΛ + I| under the name every system's factor has
        return f

    def solve(self, f):
        beta, u = self._cur.solve(f)
        if self.full:
            self.last_RX = f.RX[:self.p, :self.p].copy()
            return beta, u
        return None, u

    def zlam(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        pls = self._get(False)
        lams = pls.lambdas(np.asarray(theta, float))
        out = np.zeros(self.n)
        off = 0
        for t, lam in zip(self.reterms, lams):
            out += t.eta(t.ranef(u[off:off + t.q], lam))
            off += t.q
        return out

    def unscaled_vcov(self) -> np.ndarray:
        """(R_XᵀR_X)⁻¹ from the last full solve."""
        return unscaled_vcov(self.last_RX if self.p else None)


def make_system(reterms: list, X: np.ndarray):
    """The fastest system that handles these terms."""
    if all(t.ncols == 1 for t in reterms) and sum(t.nlevels for t in reterms[1:]) <= SCALAR_SCHUR_MAX:
        try:
            return ScalarSystem(reterms, X)
        except TooLarge:
            pass
    return PLSSystem(reterms, X)


# --------------------------------------------------------------------------------------------
# The PIRLS loop
# --------------------------------------------------------------------------------------------
@dataclass
class PirlsState:
    """Conditional modes at one (θ, β) and what the Laplace approximation needs.

    Fields
    ------
    theta : ndarray
    beta : ndarray
        Fixed effects (given, or profiled in stage 1).
    u : ndarray
        Spherical conditional modes (fitting order, level-major).
    eta, mu : ndarray
        Linear predictor and mean at ``u``.
    dev : float
        Σ dev terms (see :class:`FamilyKernel`) at μ.
    sqrl : float
        ‖u‖².
    logdet : float
        log|ΛᵀZᵀWZΛ + I| with the weights of the last iteration.
    factor : object
        That factor (the leading term's diagonal serves adaptive quadrature).
    iterations : int
    halvings : int
        Step-halvings over all iterations.
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    dev: float
    sqrl: float
    logdet: float
    factor: object
    iterations: int
    halvings: int = 0

    @property
    def pdev(self) -> float:
        return self.dev + self.sqrl


def pirls(kernel: FamilyKernel, system, X: np.ndarray, offset: np.ndarray, theta: np.ndarray,
          beta: np.ndarray, u: np.ndarray, *, profile_beta: bool, tol: float = 1e-9,
          maxit: int = MAX_ITER, eta_start: np.ndarray | None = None) -> PirlsState:
    """Conditional modes at θ (and β, unless ``profile_beta``) by PIRLS with step-halving.

    Parameters
    ----------
    kernel, system
        Family kernel and weighted PLS system of the model.
    X, offset : ndarray
    theta : ndarray
    beta : ndarray
        Fixed effects (the start when ``profile_beta``).
    u : ndarray
        Starting spherical modes (warm start).
    profile_beta : bool
        Solve for β as well (lme4's nAGQ = 0 stage).
    tol : float
        Convergence: largest change in η (see the module docstring).
    maxit : int
    eta_start : ndarray, optional
        Linear predictor to take the first weights from instead of the one implied by
        (β, u); its penalized deviance is not compared with the first iterate (lme4's start from
        the family's ``mustart``).

    Raises
    ------
    PirlsError
        No convergence within ``maxit`` iterations, or step-halving could not reduce the
        penalized deviance.
    NotPositiveDefinite
        The weighted system could not be factored.

    Notes
    -----
    In R, lme4 runs the same iteration inside ``glmer(..., devFunOnly = TRUE)`` (its internal
    ``pwrssUpdate``).

    Examples
    --------
    The conditional modes of cbpp's herds at lme4's estimates:

    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> from mm_core.glmm import GeneralizedLinearMixedModel
    >>> m = GeneralizedLinearMixedModel(materialize(
    ...     "cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)",
    ...     datasets.load("cbpp")), family="binomial")
    >>> _ = m.start()
    >>> st = pirls(m.kernel, m.system, m.X, m.offset, np.array([0.6421]),
    ...            np.array([-1.3983, -0.9919, -1.1282, -1.5797]), np.zeros(m.system.q),
    ...            profile_beta=False)
    >>> round(m.laplace(st), 2), np.round(st.u[:3], 3).tolist()
    (184.05, [0.918, -0.466, 0.632])
    """
    theta = np.asarray(theta, float)
    beta = np.asarray(beta, float).copy()
    xb = X @ beta if X.shape[1] else np.zeros(X.shape[0])
    run = _Run(kernel, system, X, offset, theta, profile_beta)
    if eta_start is not None:
        cur = run.from_predictor(np.asarray(eta_start, float), beta, xb, u)
    else:
        cur = run.iterate(beta, xb, u)
    newton = kernel.family.is_canonical
    last_step, step = math.inf, math.nan
    f, separated, halvings = None, False, 0
    for it in range(1, maxit + 1):
        try:
            f, new = run.step(cur)
        except NotPositiveDefinite:
            if f is None or not (separated or run.vanishing_weights(cur)):
                raise
            # the vanishing weights of separated observations made the system singular to
            # rounding: the previous iterate is the mode to working precision
            return run.state(cur, f, it - 1)
        new, halvings = run.halve(cur, new)
        step, separated = run.step_length(cur, new, tol, it)
        cur = new
        # converged: a step below tol, or steps that stopped shrinking at rounding level
        if step < tol or (step < 1e4 * tol and step > 0.5 * last_step):
            return run.state(cur, f, it)
        if newton and halvings == 0 and step < NEWTON_FINISH * math.sqrt(tol):
            # Newton (canonical link): the iterate is within ~step² of the mode; factor once
            # more at its weights for an exact log-determinant instead of another iteration
            return run.state(cur, run.refactor(cur), it)
        last_step = step
    raise PirlsError(f"PIRLS did not converge in {maxit} iterations (largest change of the "
                     f"linear predictor in the last one: {step:.3g})")


@dataclass
class _Iterate:
    """One PIRLS iterate: (β, u), the linear predictor and mean, and the penalized deviance."""

    beta: np.ndarray
    xb: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    aux: object
    dev: float
    pdev: float


class _Run:
    """The steps of one PIRLS run at fixed θ (see :func:`pirls`)."""

    def __init__(self, kernel: FamilyKernel, system, X: np.ndarray, offset: np.ndarray,
                 theta: np.ndarray, profile_beta: bool):
        self.kernel, self.system, self.X, self.offset = kernel, system, X, offset
        self.theta, self.profile_beta = theta, profile_beta
        self.halvings = 0

    def iterate(self, beta, xb, u) -> _Iterate:
        """The iterate at (β, u)."""
        eta = self.offset + xb + self.system.zlam(self.theta, u)
        mu, dev, aux = self.kernel.evaluate(eta)
        return _Iterate(beta, xb, u, eta, mu, aux, dev, dev + float(u @ u))

    def from_predictor(self, eta, beta, xb, u) -> _Iterate:
        """The first iterate from a given linear predictor: its weighted PLS projection onto
        the model space when the family can map it (so that step-halving always moves between
        linear predictors the model can represent), else η itself with an infinite penalized
        deviance (not compared with the first step)."""
        kernel, system, theta = self.kernel, self.system, self.theta
        mu, _, aux = kernel.evaluate(eta)
        w, _ = kernel.working(eta, mu, aux)
        system.update(w, eta - self.offset - (0.0 if self.profile_beta else xb), full=self.profile_beta)
        beta_p, u_p = system.solve(system.factor(theta))
        beta_p = beta if beta_p is None else beta_p
        xb_p = self.X @ beta_p if self.profile_beta and self.X.shape[1] else xb
        eta_p = self.offset + xb_p + system.zlam(theta, u_p)
        mu_p, dev_p, aux_p = kernel.evaluate(eta_p)
        if not math.isfinite(dev_p):
            return _Iterate(beta, xb, u, eta, mu, aux, math.nan, math.inf)
        if not self.profile_beta:
            beta_p, xb_p = beta, xb
        return _Iterate(beta_p, xb_p, u_p, eta_p, mu_p, aux_p, dev_p, dev_p + float(u_p @ u_p))

    def step(self, cur: _Iterate):
        """Solve the PLS system at the working weights of ``cur``: (factor, full step)."""
        w, wres = self.kernel.working(cur.eta, cur.mu, cur.aux)
        if self.profile_beta:
            z = cur.eta - self.offset + wres                  # working response for (β, u)
        else:
            z = cur.eta - self.offset - cur.xb + wres         # ... for u with Xβ in the offset
        self.system.update(w, z, full=self.profile_beta)
        f = self.system.factor(self.theta)
        beta_new, u_new = self.system.solve(f)
        if beta_new is None:                                  # no fixed effects (p = 0)
            beta_new = cur.beta
        if self.profile_beta:
            xb_new = self.X @ beta_new if self.X.shape[1] else cur.xb
        else:
            beta_new, xb_new = cur.beta, cur.xb
        return f, self.iterate(beta_new, xb_new, u_new)

    def vanishing_weights(self, cur: _Iterate) -> bool:
        """Whether some working weights at ``cur`` are negligible (separation)."""
        w, _ = self.kernel.working(cur.eta, cur.mu, cur.aux)
        return bool(np.any(w < SEPARATION_WEIGHT_SINGULAR * float(np.median(w))))

    def halve(self, cur: _Iterate, new: _Iterate) -> tuple[_Iterate, int]:
        """Step-halving towards ``cur`` while the penalized deviance rises (beyond rounding)
        or μ is invalid; returns the accepted iterate and the number of halvings.

        Raises
        ------
        PirlsError
            No valid step, or one that does not reduce the penalized deviance.
        """
        slack = ROUNDOFF * (abs(cur.pdev) + 1.0) if math.isfinite(cur.pdev) else math.inf
        halvings = 0
        while (not math.isfinite(new.pdev) or new.pdev > cur.pdev + slack) and halvings < MAX_HALVINGS:
            u = 0.5 * (cur.u + new.u)
            beta, xb = new.beta, new.xb
            if self.profile_beta:
                beta, xb = 0.5 * (cur.beta + new.beta), 0.5 * (cur.xb + new.xb)
            eta = 0.5 * (cur.eta + new.eta)
            mu, dev, aux = self.kernel.evaluate(eta)
            new = _Iterate(beta, xb, u, eta, mu, aux, dev, dev + float(u @ u))
            halvings += 1
        self.halvings += halvings
        if not math.isfinite(new.pdev):
            raise PirlsError("the linear predictor left the range the family and link can map "
                             "(invalid means); the model may not suit these data")
        if new.pdev > cur.pdev + slack:
            raise PirlsError("step-halving failed to reduce the penalized deviance")
        return new, halvings

    def step_length(self, cur: _Iterate, new: _Iterate, tol: float, it: int) -> tuple[float, bool]:
        """Largest change of η, over the informative observations from iteration
        ``SEPARATION_ITER`` on; returns (step, whether some observations are separated)."""
        moves = np.abs(new.eta - cur.eta)
        step = float(np.max(moves)) if cur.eta.size else 0.0
        if step < tol or it < SEPARATION_ITER:
            return step, False
        w_new = self.kernel.working(new.eta, new.mu, new.aux)[0]
        informative = w_new > SEPARATION_WEIGHT * float(np.median(w_new))
        return float(np.max(moves[informative], initial=0.0)), not informative.all()

    def refactor(self, cur: _Iterate):
        """The factor at the working weights of ``cur`` (for an exact log-determinant)."""
        w, _ = self.kernel.working(cur.eta, cur.mu, cur.aux)
        self.system.update(w, None, full=False)
        return self.system.factor(self.theta)

    def state(self, cur: _Iterate, f, iterations: int) -> PirlsState:
        """The result at ``cur`` with the factor ``f`` (its log-determinant enters the Laplace
        approximation)."""
        return PirlsState(self.theta, cur.beta, cur.u, cur.eta, cur.mu, cur.dev,
                          float(cur.u @ cur.u), f.logdet, f, iterations, self.halvings)
