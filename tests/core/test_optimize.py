"""The optimizer layer: settings, the guarded objective, BOBYQA, deriv12, the convergence record
and the summary built from them (mm_core.optimize)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mm_core import datasets, fit
from mm_core.design import materialize
from mm_core.errors import MixedModelError
from mm_core.glmm import GeneralizedLinearMixedModel
from mm_core.lmm import LinearMixedModel
from mm_core.optimize import (
    FALLBACK_VALUE,
    GRADIENT_TOL,
    ConvergenceCheck,
    GuardedGradient,
    GuardedObjective,
    OptimizerSettings,
    Recorder,
    bobyqa,
    check_convergence,
    deriv12,
    optimizer_settings,
    recheck_gradient,
    summarize,
)
from mm_core.pls import NotPositiveDefinite

SL = datasets.load("sleepstudy")
CBPP = datasets.load("cbpp")
LMM = ("reaction ~ 1 + days + (1 + days | subj)", SL, {})
GLMM = ("cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)", CBPP, {"family": "binomial"})


def _message(call) -> str:
    with pytest.raises(MixedModelError) as err:
        call()
    return str(err.value)


# ------------------------------------------------------------------------------------------------
# Settings: one check, one message, for LMMs and GLMMs
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [{"ftol_abss": 1e-6}, {"maxeval": -1}, {"maxeval": "many"},
                                 {"ftol_rel": math.nan}, {"xtol_abs": True}, {"ftol_abs": -1e-8}])
def test_fit_gives_the_same_error_for_a_bad_optimizer_setting_of_an_lmm_and_a_glmm(bad):
    (name, value), = bad.items()
    lmm = _message(lambda: fit(LMM[0], LMM[1], **LMM[2], **bad))
    glmm = _message(lambda: fit(GLMM[0], GLMM[1], **GLMM[2], **bad))
    assert lmm == glmm
    assert repr(name) in lmm if name == "ftol_abss" else f"setting {name} must be" in lmm
    if name == "ftol_abss":
        assert "did you mean 'ftol_abs'" in lmm
        assert "ftol_rel, ftol_abs, xtol_abs, maxeval" in lmm
    else:
        assert repr(value) in lmm


@pytest.mark.parametrize("bad", [{"foo": 1}, {"maxeval": 0}])
def test_model_level_fits_share_the_settings_check(bad):
    """LinearMixedModel.fit and GeneralizedLinearMixedModel.fit (used without mm_core.fit)
    refuse the same settings with the same message as optimizer_settings."""
    expected = _message(lambda: optimizer_settings(bad))
    lmm = LinearMixedModel(materialize(LMM[0], SL))
    glmm = GeneralizedLinearMixedModel(materialize(GLMM[0], CBPP), family="binomial")
    assert _message(lambda: lmm.fit(**bad)) == expected
    assert _message(lambda: glmm.fit(**bad)) == expected
    if "foo" in bad:
        assert expected == ("unknown optimizer setting 'foo'; valid settings: ftol_rel, ftol_abs, "
                            "xtol_abs, maxeval")


def test_settings_keep_their_defaults_and_make_the_budget_whole():
    s = optimizer_settings({"maxeval": 500.0, "ftol_abs": 0})
    assert s == OptimizerSettings(ftol_abs=0.0, maxeval=500)
    assert isinstance(s.maxeval, int)
    assert s.options() == {"ftol_rel": 1e-12, "ftol_abs": 0.0, "xtol_abs": 1e-10, "maxeval": 500}
    r = fit(*LMM[:2], maxeval=500)
    assert r.optsum.maxeval == 500 and r.optsum.ftol_abs == 1e-8


# ------------------------------------------------------------------------------------------------
# The guarded objective and BOBYQA
# ------------------------------------------------------------------------------------------------
def test_guarded_objective_stands_in_the_first_finite_value():
    def f(x):
        if x[0] < 0:
            raise NotPositiveDefinite("not positive definite")
        return math.inf if x[0] > 10 else float(x[0])

    g = GuardedObjective(f)
    assert g([-1.0]) == FALLBACK_VALUE           # nothing finite seen yet
    assert g([3.0]) == 3.0
    assert g([11.0]) == 3.0 and g([-2.0]) == 3.0 and g([5.0]) == 5.0
    assert g.failures == 3 and g.first == 3.0
    gg = GuardedGradient(lambda x: (math.nan, None) if x[0] < 0 else (float(x[0] ** 2), 2 * x))
    assert gg(np.array([-1.0]))[0] == FALLBACK_VALUE
    assert gg(np.array([2.0]))[0] == 4.0
    value, grad = gg(np.array([-1.0]))
    assert value == 4.0 and np.array_equal(grad, [0.0])


def test_bobyqa_guards_failed_evaluations_itself():
    """The objective fails (NaN, or a factorization error) beyond x = 2.5; BOBYQA still finds the
    minimum at 2 and every recorded value is finite."""
    def f(x):
        if x[0] > 3.5:
            raise NotPositiveDefinite("not positive definite")
        return math.nan if x[0] > 2.5 else float((x[0] - 2.0) ** 2 + (x[1] - 1.0) ** 2)

    x, fmin, why, rec = bobyqa(f, [0.0, 0.0], [0.0, -np.inf], initial_step=2.0)
    np.testing.assert_allclose(x, [2.0, 1.0], atol=1e-6)
    assert fmin < 1e-12 and why in ("ftol reached", "xtol reached", "success")
    assert np.all(np.isfinite(rec.values)) and fmin == min(rec.values)
    failed = [v for v, p in zip(rec.values, rec.params) if p[0] > 2.5]
    assert failed and all(v == rec.values[0] for v in failed)   # the start's value stands in


def test_bobyqa_keeps_the_record_of_a_given_recorder_and_clips_the_start():
    calls = []
    rec = Recorder(lambda x: float(np.sum(x ** 2)), lambda p: calls.append(p.stage))
    x, fmin, _, out = bobyqa(lambda x: float(np.sum(x ** 2)), [-1.0, 0.5], [0.0, 0.0], recorder=rec)
    assert out is rec and len(rec.values) == len(calls) > 0
    assert rec.params[0][0] == 0.0 and np.all(np.asarray(rec.params) >= 0.0)  # within bounds
    assert np.allclose(x, 0.0) and fmin == rec.best


# ------------------------------------------------------------------------------------------------
# deriv12
# ------------------------------------------------------------------------------------------------
A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]])
B = np.array([1.0, -2.0, 0.3])


def _quadratic(points):
    def f(x):
        points.append(np.array(x))
        return float(0.5 * x @ A @ x + B @ x)
    return f


@pytest.mark.parametrize("cross, count", [("corners", 1 + 2 * 3 + 2 * 3 * 2),
                                          ("diagonal", 1 + 2 * 3 + 3 * 2), (None, 2 * 3)])
def test_deriv12_is_exact_on_a_quadratic_with_the_documented_number_of_points(cross, count):
    points: list = []
    x = np.array([0.3, -0.7, 1.1])
    g, H = deriv12(_quadratic(points), x, cross=cross)
    assert len(points) == count
    np.testing.assert_allclose(g, A @ x + B, rtol=1e-9, atol=1e-9)
    if cross is None:
        assert H is None
    else:
        np.testing.assert_allclose(H, A, atol=1e-6)


def test_deriv12_shortens_the_steps_at_a_bound_and_skips_fixed_coordinates():
    """lme4's deriv12: the step below stops at the bound; coordinates not free are not moved."""
    points: list = []
    x = np.array([0.00004, -0.7, 1.1])
    lower = np.array([0.0, -np.inf, -np.inf])
    free = np.array([True, True, False])
    g, H = deriv12(_quadratic(points), x, free=free, lower=lower, fx=None)
    assert len(points) == 1 + 2 * 2 + 2 * 2
    P = np.asarray(points)
    assert P[:, 0].min() == 0.0 and np.all(P[:, 2] == 1.1)
    assert g.shape == (2,) and H.shape == (2, 2)
    np.testing.assert_allclose(g[1], (A @ x + B)[1], rtol=1e-9)
    np.testing.assert_allclose(H[1, 1], A[1, 1], atol=1e-6)


