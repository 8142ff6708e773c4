"""Generalized linear mixed models: bad input gets a clear error, odd input a clear note.

Every error a user can cause is a MixedModelError (DataError for the data) whose message names
the problem; fits that succeed but deserve a remark carry it in ``result.warnings``.
"""
from __future__ import annotations

import importlib
import math
import pickle

import numpy as np
import pandas as pd
import pytest

import mm_core
from mm_core.errors import DataError, FitCancelled, MixedModelError

glmm = importlib.import_module("mm_core.glmm")


def _frame(n=120, groups=12, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat([f"g{i:02d}" for i in range(groups)], n // groups)
    return pd.DataFrame({"g": pd.Categorical(g), "x": rng.normal(size=n)}), rng


# ------------------------------------------------------------------------------------------------
# Responses
# ------------------------------------------------------------------------------------------------
def test_bernoulli_response_with_more_than_two_values():
    d, rng = _frame()
    with pytest.raises(DataError, match=r"must be 0/1.*outside \[0, 1\] \(e\.g\. 2\)"):
        mm_core.fit("y ~ x + (1|g)", d.assign(y=rng.integers(0, 3, len(d)).astype(float)),
                    family="binomial")
    with pytest.raises(DataError, match=r"3 levels .*exactly two levels"):
        mm_core.fit("y ~ x + (1|g)", d.assign(y=pd.Categorical(rng.choice(list("abc"), len(d)))),
                    family="binomial")


def test_proportions_need_trials_and_must_lie_in_0_1():
    d, rng = _frame()
    with pytest.raises(DataError, match="proportions between 0 and 1 but no numbers of trials"):
        mm_core.fit("y ~ x + (1|g)", d.assign(y=rng.uniform(0, 1, len(d))), family="binomial")
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        mm_core.fit("y ~ x + (1|g)", d.assign(y=rng.uniform(-0.2, 1, len(d))), family="binomial",
                    weights=np.full(len(d), 5.0))


def test_proportions_with_weights_equal_cbind():
    """y = s/(s+f) with weights s+f is the same model as cbind(s, f) (R's convention)."""
    cbpp = mm_core.datasets.load("cbpp")
    f = "1 + factor(period) + (1|herd)"
    a = mm_core.fit(f"cbind(incidence, size - incidence) ~ {f}", cbpp, family="binomial")
    prop = cbpp.assign(p=cbpp["incidence"] / cbpp["size"])
    b = mm_core.fit(f"p ~ {f}", prop, family="binomial", weights="size")
    assert b.objective == pytest.approx(a.objective, abs=1e-7)
    np.testing.assert_allclose(b.fixef, a.fixef, rtol=1e-6)
    np.testing.assert_allclose(b.stderror, a.stderror, rtol=1e-5)
    np.testing.assert_allclose(b.prior_weights, cbpp["size"].to_numpy(float))


def test_bernoulli_frequency_weights_equal_repeated_rows():
    """A weight k on a 0/1 row is k identical rows: same likelihood, same estimates."""
    d, rng = _frame(n=60, groups=6, seed=3)
    d = d.assign(y=(rng.uniform(size=len(d)) < 0.4).astype(float))
    k = rng.integers(1, 4, len(d))
    long = d.loc[d.index.repeat(k)].reset_index(drop=True)
    a = mm_core.fit("y ~ x + (1|g)", d, family="binomial", weights=k.astype(float))
    b = mm_core.fit("y ~ x + (1|g)", long, family="binomial")
    assert a.objective == pytest.approx(b.objective, abs=1e-6)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-5)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-5)


def test_cbind_needs_the_binomial_family():
    d, rng = _frame()
    d = d.assign(s=rng.integers(0, 5, len(d)), f=rng.integers(1, 5, len(d)))
    with pytest.raises(DataError, match="needs the binomial family, not poisson"):
        mm_core.fit("cbind(s, f) ~ x + (1|g)", d, family="poisson")


def test_poisson_counts():
    d, rng = _frame()
    y = rng.poisson(2, len(d)).astype(float)
    y[3] = -1
    with pytest.raises(DataError, match="counts must not be negative; 1 count is negative: row 4"):
        mm_core.fit("y ~ x + (1|g)", d.assign(y=y), family="poisson")
    half = rng.poisson(2, len(d)) + 0.5
    with pytest.warns(UserWarning, match="non-integer counts"):
        m = mm_core.fit("y ~ x + (1|g)", d.assign(y=half), family="poisson")
    assert math.isfinite(m.objective)
    assert any("non-integer" in w for w in m.warnings)
    assert any("lgamma(y + 1)" in w for w in m.warnings)
    # the estimates do not depend on the constant: rounding a count changes only the objective
    assert m.optsum.converged


def test_constant_response():
    d, _ = _frame()
    with pytest.raises(DataError, match=r"same value .* in all 120 rows"):
        mm_core.fit("y ~ x + (1|g)", d.assign(y=np.zeros(len(d))), family="binomial")


