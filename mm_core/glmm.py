"""Generalized linear mixed models: the Laplace and adaptive-quadrature likelihood, fitted as lme4's ``glmer``.

Model: ``g(E[y | b]) = o + Xβ + Zb``, ``b = Λθ u`` with spherical ``u``; y | b from a GLM family.

**Objective.** −2 log-likelihood on lme4's scale, by the Laplace approximation at the
conditional modes ũ found by PIRLS (:mod:`mm_core.pirls`)::

    −2ℓ(θ, β) ≈ Σᵢ −2 log f(yᵢ | μ̃ᵢ) + ‖ũ‖² + log|ΛᵀZᵀW̃ZΛ + I|

(lme4's ``glmResp::Laplace`` = ldL2 + sqrL + aic(): the family's normalising constants are
included, e.g. the log binomial coefficients of a ``cbind`` response), or with ``n_agq > 1``
points of adaptive Gauss–Hermite quadrature (:mod:`mm_core.agq`).

**Two stages, as lme4.** Stage 1 (``fast=True``, lme4's ``nAGQ = 0``) optimizes θ alone with β
profiled inside PIRLS. Stage 2 (the default) starts there and optimizes (θ, β) jointly with
PIRLS over u only. In stage 2 the optimizer works on ``γ = R(β − β₁)``, with R the Cholesky
factor of the stage-1 precision of β̂ (from the PLS factor): a fixed affine change of
coordinates that makes the β directions comparably curved, so BOBYQA needs far fewer
evaluations and stops closer to the optimum (lme4 optimizes the raw β and often stops with a
"failed to converge" warning). The trace, the gradient and the Hessian are reported in (θ, β).

**Standard errors.** As lme4 by default: ``vcov = 2 H⁻¹`` restricted to β, with H the
finite-difference Hessian (lme4's ``deriv12``, step 1e-4) of the stage-2 objective over (θ, β),
evaluated with a PIRLS tolerance a thousand times tighter than during the optimization (lme4
issue #998). The PLS-based covariance ``φ (R_XᵀR_X)⁻¹`` at the final PIRLS weights
(MixedModels.jl's, and lme4's ``use.hessian = FALSE``) is in ``result.extras["vcov_pls"]``; it is
the one reported by ``fast`` fits. A warning notes when the two differ by more than 1 %. With a
covariance parameter on its bound (a singular fit) the Hessian is taken over the free
parameters (lme4 then falls back to the PLS version).

**Convergence.** The verdict comes from :func:`mm_core.optimize.check_convergence` on the
stage-2 objective at the optimum (its points are a subset of the Hessian's, so it costs
nothing). One Newton step with that Hessian then finishes what BOBYQA's function tolerance left
on a flat objective (kept only if it lowers the objective), and a clearly lower point met by
the finite differences restarts BOBYQA there.

**Dispersion families** (Gamma, inverse Gaussian, Gaussian with a non-identity link). The
random effects are parameterised as for an LMM: ``b = Λθ u`` with ``u ~ N(0, φ I)``, so θ is
relative to σ = √φ. Then the conditional modes and log|L| do not depend on φ, and the Laplace
approximation ``Σᵢ −2 log f(yᵢ | μ̃ᵢ, φ) + ‖ũ‖²/φ + log|L|²`` is minimised over φ in closed
form (Gaussian: φ = (Σdᵢ + ‖ũ‖²)/n; inverse Gaussian: (Σdᵢ + ‖ũ‖²)/Σwᵢ; Gamma: the root of
log a − ψ(a) = (Σdᵢ + ‖ũ‖²)/(2Σwᵢ), a = 1/φ), with dᵢ the unit deviances. φ is thus estimated
by maximum (Laplace) likelihood, profiled out of the optimization, and reported as
``sigma = √φ`` and in the Residual row of ``varcorr``; it counts in ``dof``. For the Gaussian
family with the identity link this is exactly the ML deviance of ``lmer``. lme4's ``glmer``
finds the same conditional modes for given (θ, β) but scores them with ``ldL2 + ‖ũ‖² +
Gamma()$aic(...)``, which takes φ from the conditional deviance alone (Σdᵢ/Σwᵢ, not a maximum-
likelihood estimate), does not divide ‖ũ‖² by φ and adds 2; its θ, σ and −2ℓ therefore differ
from ours (the fixed effects are usually close). Example (``tests/core/test_pirls.py``,
simulated Gamma/log data, 12 groups × 15): the exact marginal ML by numerical integration in R
is −2ℓ 439.5978, β (0.5191, 0.8934), sd(b) 0.2958, σ 0.4886; our 25-point AGQ reproduces it to
1e-6 and our Laplace fit gives 439.6275; lme4 reports 432.1437 — below the maximum of the
likelihood, so not the likelihood — with β (0.5058, 0.8891), sd(b) 0.2300, σ 0.5063.
With ``n_agq > 1`` φ is chosen by a one-dimensional search on the AGQ objective.
"""
from __future__ import annotations

import math
import time
import warnings as _warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ._threads import blas_threads
from .agq import agq_adjustment, check_agq, level_indicator
from .design.reterm import fitting_order, term_layouts
from .errors import DataError, SeparationWarning
from .families import get_family
from .femat import independent_columns
from .lmm import LinearMixedModel, check_identifiable, data_notes, fit_notes, theta_is_singular
from .notes import Note, note_code
from .optimize import (
    ConvergenceCheck,
    GuardedObjective,
    OptimizerSettings,
    Recorder,
    bobyqa,
    check_convergence,
    deriv12,
    free_parameters,
    optimizer_settings,
    summarize,
)
from .pirls import SEPARATION_WEIGHT, FamilyKernel, PirlsError, PirlsState, make_system, pirls
from .pls import NotPositiveDefinite, initial_theta, theta_lower_bounds
from .results import MixedModelResult, TableNumbers, labels

