"""Parametric bootstrap (mm_core.bootstrap).

Seeded reproducibility is checked within one numpy version (same seed, any number of workers or
executor -> the same table); the comparison with the published MixedModels.jl bootstrap of
dyestuff allows for Monte Carlo error on both sides. Exact draws are never pinned.
"""
from __future__ import annotations

import json
import math
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR, fit_case

from mm_core import datasets, fit
from mm_core.bootstrap import (
    BootstrapResult,
    ScalarTermCriterion,
    make_replicator,
    parametric_bootstrap,
    shortest_interval,
)
from mm_core.errors import MixedModelError, NotFittedError
from mm_core.simulate import replicate_rng, seed_entropy, simulate

PUBLISHED = json.loads((REFERENCE_DIR / "inference.json").read_text())[
    "bootstrap_dyestuff_ml_published"]


# ---------------------------------------------------------------------------- the inner loop
@pytest.mark.parametrize("case", ["dyestuff_ml", "dyestuff_reml"])
def test_scalar_criterion_equals_model_objective(case):
    m = fit_case(case)
    crit = ScalarTermCriterion(m.model)
    for t in (0.0, 0.1, m.theta[0], 2.5):
        assert crit(np.array([t])) == pytest.approx(m.model.objective([t]), rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("case", ["dyestuff_ml", "sleepstudy_ml", "penicillin_ml"])
def test_replicate_refit_matches_fresh_fit(case):
    # a replicate refit (cross-products updated for the new y, BOBYQA from θ̂, no check) reaches
    # the same optimum as a complete fit of the simulated data
    m = fit_case(case)
    rep = make_replicator(m)
    df = datasets.load(case.split("_")[0])
    resp = m.model.design.response_name
    for j in range(4):
        y = rep.sim.draw(replicate_rng(21, j))
        row = rep.refit(y)
        d = df.copy()
        d[resp] = y
        fresh = fit(m.formula, d)
        assert row[0] == pytest.approx(fresh.objective, abs=1e-5)      # objective
        assert row[1] == pytest.approx(fresh.sigma, rel=1e-4)           # σ
        p = len(m.beta)
        np.testing.assert_allclose(row[3:3 + p], fresh.beta, rtol=1e-5)
        np.testing.assert_allclose(row[3 + p:3 + 2 * p], fresh.stderror, rtol=1e-3)
        assert bool(row[2]) == fresh.is_singular


@pytest.mark.parametrize("formula", ["reaction ~ 1 + days + offset(off) + (1 | subj)",
                                     "reaction ~ 1 + days + offset(off) + (1 + days | subj)"])
def test_weights_and_offset(formula):
    df = datasets.load("sleepstudy").assign(w=np.linspace(0.5, 2, 180), off=lambda d: 0.1 * d.days)
    m = fit(formula, df, weights="w")
    rep = make_replicator(m)
    for j in range(2):
        y = rep.sim.draw(replicate_rng(5, j))
        row = rep.refit(y)
        fresh = fit(formula, df.assign(reaction=y), weights="w")
        assert row[0] == pytest.approx(fresh.objective, abs=1e-6)
        np.testing.assert_allclose(row[3:5], fresh.beta, rtol=1e-5)


def test_replicate_response_is_simulate_column():
    m = fit_case("dyestuff_ml")
    rep = make_replicator(m)
    e = seed_entropy(5)
    np.testing.assert_array_equal(rep.sim.draw(replicate_rng(e, 3)), simulate(m, 4, seed=5)[:, 3])


def test_replicator_leaves_the_fit_alone():
    for case in ("dyestuff_ml", "sleepstudy_ml"):
        m = fit_case(case)
        before = m.model.objective(m.theta)
        y = m.model.cp.y.copy()
        parametric_bootstrap(m, 20, seed=1, workers=1)
        assert m.model.objective(m.theta) == before
        np.testing.assert_array_equal(m.model.cp.y, y)


# ---------------------------------------------------------------------------- the result table
def test_schema_and_tidy_table():
    m = fit_case("sleepstudy_ml")
    b = parametric_bootstrap(m, 40, seed=2, workers=1)
    assert isinstance(b, BootstrapResult) and b.n == 40 and not b.cancelled
    assert list(b.fits.columns) == ["replicate", "objective", "sigma", "singular",
                                    "beta[(Intercept)]", "beta[days]", "se[(Intercept)]",
                                    "se[days]", "theta[1]", "theta[2]", "theta[3]"]
    assert b.fits["replicate"].tolist() == list(range(40))
    assert set(b.tidy.columns) == {"replicate", "parameter", "type", "group", "name", "value"}
    assert len(b.tidy) == 40 * 6
    kinds = b.tidy.drop_duplicates("parameter").set_index("parameter")
    assert kinds.loc["cor_days.(Intercept)|subj", "type"] == "rho"
    assert kinds.loc["sd_days|subj", ["type", "group", "name"]].tolist() == ["sigma", "subj",
                                                                           "days"]
    assert kinds.loc["sigma", "group"] == "residual"
    assert kinds.loc["days", "type"] == "beta"
    # the tidy values are the θ of the fits on the sd/cor scale
    r0 = b.fits.iloc[0]
    lam = np.array([[r0["theta[1]"], 0], [r0["theta[2]"], r0["theta[3]"]]]) * r0["sigma"]
    sd_days = math.sqrt((lam @ lam.T)[1, 1])
    v = b.tidy[(b.tidy.replicate == 0) & (b.tidy.parameter == "sd_days|subj")]["value"].item()
    assert v == pytest.approx(sd_days, rel=1e-12)
    # sanity: the simulated β are within a few standard errors of the estimates
    assert np.all(np.abs(b.values["days"] - m.beta[1]) < 6 * m.stderror["days"])
    ci = b.confint(0.9, method="equaltail")
    assert list(ci.columns) == ["type", "group", "name", "estimate", "lower", "upper"]
    assert np.all(ci["lower"] <= ci["upper"])
    assert pickle.loads(pickle.dumps(b)).fits.equals(b.fits)


def test_shortest_interval():
    v = np.array([5.0, 1.0, 2.0, 2.1, 2.2, 9.0, 2.3, np.nan])
    # 4 of the 7 finite values (ceil(0.5 · 7)), the narrowest window
    assert shortest_interval(v, 0.5) == (2.0, 2.3)
    assert shortest_interval(np.arange(10.0), 0.95) == (0.0, 9.0)
    b = parametric_bootstrap(fit_case("dyestuff_ml"), 50, seed=3, workers=1)
    ci = b.confint(0.8)
    vals = b.values["sigma"].to_numpy()
    inside = np.sum((vals >= ci.loc["sigma", "lower"]) & (vals <= ci.loc["sigma", "upper"]))
    assert inside == math.ceil(0.8 * 50)
    with pytest.raises(MixedModelError):
        b.confint(0.8, method="bca")


# ---------------------------------------------------------------------------- reproducibility
def test_same_seed_same_table_with_one_and_two_workers():
    m = fit_case("dyestuff_ml")
    one = parametric_bootstrap(m, 300, seed=77, workers=1)
    two = parametric_bootstrap(m, 300, seed=77, workers=2, chunk_size=37)
    assert two.workers == 2
    pd.testing.assert_frame_equal(one.fits, two.fits)
    pd.testing.assert_frame_equal(one.tidy, two.tidy)
    other = parametric_bootstrap(m, 300, seed=78, workers=1)
    assert not other.fits.equals(one.fits)


def test_any_executor_and_rng():
    m = fit_case("dyestuff_ml")
    ref = parametric_bootstrap(m, 60, seed=4, workers=1)
    with ThreadPoolExecutor(3) as ex:
        b = parametric_bootstrap(m, 60, seed=4, executor=ex, chunk_size=7)
    pd.testing.assert_frame_equal(ref.fits, b.fits)
    a1 = parametric_bootstrap(m, 10, rng=np.random.default_rng(9), workers=1)
    a2 = parametric_bootstrap(m, 10, rng=np.random.default_rng(9), workers=1)
    pd.testing.assert_frame_equal(a1.fits, a2.fits)


# ---------------------------------------------------------------------------- progress
def test_progress_and_cancellation_keep_finished_replicates():
    m = fit_case("dyestuff_ml")
    seen = []

    def progress(p):
        seen.append((p.done, p.elapsed))
        assert p.total == 200 and p.stage == "replicates"
        return p.done < 40                # cancel once 40 replicates are done

    b = parametric_bootstrap(m, 200, seed=6, workers=1, chunk_size=20, progress=progress)
    assert b.cancelled and b.n == 40 and b.n_requested == 200
    assert [d for d, _ in seen] == [20, 40]
    full = parametric_bootstrap(m, 200, seed=6, workers=1)
    pd.testing.assert_frame_equal(b.fits, full.fits.iloc[:40])
    counts = []
    parametric_bootstrap(m, 50, seed=6, workers=2, chunk_size=10,
                         progress=lambda p: counts.append(p.done))
    assert counts[-1] == 50 and counts == sorted(counts)


def test_cancellation_in_a_process_pool():
    m = fit_case("dyestuff_ml")
    b = parametric_bootstrap(m, 2000, seed=6, workers=2, chunk_size=50,
                             progress=lambda p: False)
    assert b.cancelled and 50 <= b.n < 2000
    assert b.n % 50 == 0


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("n", [0, -5, 1.5, "10", None, True])
def test_n_must_be_a_positive_integer(n):
    with pytest.raises(MixedModelError, match="positive integer"):
        parametric_bootstrap(fit_case("dyestuff_ml"), n, seed=1)


def test_unfitted_or_failed_model():
    m = fit_case("dyestuff_ml")
    with pytest.raises(NotFittedError, match="fit"):
        parametric_bootstrap(m.model, 10, seed=1)
    with pytest.raises(NotFittedError):
        parametric_bootstrap(None, 10, seed=1)
    failed = replace(m, optsum=replace(m.optsum, converged=False, verdict="not converged: test"))
    with pytest.raises(NotFittedError, match="did not converge"):
        parametric_bootstrap(failed, 10, seed=1)
    b = parametric_bootstrap(failed, 5, seed=1, workers=1, allow_unconverged=True)
    assert b.n == 5
    broken = replace(m, objective=float("nan"))
    with pytest.raises(NotFittedError, match="not finite"):
        parametric_bootstrap(broken, 10, seed=1)


# ---------------------------------------------------------------------------- GLMM
def test_glmm_bootstrap_reproducible_and_sane():
    m = fit_case("cbpp_binomial")
    b = parametric_bootstrap(m, 12, seed=3, workers=1)
    again = parametric_bootstrap(m, 12, seed=3, workers=1)
    pd.testing.assert_frame_equal(b.fits, again.fits)
    assert b.n_failed == 0
    assert "sigma" not in b.values.columns
    assert set(b.tidy["type"]) == {"beta", "sigma"}
    assert np.all(np.abs(b.values["(Intercept)"] - m.beta[0]) < 6 * m.stderror.iloc[0])


def test_glmm_replicate_matches_fresh_fit():
    m = fit_case("cbpp_binomial")
    rep = make_replicator(m)
    df = datasets.load("cbpp")
    for j in range(2):
        y = rep.sim.draw(replicate_rng(13, j))
        row = rep.refit(y)
        d = df.copy()
        d["incidence"] = np.rint(y * d["size"]).astype(int)
        fresh = fit(m.formula, d, family="binomial")
        assert row[0] == pytest.approx(fresh.objective, abs=1e-4)
        np.testing.assert_allclose(row[3:7], fresh.beta, rtol=1e-3, atol=1e-4)
        assert row[-1] == pytest.approx(fresh.theta[0], abs=1e-3)


# ---------------------------------------------------------------------------- published values
@pytest.mark.slow
def test_dyestuff_10000_replicates_match_published():
    m = fit_case("dyestuff_ml")
    b = parametric_bootstrap(m, 10_000, seed=1234, workers=2)
    assert b.n == 10_000 and b.n_failed == 0
    # Monte Carlo error: both fractions are estimates from 10,000 replicates, each with a
    # binomial SE of sqrt(p(1-p)/n) ≈ 0.0030, so their difference has SE ≈ 0.0042; allow 3 SE.
    # (The exact probability, P(F(5, 24) ≤ 1.2 / (1 + 5θ̂²)) for this balanced design, is 0.0998.)
    p = PUBLISHED["singular_fraction"]
    se_diff = math.sqrt(2 * p * (1 - p) / 10_000)
    assert abs(b.singular_fraction - p) < 3 * se_diff
    # The interval ends are order statistics near the 2.5 % / 97.5 % points: their Monte Carlo
    # SE is sqrt(0.025·0.975/n)/f(q) ≈ 0.0016/f(q), i.e. about 0.5 for β (sd 17.7), 0.2–0.4
    # for σ and 0.45 for σ_batch's upper end — at most ~0.8 % of the value, ~1.2 % for the
    # difference of two independent runs. 3 % is 2.5 such SEs for the noisiest end.
    ci = b.confint(0.95, method="shortest")
    names = {"(Intercept)": "(Intercept)", "sd_batch": "sd_(Intercept)|batch", "sigma": "sigma"}
    pub = PUBLISHED["shortest_95"]
    for name, lo, hi in zip(pub["names"], pub["lower"], pub["upper"]):
        ours = ci.loc[names[name]]
        if lo == 0:
            assert ours["lower"] == 0.0            # singular replicates put σ_batch at 0
        else:
            assert ours["lower"] == pytest.approx(lo, rel=0.03)
        assert ours["upper"] == pytest.approx(hi, rel=0.03)
    # the spread of the bootstrap β̂ against the published standard deviation
    assert b.values["(Intercept)"].std() == pytest.approx(PUBLISHED["beta_sd"], rel=0.03)


@pytest.mark.slow
def test_dask_local_cluster_executor():
    distributed = pytest.importorskip("distributed")
    m = fit_case("dyestuff_ml")
    ref = parametric_bootstrap(m, 400, seed=31, workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        b = parametric_bootstrap(m, 400, seed=31, executor=client.get_executor(),
                                 chunk_size=50)
    pd.testing.assert_frame_equal(ref.fits, b.fits)
