"""Simulation-based scaled quantile residuals (DHARMa's) and the tests on them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from ..simulate import (
    ResponseSimulator,
    check_count,
    check_result,
    conditional_eta,
    replicate_rng,
    result_family,
    seed_entropy,
)

__all__ = ["QuantileResiduals", "SimulationTest", "quantile_residuals"]


@dataclass(frozen=True)
class SimulationTest:
    """A hypothesis test.

    Fields
    ------
    name : str
    statistic : float
    p_value : float
    alternative : str
    description : str
        What the statistic is, in words.
    """

    name: str
    statistic: float
    p_value: float
    alternative: str
    description: str


def _pvalue_sim(simulated: np.ndarray, observed: float, alternative: str) -> float:
    """DHARMa's ``getP``: the simulated distribution's tail beyond the observed value."""
    ge = float(np.mean(simulated >= observed))
    le = float(np.mean(simulated <= observed))
    if alternative == "greater":
        return ge
    if alternative == "less":
        return le
    return min(1.0, 2.0 * min(ge, le))


@dataclass(frozen=True, eq=False)
class QuantileResiduals:
    """Scaled quantile residuals from simulations of the fitted model (DHARMa's).

    Fields
    ------
    residuals : ndarray (n,)
        The fraction of simulated responses below the observed one (randomized between the
        fractions below and at-or-below it for integer responses: the probability integral
        transform). Uniform on (0, 1) when the model is right.
    simulated : ndarray (n, n_sim)
        The simulated responses.
    observed : ndarray (n,)
        The response (counts for binomial responses with trials).
    fitted : ndarray (n,)
        The fitted means the spread is measured around.
    integer : bool
        Whether the response is integer (PIT randomization used).
    conditional : bool
        Simulations conditional on the fitted random effects (True) or with new ones.
    seed : int

    Tests: :attr:`uniformity` (Kolmogorov–Smirnov), :attr:`dispersion` (variance of the
    residuals against the simulated ones), :attr:`outliers` (observations outside every
    simulation, binomial test), :attr:`zero_inflation` (observed against simulated zeros).
    """

    residuals: np.ndarray
    simulated: np.ndarray
    observed: np.ndarray
    fitted: np.ndarray
    integer: bool
    conditional: bool
    seed: int

    @property
    def n_sim(self) -> int:
        return self.simulated.shape[1]

    @cached_property
    def uniformity(self) -> SimulationTest:
        """Kolmogorov–Smirnov test of the residuals against U(0, 1) (DHARMa ``testUniformity``)."""
        ks = stats.kstest(self.residuals, "uniform")
        return SimulationTest("uniformity", float(ks.statistic), float(ks.pvalue), "two-sided",
                          "largest distance between the residuals' distribution and U(0, 1)")

    @cached_property
    def dispersion(self) -> SimulationTest:
        """Observed against simulated spread around the fitted means (DHARMa ``testDispersion``).

        The statistic is sd(y − μ̂) / mean over simulations of sd(y* − μ̂): above 1 means
        overdispersion, below 1 underdispersion.
        """
        spread_obs = float(np.std(self.observed - self.fitted, ddof=1))
        spread_sim = np.std(self.simulated - self.fitted[:, None], axis=0, ddof=1)
        ratio = spread_obs / float(np.mean(spread_sim))
        return SimulationTest("dispersion", ratio, _pvalue_sim(spread_sim, spread_obs, "two-sided"),
                          "two-sided", "observed spread around the fitted values ÷ simulated")

    @cached_property
    def outliers(self) -> SimulationTest:
        """Binomial test of the number of simulation outliers (DHARMa ``testOutliers``, binomial).

        An outlier is a residual within 1/(n_sim + 1) of 0 or 1: an observation below or above
        all simulations, which under the model happens with probability 2/(n_sim + 1).
        """
        edge = 1.0 / (self.n_sim + 1)
        k = int(np.sum(self.residuals < edge) + np.sum(self.residuals > 1.0 - edge))
        n = len(self.residuals)
        p0 = 2.0 * edge
        bt = stats.binomtest(k, n, p0, alternative="two-sided")
        return SimulationTest("outliers", k / n, float(bt.pvalue), "two-sided",
                          f"fraction of observations outside all simulations (expected {p0:.3g})")

    @cached_property
    def zero_inflation(self) -> SimulationTest:
        """Observed zeros against simulated zeros (DHARMa ``testZeroInflation``)."""
        obs = float(np.sum(self.observed == 0))
        sim = np.sum(self.simulated == 0, axis=0).astype(float)
        m = float(np.mean(sim))
        ratio = obs / m if m > 0 else (math.inf if obs > 0 else math.nan)
        return SimulationTest("zero_inflation", ratio, _pvalue_sim(sim, obs, "two-sided"),
                          "two-sided", "observed ÷ mean simulated number of zeros")

    def tests(self) -> pd.DataFrame:
        """All four tests as a table (``statistic, p_value, description``)."""
        rows = [self.uniformity, self.dispersion, self.outliers, self.zero_inflation]
        return pd.DataFrame({"statistic": [t.statistic for t in rows],
                             "p_value": [t.p_value for t in rows],
                             "description": [t.description for t in rows]},
                            index=pd.Index([t.name for t in rows], name="test"))


def quantile_residuals(result, n_sim: int = 250, *, seed=None, rng=None,
                       conditional: bool = True) -> QuantileResiduals:
    """Simulation-based scaled quantile residuals, as the DHARMa package computes them.

    Parameters
    ----------
    result : MixedModelResult
        An LMM or GLMM.
    n_sim : int
        Simulated responses per observation.
    seed, rng
        Column j of the simulations uses child j of ``SeedSequence(seed)`` (see
        :func:`mm_core.simulate.simulate`); the PIT randomization has its own child.
    conditional : bool
        Simulate given the fitted random effects (default), or with new random effects
        (DHARMa's default for lme4, ``re.form = NA``-style unconditional simulation).

    Returns
    -------
    QuantileResiduals

    Notes
    -----
    Equivalent to ``DHARMa::simulateResiduals(m, n = n_sim)`` (with ``re.form = NULL`` when
    ``conditional``); residual i is ``#{y*ᵢ < yᵢ}/n_sim`` for continuous responses and uniform
    between ``#{y*ᵢ < yᵢ}/n_sim`` and ``#{y*ᵢ ≤ yᵢ}/n_sim`` for integer ones.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("cbind(incidence, size - incidence) ~ 1 + factor(period) + (1 | herd)",
    ...         datasets.load("cbpp"), family="binomial")
    >>> qr = quantile_residuals(m, 100, seed=1)
    >>> qr.residuals.shape, 0 <= qr.uniformity.p_value <= 1
    ((56,), True)
    """
    check_result(result)
    n_sim = check_count(n_sim, "n_sim")
    entropy = seed_entropy(seed, rng)
    sim = ResponseSimulator.from_result(result)
    eta = conditional_eta(result) if conditional else None
    n = sim.n
    Y = np.empty((n, n_sim))
    for j in range(n_sim):
        Y[:, j] = sim.draw(replicate_rng(entropy, j), eta)
    family = result_family(result)
    observed = np.asarray(result.y, float)
    fitted = np.asarray(result.fitted, float)
    integer = family is not None and family.discrete
    if integer and family.uses_trials:
        trials = sim.trials.astype(float)
        Y = np.rint(Y * trials[:, None])
        observed = np.rint(observed * trials)
        fitted = fitted * trials
    below = np.mean(observed[:, None] > Y, axis=1)
    at_or_below = np.mean(observed[:, None] >= Y, axis=1)
    if integer:
        u = np.random.Generator(np.random.PCG64(
            np.random.SeedSequence(entropy, spawn_key=(1 << 40,)))).uniform(size=n)
        res = np.where(at_or_below > below, below + u * (at_or_below - below), below)
    else:
        res = below
    return QuantileResiduals(residuals=res, simulated=Y, observed=observed, fitted=fitted,
                             integer=integer, conditional=conditional, seed=entropy)
