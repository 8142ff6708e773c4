"""Fixed-effects inference: table shapes, bad input, and two designs checked against R inline.

The R numbers below were computed on this machine with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3 and
pbkrtest 0.5.2 on the bundled data (``mm_core.datasets.load(...).to_csv``)::

    m <- lmer(yield ~ 1 + (1|batch), dyestuff2, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10)))
    summary(m, ddf = "Satterthwaite")$coefficients   # singular fit: theta = 0
    summary(m, ddf = "Kenward-Roger")$coefficients
    m <- lmer(reaction ~ 1 + days + (1|subj) + (0 + days|subj), sleepstudy, REML = TRUE, ...)
    summary(m, ddf = "Satterthwaite")$coefficients; summary(m, ddf = "Kenward-Roger")$coefficients
"""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import mm_core
from mm_core import EMMeans, MixedModelError, anova, datasets, emmeans, emtrends, fit, fixef_tests, pairwise
from mm_core.effects import kenward_roger as kr_module


@pytest.fixture(scope="module")
def sleep():
    return fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)


@pytest.fixture(scope="module")
def cbpp():
    return fit("cbind(incidence, size - incidence) ~ 1 + factor(period) + (1 | herd)",
               datasets.load("cbpp"), family="binomial")


@pytest.fixture(scope="module")
def pen():
    return fit("diameter ~ 1 + sample + (1 | plate)", datasets.load("penicillin"), reml=True)


def test_singular_fit_matches_lmertest():
    m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff2"), reml=True)
    assert m.is_singular
    s = fixef_tests(m).loc["(Intercept)"]
    assert s["std_error"] == pytest.approx(0.6783880312, rel=1e-6)
    assert s["df"] == pytest.approx(29, rel=1e-6)
    assert s["p_value"] == pytest.approx(3.318292749e-09, rel=1e-4)
    k = fixef_tests(m, ddf="kenward-roger").loc["(Intercept)"]
    assert k["df"] == pytest.approx(5, rel=1e-6)
    assert k["p_value"] == pytest.approx(0.0004026832579, rel=1e-4)


def test_uncorrelated_terms_on_one_factor_match_lmertest():
    m = fit("reaction ~ 1 + days + (1 | subj) + (0 + days | subj)", datasets.load("sleepstudy"),
            reml=True)
    s = fixef_tests(m)
    np.testing.assert_allclose(s["df"], [18.15620223, 18.15620201], rtol=2e-5)
    np.testing.assert_allclose(s["p_value"], [1.893364333e-18, 2.593946839e-06], rtol=1e-4)
    k = fixef_tests(m, ddf="kenward-roger")
    np.testing.assert_allclose(k["df"], [18.18747622, 18.18747622], rtol=1e-6)
    np.testing.assert_allclose(k["std_error"], [6.885381508, 1.559565996], rtol=1e-7)


def test_table_shapes(sleep, cbpp):
    t = fixef_tests(sleep)
    assert list(t.columns) == ["estimate", "std_error", "df", "statistic", "p_value", "lower",
                               "upper"]
    assert list(t.index) == ["(Intercept)", "days"] and t.index.name == "coefficient"
    a = anova(sleep, type=3)
    assert list(a.columns) == ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]
    g = anova(cbpp, type=3)
    assert list(g.index) == ["(Intercept)", "factor(period)"]
    assert list(g.columns) == ["chisq", "df", "p_value"]
    assert list(anova(cbpp, type=2).index) == ["factor(period)"]
    z = fixef_tests(cbpp)
    assert np.all(np.isinf(z["df"]))
    np.testing.assert_allclose(z["p_value"], cbpp.coeftable["p_value"], rtol=1e-12)
    e = emmeans(sleep, "days", at={"days": [0, 5, 9]})
    assert list(e.table.columns) == ["days", "estimate", "std_error", "df", "lower", "upper",
                                     "statistic", "p_value"]
    pw = pairwise(e, adjust="none")
    assert list(pw.columns) == ["contrast", "estimate", "std_error", "df", "lower", "upper",
                                "statistic", "p_value"]
    assert pw["contrast"].tolist() == ["days0 - days5", "days0 - days9", "days5 - days9"]