#: PIRLS tolerance (largest change of η) while optimizing, and for the Hessian and the result.
PIRLS_TOL = 1e-9
PIRLS_TOL_TIGHT = 1e-12
#: Stage-1 tolerances when stage 2 follows (it only supplies a starting point).
STAGE1_FTOL = 1e-3
STAGE1_XTOL = 1e-3
#: BOBYQA's initial steps in stage 2: relative for θ, in stage-1 standard errors for β.
STAGE2_THETA_STEP = 0.1
STAGE2_BETA_STEP = 0.5
#: Relative disagreement of the Hessian- and PLS-based standard errors that is reported.
VCOV_DISAGREE = 1e-2


class GeneralizedLinearMixedModel:
    """A GLMM ready to fit: response, family, terms in fitting order and the PIRLS machinery.

    Parameters
    ----------
    design : Design
    family : str or Family
    link : str, optional
    weights : ndarray, optional
        Prior weights (multiplied with the numbers of trials of a ``cbind`` response).
    n_agq : int
        Quadrature points (1 = Laplace; 0 = fast).
    fast : bool
        The same as ``n_agq = 0``.
    allow_more_random_effects : bool

    Fields
    ------
    design, family, order, reterms, X, fixef_names, dropped_columns, offset, y, pw, kernel,
    system, lower, n_agq, fast, notes (plain-language warnings from the checks)
    """

    @property
    def fast(self) -> bool:
        """lme4's ``nAGQ = 0`` (``n_agq == 0``): θ optimized with β inside PIRLS, one stage."""
        return self.n_agq == 0

    def __init__(self, design, *, family="binomial", link=None, weights=None, n_agq: int = 1,
                 fast: bool = False, allow_more_random_effects: bool = False):
        if not design.reterms:
            raise DataError("the formula has no random-effects terms such as (1 | group): "
                            "use a generalized linear model instead")
        self.design = design
        self.family = get_family(family, link)
        _check_identifiable(design, allow_more_random_effects, self.family.has_dispersion)
        self.notes: list[str] = []
        n_agq = check_agq(n_agq, design.reterms, fast)
        self.n_agq = 0 if fast else n_agq       # fast=True is nAGQ = 0: one setting, n_agq
        self.order = fitting_order(design.reterms)
        self.reterms = [design.reterms[i] for i in self.order]
        keep = independent_columns(design.X)
        self.X = np.ascontiguousarray(design.X[:, keep])
        self.fixef_names = [design.fixef_names[j] for j in keep]
        kept = set(keep.tolist())
        self.dropped_columns = [nm for j, nm in enumerate(design.fixef_names) if j not in kept]
        n = design.nobs
        self.offset = (np.asarray(design.offset, float) if design.offset is not None
                       else np.zeros(n))
        self.y = np.asarray(design.y, float)
        self.user_weights = None if weights is None else np.asarray(weights, float)
        self.trials = None if design.trials is None else np.asarray(design.trials, float)
        self.pw = self._prior_weights()
        self._check_response()
        self.kernel = FamilyKernel(self.family, self.y, self.pw,
                                   self.trials if self.trials is not None else None)
        self.system = make_system(self.reterms, self.X)
        self.lower = theta_lower_bounds(self.reterms)
        self.ntheta = len(self.lower)
        self.p = self.X.shape[1]
        self._started = False
        self.lmm: LinearMixedModel | None = None   # built on first use (:meth:`lmm_with`)

    # -- input checks --------------------------------------------------------------------------
    def _prior_weights(self) -> np.ndarray:
        n = self.design.nobs
        pw = np.ones(n)
        if self.trials is not None:
            if not self.family.uses_trials:
                raise DataError(f"a cbind(successes, failures) response needs the binomial family, "
                                f"not {self.family.name}")
            pw = pw * self.trials
        if self.user_weights is not None:
            pw = pw * self.user_weights
        return pw

    def _check_response(self) -> None:
        fam, y, d = self.family, self.y, self.design
        name = d.response_name
        if y.size and np.all(y == y[0]):
            raise DataError(f"the response '{name}' has the same value ({y[0]:g}) in all "
                            f"{y.size} rows used: there is nothing to model")
        if fam.uses_trials and self.trials is None and d.response_levels is None:
            vals = np.unique(y)
            if np.any((y < 0) | (y > 1)):
                bad = vals[(vals < 0) | (vals > 1)][:5]
                raise DataError(
                    f"binomial response '{name}' must be 0/1, a two-level factor, proportions in "
                    f"[0, 1] with the numbers of trials as weights, or cbind(successes, failures); "
                    f"it has values outside [0, 1] (e.g. {', '.join(f'{v:g}' for v in bad)})")
            if np.any((y != 0) & (y != 1)) and self.user_weights is None:
                raise DataError(
                    f"binomial response '{name}' has proportions between 0 and 1 but no numbers "
                    "of trials: give them as weights, or use cbind(successes, failures)")
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            fam.validate_response(y, self.pw)
        for w in caught:
            msg = str(w.message)
            self.notes.append(Note("response", msg[0].upper() + msg[1:] if msg else msg))
            _warnings.warn(msg, UserWarning, stacklevel=4)
        if not np.any(self.pw > 0):
            raise DataError("all prior weights are zero")

    # -- starting values -----------------------------------------------------------------------
    def start(self):
        """PIRLS at lme4's initial θ from the family's starting means; returns the state.

        The first start is lme4's (the family's ``mustart``, close to the data). When the link
        cannot map it (a square-root link and a few negative Gaussian responses) or PIRLS fails
        from it (a Gamma response with shape 0.1 has means spread over many orders of magnitude),
        PIRLS starts again from one valid mean for every row, the weighted mean of the response
        on the link scale, as glmmTMB starts from η = 0.
        """
        fam = self.family
        theta0 = initial_theta(self.reterms)
        failure = None
        for eta0 in self._starting_predictors():
            try:
                st = pirls(self.kernel, self.system, self.X, self.offset, theta0,
                           np.zeros(self.p), np.zeros(self.system.q), profile_beta=True,
                           tol=PIRLS_TOL, eta_start=eta0)
            except (PirlsError, NotPositiveDefinite) as e:
                failure = e
                continue
            break
        else:
            reason = f": {failure}" if failure is not None else \
                " (the link cannot map any valid mean of the response)"
            raise DataError(f"cannot fit this model at the starting values{reason}. "
                            f"{link_advice(fam)}")
        self.kernel.calibrate(st.eta)
        if self.kernel.continuous and not any(note_code(n) == "continuous_counts" for n in self.notes):
            self.notes.append(Note(
                "continuous_counts", "With non-integer counts the Poisson log-likelihood (objective, "
                "AIC, BIC) uses log y! = lgamma(y + 1); R's dpois, and so lme4's logLik, is -Inf for "
                "such counts."))
        self._started = True
        return st

    def _starting_predictors(self):
        """Starting linear predictors to try: lme4's, then a constant valid mean."""
        fam = self.family
        with np.errstate(all="ignore"):
            mu0 = fam.initialize(self.y, self.pw)
            eta0 = fam.linkfun(mu0)
        if np.all(np.isfinite(eta0)) and fam.valid_eta(eta0):
            yield eta0
        w = self.pw if np.sum(self.pw) > 0 else np.ones_like(self.y)
        mean = float(np.sum(w * self.y) / np.sum(w))
        candidates = [mean, float(np.median(self.y[self.y > 0])) if np.any(self.y > 0) else 1.0,
                      1.0, 0.5]
        for m in candidates:
            with np.errstate(all="ignore"):
                mu = np.full_like(self.y, m)
                if not fam.valid_mu(mu):
                    continue
                eta = fam.linkfun(mu)
            if np.all(np.isfinite(eta)) and fam.valid_eta(eta):
                yield eta
                return

    # -- the objective -------------------------------------------------------------------------
    def dispersion(self, st) -> float:
        """φ̂ profiled from a PIRLS state (1 for families without a dispersion parameter)."""
        if not self.family.has_dispersion:
            return 1.0
        return _profile_dispersion(self, st.dev + st.sqrl)[0]

    def laplace(self, st) -> float:
        """The Laplace −2ℓ at a PIRLS state (dispersion profiled out)."""
        if not self.family.has_dispersion:
            return st.dev + self.kernel.const + st.sqrl + st.logdet
        return _profile_dispersion(self, st.dev + st.sqrl)[1] + st.logdet

    def objective_at(self, st) -> float:
        """Laplace or AGQ −2ℓ at a converged state."""
        val = self.laplace(st)
        if self.n_agq > 1:
            if self.family.has_dispersion:
                return _agq_dispersion(self, st)
            val += agq_adjustment(self.kernel, self.reterms[0], st.theta, st, self.n_agq,
                                  indicator=self._indicator())
        return val

    def _indicator(self):
        if getattr(self, "_ind", None) is None:
            self._ind = level_indicator(self.reterms[0])
        return self._ind

    def solve(self, theta, beta, u, *, profile_beta: bool, tol: float = PIRLS_TOL):
        return pirls(self.kernel, self.system, self.X, self.offset, np.asarray(theta, float),
                     beta, u, profile_beta=profile_beta, tol=tol)

    def is_singular(self, theta) -> bool:
        return theta_is_singular(theta, self.lower)

    def fit(self, progress=None, *, formula_text: str | None = None, **opt) -> MixedModelResult:
        """Run stage 1 (and stage 2 unless ``fast``) and return the complete result."""
        with blas_threads():
            return _fit(self, progress, formula_text, **opt)

    # -- evaluation at given parameters (lme4's stage-2 ``devfun``) ---------------------------------
    def state_at(self, theta, beta, tol: float = PIRLS_TOL_TIGHT):
        """Tightly converged PIRLS state at (θ, β) (call after :meth:`start` or a fit)."""
        if not self._started:
            self.start()
        return self.solve(np.asarray(theta, float), np.asarray(beta, float),
                          np.zeros(self.system.q), profile_beta=False, tol=tol)

    def objective(self, params) -> float:
        """−2ℓ (Laplace or AGQ) at ``params = (θ, β)``: lme4's ``glmer(..., devFunOnly = TRUE)``."""
        params = np.asarray(params, float)
        return self.objective_at(self.state_at(params[:self.ntheta], params[self.ntheta:]))

    def ranef_at(self, theta, beta) -> dict:
        """Conditional modes b = Λũ at (θ, β), by grouping factor (levels × columns)."""
        st = self.state_at(theta, beta)
        return {g: pd.DataFrame(values, index=labels(levels, g), columns=labels(cols))
                for g, levels, cols, values in _ranef_values(self, np.asarray(theta, float), st.u)}

    # -- lazily computed results --------------------------------------------------------------------
    def lmm_with(self, w: np.ndarray) -> LinearMixedModel:
        """The GLMM's linear mixed model, reweighted with PIRLS's working weights ``w``.

        Its penalized least-squares system is PIRLS's at convergence, so its conditional
        covariances and hat values are the GLMM's (only the weights enter those formulas). The
        model is built once and kept, as MixedModels.jl's GLMM holds its LMM.
        """
        w = np.maximum(w, np.finfo(float).tiny)     # rows with zero prior weight contribute nothing
        if self.lmm is None:
            self.lmm = LinearMixedModel(self.design, weights=w, allow_more_random_effects=True)
        else:
            self.lmm.reweight(w)
        return self.lmm

    def final_state(self, result):
        """PIRLS at the result's (θ, β), tightly converged."""
        return self.state_at(result.theta, result.fixef.to_numpy())

    def condvar_at(self, theta, beta, phi: float = 1.0) -> dict:
        """φ Λ(ΛᵀZᵀWZΛ + I)⁻¹Λᵀ per level at (θ, β), W the PIRLS weights at the modes."""
        st = self.state_at(theta, beta)
        w, _ = self.kernel.working(st.eta, st.mu)
        return self.lmm_with(w).condvar_at(theta, phi)

    def condvar(self, result) -> dict:
        """lme4's ``ranef(m, condVar = TRUE)`` for glmer: :meth:`condvar_at` at the estimates,
        times φ̂ for dispersion families."""
        phi = result.sigma ** 2 if result.sigma is not None else 1.0
        return self.condvar_at(result.theta, result.fixef.to_numpy(), phi)

    def leverage(self, result) -> np.ndarray:
        """Diagonal of W^½[ZΛ X] C⁻¹ [ZΛ X]ᵀW^½ with the PIRLS working weights W.

        This is the GLM definition (R's ``hatvalues.glm`` uses the working weights). lme4's
        ``hatvalues`` for a glmer fit scales by the prior weights instead, and warns that the hat
        matrix "may not make sense for GLMMs".
        """
        st = self.final_state(result)
        w, _ = self.kernel.working(st.eta, st.mu)
        return self.lmm_with(w).leverage_at(result.theta)

    def linear_predictor(self, beta, b) -> np.ndarray:
        """Xβ + Zb + offset with b per term (formula order, arrays levels × columns)."""
        eta = self.X @ np.asarray(beta, float) + self.offset
        for t, bt in zip(self.design.reterms, b):
            eta = eta + t.eta(bt)
        return eta


