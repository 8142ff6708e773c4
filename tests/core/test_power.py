"""Power analysis by simulation (mm_core.power_analysis): designs, tests, rates and curves."""
from __future__ import annotations

import math
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mm_core
from mm_core import (
    CoefficientTest,
    LikelihoodRatioTest,
    MixedModelError,
    StudyDesign,
    TermTest,
    TrueModel,
    datasets,
    fit,
    power,
    simulate_design,
)
from mm_core.power_analysis.design import scenario

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def _between(subjects: int, n_obs: int) -> StudyDesign:
    return StudyDesign(groups={"subj": subjects}, n_obs=n_obs,
                       between={"treat": ("subj", ["control", "drug"])})


def _model(effect: float, tau: float = 1.0, sigma: float = 2.0) -> TrueModel:
    return TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"(Intercept)": 10, "treatdrug": effect},
                     sd={"subj": tau}, sigma=sigma)


def _mc_band(p: float, n: int, k: float = 3.5) -> float:
    return k * math.sqrt(p * (1 - p) / n)


# ============================================================================ acceptance
def test_null_rejection_rate_satterthwaite_nominal_and_z_inflated():
    """8 subjects × 10 observations, a between-subject effect of 0, 2,000 simulations.

    The Satterthwaite t test (``mm_core.fixef_tests`` of each refit: df = 8 − 2 = 6 here,
    lmerTest's value, where τ̂ > 0) rejects at the nominal 5 % within Monte-Carlo error; the z test
    of the same estimates rejects about
    P(|t₆| > 1.96) ≈ 9.8 % of the time: the known inflation of Wald z tests with few groups.
    """
    n = 2000
    r = power(_between(8, 10), CoefficientTest("treatdrug", "satterthwaite"), params=_model(0.0),
              n_sim=n, seed=20240, workers=2)
    row = r.table.iloc[0]
    assert row["n_sim"] == n and row["failed"] == 0
    sims = r.simulations
    assert sims.loc[~sims["singular"], "df"].to_numpy() == pytest.approx(6.0, rel=1e-3)   # 6.005 at τ̂ ≈ 0
    assert abs(row["power"] - 0.05) <= _mc_band(0.05, n)
    z = sims["beta[treatdrug]"] / sims["se[treatdrug]"]
    z_rate = float(np.mean(2 * stats.norm.sf(np.abs(z)) < 0.05))
    expected = 2 * stats.t.sf(stats.norm.ppf(0.975), 6)          # 0.098
    assert z_rate - 0.05 > _mc_band(0.05, n)                      # inflated beyond MC error
    assert abs(z_rate - expected) <= _mc_band(expected, n) + 0.01  # + boundary fits (τ̂ = 0)
    zr = power(_between(8, 10), CoefficientTest("treatdrug", "z"), params=_model(0.0), n_sim=n,
               seed=20240, workers=2)
    assert zr.table["power"].iloc[0] == pytest.approx(z_rate)       # same draws, same estimates


def test_power_matches_noncentral_t_closed_form():
    """Balanced between-subject effect with a random intercept: power is exact.

    ``β̂ ~ N(δ, V)`` with ``V = (σ²/m + τ²)·4/ℓ`` (ℓ subjects in two equal groups, m
    observations each), and ``β̂/SE`` is noncentral t on ℓ − 2 df with noncentrality
    ``δ/√V`` (exactly so whenever τ̂² > 0, nearly always with mτ²/σ² = 20).
    """
    m, tau, sigma, delta, n = 5, 2.0, 1.0, 3.0, 800
    sizes = [6, 10, 16, 24]
    r = power(_between(6, m), CoefficientTest("treatdrug"), params=_model(delta, tau, sigma),
              n_sim=n, seed=7, along="subj", sizes=sizes, workers=2)
    assert list(r.table["size"]) == sizes
    sims = r.simulations
    for size, (_, row) in zip(sizes, r.table.iterrows()):
        df = size - 2
        ncp = delta / math.sqrt((sigma ** 2 / m + tau ** 2) * 4 / size)
        crit = stats.t.ppf(0.975, df)
        exact = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
        regular = sims.loc[(sims["size"] == size) & ~sims["singular"], "df"].to_numpy()
        assert regular == pytest.approx(df, rel=1e-3)              # lmerTest's ℓ − 2 where τ̂ > 0
        assert row["singular"] < 0.01
        assert abs(row["power"] - exact) <= _mc_band(exact, n), (size, row["power"], exact)
        assert row["lower"] <= row["power"] <= row["upper"]
    assert r.table["power"].is_monotonic_increasing