def test_asymptotic_lmm_equals_wald_table(sleep):
    t = fixef_tests(sleep, ddf="asymptotic")
    np.testing.assert_allclose(t["std_error"], sleep.stderror, rtol=1e-12)
    np.testing.assert_allclose(t["lower"], sleep.coeftable["ci_lower"], rtol=1e-12)


def test_response_scale_back_transforms(cbpp):
    link = emmeans(cbpp, "period").table
    resp = emmeans(cbpp, "period", scale="response").table
    expit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(resp["estimate"], expit(link["estimate"]), rtol=1e-12)
    np.testing.assert_allclose(resp["lower"], expit(link["lower"]), rtol=1e-12)
    np.testing.assert_allclose(resp["p_value"], link["p_value"], rtol=1e-12)
    pw = pairwise(emmeans(cbpp, "period", scale="response"))
    assert pw["contrast"].iloc[0] == "1 / 2"
    assert np.all(pw["estimate"] > 0)


def test_by_groups_and_level(pen):
    e = emmeans(pen, "sample", level=0.9)
    assert len(e.table) == 6
    wide = emmeans(pen, "sample", level=0.99).table
    assert np.all(wide["upper"] - wide["lower"] > e.table["upper"] - e.table["lower"])
    assert len(pairwise(e)) == 15


def test_emtrends_of_a_linear_model_is_the_coefficient(sleep):
    t = emtrends(sleep, "1", "days").table
    assert t["estimate"].iloc[0] == pytest.approx(sleep.fixef["days"], rel=1e-9)
    assert t["std_error"].iloc[0] == pytest.approx(sleep.stderror["days"], rel=1e-8)


def test_results_pickle(sleep):
    e = emmeans(sleep, "days", at={"days": [0, 9]})
    back = pickle.loads(pickle.dumps(e))
    assert isinstance(back, EMMeans)
    pd.testing.assert_frame_equal(back.table, e.table)


@pytest.mark.parametrize("call, message", [
    (lambda m, g: fixef_tests(m, ddf="bogus"), "unknown denominator df"),
    (lambda m, g: anova(m, ddf="containment"), "unknown denominator df"),
    (lambda m, g: anova(m, type=4), "unknown ANOVA type"),
    (lambda m, g: fixef_tests(g, ddf="kenward-roger"), "linear mixed models only"),
    (lambda m, g: fixef_tests(g, ddf="satterthwaite"), "linear mixed models only"),
    (lambda m, g: emmeans(m, "dayz"), "'dayz' in specs is not a variable"),
    (lambda m, g: emmeans(m, "days"), "covariate: give the values"),
    (lambda m, g: emmeans(m, "days", at={"dose": [1]}), "at names 'dose'"),
    (lambda m, g: emmeans(m, "days", at={"days": [1, 2]}, scale="probability"), "scale must"),
    (lambda m, g: pairwise(emmeans(m, "1")), "at least two means"),
    (lambda m, g: pairwise(emmeans(g, "period", at={"period": ["2"]})), "at least two means"),
    (lambda m, g: pairwise(emmeans(m, "days", at={"days": [1, 2]}), adjust="sidak"),
     "unknown adjustment"),
    (lambda m, g: pairwise(m.fixef), "compares the result of emmeans"),
    (lambda m, g: emtrends(m, "1", "subj"), "numeric covariate"),
    (lambda m, g: fixef_tests(m, level=95), "level must be between 0 and 1"),
    (lambda m, g: fixef_tests("not a fit"), "fit the model first"),
])
def test_bad_input_is_named(sleep, cbpp, call, message):
    with pytest.raises(MixedModelError, match=message):
        call(sleep, cbpp)


def test_kenward_roger_needs_reml():
    m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    with pytest.raises(MixedModelError, match="REML"):
        fixef_tests(m, ddf="kenward-roger")
    assert np.all(fixef_tests(m)["df"] > 15)         # Satterthwaite works on ML fits


