"""What the mixed-model code asks of a family: one spelling, PIRLS path, simulation,
profiled dispersion, latent variance, method label."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

import mm_core
from mm_core.errors import MixedModelError
from mm_core.families import family_name, get_family


@pytest.mark.parametrize("alias,name", [("gamma", "Gamma"), ("GAMMA", "Gamma"),
                                        ("inverse_gaussian", "inverse.gaussian"),
                                        ("InverseGaussian", "inverse.gaussian"),
                                        ("bernoulli", "binomial"), ("normal", "gaussian")])
def test_one_spelling_out(alias, name):
    assert family_name(alias) == name == family_name(name)


def test_kernel_paths_and_flags():
    assert get_family("binomial").kernel_kind == "logit"
    assert get_family("binomial", "probit").kernel_kind == "generic"
    assert get_family("poisson").kernel_kind == "log"
    assert get_family("poisson", "sqrt").kernel_kind == "generic"
    assert get_family("gaussian").is_linear and not get_family("gaussian", "log").is_linear
    assert [get_family(n).discrete for n in ("binomial", "poisson", "gaussian", "gamma")] == [
        True, True, False, False]
    assert get_family("binomial").uses_trials and not get_family("poisson").uses_trials


@pytest.mark.parametrize("name", ["gaussian", "gamma", "inverse_gaussian"])
def test_profiled_dispersion_minimises_the_objective(name):
    """φ̂ of profile_dispersion is the minimiser of dispersion_objective, with the same value."""
    fam = get_family(name, "log")
    rng = np.random.default_rng(7)
    y = rng.gamma(3.0, 1.0, size=40)
    pw = rng.integers(1, 4, size=40).astype(float)
    c = fam.dispersion_constants(y, pw)
    P = 12.5
    phi, val = fam.profile_dispersion(P, c)
    assert val == pytest.approx(fam.dispersion_objective(P, phi, c), rel=1e-12)
    r = optimize.minimize_scalar(lambda t: fam.dispersion_objective(P, math.exp(t), c),
                                 bounds=(-20, 20), method="bounded",
                                 options={"xatol": 1e-10})
    assert math.log(phi) == pytest.approx(r.x, abs=1e-5)


def test_families_without_dispersion_refuse_to_profile_it():
    with pytest.raises(MixedModelError, match="no dispersion"):
        get_family("poisson").profile_dispersion(1.0, {})


def test_sample_means_and_variances():
    rng = np.random.default_rng(1)
    mu = np.full(200_000, 2.0)
    for name, phi, var in [("poisson", 1.0, 2.0), ("gamma", 0.5, 0.5 * 4.0),
                           ("inverse_gaussian", 0.1, 0.1 * 8.0), ("gaussian", 0.3, 0.3)]:
        y = get_family(name).sample(rng, mu, phi=phi)
        assert y.mean() == pytest.approx(2.0, rel=0.01), name
        assert y.var() == pytest.approx(var, rel=0.03), name
    p = get_family("binomial").sample(rng, np.full(100_000, 0.3), trials=np.full(100_000, 4))
    assert set(np.unique(p * 4)) <= {0, 1, 2, 3, 4} and p.mean() == pytest.approx(0.3, rel=0.01)


def test_latent_variances():
    eta = np.zeros(3)
    assert get_family("binomial").latent_variance(eta, 0.0, None)[0] == pytest.approx(math.pi ** 2 / 3)
    assert get_family("binomial", "probit").latent_variance(eta, 0.0, None)[0] == 1.0
    assert get_family("poisson").latent_variance(eta, 0.0, None)[0] == pytest.approx(math.log(2.0))
    assert get_family("gamma", "log").latent_variance(eta, 0.0, 0.5)[0] == pytest.approx(math.log1p(0.25))
    with pytest.raises(MixedModelError, match="binomial cauchit"):
        get_family("binomial", "cauchit").latent_variance(eta, 0.0, None)
    with pytest.raises(MixedModelError, match="R² is not available for the Gamma family"):
        get_family("gamma").latent_variance(eta, 0.0, 0.5)


def test_method_label_and_fast_is_n_agq_zero():
    cbpp = mm_core.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    fast = mm_core.fit(f, cbpp, family="binomial", fast=True)
    zero = mm_core.fit(f, cbpp, family="binomial", n_agq=0)
    assert fast.n_agq == zero.n_agq == 0 and fast.model.fast and zero.model.fast
    assert fast.objective == zero.objective and fast.method == zero.method == "fast"
    assert mm_core.fit(f, cbpp, family="binomial").method == "Laplace"
    agq = mm_core.fit(f, cbpp, family="binomial", n_agq=9)
    assert agq.method == "AGQ(9)" and agq.method_description == "adaptive Gauss–Hermite, 9 points"
    sleep = mm_core.datasets.load("sleepstudy")
    assert mm_core.fit("reaction ~ days + (1 | subj)", sleep).method == "ML"
    assert mm_core.fit("reaction ~ days + (1 | subj)", sleep, reml=True).method == "REML"