def test_between_and_within_subject_df_equal_lmertest():
    """Between- and within-subject df of a balanced random-intercept design, against lmerTest:
    the df each power replicate's t test takes from ``mm_core.fixef_tests``.

    R 4.2.2, lme4 1.1.31, lmerTest 3.1.3, on tests/reference/power_balanced.csv::

        m <- lmer(y ~ 1 + treat + cond + (1|subj), d)
        coef(summary(m))                        # df: treatb 5.999999766, condy 71.000000269
        coef(summary(m, ddf = "Kenward-Roger")) # t: treatb 6.311335511, condy 1.846265002
    """
    df = pd.read_csv(REFERENCE_DIR / "power_balanced.csv")
    m = fit("y ~ 1 + treat + cond + (1 | subj)", df, reml=True)
    for ddf in ("satterthwaite", "kenward-roger"):
        tab = mm_core.fixef_tests(m, ddf=ddf)
        assert tab.loc["treatb", "df"] == pytest.approx(5.999999766, rel=2e-3), ddf
        assert tab.loc["condy", "df"] == pytest.approx(71.000000269, rel=2e-3), ddf
        assert tab.loc["treatb", "statistic"] == pytest.approx(6.311335511, rel=1e-5), ddf
        assert tab.loc["condy", "statistic"] == pytest.approx(1.846265002, rel=1e-5), ddf


# ============================================================================ reproducibility
def test_same_seed_same_table_whatever_the_workers():
    kw = dict(params=_model(1.0), n_sim=24, seed=5, along="subj", sizes=[6, 8], chunk_size=5)
    a = power(_between(6, 4), "treatdrug", workers=1, **kw)
    b = power(_between(6, 4), "treatdrug", workers=2, **kw)
    with ThreadPoolExecutor(2) as ex:
        c = power(_between(6, 4), "treatdrug", executor=ex, **kw)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.rows, c.rows)
    assert b.workers == 2


def test_progress_and_cancel_keep_finished_simulations():
    seen = []

    def progress(p):
        seen.append(p.done)
        return p.done < 20

    r = power(_between(6, 4), "treatdrug", params=_model(1.0), n_sim=50, seed=1, workers=1,
              chunk_size=10, along="subj", sizes=[6, 8], progress=progress)
    assert r.cancelled and seen[-1] == 20 and r.n_done == 20
    assert r.table["n_sim"].tolist() == [20, 0]
    full = power(_between(6, 4), "treatdrug", params=_model(1.0), n_sim=50, seed=1, workers=1,
                 along="subj", sizes=[6, 8])
    np.testing.assert_array_equal(r.rows, full.rows[:20])


def test_replicate_data_is_the_simulated_data_set():
    """``data(size, j)`` is the data set the run refitted as replicate j (a fresh fit agrees)."""
    r = power(_between(6, 5), "treatdrug", params=_model(1.0), n_sim=3, seed=11, workers=1,
              along="subj", sizes=[6, 10])
    d = r.data(size=10, replicate=2)
    assert d.shape == (50, 3) and d["subj"].nunique() == 10
    m = fit("y ~ 1 + treat + (1 | subj)", d, reml=True)
    row = r.simulations.query("size == 10 and replicate == 2").iloc[0]
    assert row["beta[treatdrug]"] == pytest.approx(m.fixef["treatdrug"], rel=1e-5, abs=1e-6)
    assert row["se[treatdrug]"] == pytest.approx(m.stderror["treatdrug"], rel=1e-4)
    again = pickle.loads(pickle.dumps(r))
    assert again.table.equals(r.table)


# ============================================================================ from a fit
@pytest.fixture(scope="module")
def sleep_fit():
    return fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)


def test_power_curve_from_a_fit_grows_the_subjects(sleep_fit):
    r = power(sleep_fit, CoefficientTest("days", "z"), n_sim=40, seed=3, along="subj",
              sizes=[18, 36], effect=4.0, workers=1)
    assert r.table["nobs"].tolist() == [180, 360]
    assert r.table["true_value"].tolist() == [4.0, 4.0]
    assert r.table["power"].iloc[1] >= r.table["power"].iloc[0]
    d = r.data(size=36)
    assert d["subj"].nunique() == 36 and set(d.columns) == {"subj", "days", "reaction"}
    est = r.estimates()
    assert set(est["parameter"]) >= {"sd_(Intercept)|subj", "cor_days.(Intercept)|subj",
                                     "sd_days|subj", "sigma", "days"}
    assert est.query("parameter == 'days' and size == 36")["true"].iloc[0] == 4.0