def link_advice(fam) -> str:
    """What to check when PIRLS fails: the family's range of means, and the canonical link only
    when another link is in use."""
    rng = fam.mean_range
    if not fam.is_canonical:
        return (f"The {fam.name} means must be {rng}; with the {fam.link.name} link the linear "
                f"predictor can leave that range, with the canonical link "
                f"'{fam.default_link}' it cannot.")
    return (f"The {fam.name} means must be {rng}; check the response for extreme values and "
            "the predictors for separation or extreme scales.")


def _check_identifiable(design, allow: bool, dispersion: bool) -> None:
    """lme4's checks for glmer (``allow.n = TRUE``): as many random effects or levels as
    observations are allowed (an observation-level random effect models overdispersion), more
    are not. Families with a dispersion parameter get the LMM checks (an observation-level effect
    cannot be told apart from φ)."""
    if dispersion:
        check_identifiable(design, allow)
        return
    if allow:
        return
    n = design.nobs
    for t in design.reterms:
        if t.q > n or t.nlevels > n:
            raise DataError(
                f"the random-effects term for '{t.group}' has {t.q} random effects "
                f"({t.nlevels} levels × {t.ncols} columns) but there are only {n} observations: "
                "the model cannot be estimated. Simplify the term, or allow it explicitly "
                "(allow_more_random_effects=True).")


