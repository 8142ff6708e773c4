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

import numpy as np
import pandas as pd

from ._threads import blas_threads
from .agq import agq_adjustment, check_agq, level_indicator
from .design.reterm import fitting_order
from .errors import DataError, MixedModelError, SeparationWarning
from .families import get_family
from .femat import independent_columns
from .lmm import LinearMixedModel, check_identifiable, data_notes, fit_notes, theta_is_singular
from .notes import Note, note_code
from .optimize import OptSummary, Recorder, bobyqa, check_convergence, verdict
from .pirls import SEPARATION_WEIGHT, FamilyKernel, PirlsError, make_system, pirls
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
_OPT_KEYS = {"ftol_rel", "ftol_abs", "xtol_abs", "maxeval"}


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
        self.lmm = None          # its linear mixed model, built on first use (:meth:`lmm_with`)

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
            self.notes.append(Note("continuous_counts", "With non-integer counts the Poisson log-likelihood (objective, "
                              "AIC, BIC) uses log y! = lgamma(y + 1); R's dpois, and so lme4's "
                              "logLik, is -Inf for such counts."))
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
    both stages). See the module docstring for the method.
    """
    bad = set(optimizer) - _OPT_KEYS
    if bad:
        raise MixedModelError(f"unknown optimizer setting(s) {', '.join(sorted(bad))}; "
                              f"use {', '.join(sorted(_OPT_KEYS))}")
    model = GeneralizedLinearMixedModel(design, family=family, link=link, weights=weights,
                                        n_agq=n_agq, fast=fast,
                                        allow_more_random_effects=allow_more_random_effects)
    try:
        with np.errstate(all="ignore"):   # trial points far out; results are checked instead
            return model.fit(progress, formula_text=formula_text, **optimizer)
    except PirlsError as e:
        raise DataError(f"the fit failed: {e}. {link_advice(model.family)}") from None


# --------------------------------------------------------------------------------------------
# Fitting: the two stages, the derivative check and the standard errors
# --------------------------------------------------------------------------------------------
class GlmmObjective:
    """An objective over parameters with a warm-started PIRLS and a finite fallback value.

    ``to_args(x)`` maps the optimizer's parameters to (θ, β); PIRLS starts from the modes of the
    previous successful evaluation (or of the best one when that fails). A failed evaluation
    (PIRLS or factorization) returns the first finite value seen, as quadratic-model optimizers
    need a finite value.
    """

    def __init__(self, model, to_args, state, *, profile_beta: bool, tol: float = PIRLS_TOL,
                 fixed_start: bool = False):
        self.model = model
        self.to_args = to_args
        self.profile_beta = profile_beta
        self.tol = tol
        self.last = self.best = state
        self.best_val = math.inf
        self.finit = None
        self.fixed_start = fixed_start
        self.failures = 0

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

    def __call__(self, x) -> float:
        st = self.state(x)
        val = self.model.objective_at(st) if st is not None else math.nan
        if not math.isfinite(val):
            self.failures += 1
            return self.finit if self.finit is not None else 1e300
        if self.finit is None:
            self.finit = val
        if not self.fixed_start:
            self.last = st
        if val < self.best_val:
            self.best_val, self.best = val, st
        return val


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

    def __init__(self, fun):
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


def deriv12(fun, x: np.ndarray, *, delta: float = 1e-4, fx: float | None = None,
            lower: np.ndarray | None = None):
    """Central-difference gradient and Hessian, exactly as lme4's ``deriv12``.

    Off-diagonal elements use the four points x ± δeᵢ ± δeⱼ; where x − δ would cross a lower
    bound the step below is shortened to the bound (as lme4 does). Returns (gradient, Hessian).
    """
    x = np.asarray(x, float)
    nx = len(x)
    fx = fun(x) if fx is None else fx
    xadd, xsub = x + delta, x - delta
    ud = np.full(nx, delta)
    ld = np.full(nx, delta)
    if lower is not None:
        act = np.isfinite(lower) & (xsub < lower)
        ld[act] = (x - lower)[act]
        xsub[act] = lower[act]
    g = np.zeros(nx)
    H = np.zeros((nx, nx))

    def at(pos, vals):
        y = x.copy()
        y[pos] = vals
        return fun(y)

    for j in range(nx):
        fadd, fsub = at([j], [xadd[j]]), at([j], [xsub[j]])
        H[j, j] = fadd / ud[j] ** 2 - 2 * fx / (ud[j] * ld[j]) + fsub / ld[j] ** 2
        g[j] = (fadd - fsub) / (ud[j] + ld[j])
        for i in range(j):
            H[i, j] = H[j, i] = (at([i, j], [xadd[i], xadd[j]]) / (ud[i] + ud[j]) ** 2
                                 - at([i, j], [xadd[i], xsub[j]]) / (ud[i] + ld[j]) ** 2
                                 - at([i, j], [xsub[i], xadd[j]]) / (ld[i] + ud[j]) ** 2
                                 + at([i, j], [xsub[i], xsub[j]]) / (ld[i] + ld[j]) ** 2)
    return g, H


def _opt_settings(opt: dict) -> dict:
    return {"ftol_rel": opt.get("ftol_rel", 1e-12), "ftol_abs": opt.get("ftol_abs", 1e-8),
            "xtol_abs": opt.get("xtol_abs", 1e-10), "maxeval": int(opt.get("maxeval", 100_000))}


def _fit(model: GeneralizedLinearMixedModel, progress, formula_text, **opt) -> MixedModelResult:
    t0 = time.perf_counter()
    cfg = _opt_settings(opt)
    nt, p = model.ntheta, model.p
    st0 = model.start()
    # ---- stage 1: θ with β profiled inside PIRLS (lme4's nAGQ = 0) --------------------------------
    f1 = GlmmObjective(model, lambda x: (x, None), st0, profile_beta=True)
    stage1_cfg = cfg if model.fast else dict(cfg, ftol_abs=STAGE1_FTOL, xtol_abs=STAGE1_XTOL)
    rec1 = Recorder(f1, progress)
    theta1, fmin1, ret1, rec1 = bobyqa(rec1, st0.theta, model.lower, initial_step=0.2,
                                       recorder=rec1, **stage1_cfg)
    try:
        st1 = model.solve(theta1, f1.best.beta, f1.best.u, profile_beta=True, tol=PIRLS_TOL_TIGHT)
        vcov_pls1 = model.dispersion(st1) * model.system.unscaled_vcov()
    except NotPositiveDefinite:
        # separation: the vanishing weights of the separated rows make the (β, u) system
        # singular to rounding when PIRLS goes on; the stage-1 mode is as good
        st1 = f1.best
        vcov_pls1 = pls_vcov(model, st1)
    notes = list(data_notes(model.design, model.dropped_columns)) + list(model.notes)
    if model.fast:
        return _finish_fast(model, st1, theta1, rec1, ret1, vcov_pls1, cfg, notes, formula_text, t0,
                            progress)
    # ---- stage 2: (θ, β) with PIRLS over u; β in coordinates scaled by the stage-1 precision ----
    beta1 = st1.beta.copy()
    T = safe_cholesky(vcov_pls1)

    def to_args(x):
        return x[:nt], beta1 + T @ x[nt:]

    lower2 = np.concatenate([model.lower, np.full(p, -np.inf)])
    f2 = GlmmObjective(model, to_args, st1, profile_beta=False)
    rec2 = Recorder(f2, progress)
    x0 = np.concatenate([theta1, np.zeros(p)])
    step = np.concatenate([np.maximum(STAGE2_THETA_STEP * np.abs(theta1), 0.02),
                           np.full(p, STAGE2_BETA_STEP)])
    x2, fmin2, ret2, rec2 = bobyqa(rec2, x0, lower2, initial_step=step, recorder=rec2, **cfg)
    # ---- derivatives at the optimum, with a tight PIRLS tolerance ---------------------------------
    theta_hat, beta_hat = to_args(x2)
    raw = np.concatenate([theta_hat, beta_hat])
    lower_raw = np.concatenate([model.lower, np.full(p, -np.inf)])
    restarts = 0
    check_recs: list = []
    while True:
        st_hat = model.solve(theta_hat, beta_hat, f2.best.u, profile_beta=False, tol=PIRLS_TOL_TIGHT)
        fhat = model.objective_at(st_hat)
        ftight = _Displaced(model, raw, st_hat, PIRLS_TOL_TIGHT)
        check_rec = Recorder(ftight, progress, stage="check")
        check_recs.append(check_rec)
        memo = _Memo(check_rec)
        memo.cache[raw.tobytes()] = fhat
        free = ~(np.isfinite(lower_raw) & (raw - lower_raw < 1e-4))
        g = np.full(len(raw), np.nan)
        H = None
        if free.any():
            idx = np.flatnonzero(free)
            sub = lambda y: memo(_embed(raw, idx, y))  # noqa: E731
            g_f, H_f = deriv12(sub, raw[idx], fx=fhat, lower=lower_raw[idx])
            g[idx] = g_f
            H = (idx, H_f)
        # the convergence check reuses deriv12's points (x ± δeᵢ, x ± δ(eᵢ + eⱼ)) from the memo
        grad, scaled, ok, msgs = check_convergence(memo, raw, lower_raw)[:4]
        if H is not None:
            # Newton polish: BOBYQA stops on its function tolerance a little short of the optimum
            # on a flat objective; one step with the Hessian just computed finishes the job
            polished = _newton_polish(memo, raw, H, g, lower_raw, fhat)
            if polished is not None:
                raw, fhat = polished
                theta_hat, beta_hat = raw[:nt], raw[nt:]
                st_hat = model.solve(theta_hat, beta_hat, st_hat.u, profile_beta=False,
                                     tol=PIRLS_TOL_TIGHT)
        best_val, best_x = memo.best
        if best_val < fhat - 1e-6 * max(1.0, abs(fhat)) and restarts < 2:
            # a lower point turned up: continue the optimization from there
            restarts += 1
            xs = np.concatenate([best_x[:nt], np.linalg.solve(T, best_x[nt:] - beta1)])
            x2, fmin2, ret2, rec2 = bobyqa(rec2, xs, lower2, initial_step=step * 0.1, recorder=rec2,
                                           **cfg)
            theta_hat, beta_hat = to_args(x2)
            raw = np.concatenate([theta_hat, beta_hat])
            continue
        break
    nfree_theta = int(np.sum(free[:nt]))
    vcov_pls = pls_vcov(model, st_hat)
    vcov, vnotes, Hfull = _vcov_hessian(model, H, vcov_pls)
    notes.extend(vnotes)
    converged = ret2 not in ("maximum evaluations reached", "failure", "roundoff limited")
    messages = list(msgs)
    if ret2 == "maximum evaluations reached":
        messages.append(f"The optimizer used its whole budget of {cfg['maxeval']} evaluations "
                        "before converging; allow more with maxeval=.")
    if not ok:
        converged = False
        messages.append(
            f"The optimizer stopped where the scaled gradient is {scaled:.2g} (tolerance 2e-3); "
            "the estimates may not be the optimum. Rescaling covariates or simplifying the random "
            "effects usually helps.")
    trace_x = np.asarray(rec2.params)
    trace_raw = (np.column_stack([trace_x[:, :nt], beta1 + trace_x[:, nt:] @ T.T])
                 if len(trace_x) else np.zeros((0, nt + p)))
    # the trace: the optimizer's evaluations (in (θ, β)), then the derivative checks'
    check_obj = [v for r in check_recs for v in r.values]
    check_par = [x for r in check_recs for x in r.params]
    trace_obj = np.concatenate([rec2.values, check_obj])
    trace_par = np.vstack([trace_raw] + ([np.asarray(check_par)] if check_par else []))
    optsum = _optsum(model, x0=np.concatenate([theta1, beta1]), final=raw, fmin=fhat,
                     evaluations=len(rec2.values), check_evaluations=len(check_obj),
                     ret=ret2, cfg=cfg, grad=grad if np.all(np.isnan(g)) else g, scaled=scaled,
                     converged=converged, messages=messages, t0=t0, trace_obj=trace_obj,
                     trace_par=trace_par, names=_param_names(model, True))
    extras = {"vcov_pls": vcov_pls, "hessian": Hfull, "stage1": {
        "theta": np.asarray(theta1), "beta": beta1, "objective": float(fmin1),
        "evaluations": len(rec1.values), "return_value": ret1},
        "pirls_iterations": st_hat.iterations, "free_theta": nfree_theta}
    return _result(model, st_hat, fhat, vcov, optsum, extras, notes, formula_text)


def _newton_polish(fun, x, H, g, lower, fx):
    """x − H⁻¹g over the free coordinates if it stays feasible and lowers ``fun``; else None."""
    idx, Hf = H
    try:
        step = -np.linalg.solve(Hf, g[idx])
        if np.linalg.eigvalsh(Hf).min() <= 0:
            return None
    except np.linalg.LinAlgError:
        return None
    xn = x.copy()
    xn[idx] += step
    if np.any(xn < lower):
        return None
    fn = fun(xn)
    return (xn, fn) if fn < fx else None


def _embed(raw, idx, y):
    x = raw.copy()
    x[idx] = y
    return x


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
        notes.append(Note("standard_errors", "The finite-difference Hessian of the deviance is not positive definite, so "
                     "the standard errors come from the penalized least-squares approximation "
                     "instead."))
        return vcov_pls, notes, Hfull
    se_h = np.sqrt(np.diag(V))
    se_p = np.sqrt(np.diag(vcov_pls))
    rel = float(np.max(np.abs(se_h / se_p - 1.0)))
    if rel > VCOV_DISAGREE:
        notes.append(Note("standard_errors", f"Standard errors from the Hessian of the deviance (reported) and from the "
                     f"penalized least-squares approximation differ by up to {100 * rel:.1f} %; "
                     "result.extras['vcov_pls'] holds the latter."))
    return V, notes, Hfull


def _param_names(model, with_beta: bool) -> tuple:
    names = [f"theta_{i + 1}" for i in range(model.ntheta)]
    if with_beta:
        names += [f"beta: {nm}" for nm in model.fixef_names]
    return tuple(names)


def _optsum(model, *, x0, final, fmin, evaluations, check_evaluations, ret, cfg, grad, scaled,
            converged, messages, t0, trace_obj, trace_par, names) -> OptSummary:
    return OptSummary(
        optimizer="LN_BOBYQA", initial=np.asarray(x0, float), final=np.asarray(final, float),
        fmin=float(fmin), evaluations=int(evaluations), check_evaluations=int(check_evaluations),
        return_value=ret, ftol_rel=cfg["ftol_rel"], ftol_abs=cfg["ftol_abs"],
        xtol_abs=cfg["xtol_abs"], maxeval=cfg["maxeval"], gradient=np.asarray(grad, float),
        scaled_gradient=float(scaled), converged=bool(converged),
        verdict=verdict(converged, model.is_singular(final[:model.ntheta]), messages, ret),
        messages=tuple(messages), elapsed=time.perf_counter() - t0,
        trace_objective=np.asarray(trace_obj, float), trace_parameters=np.asarray(trace_par, float),
        parameter_names=names)


def _finish_fast(model, st1, theta1, rec1, ret1, vcov_pls, cfg, notes, formula_text, t0, progress):
    """Result of a ``fast`` fit (lme4's nAGQ = 0): stage 1 only, PLS standard errors."""
    f = GlmmObjective(model, lambda x: (x, None), st1, profile_beta=True, tol=PIRLS_TOL_TIGHT,
                   fixed_start=True)
    check_rec = Recorder(f, progress, stage="check")
    memo = _Memo(check_rec)
    fhat = model.laplace(st1)
    memo.cache[np.asarray(theta1, float).tobytes()] = fhat
    grad, scaled, ok, msgs = check_convergence(memo, np.asarray(theta1, float), model.lower)[:4]
    converged = ret1 not in ("maximum evaluations reached", "failure", "roundoff limited") and ok
    messages = list(msgs)
    if ret1 == "maximum evaluations reached":
        messages.append(f"The optimizer used its whole budget of {cfg['maxeval']} evaluations "
                        "before converging; allow more with maxeval=.")
    if not ok:
        messages.append(f"The optimizer stopped where the scaled gradient is {scaled:.2g} "
                        "(tolerance 2e-3); the estimates may not be the optimum.")
    trace_par = np.asarray(rec1.params + check_rec.params).reshape(-1, len(theta1))
    optsum = _optsum(model, x0=rec1.params[0] if rec1.params else theta1, final=theta1, fmin=fhat,
                     evaluations=len(rec1.values), check_evaluations=len(check_rec.values),
                     ret=ret1, cfg=cfg, grad=grad, scaled=scaled, converged=converged,
                     messages=messages, t0=t0, trace_obj=rec1.values + check_rec.values,
                     trace_par=trace_par, names=_param_names(model, False))
    extras = {"vcov_pls": vcov_pls, "pirls_iterations": st1.iterations}
    return _result(model, st1, fhat, vcov_pls, optsum, extras, notes, formula_text)


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
    lams = _lambdas(model, theta)
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
        theta=theta, sigma=math.sqrt(phi) if disp else None,
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
    b_fit, off = [], 0
    for t, lam in zip(model.reterms, _lambdas(model, theta)):
        b_fit.append(u[off:off + t.q].reshape(t.nlevels, t.ncols) @ lam.T)
        off += t.q
    b = [None] * len(b_fit)
    for k, i in enumerate(model.order):
        b[i] = b_fit[k]
    return tuple((t.group, tuple(t.levels), tuple(t.names), b[i])
                 for i, t in enumerate(model.design.reterms))


def _lambdas(model, theta) -> list:
    out, start = [], 0
    for t in model.reterms:
        out.append(t.lam(theta[start:start + t.ntheta]))
        start += t.ntheta
    return out
