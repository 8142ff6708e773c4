"""Likelihood-ratio tests (mm_core.lrt) against lme4's anova() (tests/reference/inference.json)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, fit_case

from mm_core import datasets, fit
from mm_core.errors import MixedModelError
from mm_core.lrt import DifferentDataError, LRTResult, NotNestedError, likelihood_ratio_test, refit_ml

REF = json.loads((REFERENCE_DIR / "inference.json").read_text())


@pytest.fixture(scope="module")
def sleep():
    df = datasets.load("sleepstudy")
    return {
        "df": df,
        "int": fit("reaction ~ 1 + days + (1 | subj)", df),
        "zc": fit("reaction ~ 1 + days + (1 + days || subj)", df),
        "full": fit_case("sleepstudy_ml"),
        "reml": fit_case("sleepstudy_reml"),
    }


def _check(table: pd.DataFrame, ref: dict) -> None:
    assert table["npar"].tolist() == ref["npar"]
    np.testing.assert_allclose(table["deviance"], ref["deviance"], atol=1e-3)
    chisq = [np.nan if c == "NA" else c for c in ref["chisq"]]
    df = [np.nan if c == "NA" else c for c in ref["df"]]
    p = [np.nan if c == "NA" else c for c in ref["p"]]
    np.testing.assert_allclose(table["chisq"], chisq, atol=1e-3)
    np.testing.assert_array_equal(table["df"], df)
    np.testing.assert_allclose(table["p_value"], p, rtol=1e-3)


def test_three_nested_models(sleep):
    # anova(ss_int, ss_zc, ss_ml)
    res = likelihood_ratio_test(sleep["full"], sleep["int"], sleep["zc"])   # any order
    assert isinstance(res, LRTResult) and res.criterion == "ML"
    _check(res.table, REF["sleepstudy_lrt_intercept_zerocorr_full"])
    t = res.table
    assert list(t.columns) == ["model", "npar", "loglik", "deviance", "aic", "bic", "chisq",
                               "df", "p_value"]
    np.testing.assert_allclose(t["aic"], t["deviance"] + 2 * t["npar"])
    np.testing.assert_allclose(t["bic"], t["deviance"] + t["npar"] * np.log(180))
    np.testing.assert_allclose(t["loglik"], -t["deviance"] / 2)
    assert any("boundary" in n for n in res.notes)
    assert not any(res.refitted)


def test_reml_fit_refitted_with_ml(sleep):
    # anova(ss_reml, ss_int): lme4 refits the REML fit by ML
    with pytest.warns(UserWarning, match="refitted by maximum likelihood"):
        res = likelihood_ratio_test(sleep["reml"], sleep["int"])
    _check(res.table, REF["sleepstudy_reml_vs_ml_anova_refit"])
    assert res.refitted == (False, True)
    assert any("refitted" in n for n in res.notes)
    assert not res.results[1].reml


def test_refit_ml_matches_ml_fit(sleep):
    ml = refit_ml(sleep["reml"])
    assert ml.objective == pytest.approx(sleep["full"].objective, abs=1e-6)
    np.testing.assert_allclose(ml.theta, sleep["full"].theta, atol=1e-4)
    assert refit_ml(sleep["full"]) is sleep["full"]


def test_reml_fits_with_same_fixed_effects_compare_reml_criteria(sleep):
    df = sleep["df"]
    a = fit("reaction ~ 1 + days + (1 | subj)", df, reml=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = likelihood_ratio_test(a, sleep["reml"])
    assert res.criterion == "REML"
    np.testing.assert_allclose(res.table["deviance"], [a.objective, sleep["reml"].objective])
    with pytest.raises(MixedModelError, match="refit"):
        likelihood_ratio_test(a, sleep["full"], refit=False)


def test_glmm():
    # anova(g0, g1) in lme4: deviance 209.663070375 and 184.053132779, Chisq 25.60994 on 3 df,
    # p 1.151e-05
    cb = datasets.load("cbpp")
    g0 = fit("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cb, family="binomial")
    g1 = fit_case("cbpp_binomial")
    t = likelihood_ratio_test(g1, g0).table
    assert t["npar"].tolist() == [2, 5]
    np.testing.assert_allclose(t["deviance"], [209.663070375, 184.053132779], atol=2e-3)
    assert t["chisq"].iloc[1] == pytest.approx(25.60994, abs=2e-3)
    assert t["p_value"].iloc[1] == pytest.approx(1.151e-05, rel=2e-3)


def test_not_nested(sleep):
    df = sleep["df"]
    slope_only = fit("reaction ~ 1 + days + (0 + days | subj)", df)
    with pytest.raises(NotNestedError, match="same number of parameters"):
        likelihood_ratio_test(sleep["int"], slope_only)
    quadratic = fit("reaction ~ 1 + I(days^2) + (1 + days | subj)", df)
    with pytest.raises(NotNestedError, match="not nested"):
        likelihood_ratio_test(sleep["int"], quadratic)     # 'days' is not in the larger model
    by_day = df.assign(day=df["days"].astype(str))
    other_group = fit("reaction ~ 1 + days + (1 | subj) + (1 | day)", by_day)
    with pytest.raises(NotNestedError, match="not nested"):
        likelihood_ratio_test(other_group, sleep["full"])  # (1|day) is not in the larger model


def test_different_data_or_response(sleep):
    df = sleep["df"]
    fewer = fit("reaction ~ 1 + days + (1 + days | subj)", df.iloc[:170])
    with pytest.raises(DifferentDataError, match="numbers of observations"):
        likelihood_ratio_test(sleep["int"], fewer)
    d2 = df.assign(logr=np.log(df["reaction"]))
    other = fit("logr ~ 1 + days + (1 + days | subj)", d2)
    with pytest.raises(DifferentDataError, match="different responses"):
        likelihood_ratio_test(sleep["int"], other)
    g = fit_case("cbpp_binomial")
    with pytest.raises(DifferentDataError):
        likelihood_ratio_test(sleep["int"], g)
    g0 = fit("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", datasets.load("cbpp"),
             family="binomial", n_agq=5)
    with pytest.raises(DifferentDataError, match="n_agq"):
        likelihood_ratio_test(g0, g)


def test_needs_two_fitted_models(sleep):
    with pytest.raises(MixedModelError, match="at least two"):
        likelihood_ratio_test(sleep["int"])
    with pytest.raises(MixedModelError):
        likelihood_ratio_test(sleep["int"], sleep["int"].model)