def test_kenward_roger_size_limit_recommends_satterthwaite(monkeypatch):
    m = fit("diameter ~ 1 + (1 | plate) + (1 | sample)", datasets.load("penicillin"), reml=True)
    monkeypatch.setattr(kr_module, "MAX_Q", 10)
    with pytest.raises(MixedModelError, match="satterthwaite"):
        anova(m, ddf="kenward-roger")


def test_exported():
    for name in ("fixef_tests", "anova", "emmeans", "emtrends", "pairwise", "EMMeans"):
        assert name in mm_core.__all__ and hasattr(mm_core, name)


def test_empty_cell():
    """lme4's cake without the cell recipe C × 225°: the fit drops ``recipeC:tempT225``.

    R (versions as above)::

        d <- read.csv(cake.csv)[-(recipe C at T225), ]
        m <- lmer(angle ~ 1 + recipe * temp + (1|recipe:replicate), d, control = <tight bobyqa>)
        anova(m)                                # type III, Satterthwaite
        summary(emmeans(m, ~ temp | recipe))    # T225 C: nonEst
    """
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "reference" / "effects" / "data" / "cake.csv"
    d = pd.read_csv(path)
    d = d[~((d.recipe == "C") & (d.temp == "T225"))]
    m = fit("angle ~ 1 + recipe * temp + (1 | recipe:replicate)", d, reml=True)
    assert m.dropped_columns == ("recipeC:tempT225",)
    a = anova(m, type=3)
    np.testing.assert_allclose(a["f_value"], [0.317595, 18.770771, 1.058008], rtol=2e-6)
    np.testing.assert_allclose(a["den_df"], [42.14556, 195.93801, 195.93801], rtol=2e-5)
    np.testing.assert_allclose(a["p_value"], [7.296243e-01, 3.154433e-15, 3.957129e-01],
                               rtol=2e-5)
    e = emmeans(m, "temp", by="recipe").table
    missing = (e["recipe"] == "C") & (e["temp"] == "T225")
    assert e.loc[missing, "estimate"].isna().all()
    assert e.loc[~missing, "estimate"].notna().all()
    pw = pairwise(emmeans(m, "temp", by="recipe"))
    assert pw.loc[pw["contrast"].str.contains("T225") & (pw["recipe"] == "C"), "p_value"].isna().all()


def test_covariate_inside_a_function():
    """A covariate that enters only as ``log(days + 1)``: its mean (and range) come from the
    data, the grid evaluates the log at the mean, and the slope is emmeans' forward difference.

    R::

        m <- lmer(reaction ~ 1 + log(days + 1) + (1|subj), sleepstudy)
        summary(emmeans(m, ~ 1))                                 # 306.28479, SE 9.076376
        summary(emmeans(m, ~ days, at = list(days = c(0, 3))))   # 238.05425, 293.53906
        summary(emtrends(m, ~ 1, var = "days"))                  # 7.271112, SE 0.6472567
    """
    d = datasets.load("sleepstudy")
    m = fit("reaction ~ 1 + log(days + 1) + (1 | subj)", d, reml=True)
    with pytest.raises(MixedModelError, match=r"at=.*or pass the data"):
        emmeans(m, "1")
    e = emmeans(m, "1", data=d).table
    assert e["estimate"].iloc[0] == pytest.approx(306.28479, rel=1e-7)
    assert e["std_error"].iloc[0] == pytest.approx(9.076376, rel=1e-6)
    g = emmeans(m, "days", at={"days": [0, 3]}).table
    np.testing.assert_allclose(g["estimate"], [238.05425, 293.53906], rtol=1e-7)
    t = emtrends(m, "1", "days", data=d).table
    assert t["estimate"].iloc[0] == pytest.approx(7.271112, rel=1e-6)
    assert t["std_error"].iloc[0] == pytest.approx(0.6472567, rel=1e-6)


