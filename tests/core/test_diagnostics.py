"""Diagnostics (mm_core.diagnostics): residuals, quantile residuals and their tests, Cook's
distance, R², ICC, shrinkage and caterpillar data."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, fit_case
from scipy import stats

from mm_core import datasets, fit
from mm_core.diagnostics import (
    QuantileResiduals,
    caterpillar,
    cooks_distance,
    icc,
    ppoints,
    qq_caterpillar,
    quantile_residuals,
    r_squared,
    residuals,
    shrinkage,
)
from mm_core.errors import MixedModelError

REF = json.loads((REFERENCE_DIR / "inference.json").read_text())


# ---------------------------------------------------------------------------- residuals
def test_residual_types():
    m = fit_case("sleepstudy_ml")
    np.testing.assert_allclose(residuals(m), m.y - m.fitted)
    np.testing.assert_allclose(residuals(m, "scaled"), (m.y - m.fitted) / m.sigma)
    g = fit_case("cbpp_binomial")
    d = residuals(g, "deviance")
    assert np.sum(d ** 2) == pytest.approx(np.sum(g.model.family.dev_resids(g.y, g.fitted,
                                                                           g.prior_weights)))
    with pytest.raises(MixedModelError, match="unknown residual type"):
        residuals(m, "studentized")
    with pytest.raises(MixedModelError, match="quantile"):
        residuals(m, "pearson", n_sim=10)
    q = residuals(g, "quantile", n_sim=50, seed=1)
    assert q.shape == (56,) and np.all((q >= 0) & (q <= 1))


# ---------------------------------------------------------------------------- quantile residuals
def _poisson_data(seed: int, overdispersion: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(40), 10)
    x = rng.uniform(-1, 1, g.size)
    eta = 0.5 + 0.8 * x + rng.normal(0, 0.5, 40)[g] + rng.normal(0, overdispersion, g.size)
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x,
                         "g": pd.Categorical([f"g{k:02d}" for k in g])})


def test_quantile_residuals_of_a_correct_model_are_uniform():
    m = fit("y ~ 1 + x + (1 | g)", _poisson_data(1, 0.0), family="poisson")
    qr = quantile_residuals(m, 250, seed=3)
    assert isinstance(qr, QuantileResiduals) and qr.integer and qr.conditional
    assert qr.residuals.shape == (400,) and qr.simulated.shape == (400, 250)
    assert qr.uniformity.p_value > 0.01
    assert qr.dispersion.p_value > 0.01
    assert 0.8 < qr.dispersion.statistic < 1.2
    assert qr.outliers.p_value > 0.01
    t = qr.tests()
    assert list(t.index) == ["uniformity", "dispersion", "outliers", "zero_inflation"]
    assert t["p_value"].between(0, 1).all()


def test_quantile_residuals_detect_overdispersion():
    m = fit("y ~ 1 + x + (1 | g)", _poisson_data(2, 0.8), family="poisson")
    qr = quantile_residuals(m, 250, seed=3)
    assert qr.dispersion.statistic > 1.2 and qr.dispersion.p_value < 0.01
    assert qr.outliers.p_value < 0.05 or qr.uniformity.p_value < 0.01


def test_quantile_residuals_reproducible_and_lmm():
    m = fit_case("sleepstudy_ml")
    a = quantile_residuals(m, 100, seed=5)
    b = quantile_residuals(m, 100, seed=5)
    np.testing.assert_array_equal(a.residuals, b.residuals)
    assert not a.integer
    # continuous response: residual = fraction of simulations below the observation
    np.testing.assert_allclose(a.residuals, np.mean(a.simulated < m.y[:, None], axis=1))
    u = quantile_residuals(m, 100, seed=5, conditional=False)
    assert not u.conditional and not np.allclose(u.simulated, a.simulated)
    with pytest.raises(MixedModelError, match="positive integer"):
        quantile_residuals(m, 0)


def test_pit_for_binomial_counts():
    g = fit_case("cbpp_binomial")
    qr = quantile_residuals(g, 200, seed=7)
    below = np.mean(qr.simulated < qr.observed[:, None], axis=1)
    at_or_below = np.mean(qr.simulated <= qr.observed[:, None], axis=1)
    assert np.all(qr.residuals >= below - 1e-12) and np.all(qr.residuals <= at_or_below + 1e-12)
    np.testing.assert_allclose(qr.observed, np.rint(g.y * g.prior_weights))


# ---------------------------------------------------------------------------- influence
def test_cooks_distance_matches_lme4():
    # cooks.distance(ss_ml)[c(1, 2, 3, 50, 180)]; max 4.25900198451 at observation 60
    m = fit_case("sleepstudy_ml")
    d = cooks_distance(m)
    np.testing.assert_allclose(d[[0, 1, 2, 49, 179]],
                               [0.00610278639355, 0.0410024722969, 0.222750275631,
                                0.420169670505, 0.0128255949989], rtol=1e-4)
    assert int(np.argmax(d)) == 59 and d.max() == pytest.approx(4.25900198451, rel=1e-4)
    # cooks.distance(ss_reml)[c(1, 2, 3, 50, 180)]
    d = cooks_distance(fit_case("sleepstudy_reml"))
    np.testing.assert_allclose(d[[0, 1, 2, 49, 179]],
                               [0.00496313251482, 0.0402062018556, 0.226099184758,
                                0.440003873233, 0.0128606160029], rtol=1e-4)
    g = cooks_distance(fit_case("cbpp_binomial"))
    assert g.shape == (56,) and np.all(np.isfinite(g) & (g >= 0))


# ---------------------------------------------------------------------------- R², ICC
def test_r_squared_matches_reference():
    # Nakagawa & Schielzeth R² with random-slope variance averaged over the observed covariates
    # (make_inference_reference.R); our fit matches lme4's to ~1e-5, so rtol 1e-4
    r2 = r_squared(fit_case("sleepstudy_ml"))
    ref = REF["sleepstudy_ml_r2"]
    assert r2["marginal"] == pytest.approx(ref["marginal"], rel=1e-4)
    assert r2["conditional"] == pytest.approx(ref["conditional"], rel=1e-4)


def test_r_squared_glmm_latent_scale():
    g = fit_case("cbpp_binomial")
    r2 = r_squared(g)
    X = g.model.X
    vf = np.var(X @ g.beta, ddof=1)
    vr = g.theta[0] ** 2
    assert r2["marginal"] == pytest.approx(vf / (vf + vr + np.pi ** 2 / 3))
    assert 0 < r2["marginal"] < r2["conditional"] < 1


def test_icc():
    m = fit_case("dyestuff_ml")
    t = icc(m)
    th = m.theta[0]
    assert t.loc["batch", "adjusted"] == pytest.approx(th ** 2 / (1 + th ** 2))
    assert t.loc["total", "variance"] == pytest.approx((m.sigma * th) ** 2)
    p = icc(fit_case("penicillin_ml"))
    assert set(p.index) == {"plate", "sample", "total"}
    assert p.loc["total", "adjusted"] == pytest.approx(p.loc["plate", "adjusted"]
                                                       + p.loc["sample", "adjusted"])


# ---------------------------------------------------------------------------- shrinkage
def test_shrinkage_unpenalized_are_per_subject_least_squares():
    m = fit_case("sleepstudy_ml")
    s = shrinkage(m, "subj")
    df = datasets.load("sleepstudy")
    for subj in ["S308", "S309", "S372"]:
        d = df[df["subj"] == subj]
        X = np.column_stack([np.ones(len(d)), d["days"]])
        coef = np.linalg.lstsq(X, d["reaction"].to_numpy(), rcond=None)[0]
        np.testing.assert_allclose(s.unpenalized.loc[subj], coef - m.beta, rtol=1e-8)
    pd.testing.assert_frame_equal(s.conditional, m.ranef["subj"])
    # shrinkage: the conditional modes are closer to zero on the whole
    assert (s.conditional ** 2).to_numpy().sum() < (s.unpenalized ** 2).to_numpy().sum()
    long = s.to_frame()
    assert list(long.columns) == ["level", "name", "conditional", "unpenalized"]
    assert len(long) == 36


def test_shrinkage_glmm_and_errors():
    g = fit_case("cbpp_binomial")
    s = shrinkage(g)
    assert s.group == "herd" and s.unpenalized.shape == (15, 1)
    ok = s.unpenalized.notna().to_numpy().ravel()
    assert ok.sum() >= 10
    assert np.all(np.abs(s.conditional.to_numpy().ravel()[ok])
                  <= np.abs(s.unpenalized.to_numpy().ravel()[ok]) + 1e-8)
    with pytest.raises(MixedModelError, match="no grouping factor"):
        shrinkage(g, "farm")


# ---------------------------------------------------------------------------- caterpillars
def test_caterpillar_ordering_and_intervals():
    m = fit_case("sleepstudy_ml")
    c = caterpillar(m, "subj", level=0.9)
    assert list(c.columns) == ["level", "name", "estimate", "condsd", "lower", "upper", "rank"]
    first = c[c["name"] == "(Intercept)"]
    assert np.all(np.diff(first["estimate"]) >= 0)
    second = c[c["name"] == "days"]
    assert second["level"].tolist() == first["level"].tolist()     # same order in every column
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(c["upper"] - c["estimate"], z * c["condsd"])
    sd = m.ranef_sd["subj"]
    np.testing.assert_allclose(first["condsd"], sd.loc[first["level"], "(Intercept)"])


def test_qq_caterpillar_sorts_each_column():
    m = fit_case("sleepstudy_ml")
    q = qq_caterpillar(m, "subj")
    for name in ["(Intercept)", "days"]:
        part = q[q["name"] == name]
        assert np.all(np.diff(part["estimate"]) >= 0)
        np.testing.assert_allclose(part["theoretical"], stats.norm.ppf(ppoints(18)))
    # R: ppoints(5) = (1:5 - 3/8) / (5 + 1/4); ppoints(18) = (1:18 - 1/2) / 18
    np.testing.assert_allclose(ppoints(5), (np.arange(1, 6) - 0.375) / 5.25)
    np.testing.assert_allclose(ppoints(18), (np.arange(1, 19) - 0.5) / 18)
    with pytest.raises(MixedModelError, match="level"):
        qq_caterpillar(m, level=95)