# --------------------------------------------------------------------------------------------
# Dispersion
# --------------------------------------------------------------------------------------------
def _profile_dispersion(model, P: float) -> tuple[float, float]:
    """(φ̂, Σ −2 log f(y | μ̃, φ̂) + P/φ̂) for penalized deviance P = Σdᵢ + ‖ũ‖² (see module doc)."""
    return model.family.profile_dispersion(max(P, 1e-300), _disp_consts(model))


def _disp_consts(model) -> dict:
    if getattr(model, "_dc", None) is None:
        model._dc = model.family.dispersion_constants(model.y, model.pw)
    return model._dc


def _agq_dispersion(model, st) -> float:
    """AGQ −2ℓ for a dispersion family: φ chosen to minimise it (a 1-D search near the Laplace φ̂)."""
    from scipy.optimize import minimize_scalar

    P = st.dev + st.sqrl
    phi0 = _profile_dispersion(model, P)[0]

    def g(logphi):
        phi = math.exp(logphi)
        return (_fixed_phi_value(model, P, phi) + st.logdet
                + agq_adjustment(model.kernel, model.reterms[0], st.theta, st, model.n_agq, phi,
                                 indicator=model._indicator()))

    r = minimize_scalar(g, bracket=(math.log(phi0) - 0.1, math.log(phi0) + 0.1),
                        options={"xtol": 1e-10})
    model._agq_phi = math.exp(r.x)
    return float(r.fun)


def _fixed_phi_value(model, P: float, phi: float) -> float:
    """Σ −2 log f(y | μ̃, φ) + ‖ũ‖²/φ with Σdᵢ + ‖ũ‖² = P at a given φ."""
    return model.family.dispersion_objective(P, phi, _disp_consts(model))


# --------------------------------------------------------------------------------------------
def fit_glmm(design, *, family="binomial", link=None, n_agq: int = 1, fast: bool = False,
             weights=None, progress=None, formula_text: str | None = None,
             allow_more_random_effects: bool = False, **optimizer) -> MixedModelResult:
    """Fit a GLMM as lme4's ``glmer(formula, data, family, nAGQ = n_agq)`` (``fast``: nAGQ = 0).

    ``optimizer`` accepts ``ftol_rel``, ``ftol_abs``, ``xtol_abs`` and ``maxeval`` (BOBYQA,
    both stages; see :func:`mm_core.optimize.optimizer_settings`). See the module docstring for
    the method.
    """
    settings = optimizer_settings(optimizer)
    model = GeneralizedLinearMixedModel(design, family=family, link=link, weights=weights,
                                        n_agq=n_agq, fast=fast,
                                        allow_more_random_effects=allow_more_random_effects)
    try:
        with np.errstate(all="ignore"):   # trial points far out; results are checked instead
            return model.fit(progress, formula_text=formula_text, **settings.options())
    except PirlsError as e:
        raise DataError(f"the fit failed: {e}. {link_advice(model.family)}") from None