# ------------------------------------------------------------------------------------------------
# The convergence record and the summary
# ------------------------------------------------------------------------------------------------
def test_convergence_check_is_a_record_with_the_newton_step():
    xstar = np.linalg.solve(A, -B)

    def f(x):
        return float(0.5 * x @ A @ x + B @ x)

    near = check_convergence(f, xstar + 1e-3, np.full(3, -np.inf))
    assert isinstance(near, ConvergenceCheck) and near.ok and near.messages == ()
    np.testing.assert_allclose(near.newton, -1e-3 * np.ones(3), rtol=1e-4)
    assert near.scaled_gradient == pytest.approx(1e-3, rel=1e-4)
    np.testing.assert_allclose(near.hessian, A, atol=1e-6)
    far = check_convergence(f, xstar + 1e-2, np.full(3, -np.inf))
    assert not far.ok and far.scaled_gradient > GRADIENT_TOL
    assert "scaled gradient is 0.01" in far.messages[-1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        far.ok = True  # type: ignore[misc]
    again = recheck_gradient(f, xstar + 1e-3, np.full(3, -np.inf), far.hessian)
    assert again.ok and again.hessian is far.hessian
    skipped = check_convergence(f, np.zeros(3), np.zeros(3))        # all on the bound
    assert skipped.ok and np.all(np.isnan(skipped.gradient)) and skipped.newton is None


def test_summary_of_a_run_that_used_its_budget():
    rec = Recorder(lambda x: float(x[0] ** 2), None)
    x, fmin, why, _ = bobyqa(rec.fun, [3.0], [-np.inf], recorder=rec, maxeval=4)
    checker = Recorder(rec.fun, None, stage="check")
    check = check_convergence(checker, x, np.array([-np.inf]))
    s = summarize(OptimizerSettings(maxeval=4), initial=[3.0], final=x, fmin=fmin,
                  return_value=why, check=check, singular=False, run=rec, checks=[checker],
                  started=0.0)
    assert why == "maximum evaluations reached" and not s.converged
    assert s.evaluations == 4 and s.check_evaluations == len(checker.values) == 3
    assert s.messages[-1].startswith("The optimizer used its whole budget of 4 evaluations")
    assert s.verdict == "not converged: " + s.messages[-1]
    tr = s.trace
    assert list(tr["stage"]) == ["optimize"] * 4 + ["check"] * 3
    assert s.parameter_names == ("theta_1",)


def test_fits_report_the_check_in_their_summary():
    r = fit(*LMM[:2])
    o = r.optsum
    assert o.converged and o.check_evaluations > 0 and o.scaled_gradient < GRADIENT_TOL
    assert len(o.trace) == o.evaluations + o.check_evaluations
    g = fit(GLMM[0], GLMM[1], **GLMM[2])
    assert g.optsum.converged and np.all(np.isfinite(g.optsum.gradient))
    assert g.optsum.parameter_names[-1] == "beta: period4"