# ------------------------------------------------------------------------------------------------
# Links that cannot map the data
# ------------------------------------------------------------------------------------------------
def test_log_link_with_non_positive_means_at_the_start():
    d, rng = _frame()
    with pytest.raises(DataError, match="log link: the response has values <= 0"):
        mm_core.fit("y ~ x + (1|g)", d.assign(y=rng.normal(size=len(d))), family="gaussian",
                    link="log")


def test_identity_link_giving_negative_poisson_means():
    """Counts falling to zero along x: a straight line for the mean goes negative. lme4 stops
    with "PIRLS loop resulted in NaN value"; we say what is wrong."""
    d, rng = _frame()
    x = np.linspace(0, 10, len(d))
    y = rng.poisson(np.maximum(10 - 2 * x, 0.01)).astype(float)
    with pytest.raises(DataError, match=r"poisson means must be positive.*identity link.*'log'"):
        mm_core.fit("y ~ x + (1|g)", d.assign(x=x, y=y), family="poisson", link="identity")


def test_pirls_failure_is_a_message_not_a_hang(monkeypatch):
    d, rng = _frame()
    real = glmm.pirls

    def one_iteration(*a, **kw):
        return real(*a, **dict(kw, maxit=1))

    monkeypatch.setattr(glmm, "pirls", one_iteration)
    with pytest.raises(DataError, match="PIRLS did not converge in 1 iterations"):
        mm_core.fit("y ~ x + (1|g)", d.assign(y=rng.poisson(3, len(d)).astype(float)),
                    family="poisson")


# ------------------------------------------------------------------------------------------------
# Quadrature, terms, options
# ------------------------------------------------------------------------------------------------
def test_n_agq_needs_a_single_scalar_term():
    d, rng = _frame()
    d = d.assign(y=rng.poisson(2, len(d)).astype(float),
                 h=pd.Categorical(np.tile([f"h{i}" for i in range(10)], 12)))
    with pytest.raises(MixedModelError, match=r"single scalar random-effects term.*2 random-effects"):
        mm_core.fit("y ~ x + (1|g) + (1|h)", d, family="poisson", n_agq=5)
    with pytest.raises(MixedModelError, match="vector-valued term \\(2 columns for 'g'\\)"):
        mm_core.fit("y ~ x + (1 + x|g)", d, family="poisson", n_agq=5)
    with pytest.raises(MixedModelError, match="cannot be combined"):
        mm_core.fit("y ~ x + (1|g)", d, family="poisson", n_agq=5, fast=True)
    with pytest.raises(MixedModelError, match="not -1"):
        mm_core.fit("y ~ x + (1|g)", d, family="poisson", n_agq=-1)
    with pytest.raises(MixedModelError, match="whole number"):
        mm_core.fit("y ~ x + (1|g)", d, family="poisson", n_agq=2.5)
    with pytest.raises(MixedModelError, match="between 1 and 100"):
        mm_core.fit("y ~ x + (1|g)", d, family="poisson", n_agq=101)
    # n_agq = 0 is lme4's nAGQ = 0, i.e. fast
    m = mm_core.fit("y ~ x + (1|g)", d, family="poisson", n_agq=0)
    assert m.n_agq == 0


def test_random_effects_per_observation():
    """An observation-level effect models overdispersion for Poisson (lme4: allow.n = TRUE), but
    with a dispersion parameter it cannot be told apart from φ."""
    d, rng = _frame()
    obs = pd.Categorical([f"o{i:03d}" for i in range(len(d))])
    m = mm_core.fit("y ~ x + (1|obs)", d.assign(y=rng.poisson(3, len(d)).astype(float), obs=obs),
                    family="poisson")
    assert m.nobs == 120
    with pytest.raises(DataError, match="cannot be told apart"):
        mm_core.fit("y ~ x + (1|obs)", d.assign(y=rng.gamma(2, 1, len(d)), obs=obs),
                    family="gamma", link="log")


def test_bad_options():
    d, rng = _frame()
    d = d.assign(y=rng.poisson(2, len(d)).astype(float))
    with pytest.raises(MixedModelError, match="unknown optimizer setting"):
        mm_core.fit("y ~ x + (1|g)", d, family="poisson", foo=1)
    with pytest.raises(MixedModelError, match="unknown family 'tweedie'"):
        mm_core.fit("y ~ x + (1|g)", d, family="tweedie")
    with pytest.raises(DataError, match="no random-effects terms"):
        mm_core.fit("y ~ x", d, family="poisson")
    with pytest.raises(MixedModelError, match="REML applies to linear mixed models only"):
        mm_core.fit("y ~ x + (1|g)", d, family="poisson", reml=True)


def test_evaluation_budget_is_reported():
    m = mm_core.fit("use ~ 1 + age + urban + (1|dist)", mm_core.datasets.load("contra"),
                    family="binomial", maxeval=6)
    assert not m.optsum.converged
    assert m.optsum.return_value == "maximum evaluations reached"
    assert any("budget of 6 evaluations" in w for w in m.warnings)