def test_likelihood_ratio_and_term_tests(sleep_fit):
    lrt = power(sleep_fit, LikelihoodRatioTest("days"), n_sim=20, seed=2, workers=1,
                effect={"days": 2.0})
    assert lrt.table["mean_df"].iloc[0] == 1.0
    f = power(sleep_fit, TermTest("days", "z"), n_sim=20, seed=2, workers=1, effect={"days": 2.0})
    z = power(sleep_fit, CoefficientTest("days", "z"), n_sim=20, seed=2, workers=1,
              effect={"days": 2.0})
    # one coefficient: F = z², the same decisions
    np.testing.assert_allclose(f.rows[:, 1], z.rows[:, 1] ** 2, rtol=1e-12)
    np.testing.assert_allclose(f.rows[:, 0], z.rows[:, 0], rtol=1e-9)


def test_factor_term_f_test_and_glmm():
    d = StudyDesign(groups={"subj": 12}, n_obs=2, within={"cond": ["a", "b", "c"]})
    m = TrueModel("y ~ 1 + cond + (1 | subj)", fixef={"condb": 0.5, "condc": 1.0},
                  sd={"subj": 1.0}, sigma=1.0)
    r = power(d, TermTest("cond"), params=m, n_sim=10, seed=1, workers=1)
    assert r.table["mean_df"].iloc[0] == pytest.approx(72 - 12 - 2, rel=1e-4)   # lmerTest's within-subject df
    assert r.table["failed"].iloc[0] == 0
    g = TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"(Intercept)": -0.5, "treatdrug": 1.0},
                  sd={"subj": 0.8}, family="binomial")
    rg = power(_between(20, 8), CoefficientTest("treatdrug", "z"), params=g, n_sim=10, seed=1,
               workers=1)
    assert rg.table["failed"].iloc[0] == 0 and rg.table["n_sim"].iloc[0] == 10


# ============================================================================ designs
def test_simulate_design_layout_and_values():
    d = StudyDesign(groups={"school": 3}, nested={"class": ("school", 2)}, n_obs=2,
                    within={"days": [0, 1, 2]}, between={"program": ("class", ["old", "new"])})
    assert d.nobs == 36
    m = TrueModel("y ~ 1 + days + program + (1 + days | school) + (1 | class)",
                  fixef={"(Intercept)": 1.0, "days": 2.0},
                  sd={"school": {"(Intercept)": 1.0, "days": 0.5}, "class": 1.0},
                  corr={"school": {("days", "(Intercept)"): 0.3}}, sigma=1.0)
    a = simulate_design(d, m, seed=9)
    b = simulate_design(d, m, seed=9)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["school", "class", "days", "program", "y"]
    assert a["class"].nunique() == 6
    assert (a.groupby("class")["school"].nunique() == 1).all()        # nested
    assert (a.groupby("class")["program"].nunique() == 1).all()       # between classes
    assert sorted(a["program"].value_counts().tolist()) == [18, 18]


def test_simulated_data_recover_the_true_parameters():
    d = StudyDesign(groups={"subj": 300}, n_obs=4, between={"treat": ("subj", ["a", "b"])})
    m = TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"(Intercept)": 3.0, "treatb": 1.0},
                  sd={"subj": 2.0}, sigma=1.5)
    f = fit(m.formula, simulate_design(d, m, seed=4), reml=True)
    assert f.fixef["treatb"] == pytest.approx(1.0, abs=4 * f.stderror["treatb"])
    assert f.sigma == pytest.approx(1.5, rel=0.1)
    assert f.varcorr["sd"].iloc[0] == pytest.approx(2.0, rel=0.15)


@pytest.mark.parametrize("kwargs, message", [
    (dict(effect={"treatdrog": 1.0}), "unknown effect name|unknown fixed effect"),
    (dict(along="subj", sizes=[4, 8]), "sizes must not be below the current design"),
    (dict(n_sim=0), "n_sim .* must be a positive integer"),
    (dict(n_sim=2.5), "n_sim .* must be a positive integer"),
    (dict(n_sim="100"), "n_sim .* must be a positive integer"),
    (dict(along="item", sizes=[10]), "cannot grow along 'item'"),
])
def test_bad_input_has_a_clear_message(kwargs, message):
    kw = dict(params=_model(1.0), n_sim=5, seed=1, workers=1)
    kw.update(kwargs)
    with pytest.raises(MixedModelError, match=message):
        power(_between(6, 4), "treatdrug", **kw)


def test_bad_fit_based_input(sleep_fit):
    with pytest.raises(MixedModelError, match=r"unknown effect name\(s\) \['dayz'\]"):
        power(sleep_fit, "days", n_sim=5, effect={"dayz": 1.0})
    with pytest.raises(MixedModelError, match="has 18 now"):
        power(sleep_fit, "days", n_sim=5, along="subj", sizes=[10, 20])
    with pytest.raises(MixedModelError, match="unknown coefficient 'day'"):
        power(sleep_fit, CoefficientTest("day", "z"), n_sim=5, workers=1)
    # Satterthwaite df for any LMM (random slopes too), from the engine's tests of each refit
    r = power(sleep_fit, "days", n_sim=3, seed=2, workers=1)
    assert r.table["failed"].iloc[0] == 0 and (r.simulations["df"] > 10).all()