def test_number_of_comparisons_is_bounded(pen, monkeypatch):
    import importlib
    monkeypatch.setattr(importlib.import_module("mm_core.effects.pairwise"), "MAX_PAIRS", 10)
    with pytest.raises(MixedModelError, match="15 pairwise comparisons are too many"):
        pairwise(emmeans(pen, "sample"))


def test_offset_enters_the_means_at_its_mean():
    """emmeans adds the mean of the offset over the data (here mean(log(expo))).

    R (versions as above; ``expo`` drawn once with ``set.seed(1); round(runif(n, 1, 3), 2)``
    and stored in grouseticks_exposure.csv)::

        m <- glmer(ticks ~ year + offset(log(expo)) + (1|location), d, family = poisson,
                   control = glmerControl(tolPwrss = 1e-12, optimizer = c("bobyqa", "bobyqa"),
                                          optCtrl = list(rhoend = 1e-10)))
        summary(emmeans(m, ~ year)); summary(emmeans(m, ~ year), type = "response")
    """
    from pathlib import Path
    path = (Path(__file__).resolve().parent.parent / "reference" / "effects" / "extra" / "data"
            / "grouseticks_exposure.csv")
    m = fit("ticks ~ year + offset(log(expo)) + (1 | location)", pd.read_csv(path),
            family="poisson")
    link = emmeans(m, "year").table
    np.testing.assert_allclose(link["estimate"], [0.6743348, 1.5615278, -0.8674635], rtol=2e-5)
    np.testing.assert_allclose(link["std_error"], [0.18798162, 0.18290760, 0.19983640], rtol=2e-4)
    rate = emmeans(m, "year", scale="response").table
    np.testing.assert_allclose(rate["estimate"], [1.962727, 4.766097, 0.420016], rtol=2e-5)
    np.testing.assert_allclose(rate["std_error"], [0.3689566, 0.8717554, 0.0839344], rtol=2e-4)
    np.testing.assert_allclose(rate["lower"], [1.357843, 3.330210, 0.283899], rtol=1e-4)


def test_weighted_and_ml_fits_match_lmertest():
    """R::

        d$w <- 1 + ((seq_len(nrow(d)) - 1) %% 3) / 2
        lmer(reaction ~ 1 + days + (1 + days|subj), d, weights = w, control = <tight bobyqa>)
        lmer(reaction ~ 1 + days + (1 + days|subj), d, REML = FALSE, control = <tight bobyqa>)
        summary(m)$coefficients          # Satterthwaite
    """
    d = datasets.load("sleepstudy")
    d["w"] = 1 + (np.arange(len(d)) % 3) / 2.0
    m = fit("reaction ~ 1 + days + (1 + days | subj)", d, reml=True, weights="w")
    t = fixef_tests(m)
    np.testing.assert_allclose(t["std_error"], [6.5611415, 1.5611971], rtol=2e-6)
    np.testing.assert_allclose(t["df"], [16.941747, 16.894376], rtol=2e-5)
    np.testing.assert_allclose(t["p_value"], [6.5636651e-18, 3.9527862e-06], rtol=2e-4)
    m = fit("reaction ~ 1 + days + (1 + days | subj)", d)
    t = fixef_tests(m)
    np.testing.assert_allclose(t["std_error"], [6.6322764, 1.5022368], rtol=2e-6)
    np.testing.assert_allclose(t["df"], [18.000003, 17.999999], rtol=2e-5)


@pytest.mark.slow
def test_insteval_satterthwaite_matches_lmertest():
    """The large crossed design (73,421 rows, 2,972 students × 1,128 lecturers).

    R (versions as above; the bundled insteval written to CSV)::

        m <- lmer(y ~ 1 + service + (1|s) + (1|d), d, REML = TRUE, control = <tight bobyqa>)
        REMLcrit(m); summary(m)$coefficients; anova(m)
    """
    m = fit("y ~ 1 + service + (1 | s) + (1 | d)", datasets.load("insteval"), reml=True)
    assert m.objective == pytest.approx(237743.583116107, abs=1e-4)
    t = fixef_tests(m)
    np.testing.assert_allclose(t["std_error"], [0.01881418832, 0.01327111810], rtol=1e-6)
    np.testing.assert_allclose(t["df"], [1655.220883, 54302.498202], rtol=2e-5)
    assert t.loc["serviceY", "p_value"] == pytest.approx(6.628907383e-12, rel=1e-4)
    a = anova(m)
    assert a.loc["service", "f_value"] == pytest.approx(47.15509, rel=1e-6)
    assert a.loc["service", "den_df"] == pytest.approx(54302.4982, rel=2e-5)
    with pytest.raises(MixedModelError, match="at most 3,000 random effects"):
        fixef_tests(m, ddf="kenward-roger")


