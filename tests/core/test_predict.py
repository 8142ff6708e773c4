"""Predictions (mm_core.predict) against lme4's predict() (tests/reference/inference.json)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, fit_case

from mm_core import datasets, fit
from mm_core.errors import DataError, MixedModelError
from mm_core.predict import NewLevelError, predict

REF = json.loads((REFERENCE_DIR / "inference.json").read_text())["sleepstudy_predict_newdata"]


@pytest.fixture(scope="module")
def newss():
    return pd.DataFrame({"subj": REF["subj"], "days": REF["days"]})


def test_conditional_with_a_new_subject(newss):
    # predict(ss_ml, newss, allow.new.levels = TRUE); the new subject S999 gets the population
    # value. Our conditional modes agree with lme4's to ~1e-4 relative to their scale, hence
    # rtol 1e-5 on predictions of ~250.
    p = predict(fit_case("sleepstudy_ml"), newss)
    assert isinstance(p, pd.Series) and list(p.index) == list(newss.index)
    np.testing.assert_allclose(p, REF["conditional"], rtol=1e-5)


def test_population_level(newss):
    # predict(ss_ml, newss, re.form = NA)
    m = fit_case("sleepstudy_ml")
    np.testing.assert_allclose(predict(m, newss, re_form="NA"), REF["population"], rtol=1e-7)
    np.testing.assert_allclose(predict(m, newss, re_form=False), REF["population"], rtol=1e-7)
    np.testing.assert_allclose(predict(m, newss, re_form="~0"), REF["population"], rtol=1e-7)


def test_training_data_gives_fitted_values():
    m = fit_case("sleepstudy_ml")
    np.testing.assert_allclose(predict(m), m.fitted, rtol=1e-12)
    np.testing.assert_allclose(predict(m, datasets.load("sleepstudy")), m.fitted, rtol=1e-12)
    X = np.column_stack([np.ones(180), datasets.load("sleepstudy")["days"]])
    np.testing.assert_allclose(predict(m, re_form="NA"), X @ m.beta, rtol=1e-12)


def test_partial_re_form(newss):
    m = fit_case("sleepstudy_ml")
    b = m.ranef["subj"]
    p = predict(m, newss, re_form="~ (0 + days | subj)")
    pop = np.asarray(REF["population"])
    expect = pop + np.array([b.loc["S308", "days"] * 2.5, b.loc["S309", "days"] * 0.0, 0.0])
    np.testing.assert_allclose(p, expect, rtol=1e-10)
    with pytest.raises(MixedModelError, match="not in the model"):
        predict(m, newss, re_form="~ (1 | item)")


def test_new_levels_options(newss):
    m = fit_case("sleepstudy_ml")
    with pytest.raises(NewLevelError, match="S999"):
        predict(m, newss, new_levels="error")
    p = predict(m, newss, new_levels="missing")
    assert np.isnan(p.iloc[2]) and np.isfinite(p.iloc[:2]).all()
    with pytest.raises(MixedModelError, match="new_levels"):
        predict(m, newss, new_levels="drop")


def test_missing_column_is_a_clear_error(newss):
    m = fit_case("sleepstudy_ml")
    with pytest.raises(DataError, match="'days'"):
        predict(m, newss[["subj"]])
    with pytest.raises(DataError, match="'subj'"):
        predict(m, newss[["days"]])
    # the grouping factor is not needed at the population level
    np.testing.assert_allclose(predict(m, newss[["days"]], re_form="NA"), REF["population"])


def test_missing_values_give_nan(newss):
    m = fit_case("sleepstudy_ml")
    nd = newss.copy()
    nd.loc[1, "days"] = np.nan
    p = predict(m, nd)
    assert np.isnan(p.iloc[1])
    np.testing.assert_allclose(p.iloc[[0, 2]], np.asarray(REF["conditional"])[[0, 2]], rtol=1e-5)


def test_fixed_effect_factor_levels_use_the_fit_coding():
    cb = datasets.load("cbpp")
    m = fit_case("cbpp_binomial")
    # rows of period 3 only (one level present): the columns still follow the fit's 4 levels
    sub = cb[cb["period"].astype(str) == "3"]
    np.testing.assert_allclose(predict(m, sub), m.fitted[sub.index], rtol=1e-10)
    # plain strings instead of the categorical column, in another order
    shuffled = sub.iloc[::-1].assign(period=lambda d: d["period"].astype(str),
                                     herd=lambda d: d["herd"].astype(str))
    np.testing.assert_allclose(predict(m, shuffled), m.fitted[shuffled.index], rtol=1e-10)
    bad = sub.assign(period="7")
    with pytest.raises(NewLevelError, match="'7'"):
        predict(m, bad)


def test_glmm_scales():
    m = fit_case("cbpp_binomial")
    cb = datasets.load("cbpp")
    eta = predict(m, cb, scale="link")
    np.testing.assert_allclose(1 / (1 + np.exp(-eta)), m.fitted, rtol=1e-10)
    np.testing.assert_allclose(predict(m, cb, scale="response"), m.fitted, rtol=1e-10)
    with pytest.raises(MixedModelError, match="scale"):
        predict(m, cb, scale="probability")


def test_formula_transformations():
    df = datasets.load("sleepstudy")
    m = fit("log(reaction) ~ 1 + days + I(days^2) + (1 | subj)", df)
    np.testing.assert_allclose(predict(m, df), m.fitted, rtol=1e-12)
    ms = fit("reaction ~ 1 + scale(days) + (1 | subj)", df)
    np.testing.assert_allclose(predict(ms, df.iloc[:5]), ms.fitted[:5], rtol=1e-12)
    np.testing.assert_allclose(predict(ms), ms.fitted)


# R 4.2.2, lme4 1.1.31:
#   ss <- sleepstudy
#   new <- data.frame(Days = c(0, 2.5, 9, 12), Subject = factor(c("308", "309", "999", "372")))
#   m <- lmer(Reaction ~ 1 + scale(Days) + (1 + scale(Days) | Subject), ss, REML = FALSE)
#   print(predict(m, new, allow.new.levels = TRUE), digits = 15)
#   m2 <- lmer(Reaction ~ 1 + scale(Days, scale = FALSE) + (1 | Subject), ss, REML = FALSE)
#   print(predict(m2, new, allow.new.levels = TRUE), digits = 15)
# R's scale(x, scale = FALSE) is our center(x); predict() uses the training mean and SD
# (makepredictcall), not the new rows'.
SCALED_NEW = pd.DataFrame({"days": [0.0, 2.5, 9.0, 12.0], "subj": ["S308", "S309", "S999", "S372"]})
R_SCALED = [254.220926682178, 215.914733094521, 345.610678484842, 404.859777538562]
R_CENTERED = [292.040201434089, 200.007444765546, 345.610678484849, 395.062270453418]


@pytest.mark.parametrize("term, reference", [("scale(days)", R_SCALED),
                                             ("center(days)", R_CENTERED)])
def test_scale_and_center_on_new_rows_use_the_training_statistics(term, reference):
    df = datasets.load("sleepstudy")
    slope = f" + {term}" if term.startswith("scale") else ""
    m = fit(f"reaction ~ 1 + {term} + (1{slope} | subj)", df)
    # the fitted rows given as new data give the fitted values
    rows = [0, 7, 33, 179]
    np.testing.assert_allclose(predict(m, df.iloc[rows]), m.fitted[rows], rtol=1e-12)
    # the population prediction is the hand computation with the training mean and SD, not
    # those of the four new rows
    days = df["days"].to_numpy()
    sd = days.std(ddof=1) if term.startswith("scale") else 1.0
    x = (SCALED_NEW["days"].to_numpy() - days.mean()) / sd
    np.testing.assert_allclose(predict(m, SCALED_NEW, re_form="NA"), m.beta[0] + m.beta[1] * x,
                               rtol=1e-12)
    # lme4: conditional modes agree to ~1e-4 relative to their scale (as above)
    np.testing.assert_allclose(predict(m, SCALED_NEW), reference, rtol=1e-5)
    # one row alone predicts as it does among the others
    np.testing.assert_allclose(predict(m, SCALED_NEW.iloc[[2]]), reference[2], rtol=1e-5)
    state = m.model.design.spec.transforms[term]
    assert state.center == pytest.approx(days.mean(), rel=1e-15)


def test_random_part_factor_coded_with_the_fit_levels():
    # a categorical column on the left of a random-effects term: new rows holding one level
    # build the fit's columns, so the prediction is the fitted value of the same rows
    df = datasets.load("sleepstudy").assign(half=lambda d: np.where(d.days < 5, "early", "late"))
    m = fit("reaction ~ 1 + days + (1 + half | subj)", df)
    late = df.index[df.half == "late"][:6]
    np.testing.assert_allclose(predict(m, df.loc[late]), m.fitted[late], rtol=1e-12)
    with pytest.raises(NewLevelError, match="'middle'"):
        predict(m, df.loc[late].assign(half="middle"))


def test_newdata_must_be_a_table():
    with pytest.raises(MixedModelError, match="DataFrame"):
        predict(fit_case("sleepstudy_ml"), {"days": [1.0], "subj": ["S308"]})


def test_fixed_effects_matrix_and_trends_use_the_training_scale():
    # the reference grid of emmeans/emtrends goes through fixed_effects_matrix: a grid row at
    # the mean of days has scale(days) = 0, and the trend per day is β / SD(days), as emmeans
    # computes it from lme4's predvars
    from mm_core import emtrends
    from mm_core.predict import fixed_effects_matrix
    df = datasets.load("sleepstudy")
    m = fit("reaction ~ 1 + scale(days) + (1 | subj)", df)
    X, names = fixed_effects_matrix(m, pd.DataFrame({"days": [4.5, 9.0]}))
    sd = df["days"].std(ddof=1)
    np.testing.assert_allclose(X, [[1.0, 0.0], [1.0, 4.5 / sd]], rtol=1e-15, atol=1e-15)
    assert names == ["(Intercept)", "scale(days)"]
    trend = emtrends(m, [], "days", data=df).table["estimate"].to_numpy()
    np.testing.assert_allclose(trend, m.beta[1] / sd, rtol=1e-6)
