"""Quantities derived from fits for the pictures, background jobs, comparison and bootstrap views."""
from __future__ import annotations

import time

import numpy as np
import pytest

from gui.background.jobs import Job
from gui.views import derived
from gui.views.comparison import lrt
from gui.views.report import advice, headline
from gui.views.tables import coeftable_display, compare_table, fit_statistics, fmt_num, fmt_p, varcorr_display


def test_residual_frame_matches_lme4_leverage_and_cooks_distance(lmm_record, sleep_ref):
    rf = derived.residual_frame(lmm_record)
    assert len(rf) == 180
    assert {"fitted", "response", "pearson", "scaled", "leverage", "cooks distance", "standardized"} <= set(rf.columns)
    np.testing.assert_allclose(rf["leverage"], sleep_ref["leverage"], atol=1e-4)      # hatvalues(fm)
    np.testing.assert_allclose(rf["fitted"], sleep_ref["fitted"], atol=1e-3)          # fitted(fm)
    np.testing.assert_allclose(rf["scaled"], rf["response"] / lmm_record.result.sigma, rtol=1e-10)
    # cooks.distance(fm)[c(1, 2, 3, 50, 180)] in lme4
    np.testing.assert_allclose(rf["cooks distance"].to_numpy()[[0, 1, 2, 49, 179]],
                               [0.00610278639355, 0.0410024722969, 0.222750275631, 0.420169670505,
                                0.0128255949989], rtol=1e-4)
    # the leverage plot's y axis and Cook's contours are on the engine's scale
    h, p = rf["leverage"], len(lmm_record.result.fixef)
    np.testing.assert_allclose(rf["standardized"] ** 2 * h / (p * (1 - h)), rf["cooks distance"], rtol=1e-10)
    without = derived.residual_frame(lmm_record, leverage=False)
    assert without["leverage"].isna().all()
    np.testing.assert_allclose(without["standardized"], rf["scaled"], rtol=1e-10)