def test_satterthwaite_cost_is_bounded(monkeypatch):
    import importlib
    monkeypatch.setattr(importlib.import_module("mm_core.effects.satterthwaite"), "MAX_SECONDS",
                        0.0)
    m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)
    with pytest.raises(MixedModelError, match=r"12 more evaluations.*ddf='asymptotic'"):
        fixef_tests(m)


def test_car_type2_with_a_factor_by_covariate_interaction():
    """car's type II tests a main effect after the terms that do not contain it, whatever
    covariates the containing term has (lmerTest's own type II asks for the same covariates).

    R (versions as above)::

        m <- glmer(ticks ~ 1 + year * height + (1|location), grouseticks, family = poisson,
                   control = <tight>)
        car::Anova(m, type = 2); car::Anova(m, type = 3)
    """
    from pathlib import Path
    path = (Path(__file__).resolve().parent.parent / "reference" / "effects" / "extra" / "data"
            / "grouseticks.csv")
    m = fit("ticks ~ 1 + year * height + (1 | location)", pd.read_csv(path), family="poisson")
    np.testing.assert_allclose(anova(m, type=2)["chisq"], [516.96020, 38.54242, 16.19151],
                               rtol=2e-4)
    np.testing.assert_allclose(anova(m, type=3)["chisq"],
                               [12.95094, 276.59699, 45.61825, 16.19151], rtol=2e-4)


def test_three_by_three_correlated_random_effects():
    """``(1 + machine | worker)``: six covariance parameters, a 3 × 3 λ per worker.

    R (versions as above)::

        m <- lmer(score ~ 1 + machine + (1 + machine|worker), machines, control = <tight>)
        REMLcrit(m)                                         # 208.311218316
        summary(m)$coefficients; summary(m, ddf = "Kenward-Roger")$coefficients
        anova(m); anova(m, ddf = "Kenward-Roger")
        pairs(emmeans(m, ~ machine, lmer.df = "kenward-roger"))
    """
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "reference" / "effects" / "data" / "machines.csv"
    m = fit("score ~ 1 + machine + (1 + machine | worker)", pd.read_csv(path), reml=True)
    assert m.objective == pytest.approx(208.311218316, abs=1e-6)
    se = [1.680710968, 2.420850963, 1.540099772]
    s = fixef_tests(m)
    np.testing.assert_allclose(s["std_error"], se, rtol=1e-6)
    np.testing.assert_allclose(s["df"], [5.000002011, 4.999999369, 5.000000276], rtol=2e-3)
    k = fixef_tests(m, ddf="kenward-roger")
    np.testing.assert_allclose(k["df"], 5.0, rtol=1e-6)
    a = anova(m)
    assert a.loc["machine", "f_value"] == pytest.approx(41.00377, rel=1e-6)
    a = anova(m, ddf="kenward-roger")
    assert a.loc["machine", "den_df"] == pytest.approx(4.0, rel=1e-6)
    assert a.loc["machine", "f_value"] == pytest.approx(32.80301, rel=1e-6)
    pw = pairwise(emmeans(m, "machine", ddf="kenward-roger"))
    np.testing.assert_allclose(pw["std_error"], [2.4208510, 1.5400998, 2.4464748], rtol=1e-6)
    np.testing.assert_allclose(pw["p_value"], [0.0481, 0.0007, 0.1253], atol=1e-4)
