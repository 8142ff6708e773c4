"""Simulation of responses from fitted models (mm_core.simulate).

Tests check shapes, seeded reproducibility within one numpy version and the distribution's
moments; they never pin exact draws across library versions.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import fit_case

from mm_core import datasets, fit
from mm_core.errors import MixedModelError, NotFittedError
from mm_core.simulate import ResponseSimulator, replicate_rng, seed_entropy, simulate


def test_shape_and_seed_reproducibility():
    m = fit_case("sleepstudy_ml")
    a = simulate(m, 4, seed=11)
    assert a.shape == (180, 4)
    np.testing.assert_array_equal(a, simulate(m, 4, seed=11))
    assert not np.allclose(a, simulate(m, 4, seed=12))
    # column j does not depend on how many columns are drawn
    np.testing.assert_array_equal(a[:, :2], simulate(m, 2, seed=11))


def test_generator_as_seed():
    m = fit_case("dyestuff_ml")
    a = simulate(m, 3, rng=np.random.default_rng(5))
    b = simulate(m, 3, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_lmm_moments():
    # y = Xβ + σ(ZΛu + ε): the mean over many draws is Xβ, and the covariance of two
    # observations of the same batch is σ²θ² (dyestuff: one scalar term)
    m = fit_case("dyestuff_ml")
    Y = simulate(m, 4000, seed=3)
    beta, sigma, theta = m.beta[0], m.sigma, m.theta[0]
    assert abs(Y.mean() - beta) < 4 * np.sqrt((sigma ** 2 * (1 + 5 * theta ** 2)) / (6 * 4000))
    total_var = sigma ** 2 * (1 + theta ** 2)
    assert np.var(Y[0]) == pytest.approx(total_var, rel=0.08)
    cov_same = np.cov(Y[0], Y[1])[0, 1]         # rows 0 and 1 are in batch A
    assert cov_same == pytest.approx(sigma ** 2 * theta ** 2, rel=0.15)
    cov_diff = np.cov(Y[0], Y[29])[0, 1]        # different batches: independent
    assert abs(cov_diff) < 0.1 * total_var


def test_use_u_keeps_conditional_modes():
    m = fit_case("sleepstudy_ml")
    Y = simulate(m, 3000, seed=2, use_u=True)
    # conditional simulation: mean = fitted values, residual sd = σ
    assert np.abs(Y.mean(axis=1) - m.fitted).max() < 5 * m.sigma / np.sqrt(3000)
    assert np.std(Y - m.fitted[:, None]) == pytest.approx(m.sigma, rel=0.02)


def test_new_parameters():
    m = fit_case("dyestuff_ml")
    Y = simulate(m, 2000, seed=1, beta=[0.0], theta=[0.0], sigma=1.0)
    assert abs(Y.mean()) < 0.05
    assert np.std(Y) == pytest.approx(1.0, rel=0.03)


def test_binomial_with_trials():
    m = fit_case("cbpp_binomial")
    Y = simulate(m, 50, seed=4)
    trials = m.prior_weights
    counts = Y * trials[:, None]
    np.testing.assert_allclose(counts, np.rint(counts), atol=1e-9)
    assert Y.min() >= 0 and Y.max() <= 1
    # conditional on the fitted random effects the mean proportion is the fitted one
    Yc = simulate(m, 4000, seed=4, use_u=True)
    se = np.sqrt(m.fitted * (1 - m.fitted) / trials / 4000)
    assert np.all(np.abs(Yc.mean(axis=1) - m.fitted) < 5 * se + 1e-12)


def test_poisson_counts():
    df = datasets.load("grouseticks")
    m = fit("ticks ~ 1 + year + (1 | location)", df, family="poisson")
    Y = simulate(m, 20, seed=9)
    assert Y.shape == (len(df), 20)
    np.testing.assert_array_equal(Y, np.rint(Y))
    assert Y.min() >= 0


def test_simulator_matches_simulate_columns():
    m = fit_case("dyestuff_ml")
    sim = ResponseSimulator.from_result(m)
    entropy = seed_entropy(8)
    np.testing.assert_array_equal(sim.draw(replicate_rng(entropy, 2)), simulate(m, 3, seed=8)[:, 2])


@pytest.mark.parametrize("n", [0, -1, 2.5, "3", True, None])
def test_bad_n(n):
    with pytest.raises(MixedModelError, match="positive integer"):
        simulate(fit_case("dyestuff_ml"), n, seed=1)


def test_bad_seed_and_unfitted():
    m = fit_case("dyestuff_ml")
    with pytest.raises(MixedModelError, match="seed"):
        simulate(m, 1, seed=-3)
    with pytest.raises(MixedModelError, match="either seed or rng"):
        simulate(m, 1, seed=1, rng=np.random.default_rng(1))
    with pytest.raises(NotFittedError):
        simulate(m.model, 1, seed=1)
