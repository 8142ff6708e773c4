"""Linear mixed models: the profiled deviance and REML criterion, and their optimization.

For a relative covariance factor Λθ, the blocked Cholesky factor of the penalized least-squares
system (:mod:`mm_core.pls`) gives ``log|L_θ|²``, ``log|R_X|²`` and ``r²θ``, and

* the profiled ML deviance  ``d(θ) = log|L_θ|² − log|W| + n [1 + log(2π r²θ / n)]``,
* the REML criterion ``d_R(θ) = log|L_θ|² + log|R_X|² − log|W| + (n−p)[1 + log(2π r²θ/(n−p))]``,

exactly as lme4 (``lmer``) and MixedModels.jl define them. θ is optimized by BOBYQA with the
diagonal elements of each λᵢ bounded below by 0.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from .dense import tri_inv
from .design.reterm import fitting_order
from .errors import DataError
from .femat import independent_columns
from .notes import Note
from .optimize import (
    ConvergenceCheck,
    GuardedGradient,
    GuardedObjective,
    OptimizerSettings,
    OptSummary,
    Recorder,
    bobyqa,
    check_convergence,
    check_convergence_gradient,
    check_projected_gradient,
    optimizer_settings,
    quasi_newton,
    quasi_newton_even_bounds,
    recheck_gradient,
    regradient,
    summarize,
)
from .pls import initial_theta, lmm_system, theta_lower_bounds
from .results import MixedModelResult, TableNumbers

#: lme4's threshold for a singular fit: a diagonal element of λ below this.
SINGULAR_TOL = 1e-4
#: Up to this many parameters the convergence check (and the Newton polish) runs.
MAX_CHECKED = 30
#: BOBYQA's tolerances when the Newton polish will finish the optimization.
LOOSE_FTOL, LOOSE_XTOL = 1e-5, 1e-5
#: Relative decrease at which the quasi-Newton method hands over to the check's Newton steps.
LOOSE_QN_FTOL = 1e-10
#: Newton steps stop when the next step would move θ by less than this (with an analytic
#: gradient, whose Newton steps converge quadratically, the second value).
NEWTON_DONE, NEWTON_DONE_EXACT = 1e-7, 1e-9
#: A Newton step shorter than this is taken without measuring the gradient again (no analytic
#: gradient): the finite-difference quadratic model is accurate within that radius.
NEWTON_TRUST = 1e-5


def moment_start(model) -> tuple[np.ndarray, np.ndarray]:
    """Starting θ and BOBYQA's initial steps.

    λ = I (lme4's start) except for scalar random intercepts, which start from a method-of-
    moments estimate: the variance of the group means of the OLS residuals beyond what the
    within-group variance explains, relative to the remaining residual variance. With a start
    that close, a step of 40 % of θ (within [0.1, 0.75]) saves BOBYQA about half its evaluations
    on large crossed models.
    """
    cp = model.cp
    theta = initial_theta(model.reterms)
    step = np.full(len(theta), 0.75)
    p = cp.p
    A = cp.AXX
    beta = np.linalg.lstsq(A[:p, :p], A[:p, p], rcond=None)[0] if p else np.zeros(0)
    r = (cp.y - cp.X @ beta) * np.sqrt(cp.w)
    n = len(r)
    total = float(r @ r) / max(n - p, 1)
    taus, pos, where = [], 0, []
    for t in model.reterms:
        if t.ncols == 1 and np.all(t.z[0] == 1.0):
            nk = np.bincount(t.refs, minlength=t.nlevels)
            mk = np.bincount(t.refs, r, minlength=t.nlevels) / np.maximum(nk, 1)
            within = float(np.sum((r - mk[t.refs]) ** 2)) / max(n - t.nlevels, 1)
            between = float(np.sum(nk * mk ** 2)) / n
            taus.append(max(between - within * t.nlevels / n, 0.0))
            where.append(pos)
        pos += t.ntheta
    if taus:
        resid = max(total - sum(taus), 0.1 * total)
        if resid > 0:
            for i, tau in zip(where, taus):
                theta[i] = math.sqrt(tau / resid)
                step[i] = min(max(0.4 * theta[i], 0.1), 0.75)
            theta[where] = np.maximum(theta[where], 0.01)
    lead = model.reterms[0]
    if lead.ncols > 1:
        start = _vector_term_start(lead, r)
        if start is not None:
            sl = model.pls.layouts[0].theta_slice
            theta[sl] = start
            step[sl] = np.clip(0.4 * np.abs(start), 0.1, 0.75)
    return theta, step


def _vector_term_start(term, r: np.ndarray) -> np.ndarray | None:
    """Moment estimate of λ for a vector-valued term from per-level least-squares fits.

    Each level's coefficients b̂ₖ of the OLS residuals on the term's columns scatter with
    covariance Σ_b + σ² E[(ZₖᵀZₖ)⁻¹]; subtracting the average sampling part and dividing by the
    within-level residual variance σ² estimates λλᵀ (clipped to positive definite). Used for a
    correlated term (λ from the Cholesky factor) or an uncorrelated one (its diagonal).
    """
    p, ell = term.ncols, term.nlevels
    mask = term.theta_mask
    full, diagonal = np.array_equal(mask, np.tril(np.ones_like(mask))), np.array_equal(
        mask, np.eye(p, dtype=bool))
    if not (full or diagonal):
        return None
    A = np.zeros((ell, p, p))
    c = np.zeros((ell, p))
    for a in range(p):
        c[:, a] = np.bincount(term.refs, weights=term.z[a] * r, minlength=ell)
        for b in range(a + 1):
            A[:, a, b] = A[:, b, a] = np.bincount(term.refs, weights=term.z[a] * term.z[b],
                                                  minlength=ell)
    ok = np.linalg.cond(A) < 1e8
    if ok.sum() < p + 2:
        return None
    Ainv = np.linalg.inv(A[ok])
    b = (Ainv @ c[ok][..., None])[..., 0]
    in_ok = ok[term.refs]
    rss = float(r[in_ok] @ r[in_ok]) - float(np.sum(c[ok] * b))
    dof = int(in_ok.sum()) - p * int(ok.sum())
    if dof <= 0 or rss <= 0:
        return None
    sigma2 = rss / dof
    cov = (np.cov(b, rowvar=False) - sigma2 * Ainv.mean(axis=0)) / sigma2
    w, V = np.linalg.eigh(0.5 * (cov + cov.T))
    w = np.maximum(w, 1e-2 * max(w.max(), 1e-8))
    cov = (V * w) @ V.T
    lam = np.linalg.cholesky(cov) if full else np.diag(np.sqrt(np.diag(cov)))
    out = term.theta_of(lam)
    return out if np.all(np.isfinite(out)) else None


def _optimizer_bounds(layouts) -> np.ndarray:
    """Lower bounds for the optimizer: 0 for a diagonal element alone in its column of λ.

    The objective depends on Λ only through ΛΛᵀ, so a column of λ may be flipped: its diagonal
    needs no bound when the column has other free entries (BOBYQA then cannot stall on the
    bound, as MixedModels.jl v5 found); a diagonal alone in its column keeps lme4's bound at 0,
    else the objective is even in it and BOBYQA's function-tolerance test can stop between two
    mirror points. :meth:`LinearMixedModel.rectify` flips the columns back.
    """
    out = []
    for lay in layouts:
        rows, cols = lay.theta_rows, lay.theta_cols
        for r, c in zip(rows, cols):
            alone = r == c and np.count_nonzero(cols == c) == 1
            out.append(0.0 if alone else -np.inf)
    return np.asarray(out, dtype=float)


def check_identifiable(design, allow: bool = False) -> None:
    """lme4's ``check.nobs.vs.nRE`` and ``check.nobs.vs.nlev`` as errors unless ``allow``."""
    if allow:
        return
    n = design.nobs
    for t in design.reterms:
        if t.q >= n:
            raise DataError(
                f"the random-effects term for '{t.group}' has {t.q} random effects "
                f"({t.nlevels} levels × {t.ncols} columns) but there are only {n} observations: "
                "its variances and the residual variance cannot be told apart. Simplify the term, "
                "or allow it explicitly (allow_more_random_effects=True).")
        if t.nlevels >= n:
            raise DataError(
                f"grouping factor '{t.group}' has {t.nlevels} levels for {n} observations: "
                "each level needs more than one observation on average.")


class LinearMixedModel:
    """A linear mixed model ready to fit: design, cross-products and the blocked factorization.

    Parameters
    ----------
    design : Design
        From :func:`mm_core.design.materialize`.
    reml : bool
        REML criterion instead of ML deviance.
    weights : array_like, optional
        Prior weights (inverse relative residual variances).

    Fields
    ------
    design : Design
    reml : bool
    order : list of int
        Fitting order of ``design.reterms`` (decreasing number of levels).
    reterms : list of ReTerm
        Terms in fitting order.
    X : ndarray
        Fixed-effects matrix without redundant columns.
    fixef_names, dropped_columns : list of str
    y : ndarray
        Response minus offset.
    weights : ndarray or None
    cp : CrossProducts
    pls : PLS

    Examples
    --------
    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> d = materialize("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> m = LinearMixedModel(d)
    >>> round(m.fit().objective, 4)
    1751.9393
    """

    def __init__(self, design, *, reml: bool = False, weights=None,
                 allow_more_random_effects: bool = False):
        if not design.reterms:
            raise DataError("the formula has no random-effects terms such as (1 | group): "
                            "use a linear model (ordinary least squares) instead")
        check_identifiable(design, allow_more_random_effects)
        self.design = design
        self.reml = bool(reml)
        self.order = fitting_order(design.reterms)
        self.reterms = [design.reterms[i] for i in self.order]
        keep = independent_columns(design.X)
        self.keep = keep
        self.X = np.ascontiguousarray(design.X[:, keep])
        self.fixef_names = [design.fixef_names[j] for j in keep]
        self.dropped_columns = [nm for j, nm in enumerate(design.fixef_names) if j not in set(keep)]
        self.offset = design.offset
        self.y = design.y - design.offset if design.offset is not None else design.y
        if weights is not None:
            weights = np.asarray(weights, float)
        self.weights = weights
        self.log_det_w = float(np.sum(np.log(weights))) if weights is not None else 0.0
        self.pls = lmm_system(self.reterms, self.X, self.y, weights)
        self.cp = self.pls.cp
        self.lower = theta_lower_bounds(self.reterms)
        self.optimizer_lower = _optimizer_bounds(self.pls.layouts)
        self.theta0, self.initial_step = moment_start(self)

    # -- objective ----------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.cp.n

    @property
    def p(self) -> int:
        return self.cp.p

    def criterion(self, f, reml: bool | None = None) -> float:
        """The ML deviance or REML criterion from a factor."""
        reml = self.reml if reml is None else reml
        n, p = self.n, self.p
        if f.pwrss <= 0:
            return -math.inf
        if reml:
            return (f.logdet_L + f.logdet_RX - self.log_det_w
                    + (n - p) * (1.0 + math.log(2.0 * math.pi * f.pwrss / (n - p))))
        return f.logdet_L - self.log_det_w + n * (1.0 + math.log(2.0 * math.pi * f.pwrss / n))

    def objective(self, theta) -> float:
        """Profiled deviance (ML) or REML criterion at θ."""
        return self.criterion(self.pls.factor(np.asarray(theta, float)))

    # -- fitting ------------------------------------------------------------------------------------
    def optimize(self, progress=None, theta0=None, *, check: bool = True, **optimizer) -> OptSummary:
        """Minimize the objective over θ and return the optimizer summary.

        BOBYQA from the moment start (or ``theta0``) — or L-BFGS-B on the analytic gradient
        where the system's gradient costs about one evaluation (``pls.gradient_first``) —; then,
        unless ``check`` is False, the convergence check, Newton steps on its quadratic model,
        and BOBYQA to full precision again when those cannot finish. With more than
        ``MAX_CHECKED`` θ elements and an analytic gradient, L-BFGS-B alone. ``optimizer``: the settings
        of :func:`mm_core.optimize.optimizer_settings`.
        """
        settings = optimizer_settings(optimizer)
        started = time.perf_counter()
        x0 = self.theta0 if theta0 is None else np.asarray(theta0, float)
        if len(x0) > MAX_CHECKED and self.has_gradient:
            return self._optimize_gradient(x0, settings, progress, started)
        objective = GuardedObjective(self.objective)
        run = Recorder(objective, progress)
        # when the check follows, the first optimizer only has to reach the quadratic region:
        # Newton steps on the check's gradient and Hessian finish faster than its slow final
        # contraction
        polish = check and 0 < len(x0) <= MAX_CHECKED
        if self.has_gradient and self.pls.gradient_first:
            # a gradient costing about one evaluation: a quasi-Newton method needs far fewer
            # evaluations than BOBYQA to reach the region where the check's Newton steps finish
            method = "L-BFGS-B (analytic gradient)"
            x, fmin, ret, _ = quasi_newton_even_bounds(
                GuardedGradient(self.objective_gradient), x0, self.optimizer_lower, run,
                maxeval=settings.maxeval, ftol=LOOSE_QN_FTOL if polish else 1e-15)
        else:
            method = "LN_BOBYQA"
            first = replace(settings, ftol_abs=LOOSE_FTOL, xtol_abs=LOOSE_XTOL) if polish else settings
            step = self.initial_step if theta0 is None else 0.75
            x, fmin, ret, _ = bobyqa(objective, x0, self.optimizer_lower, initial_step=step,
                                     recorder=run, **first.options())
        x = self.rectify(x)
        checker, convergence = None, None
        if check and len(x):
            checker = Recorder(objective, progress, stage="check")
            x, fmin, ret, convergence = self._finish(objective, run, checker, x, fmin, ret,
                                                     settings, polish)
        return summarize(settings, initial=x0, final=x, fmin=fmin, return_value=ret,
                         check=convergence, singular=self.is_singular(x), run=run,
                         checks=[checker] if checker is not None else [], started=started,
                         optimizer=method)

    def _finish(self, objective: GuardedObjective, run: Recorder, checker: Recorder, x: np.ndarray,
                fmin: float, ret: str, settings: OptimizerSettings, polish: bool):
        """Check convergence at BOBYQA's point, polish it by Newton steps, and run BOBYQA to full
        precision where they cannot finish; returns (x, fmin, return_value, check)."""
        check = self._derivatives(checker, x)
        x, fmin, check, settled = self._newton_steps(checker, x, fmin, check)
        if checker.best < fmin - 1e-8 * max(1.0, abs(fmin)) or (polish and not self._polished(x, check, settled)):
            # the quadratic model could not finish (a boundary, a flat or non-convex region, or
            # the check found a lower point): BOBYQA to full precision
            start = checker.best_x if checker.best_x is not None and checker.best < fmin else x
            x2, f2, ret, _ = bobyqa(objective, start, self.optimizer_lower, initial_step=0.05,
                                    recorder=run, **settings.options())
            if f2 <= fmin:
                x, fmin = self.rectify(x2), f2
            check = self._derivatives(checker, x)
        return x, fmin, ret, check

    def _newton_steps(self, checker: Recorder, x: np.ndarray, fmin: float, check: ConvergenceCheck):
        """Up to three Newton steps on the check's quadratic model, each kept if it lowers the
        objective; returns (x, fmin, check, settled) with ``settled`` when the step left is
        negligible."""
        done = NEWTON_DONE_EXACT if self.has_gradient else NEWTON_DONE
        settled = check.newton is not None and check.scaled_gradient <= done
        for _ in range(3):
            if settled or check.newton is None:
                break
            x_new = self.rectify(x + check.newton)
            f_new = checker(x_new)
            if not f_new < fmin:
                break
            x, fmin = x_new, f_new
            if check.scaled_gradient < NEWTON_TRUST and not self.has_gradient:
                # a short step on a finite-difference quadratic model lands on the optimum to
                # O(step²); measuring the gradient again would cost 2k evaluations (the
                # reported gradient is the one measured before the step)
                return x, fmin, check, True
            check = self._regradient(checker, x, check.hessian)
            settled = check.scaled_gradient <= done
        return x, fmin, check, settled

    def _polished(self, x: np.ndarray, check: ConvergenceCheck, settled: bool) -> bool:
        """Whether the Newton steps finished the optimization (else BOBYQA goes on)."""
        if check.newton is not None:
            return settled or check.scaled_gradient <= 1e-5
        # no Newton step (a boundary, or a Hessian that is not positive definite): finished
        # only at a singular fit whose every bounded element is on its bound
        interior = np.abs(x[self.lower == 0]) >= SINGULAR_TOL
        return not interior.any() and bool(np.all(self.lower == 0))

    @property
    def has_gradient(self) -> bool:
        """Whether the factorization engine gives the objective's gradient analytically."""
        return self.pls.has_gradient

    def _derivatives(self, checker, x) -> ConvergenceCheck:
        """The convergence check at x: gradient, Hessian, scaled gradient and Newton step."""
        if self.has_gradient:
            return check_convergence_gradient(GuardedGradient(self.objective_gradient), checker, x,
                                              self.lower, max_params=MAX_CHECKED)
        return check_convergence(checker, x, self.lower, max_params=MAX_CHECKED)

    def _regradient(self, checker, x, hessian) -> ConvergenceCheck:
        """The gradient at x after a Newton step, scaled by the Hessian of the check."""
        if self.has_gradient:
            return regradient(GuardedGradient(self.objective_gradient), checker, x, self.lower, hessian)
        return recheck_gradient(checker, x, self.lower, hessian)

    def objective_gradient(self, theta):
        """(objective, gradient) at θ, for engines with an analytic gradient."""
        f = self.pls.factor(np.asarray(theta, float))
        return self.criterion(f), self.pls.gradient(f, self.reml)

    def _optimize_gradient(self, x0, settings: OptimizerSettings, progress, started: float) -> OptSummary:
        """Many θ elements: L-BFGS-B on the analytic gradient instead of BOBYQA."""
        run = Recorder(self.objective, progress)
        x, fmin, ret, _ = quasi_newton(GuardedGradient(self.objective_gradient), x0,
                                       self.optimizer_lower, run, maxeval=settings.maxeval)
        x = self.rectify(x)
        _, g = self.objective_gradient(x)
        check = check_projected_gradient(g, x, np.where(self.lower == 0, 0.0, -np.inf))
        return summarize(settings, initial=x0, final=x, fmin=fmin, return_value=ret, check=check,
                         singular=self.is_singular(x), run=run, started=started,
                         optimizer="L-BFGS-B (analytic gradient)")

    def rectify(self, theta) -> np.ndarray:
        """Flip the columns of each λᵢ whose diagonal is negative (ΛΛᵀ is unchanged)."""
        theta = np.array(theta, dtype=float)
        for lay in self.pls.layouts:
            lam = lay.lam(theta)
            neg = np.diag(lam) < 0
            if neg.any():
                lam[:, neg] = -lam[:, neg]
                theta[lay.theta_slice] = lay.term.theta_of(lam)
        return theta

    def is_singular(self, theta) -> bool:
        return theta_is_singular(theta, self.lower)

    def fit(self, progress=None, *, formula_text: str | None = None, theta0=None, **opt) -> MixedModelResult:
        """Fit by ML or REML and return the complete result."""
        optsum = self.optimize(progress=progress, theta0=theta0, **opt)
        return self.result(optsum, formula_text=formula_text)

    # -- results ------------------------------------------------------------------------------------
    def lambdas(self, theta) -> list[np.ndarray]:
        """λᵢ of each term, in fitting order."""
        return self.pls.lambdas(np.asarray(theta, float))

    def estimates(self, theta):
        """(factor, β̂, b in formula order as list of (ℓ, p) arrays, σ²) at θ."""
        f = self.pls.factor(np.asarray(theta, float))
        beta, u = self.pls.solve(f)
        lams = self.lambdas(theta)
        b_fit, off = [], 0
        for t, lam in zip(self.reterms, lams):
            b_fit.append(t.ranef(u[off:off + t.q], lam))
            off += t.q
        b = [None] * len(b_fit)
        for k, i in enumerate(self.order):
            b[i] = b_fit[k]
        dof = self.n - self.p if self.reml else self.n
        return f, beta, b, f.pwrss / dof

    def linear_predictor(self, beta, b) -> np.ndarray:
        """Xβ + Zb + offset on the rows used."""
        eta = self.X @ beta
        for t, bt in zip(self.design.reterms, b):
            eta = eta + t.eta(bt)
        if self.offset is not None:
            eta = eta + self.offset
        return eta

    def result(self, optsum: OptSummary, *, formula_text: str | None = None) -> MixedModelResult:
        theta = optsum.final
        f, beta, b, sigma2 = self.estimates(theta)
        sigma = math.sqrt(sigma2)
        n, p = self.n, self.p
        objective = self.criterion(f)
        deviance = self.criterion(f, reml=False) if self.reml else objective
        ntheta = len(theta)
        dof = p + ntheta + 1
        loglik = -objective / 2
        aic = -2 * loglik + 2 * dof
        bic = -2 * loglik + dof * math.log(n)
        aicc = aic + 2 * dof * (dof + 1) / (n - dof - 1) if n - dof - 1 > 0 else math.inf
        Rxx = f.RX[:p, :p]
        Rinv = tri_inv(Rxx)
        vcov = sigma2 * (Rinv.T @ Rinv)
        se = np.sqrt(np.diag(vcov))
        names = self.fixef_names
        lams = self.lambdas(theta)
        design = self.design
        ranef = tuple((t.group, tuple(t.levels), tuple(t.names), b[i])
                      for i, t in enumerate(design.reterms))
        tables = TableNumbers(
            names=tuple(names), beta=beta, se=se, vcov=vcov,
            groups=tuple(t.group for t in self.reterms),          # lme4's (fitting) order
            columns=tuple(tuple(t.names) for t in self.reterms),
            covariances=tuple(sigma2 * lam @ lam.T for lam in lams),
            residual_variance=sigma2, ranef=ranef)
        fitted = self.linear_predictor(beta, b)
        resid = design.y - fitted
        singular = self.is_singular(theta)
        notes = fit_notes(data_notes(design, self.dropped_columns), singular, optsum)
        return MixedModelResult(
            formula=formula_text or str(design.formula), family="gaussian", link="identity",
            reml=self.reml, n_agq=1, objective=objective, loglik=loglik, aic=aic, bic=bic,
            aicc=aicc, deviance=deviance, nobs=n, dof=dof, tables=tables,
            theta=np.asarray(theta, float), sigma=sigma, fitted=fitted,
            residuals=resid, is_singular=singular, optsum=optsum, warnings=tuple(notes),
            n_dropped=design.n_dropped, rows=design.rows,
            dropped_columns=tuple(self.dropped_columns), y=design.y,
            prior_weights=self.weights, model=self, design=design)

    # -- conditional variances and leverage -----------------------------------------------------------
    def condvar(self, result) -> dict:
        """σ² Λ (ΛᵀZᵀWZΛ + I)⁻¹ Λᵀ, diagonal blocks per level, by grouping factor."""
        scale = result.sigma ** 2 if result.sigma is not None else 1.0
        return self.condvar_at(result.theta, scale)

    def condvar_at(self, theta, scale: float = 1.0) -> dict:
        """``scale`` × Λ (ΛᵀZᵀWZΛ + I)⁻¹ Λᵀ at θ with the current weights, by grouping factor."""
        theta = np.asarray(theta, float)
        blocks = self.pls.inverse_diag_blocks(theta)
        res = {t.group: scale * (lam @ B @ lam.T)
               for t, lam, B in zip(self.reterms, self.lambdas(theta), blocks)}
        return {t.group: res[t.group] for t in self.design.reterms}

    def leverage(self, result) -> np.ndarray:
        """Diagonal of the hat matrix of the penalized weighted least-squares fit (lme4 ``hatvalues``)."""
        return self.leverage_at(result.theta)

    def leverage_at(self, theta) -> np.ndarray:
        """Hat-matrix diagonal at θ with the current weights."""
        h = self.pls.hat_diag(np.asarray(theta, float))
        return h * self.weights if self.weights is not None else h

    def reweight(self, weights: np.ndarray) -> None:
        """New prior weights, same design and response (a GLMM's LMM takes PIRLS's weights)."""
        self.weights = np.asarray(weights, float)
        self.log_det_w = float(np.sum(np.log(self.weights)))
        self.pls.update(self.weights, self.y)


def theta_is_singular(theta, lower: np.ndarray) -> bool:
    """lme4's ``isSingular``: a bounded (diagonal) element of θ below ``SINGULAR_TOL``."""
    return bool(np.any(np.asarray(theta)[lower == 0] < SINGULAR_TOL))


def fit_notes(notes, singular: bool, optsum: OptSummary) -> list[str]:
    """The data notes followed by what a person should know about the fit itself."""
    notes = list[str](notes)
    if singular:
        notes.append(Note("singular", "The fit is singular: some variance component is estimated "
                          "as zero (or a correlation as ±1). The data do not support that part of "
                          "the random effects; consider removing it."))
    if not optsum.converged:
        notes.extend(Note("convergence", m) for m in (optsum.messages or [optsum.verdict]))
    return notes


def data_notes(design, dropped_columns) -> list[Note]:
    """What a person should know about the rows and columns the model left out."""
    notes: list[Note] = []
    if design.n_dropped:
        cols = ", ".join(f"'{c}' ({k})" for c, k in design.dropped_by_column.items() if k)
        total = design.nobs + design.n_dropped
        notes.append(Note("missing_rows", f"{design.n_dropped} of {total} rows had missing values "
                          f"in {cols} and were left out; the model uses {design.nobs} rows."))
    if dropped_columns:
        notes.append(Note("redundant_columns", "The fixed-effects columns "
                          + ", ".join(f"'{c}'" for c in dropped_columns)
                          + " are constant or linear combinations of other columns and were dropped."))
    return notes