# --------------------------------------------------------------------------------------------
# Fitting: the two stages, the derivative check and the standard errors
# --------------------------------------------------------------------------------------------
class GlmmObjective(GuardedObjective):
    """The Laplace (or AGQ) objective over parameters with a warm-started PIRLS.

    ``to_args(x)`` maps the optimizer's parameters to (θ, β); PIRLS starts from the modes of the
    previous successful evaluation (or of the best one when that fails). A failed evaluation
    (PIRLS or factorization) counts as the first finite value seen (:class:`GuardedObjective`),
    as quadratic-model optimizers need a finite value.

    Fields
    ------
    last, best : PirlsState
        The state of the last successful evaluation and of the best one.
    best_val : float
        The best value.
    """

    def __init__(self, model, to_args, state, *, profile_beta: bool, tol: float = PIRLS_TOL,
                 fixed_start: bool = False):
        super().__init__(self.value)
        self.model = model
        self.to_args = to_args
        self.profile_beta = profile_beta
        self.tol = tol
        self.last = self.best = state
        self.best_val = math.inf
        self.fixed_start = fixed_start

    def state(self, x):
        theta, beta = self.to_args(np.asarray(x, float))
        starts = [self.best] if self.fixed_start else [self.last, self.best]
        for s in starts:
            try:
                return self.model.solve(theta, beta if not self.profile_beta else s.beta, s.u,
                                        profile_beta=self.profile_beta, tol=self.tol)
            except (PirlsError, NotPositiveDefinite, FloatingPointError):
                continue
        return None

    def value(self, x) -> float:
        """The objective at ``x`` (NaN where PIRLS fails), remembering the states."""
        st = self.state(x)
        val = self.model.objective_at(st) if st is not None else math.nan
        if math.isfinite(val):
            if not self.fixed_start:
                self.last = st
            if val < self.best_val:
                self.best_val, self.best = val, st
        return val


def theta_only(x: np.ndarray) -> tuple[np.ndarray, None]:
    """Stage-1 parameters: θ alone (β is profiled inside PIRLS)."""
    return x, None


class _Displaced:
    """The stage-2 objective near a point, for finite differences, with predicted warm starts.

    Evaluations at x ± δeₖ store their modes; a point displaced in several coordinates starts
    PIRLS from û + Σₖ (û(x ± δeₖ) − û), which is within O(δ²) of its mode (the modes are smooth
    in (θ, β)), so one Newton step suffices. Every evaluation starts from the centre's modes
    or this prediction, never from the previous evaluation: the result does not depend on the
    order of evaluation.
    """

    def __init__(self, model, centre: np.ndarray, state, tol: float):
        self.model, self.centre, self.state, self.tol = model, centre, state, tol
        self.single: dict = {}
        self.nt = model.ntheta

    def __call__(self, x) -> float:
        x = np.asarray(x, float)
        d = x - self.centre
        moved = np.flatnonzero(d)
        u0 = self.state.u
        if len(moved) > 1:
            u0 = u0.copy()
            for k in moved:
                uk = self.single.get((int(k), d[k] > 0))
                if uk is not None:
                    u0 += uk - self.state.u
        try:
            st = self.model.solve(x[:self.nt], x[self.nt:], u0, profile_beta=False, tol=self.tol)
        except (PirlsError, NotPositiveDefinite, FloatingPointError):
            try:
                st = self.model.solve(x[:self.nt], x[self.nt:], self.state.u, profile_beta=False,
                                      tol=self.tol)
            except (PirlsError, NotPositiveDefinite, FloatingPointError):
                return math.nan
        if len(moved) == 1:
            self.single[(int(moved[0]), d[moved[0]] > 0)] = st.u
        return self.model.objective_at(st)


class _Memo:
    """Cache of an objective by exact parameter values (the derivative checks share points)."""

    def __init__(self, fun: Callable) -> None:
        self.fun = fun
        self.cache: dict = {}

    def __call__(self, x) -> float:
        x = np.asarray(x, float)
        key = x.tobytes()
        if key not in self.cache:
            self.cache[key] = float(self.fun(x))
        return self.cache[key]

    @property
    def best(self):
        if not self.cache:
            return math.inf, None
        key = min(self.cache, key=self.cache.get)
        return self.cache[key], np.frombuffer(key)


@dataclass(frozen=True)
class _Stage1:
    """θ with β profiled inside PIRLS: the optimum, its run and its tightly converged state."""

    theta: np.ndarray
    fmin: float
    return_value: str
    run: Recorder
    state: PirlsState
    vcov_pls: np.ndarray