def test_population_line_is_x_beta(lmm_record, sleepstudy):
    b = lmm_record.result.fixef
    frame = derived.group_frame(lmm_record, "subj", "days")
    assert list(frame.columns) == ["x", "y", "group", "conditional", "population"]
    np.testing.assert_allclose(frame["population"], b["(Intercept)"] + b["days"] * sleepstudy["days"].to_numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(frame["y"], sleepstudy["reaction"])
    np.testing.assert_allclose(frame["conditional"], lmm_record.result.fitted)


def test_no_pooling_estimates_are_per_subject_least_squares(lmm_record, sleepstudy):
    s = derived.shrinkage(lmm_record, "subj")
    un = s.unpenalized
    b = lmm_record.result.fixef
    for subj, d in sleepstudy.groupby("subj", observed=True):
        slope, icpt = np.polyfit(d["days"], d["reaction"], 1)
        np.testing.assert_allclose(un.loc[subj, "(Intercept)"] + b["(Intercept)"], icpt, rtol=1e-8)
        np.testing.assert_allclose(un.loc[subj, "days"] + b["days"], slope, rtol=1e-8)
    # shrinkage: the conditional modes are closer to zero than the no-pooling estimates
    assert (s.conditional.abs().sum() < un.abs().sum()).all()
    sizes = derived.group_sizes(lmm_record, "subj")
    assert len(sizes) == 18 and (sizes == 10).all()


def test_r2_and_icc_match_the_reference(lmm_record):
    ve = derived.variance_explained(lmm_record)
    # Nakagawa & Schielzeth R² with random-slope variance averaged over the observed covariates
    # (tests/reference/inference.json, the reference of tests/core/test_diagnostics.py)
    assert ve.r2["marginal"] == pytest.approx(0.28761588940202, rel=1e-4)
    assert ve.r2["conditional"] == pytest.approx(0.792758573300399, rel=1e-4)
    assert 0 < ve.icc.loc["total", "adjusted"] < 1 and not ve.latent


def test_simulated_residuals_are_reproducible_and_uniform_for_a_correct_model(lmm_record):
    a = derived.simulated_residuals(lmm_record, n_sim=200, seed=7)
    b = derived.simulated_residuals(lmm_record, n_sim=200, seed=7)
    np.testing.assert_array_equal(a.residuals, b.residuals)
    assert a.residuals.shape == (180,) and ((a.residuals >= 0) & (a.residuals <= 1)).all()
    assert set(a.p_values()) == {"uniformity", "dispersion", "outliers"}      # no zero inflation for y > 0
    assert a.p_values()["uniformity"] > 0.01
    # the dispersion histogram shows the parts of the engine's dispersion statistic
    assert a.spread_sim.shape == (200,)
    assert a.spread_obs / a.spread_sim.mean() == pytest.approx(a.tests.loc["dispersion", "statistic"])
    u = derived.simulated_residuals(lmm_record, n_sim=100, seed=1, conditional=False)
    assert not u.conditional and u.residuals.shape == (180,)


def test_glmm_derived(glmm_record):
    sim = derived.simulated_residuals(glmm_record, n_sim=100, seed=3)
    assert sim.residuals.shape == (56,) and "zero_inflation" in sim.tests.index
    assert sim.spread_obs / sim.spread_sim.mean() == pytest.approx(sim.tests.loc["dispersion", "statistic"])
    rf = derived.residual_frame(glmm_record)
    assert len(rf) == 56 and "pearson" in rf and "scaled" not in rf
    h, p = rf["leverage"], len(glmm_record.result.fixef)
    np.testing.assert_allclose(rf["standardized"] ** 2 * h / (p * (1 - h)), rf["cooks distance"], rtol=1e-10)
    ve = derived.variance_explained(glmm_record)                    # latent scale, π²/3 for the logit link
    assert ve.latent and 0 < ve.r2["marginal"] < ve.r2["conditional"] < 1
    un = derived.shrinkage(glmm_record, "herd").unpenalized
    assert un.shape == (15, 1)


# ------------------------------------------------------------------ jobs
def test_job_progress_cancel_and_errors():
    def slow(progress):
        for i in range(200):
            if progress(i + 1, 200) is False:
                from mm_core.errors import FitCancelled

                raise FitCancelled("stopped")
            time.sleep(0.01)
        return "finished"

    j = Job(slow, kind="bootstrap", label="test", total=200).start()
    time.sleep(0.2)
    assert j.running and 0 < j.fraction() < 1
    j.cancel()
    j.wait(5)
    assert j.status == "cancelled"
    j = Job(lambda p: 1 / 0, kind="fit", label="boom").run_here()
    assert j.status == "error" and "ZeroDivisionError" in j.error_detail
    assert "Traceback" not in j.error_detail
    j = Job(lambda p: p(type("I", (), {"evaluations": 5, "objective": 12.5})()) and "ok", kind="fit",
            label="fit").run_here()
    assert j.result == "ok" and j.snapshot()["evaluations"] == 5
    assert "5 evaluations" in j.describe() and "objective 12.5000" in j.describe()


def test_worker_process_fit_and_cancel(sleepstudy):
    from gui.background import workers
    from mm_core import datasets

    j = Job(workers.in_process("fit", "reaction ~ 1 + days + (1 + days | subj)", sleepstudy, {}), kind="fit",
            label="fit").start()
    assert j.wait(120) and j.status == "done", j.error_detail
    assert j.result.sigma == pytest.approx(25.5918, abs=1e-3)
    j = Job(workers.in_process("fit", "reaction ~ 1 + dayz + (1 | subj)", sleepstudy, {}), kind="fit",
            label="fit").start()
    j.wait(120)
    assert j.status == "error" and "dayz" in str(j.error)
    ins = datasets.load("insteval")
    j = Job(workers.in_process("fit", "y ~ 1 + service + (1 | s) + (1 | d)", ins, {}), kind="fit",
            label="fit").start()
    deadline = time.time() + 60
    while not j.snapshot().get("evaluations") and time.time() < deadline:
        time.sleep(0.2)
    j.cancel()
    assert j.wait(30)
    assert j.status == "cancelled"


# ------------------------------------------------------------------ comparison, tables, report
def test_likelihood_ratio_test_of_two_fits(lmm_record):
    from dataclasses import replace

    from gui import engine

    res0 = engine.fit("reaction ~ 1 + days + (1 | subj)", lmm_record.data)
    rec0 = replace(lmm_record, id=2, formula="reaction ~ 1 + days + (1 | subj)", result=res0)
    out = lrt(lmm_record, rec0)                           # order does not matter
    t = out.table
    assert list(t["fit"]) == ["fit 2", "fit 1"]
    assert t["chisq"].iloc[1] == pytest.approx(42.14, abs=0.01)   # anova(fm0, fm1)
    assert int(t["df"].iloc[1]) == 2
    assert "fits significantly better" in out.conclusion
    other = replace(rec0, data_key="other")
    assert lrt(lmm_record, other).table is None


def test_display_tables(lmm_record):
    res = lmm_record.result
    ct = coeftable_display(res.coeftable)
    assert list(ct.columns[:4]) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
    assert ct.loc["days", ""] == "***"
    vc = varcorr_display(res.varcorr)
    assert vc["Group"].tolist() == ["subj", "", "Residual"]
    assert vc.loc[1, "Corr (Intercept)"] == "+0.081"
    fs = fit_statistics(res).set_index("statistic")["value"]
    assert fs["Log-likelihood"] == "-875.9697" and fs["AIC"] == "1,763.9393"
    assert fmt_num(25.591809) == "25.59" and fmt_num(1751.939) == "1752" and fmt_p(1e-9) == "< 0.0001"
    comp = compare_table([lmm_record])
    assert comp.loc[0, "method"] == "ML" and comp.loc[0, "nobs"] == 180
    assert {label: v for label, v, _ in headline(res)}["Residual SD σ"] == "25.59"
    assert advice(res)[0][0] == "success"


def test_singular_fit_advice():
    from gui import engine
    from mm_core import datasets

    res = engine.fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff2"))
    items = advice(res)
    assert any("singular" in text.lower() and "What to do" in text for _, text in items)


def test_bootstrap_view(lmm_record):
    from gui import engine
    from gui.shell import state
    from gui.views import bootstrap_view

    b = engine.parametric_bootstrap(lmm_record.result, 40, seed=1)
    rec = state.BootRecord(fit_id=1, n=40, seed=1, result=b)
    v = bootstrap_view.view(rec)
    assert len(v.samples) == 40 and "sigma" in v.samples.columns
    assert v.estimates["sigma"] == pytest.approx(lmm_record.result.sigma)
    lo, hi = v.intervals["sigma"]
    assert lo < lmm_record.result.sigma < hi
    # the engine's intervals, at the page's level
    ci = b.confint(0.9, "equaltail")
    t = bootstrap_view.view(rec, level=0.9).table
    np.testing.assert_allclose(t["equal-tail lower"], ci["lower"])
    np.testing.assert_allclose(t["shortest upper"], b.confint(0.9)["upper"])
    assert "singular" in v.singular_text
    allrep = bootstrap_view.replicates_table(rec)
    assert len(allrep) == 40 and "objective" in allrep and "sigma" in allrep