@pytest.mark.parametrize("design, params, message", [
    (_between(20, 1), _model(1.0), "no replication"),
    (_between(6, 2), dict(formula="y ~ treat + (1 | subj)", sd={"subj": -1}, sigma=1),
     "must not be negative"),
    (_between(6, 2), dict(formula="y ~ treat + (1 | subj)", sd={"group": 1}, sigma=1),
     "'group' is not a grouping factor"),
    (_between(6, 2), dict(formula="y ~ treat + (1 | subj)", sd={"subj": 1}), "sigma"),
    (_between(6, 2), dict(formula="y ~ treat + (1 | subj)", sd={"subj": 1}, sigma=1,
                          fixef={"treat": 1}), "unknown fixed effect"),
])
def test_bad_design_input(design, params, message):
    with pytest.raises(MixedModelError, match=message):
        simulate_design(design, params, seed=1)


def test_bad_design_descriptions():
    with pytest.raises(MixedModelError, match="number of levels of 'subj' must be a positive"):
        StudyDesign(groups={"subj": 0})
    with pytest.raises(MixedModelError, match="not a grouping factor of the design"):
        StudyDesign(groups={"subj": 4}, between={"treat": ("class", ["a", "b"])})
    with pytest.raises(MixedModelError, match="at least two"):
        StudyDesign(groups={"subj": 4}, within={"cond": ["a"]})
    sc = scenario(_between(6, 2), _model(1.0))
    assert sc.fixef_names == ["(Intercept)", "treatdrug"]


def test_simulate_with_effects_returns_the_draw_behind_the_data():
    from mm_core.power_analysis import simulate_with_effects
    d = StudyDesign(groups={"subj": 50}, n_obs=6, within={"days": [0, 1, 2]})
    m = TrueModel("y ~ 1 + days + (1 + days | subj)", fixef={"(Intercept)": 1.0, "days": 0.5},
                  sd={"subj": {"(Intercept)": 2.0, "days": 0.5}},
                  corr={"subj": {("(Intercept)", "days"): 0.5}}, sigma=0.1)
    data, effects = simulate_with_effects(d, m, seed=8)
    pd.testing.assert_frame_equal(data, simulate_design(d, m, seed=8))
    b = effects["subj"]
    assert list(b.columns) == ["(Intercept)", "days"] and len(b) == 50
    # with σ small, each subject's data follow its own line: y ≈ 1 + b0 + (0.5 + b1) days
    eta = 1.0 + b.loc[data["subj"], "(Intercept)"].to_numpy() + (
        0.5 + b.loc[data["subj"], "days"].to_numpy()) * data["days"].to_numpy()
    assert np.abs(data["y"].to_numpy() - eta).max() < 0.1 * 5
    assert np.corrcoef(b["(Intercept)"], b["days"])[0, 1] == pytest.approx(0.5, abs=0.3)


def test_sizes_without_along_is_an_error():
    with pytest.raises(MixedModelError, match="sizes need along"):
        power(_between(6, 4), "treatdrug", params=_model(1.0), n_sim=5, sizes=[8])


def test_replicate_tests_are_the_engines_tests_of_the_refit():
    """Each replicate's t and F tests are ``mm_core.fixef_tests`` / ``mm_core.anova`` of the
    refitted data set (lmerTest's numbers), checked on the simulated data of replicate 0."""
    kw = dict(params=_model(1.0), n_sim=3, seed=4, workers=1)
    for test in (CoefficientTest("treatdrug", "kenward-roger"), TermTest("treat")):
        r = power(_between(6, 4), test, **kw)
        refit = fit("y ~ 1 + treat + (1 | subj)", r.data(replicate=0), reml=True)
        if isinstance(test, TermTest):
            want = mm_core.anova(refit, type=3, ddf="satterthwaite").loc["treat", ["f_value", "den_df", "p_value"]]
        else:
            want = mm_core.fixef_tests(refit, ddf="kenward-roger").loc["treatdrug", ["statistic", "df", "p_value"]]
        row = r.simulations.iloc[0]
        np.testing.assert_allclose(row[["statistic", "df", "p_value"]].astype(float), want.astype(float), rtol=1e-5)


def test_glmm_small_sample_df_is_a_clear_error():
    g = TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"treatdrug": 1.0}, sd={"subj": 0.8},
                  family="binomial")
    with pytest.raises(MixedModelError, match="apply to linear mixed models"):
        power(_between(10, 6), CoefficientTest("treatdrug"), params=g, n_sim=5, workers=1)