def test_singular_glmm():
    """A variance estimated as zero: flagged, the Hessian is taken over the free parameters."""
    d, rng = _frame(n=200, groups=20, seed=7)
    d = d.assign(y=(rng.uniform(size=len(d)) < 0.5).astype(float))
    m = mm_core.fit("y ~ x + (1|g)", d, family="binomial")
    assert m.is_singular and m.theta[0] < 1e-4
    assert any("singular" in w for w in m.warnings)
    assert np.all(np.isfinite(m.stderror)) and np.all(m.stderror > 0)
    assert m.optsum.verdict.startswith("converged")


# ------------------------------------------------------------------------------------------------
# Progress, cancellation, the result record
# ------------------------------------------------------------------------------------------------
def test_progress_and_cancellation():
    cbpp = mm_core.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ 1 + factor(period) + (1|herd)"
    seen = []
    m = mm_core.fit(f, cbpp, family="binomial", progress=lambda p: seen.append(p.stage))
    assert "optimize" in seen and "check" in seen
    assert seen.count("check") == m.optsum.check_evaluations
    assert seen.count("optimize") >= m.optsum.evaluations     # stage 1 reports too
    with pytest.raises(FitCancelled):
        mm_core.fit(f, cbpp, family="binomial", progress=lambda p: p.evaluations < 5)


def test_result_record_is_complete():
    cbpp = mm_core.datasets.load("cbpp")
    m = mm_core.fit("cbind(incidence, size - incidence) ~ 1 + factor(period) + (1|herd)", cbpp,
                    family="binomial")
    assert (m.family, m.link, m.reml, m.n_agq) == ("binomial", "logit", False, 1)
    assert not m.is_lmm
    assert m.aicc > m.aic
    assert m.optsum.parameter_names == ("theta_1", "beta: (Intercept)", "beta: factor(period)2",
                                        "beta: factor(period)3", "beta: factor(period)4")
    tr = m.optsum.trace
    assert list(tr.columns[:3]) == ["evaluation", "stage", "objective"]
    assert len(tr) == m.optsum.evaluations + m.optsum.check_evaluations
    assert tr["objective"].min() >= m.objective - 1e-6
    assert (tr["stage"] == "check").sum() == m.optsum.check_evaluations
    np.testing.assert_allclose(m.optsum.final, np.concatenate([m.theta, m.fixef]))
    assert m.rows.shape == (56,) and m.n_dropped == 0 and m.dropped_columns == ()
    np.testing.assert_allclose(m.y, cbpp["incidence"] / cbpp["size"])
    assert set(m.condvar) == {"herd"} and m.condvar["herd"].shape == (15, 1, 1)
    assert "vcov_pls" in m.extras and m.extras["hessian"].shape == (5, 5)
    assert "GLMM (binomial, logit)" in repr(m)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.objective == m.objective


def test_dropped_rows_and_columns_are_noted():
    cbpp = mm_core.datasets.load("cbpp").copy()
    cbpp["dup"] = 2.0
    cbpp.loc[0, "incidence"] = np.nan
    m = mm_core.fit("cbind(incidence, size - incidence) ~ 1 + factor(period) + dup + (1|herd)",
                    cbpp, family="binomial")
    assert m.n_dropped == 1 and m.nobs == 55
    assert m.dropped_columns == ("dup",)
    assert any("left out" in w for w in m.warnings)
    assert any("'dup'" in w for w in m.warnings)


def test_dispersion_family_reports_sigma():
    d, rng = _frame(n=180, groups=12, seed=11)
    b = rng.normal(0, 0.3, 12)
    mu = np.exp(0.2 + 0.5 * d["x"].to_numpy() + b[d["g"].cat.codes.to_numpy()])
    y = rng.gamma(5.0, mu / 5.0)
    m = mm_core.fit("y ~ x + (1|g)", d.assign(y=y), family="Gamma", link="log")
    assert m.family == "Gamma" and m.sigma == pytest.approx(np.sqrt(1 / 5), rel=0.2)
    assert m.dof == 2 + 1 + 1
    assert m.varcorr.iloc[-1]["group"] == "Residual"
    ig = mm_core.fit("y ~ x + (1|g)", d.assign(y=y), family="inverse_gaussian", link="log")
    assert ig.family == "inverse.gaussian" and ig.sigma > 0 and ig.optsum.converged
    gl = mm_core.fit("y ~ x + (1|g)", d.assign(y=y), family="gaussian", link="log")
    assert gl.link == "log" and gl.sigma > 0 and gl.dof == 4


@pytest.mark.parametrize("fast", [False, True])
def test_no_fixed_effects(fast):
    """glmer(cbind(incidence, size - incidence) ~ 0 + (1 | herd), cbpp, binomial): -2 logLik
    236.7499095, theta 2.2466048 (lme4 1.1-31)."""
    m = mm_core.fit("cbind(incidence, size - incidence) ~ 0 + (1|herd)",
                    mm_core.datasets.load("cbpp"), family="binomial", fast=fast)
    assert m.objective == pytest.approx(236.7499095, abs=1e-6)
    assert m.theta[0] == pytest.approx(2.2466048, abs=1e-4)
    assert m.fixef.size == 0 and m.vcov.shape == (0, 0) and m.dof == 1
    assert m.optsum.converged