class _Stage2Coordinates:
    """Stage 2's parameters x = (θ, γ) with γ = R(β − β₁), R the Cholesky factor of the stage-1
    precision of β̂ (see the module docstring), and its bounds and initial steps."""

    def __init__(self, model, stage1: _Stage1):
        nt, p = model.ntheta, model.p
        self.nt = nt
        self.theta1 = np.asarray(stage1.theta, float)
        self.beta1 = stage1.state.beta.copy()
        self.T = safe_cholesky(stage1.vcov_pls)
        self.lower = np.concatenate([model.lower, np.full(p, -np.inf)])
        self.x0 = np.concatenate([self.theta1, np.zeros(p)])
        self.step = np.concatenate([np.maximum(STAGE2_THETA_STEP * np.abs(self.theta1), 0.02),
                                    np.full(p, STAGE2_BETA_STEP)])

    def to_args(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(θ, β) of the optimizer's parameters."""
        return x[:self.nt], self.beta1 + self.T @ x[self.nt:]

    def to_raw(self, x: np.ndarray) -> np.ndarray:
        """(θ, β) as one vector."""
        return np.concatenate(self.to_args(x))

    def from_raw(self, raw: np.ndarray) -> np.ndarray:
        """The optimizer's parameters of (θ, β)."""
        return np.concatenate([raw[:self.nt], np.linalg.solve(self.T, raw[self.nt:] - self.beta1)])

    def reported(self, xs: np.ndarray) -> np.ndarray:
        """Rows of optimizer parameters as rows of (θ, β) (the trace)."""
        return np.column_stack([xs[:, :self.nt], self.beta1 + xs[:, self.nt:] @ self.T.T])


@dataclass(frozen=True)
class _Optimum:
    """The stage-2 optimum after the derivative checks and the Newton polish."""

    raw: np.ndarray
    fmin: float
    state: PirlsState
    return_value: str
    check: ConvergenceCheck
    hessian: tuple | None
    free: np.ndarray
    checks: list


def _fit(model: GeneralizedLinearMixedModel, progress, formula_text, **optimizer) -> MixedModelResult:
    started = time.perf_counter()
    settings = optimizer_settings(optimizer)
    stage1 = _stage1(model, settings, progress)
    notes = list(data_notes(model.design, model.dropped_columns)) + list(model.notes)
    if model.fast:
        return _finish_fast(model, stage1, settings, notes, formula_text, started, progress)
    coords = _Stage2Coordinates(model, stage1)
    objective = GlmmObjective(model, coords.to_args, stage1.state, profile_beta=False)
    run = Recorder(objective, progress)
    x, _, ret, _ = bobyqa(objective, coords.x0, coords.lower, initial_step=coords.step,
                          recorder=run, **settings.options())
    opt = _stage2_optimum(model, coords, objective, run, x, ret, settings, progress)
    vcov_pls = pls_vcov(model, opt.state)
    vcov, vnotes, hessian = _vcov_hessian(model, opt.hessian, vcov_pls)
    optsum = summarize(settings, initial=np.concatenate([coords.theta1, coords.beta1]),
                       final=opt.raw, fmin=opt.fmin, return_value=opt.return_value,
                       check=opt.check, singular=model.is_singular(opt.raw[:model.ntheta]),
                       run=run, checks=opt.checks, reported=coords.reported,
                       names=_param_names(model, True), started=started)
    extras = {"vcov_pls": vcov_pls, "hessian": hessian, "stage1": {
        "theta": coords.theta1, "beta": coords.beta1, "objective": float(stage1.fmin),
        "evaluations": len(stage1.run.values), "return_value": stage1.return_value},
        "pirls_iterations": opt.state.iterations, "free_theta": int(np.sum(opt.free[:model.ntheta]))}
    return _result(model, opt.state, opt.fmin, vcov, optsum, extras, notes + vnotes, formula_text)


def _stage1(model, settings: OptimizerSettings, progress) -> _Stage1:
    """Stage 1 (lme4's nAGQ = 0): θ with β profiled inside PIRLS, from lme4's start; loose
    tolerances when stage 2 follows (it only needs a starting point)."""
    st0 = model.start()
    objective = GlmmObjective(model, theta_only, st0, profile_beta=True)
    run = Recorder(objective, progress)
    if not model.fast:
        settings = replace(settings, ftol_abs=STAGE1_FTOL, xtol_abs=STAGE1_XTOL)
    theta, fmin, ret, _ = bobyqa(objective, st0.theta, model.lower, initial_step=0.2,
                                 recorder=run, **settings.options())
    try:
        st = model.solve(theta, objective.best.beta, objective.best.u, profile_beta=True,
                         tol=PIRLS_TOL_TIGHT)
        vcov_pls = model.dispersion(st) * model.system.unscaled_vcov()
    except NotPositiveDefinite:
        # separation: the vanishing weights of the separated rows make the (β, u) system
        # singular to rounding when PIRLS goes on; the stage-1 mode is as good
        st = objective.best
        vcov_pls = pls_vcov(model, st)
    return _Stage1(theta, fmin, ret, run, st, vcov_pls)


def _stage2_optimum(model, coords: _Stage2Coordinates, objective: GlmmObjective, run: Recorder,
                    x: np.ndarray, ret: str, settings: OptimizerSettings, progress) -> _Optimum:
    """Derivatives at BOBYQA's optimum with a tight PIRLS tolerance, a Newton polish, and up to
    two BOBYQA restarts from a clearly lower point met by the finite differences."""
    nt = model.ntheta
    checks: list = []
    restarts = 0
    while True:
        raw = coords.to_raw(x)
        state = model.solve(raw[:nt], raw[nt:], objective.best.u, profile_beta=False,
                            tol=PIRLS_TOL_TIGHT)
        fhat = model.objective_at(state)
        checker = Recorder(_Displaced(model, raw, state, PIRLS_TOL_TIGHT), progress, stage="check")
        checks.append(checker)
        memo = _Memo(checker)
        memo.cache[raw.tobytes()] = fhat
        free, g, hessian, check = _derivatives_at(memo, raw, fhat, coords.lower)
        if hessian is not None:
            raw, fhat, state = _newton_polish(model, memo, raw, fhat, state, hessian, g, coords.lower)
        best_val, best_x = memo.best
        if not (best_val < fhat - 1e-6 * max(1.0, abs(fhat)) and restarts < 2):
            return _Optimum(raw, fhat, state, ret, check, hessian, free, checks)
        # a lower point turned up: continue the optimization from there
        restarts += 1
        x, _, ret, _ = bobyqa(objective, coords.from_raw(best_x), coords.lower,
                              initial_step=coords.step * 0.1, recorder=run, **settings.options())


def _derivatives_at(memo: _Memo, raw: np.ndarray, fhat: float, lower: np.ndarray):
    """lme4's ``deriv12`` over the free parameters and the convergence check, which reuses its
    points (x ± δeᵢ, x ± δ(eᵢ + eⱼ)) from the memo; returns (free, gradient, (idx, H), check)."""
    free = free_parameters(raw, lower)
    g = np.full(len(raw), np.nan)
    hessian = None
    if free.any():
        g[free], H = deriv12(memo, raw, free=free, fx=fhat, lower=lower)
        hessian = (np.flatnonzero(free), H)
    check = check_convergence(memo, raw, lower)
    if not np.all(np.isnan(g)):
        check = replace(check, gradient=g)
    return free, g, hessian, check


def _newton_polish(model, fun, x, fx, state, H, g, lower):
    """BOBYQA stops on its function tolerance a little short of the optimum on a flat
    objective: x − H⁻¹g over the free coordinates finishes the job when it stays feasible and
    lowers ``fun``. Returns (x, f(x), state) after the step, or the arguments unchanged."""
    idx, Hf = H
    try:
        step = -np.linalg.solve(Hf, g[idx])
        if np.linalg.eigvalsh(Hf).min() <= 0:
            return x, fx, state
    except np.linalg.LinAlgError:
        return x, fx, state
    xn = x.copy()
    xn[idx] += step
    if np.any(xn < lower):
        return x, fx, state
    fn = fun(xn)
    if not fn < fx:
        return x, fx, state
    nt = model.ntheta
    return xn, fn, model.solve(xn[:nt], xn[nt:], state.u, profile_beta=False, tol=PIRLS_TOL_TIGHT)


def safe_cholesky(V: np.ndarray) -> np.ndarray:
    if V.shape[0] == 0:
        return np.zeros((0, 0))
    try:
        return np.linalg.cholesky(0.5 * (V + V.T))
    except np.linalg.LinAlgError:
        return np.diag(np.sqrt(np.maximum(np.abs(np.diag(V)), 1e-12)))


def pls_vcov(model, st) -> np.ndarray:
    """φ (R_XᵀR_X)⁻¹ from the full PLS system at the PIRLS weights of the state."""
    if model.p == 0:
        return np.zeros((0, 0))
    w, wres = model.kernel.working(st.eta, st.mu)
    try:
        model.system.update(w, st.eta - model.offset + wres, full=True)
        model.system.solve(model.system.factor(st.theta))
    except NotPositiveDefinite:
        # separation: rows whose weights vanished leave a coefficient without information;
        # floored weights give it the huge (finite) variance lme4 reports
        w = np.maximum(w, SEPARATION_WEIGHT * float(np.median(w)))
        model.system.update(w, st.eta - model.offset + wres, full=True)
        model.system.solve(model.system.factor(st.theta))
    return model.dispersion(st) * model.system.unscaled_vcov()


def _vcov_hessian(model, H, vcov_pls):
    """vcov(β̂) = 2 H⁻¹ (β block), lme4's default; falls back to the PLS version."""
    nt, p = model.ntheta, model.p
    notes = []
    n = nt + p
    Hfull = np.full((n, n), np.nan)
    if H is None or p == 0:
        return vcov_pls, notes, Hfull
    idx, Hf = H
    Hfull[np.ix_(idx, idx)] = Hf
    bpos = np.flatnonzero(idx >= nt)
    ok = len(bpos) == p
    V = None
    if ok:
        try:
            Hi = np.linalg.inv(Hf)
            Vh = Hi[np.ix_(bpos, bpos)]
            V = Vh + Vh.T
            ok = bool(np.all(np.isfinite(V)) and np.linalg.eigvalsh(V).min() > 0)
        except np.linalg.LinAlgError:
            ok = False
    if not ok:
        notes.append(Note("standard_errors", "The finite-difference Hessian of the deviance is not "
                          "positive definite, so the standard errors come from the penalized "
                          "least-squares approximation instead."))
        return vcov_pls, notes, Hfull
    se_h = np.sqrt(np.diag(V))
    se_p = np.sqrt(np.diag(vcov_pls))
    rel = float(np.max(np.abs(se_h / se_p - 1.0)))
    if rel > VCOV_DISAGREE:
        notes.append(Note("standard_errors", "Standard errors from the Hessian of the deviance "
                          "(reported) and from the penalized least-squares approximation differ "
                          f"by up to {100 * rel:.1f} %; result.extras['vcov_pls'] holds the latter."))
    return V, notes, Hfull


def _param_names(model, with_beta: bool) -> tuple:
    names = [f"theta_{i + 1}" for i in range(model.ntheta)]
    if with_beta:
        names += [f"beta: {nm}" for nm in model.fixef_names]
    return tuple(names)


def _finish_fast(model, stage1: _Stage1, settings: OptimizerSettings, notes, formula_text,
                 started: float, progress) -> MixedModelResult:
    """Result of a ``fast`` fit (lme4's nAGQ = 0): stage 1 only, PLS standard errors."""
    theta = np.asarray(stage1.theta, float)
    objective = GlmmObjective(model, theta_only, stage1.state, profile_beta=True,
                              tol=PIRLS_TOL_TIGHT, fixed_start=True)
    checker = Recorder(objective, progress, stage="check")
    memo = _Memo(checker)
    fhat = model.laplace(stage1.state)
    memo.cache[theta.tobytes()] = fhat
    run = stage1.run
    optsum = summarize(settings, initial=run.params[0] if run.params else theta, final=theta,
                       fmin=fhat, return_value=stage1.return_value,
                       check=check_convergence(memo, theta, model.lower),
                       singular=model.is_singular(theta), run=run, checks=[checker],
                       names=_param_names(model, False), started=started)
    extras = {"vcov_pls": stage1.vcov_pls, "pirls_iterations": stage1.state.iterations}
    return _result(model, stage1.state, fhat, stage1.vcov_pls, optsum, extras, notes, formula_text)


def _result(model, st, objective, vcov, optsum, extras, notes, formula_text) -> MixedModelResult:
    design = model.design
    theta, beta = np.asarray(st.theta, float), np.asarray(st.beta, float)
    n, p, nt = design.nobs, model.p, model.ntheta
    disp = model.family.has_dispersion
    phi = model.dispersion(st) if disp else None
    if disp and model.n_agq > 1:
        phi = getattr(model, "_agq_phi", phi)
    dof = p + nt + (1 if disp else 0)
    loglik = -objective / 2
    aic = objective + 2 * dof
    bic = objective + dof * math.log(n)
    aicc = aic + 2 * dof * (dof + 1) / (n - dof - 1) if n - dof - 1 > 0 else math.inf
    names = model.fixef_names
    se = np.sqrt(np.maximum(np.diag(vcov), 0.0)) if p else np.zeros(0)
    lams = [lay.lam(theta) for lay in term_layouts(model.reterms)]
    scale = phi if disp else 1.0
    tables = TableNumbers(
        names=tuple(names), beta=beta, se=se, vcov=np.asarray(vcov, float),
        groups=tuple(t.group for t in model.reterms),
        columns=tuple(tuple(t.names) for t in model.reterms),
        covariances=tuple(scale * lam @ lam.T for lam in lams), residual_variance=phi,
        ranef=_ranef_values(model, theta, st.u))
    singular = model.is_singular(theta)
    separation = separation_note(model, st.mu, beta)
    if separation:
        notes = list(notes) + [separation]
        _warnings.warn(separation, SeparationWarning, stacklevel=4)
    notes = fit_notes(notes, singular, optsum)
    extras = dict(extras)
    extras["eta"] = st.eta
    extras["deviance_residuals_sum"] = float(np.sum(model.family.dev_resids(model.y, st.mu, model.pw)))
    if model.n_agq > 1 and not disp:
        # lme4 1.1-31 reports AGQ fits without the saturated model's −2ℓ (see mm_core.agq)
        with np.errstate(all="ignore"):
            sat = model.family.aic(model.y, model.trials, model.y, model.pw, 0.0)
        extras["objective_lme4_scale"] = float(objective - sat)
    return MixedModelResult(
        formula=formula_text or str(design.formula), family=model.family.name,
        link=model.family.link.name, reml=False, n_agq=model.n_agq,
        objective=float(objective), loglik=float(loglik), aic=float(aic), bic=float(bic),
        aicc=float(aicc), deviance=float(objective), nobs=n, dof=dof, tables=tables,
        theta=theta, sigma=math.sqrt(phi) if phi is not None else None,
        fitted=st.mu.copy(), residuals=model.y - st.mu, is_singular=singular, optsum=optsum,
        warnings=tuple(notes), n_dropped=design.n_dropped, rows=design.rows,
        dropped_columns=tuple(model.dropped_columns), y=design.y, prior_weights=model.pw,
        model=model, design=design, extras=extras)


#: A fitted mean this close to 0 (or to 1 for a binomial) is numerically on the boundary
#: (R's glm.fit: "fitted probabilities numerically 0 or 1 occurred").
BOUNDARY_MU = 10 * np.finfo(float).eps
#: Smallest |β_j x_ij| on a boundary row for which coefficient j is named as diverging.
DIVERGING_ETA = 5.0
#: A coefficient this large on the link scale is named too (it moves with the diverging ones).
DIVERGING_BETA = 1000.0


def separation_note(model, mu: np.ndarray, beta: np.ndarray) -> str | None:
    """The warning for complete or quasi-complete separation, naming the diverging coefficients.

    Binomial and Poisson fits whose fitted means reach 0 (or 1) to rounding have a fixed effect
    that runs off to ±infinity: the likelihood keeps improving along it. lme4 then reports a
    large coefficient and, through glm, "fitted probabilities numerically 0 or 1 occurred".
    """
    fam = model.family
    if not fam.discrete or not model.p:
        return None
    edge = mu < BOUNDARY_MU
    if fam.uses_trials:
        edge |= mu > 1 - BOUNDARY_MU
    rows = np.flatnonzero(edge & (model.pw > 0))
    if rows.size == 0:
        return None
    contrib = np.max(np.abs(model.X[rows] * beta), axis=0)
    names = [f"'{nm}' ({b:.3g})" for nm, b, c in zip(model.fixef_names, beta, contrib)
             if c > DIVERGING_ETA or abs(b) > DIVERGING_BETA]
    what = "probabilities numerically 0 or 1" if fam.uses_trials else "means numerically 0"
    coef = (f"the estimate{'s' if len(names) > 1 else ''} of {', '.join(names)} "
            f"{'are' if len(names) > 1 else 'is'} drifting towards infinity"
            if names else "some fixed effect is drifting towards infinity")
    return Note("separation", f"Separation: {rows.size} observation{'s are' if rows.size > 1 else ' is'} fitted "
            f"with {what}, so {coef}. Those estimates, their standard errors and tests are not "
            "meaningful (the other coefficients are). Remove or merge the predictor categories "
            "that separate the outcomes, or use a penalized (bias-reduced) fit.")


def _ranef_values(model, theta, u) -> tuple:
    """b = Λu per term, in formula order: (group, levels, columns, values) each."""
    b_fit = [u[lay.start:lay.start + lay.term.q].reshape(lay.nlevels, lay.ncols) @ lay.lam(theta).T
             for lay in term_layouts(model.reterms)]
    b = [None] * len(b_fit)
    for k, i in enumerate(model.order):
        b[i] = b_fit[k]
    return tuple((t.group, tuple(t.levels), tuple(t.names), b[i])
                 for i, t in enumerate(model.design.reterms))


