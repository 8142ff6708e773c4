"""Model checking: residuals, simulation-based quantile residuals, influence, R², ICC, and the
data behind shrinkage, caterpillar and normal-quantile caterpillar plots.

Everything here is a pure function of a fitted result returning numbers (arrays, tables or
small frozen records); the app draws them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from .errors import MixedModelError
from .simulate import (
    ResponseSimulator,
    check_count,
    check_result,
    conditional_eta,
    fixef_columns,
    replicate_rng,
    result_family,
    seed_entropy,
)

__all__ = [
    "QuantileResiduals",
    "ShrinkageData",
    "SimulationTest",
    "caterpillar",
    "cooks_distance",
    "icc",
    "leverage",
    "ppoints",
    "qq_caterpillar",
    "quantile_residuals",
    "r_squared",
    "residuals",
    "shrinkage",
]


# ============================================================================ residuals
def residuals(result, kind: str = "response", **quantile_options) -> np.ndarray:
    """Residuals of a fit.

    Parameters
    ----------
    result : MixedModelResult
    kind : {"response", "pearson", "deviance", "working", "scaled", "quantile"}
        lme4's ``residuals(m, type = kind)`` (``scaled``: Pearson residuals divided by σ, LMMs),
        or simulation-based scaled quantile residuals (:func:`quantile_residuals`, uniform on
        (0, 1) under the model).
    **quantile_options
        ``n_sim``, ``seed``, ``conditional`` for ``kind="quantile"``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> residuals(m, "pearson").shape
    (180,)
    """
    check_result(result)
    if kind == "quantile":
        return quantile_residuals(result, **quantile_options).residuals
    if quantile_options:
        raise MixedModelError(f"options {sorted(quantile_options)} apply to kind='quantile' only")
    if result.is_lmm:
        # as lme4: Pearson residuals are √w (y − fitted), ``scaled`` divides them by σ;
        # working and deviance residuals equal the (weighted) response residuals
        r = np.asarray(result.residuals, float)
        w = result.prior_weights
        sw = np.sqrt(w) if w is not None else 1.0
        if kind == "response":
            return r
        if kind in ("pearson", "working", "deviance"):
            return r * sw
        if kind == "scaled":
            return r * sw / result.sigma
        raise MixedModelError(f"unknown residual type {kind!r}; use response, pearson, working, "
                              "deviance or scaled")
    model = result.model
    y, mu, pw, fam = model.y, np.asarray(result.fitted, float), model.pw, model.family
    if kind == "response":
        return y - mu
    if kind == "pearson":
        return (y - mu) * np.sqrt(pw / fam.variance(mu))
    if kind == "working":
        return (y - mu) / fam.mu_eta(fam.linkfun(mu))
    if kind == "deviance":
        d = np.sqrt(np.maximum(fam.dev_resids(y, mu, pw), 0.0))
        return np.where(y > mu, d, -d)
    raise MixedModelError(f"unknown residual type {kind!r}; use response, pearson, working or "
                          "deviance")


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


# ============================================================================ influence
def leverage(result) -> np.ndarray:
    """Diagonal of the hat matrix of each observation (lme4's ``hatvalues``).

    The same as ``result.leverage`` (computed once and cached by the result).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> leverage(m).shape
    (30,)
    """
    check_result(result)
    return np.asarray(result.leverage, float)


def cooks_distance(result) -> np.ndarray:
    """Cook's distance of each observation, as lme4's ``cooks.distance``.

    ``Dᵢ = (rᵢ / (1 − hᵢ))² hᵢ / (φ p)`` with Pearson residuals rᵢ, leverages hᵢ
    (``result.leverage``), dispersion φ (σ² for LMMs, 1 for binomial and Poisson) and p the
    rank of X. Not-a-number where hᵢ = 1.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> round(float(cooks_distance(m)[2]), 4)
    0.2228
    """
    check_result(result)
    h = leverage(result)
    r = residuals(result, "pearson")
    phi = result.sigma ** 2 if result.sigma is not None else 1.0
    p = len(result.fixef)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (r / (1.0 - h)) ** 2 * h / (phi * p)
    d[~np.isfinite(d)] = np.nan
    return d


# ============================================================================ R² and ICC
def _variance_parts(result) -> dict:
    """Fixed-effects variance, per-group random-effects variance, residual variance (latent)."""
    design = result.model.design
    X = design.X[:, fixef_columns(design, list(result.fixef.index))]
    eta_f = X @ result.beta
    var_f = float(np.var(eta_f, ddof=1)) if len(eta_f) > 1 else 0.0
    from .intervals import covariance_layout
    layout = covariance_layout(design)
    by_group = {t.group: t for t in design.reterms}
    has_scale = result.sigma is not None
    s2 = result.sigma ** 2 if has_scale else 1.0
    var_r = {}
    for term in layout:
        t = by_group[term.group]
        lam = term.lam(result.theta)
        cov = s2 * lam @ lam.T
        Z = t.z.T                                            # (n, p) columns of the term
        # mean over observations of zᵢᵀ Σ zᵢ (Johnson 2014 for random slopes)
        var_r[term.group] = float(np.mean(np.einsum("ni,ij,nj->n", Z, cov, Z)))
    family = result_family(result)
    if family is None:
        var_e, how = s2, "residual variance σ²"
    else:
        var_e, how = family.latent_variance(eta_f, sum(var_r.values()), result.sigma)
    return {"fixed": var_f, "random": var_r, "residual": var_e, "residual_kind": how}


def r_squared(result) -> pd.Series:
    """Marginal and conditional R² (Nakagawa & Schielzeth 2013; Johnson 2014).

    ``R²_m = σ²_f / (σ²_f + Σσ²_r + σ²_e)`` and ``R²_c = (σ²_f + Σσ²_r) / (…)`` with σ²_f the
    variance of Xβ̂, σ²_r per grouping factor the mean over observations of zᵢᵀΣzᵢ (random
    slopes averaged over the observed covariates) and σ²_e the residual variance (LMM) or the
    latent-scale distribution variance (GLMM: π²/3 for logit, 1 for probit, ln(1 + 1/λ) for
    Poisson/log).

    Returns
    -------
    pandas.Series
        ``marginal``, ``conditional``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> r_squared(m).round(4).tolist()
    [0.2876, 0.7928]
    """
    check_result(result)
    v = _variance_parts(result)
    vr = sum(v["random"].values())
    total = v["fixed"] + vr + v["residual"]
    return pd.Series({"marginal": v["fixed"] / total, "conditional": (v["fixed"] + vr) / total},
                     name="r_squared")


def icc(result) -> pd.DataFrame:
    """Intra-class correlations per grouping factor, and in total.

    ``adjusted``: σ²_r / (Σσ²_r + σ²_e), the share of the variance not explained by the fixed
    effects that is due to the grouping factor (for a random intercept only, the correlation of
    two observations of the same level); ``conditional``: σ²_r / (σ²_f + Σσ²_r + σ²_e). The
    variance components are those of :func:`r_squared`.

    Returns
    -------
    pandas.DataFrame
        Index: grouping factors and ``"total"``; columns ``variance, adjusted, conditional``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> round(float(icc(m).loc["batch", "adjusted"]), 4)
    0.3616
    """
    check_result(result)
    v = _variance_parts(result)
    vr = v["random"]
    tot_r = sum(vr.values())
    rows = {g: val for g, val in vr.items()}
    rows["total"] = tot_r
    df = pd.DataFrame({"variance": pd.Series(rows)})
    df["adjusted"] = df["variance"] / (tot_r + v["residual"])
    df["conditional"] = df["variance"] / (v["fixed"] + tot_r + v["residual"])
    df.index.name = "group"
    return df


# ============================================================================ shrinkage
@dataclass(frozen=True, eq=False)
class ShrinkageData:
    """Conditional modes next to per-level unpenalized estimates, for one grouping factor.

    Fields
    ------
    group : str
    conditional : pandas.DataFrame
        Conditional modes (levels × columns), as ``result.ranef[group]``.
    unpenalized : pandas.DataFrame
        Per-level estimates without the penalty (no pooling), same shape; NaN where a level's
        data cannot determine them.
    """

    group: str
    conditional: pd.DataFrame
    unpenalized: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Long table: ``level, name, conditional, unpenalized``."""
        c = self.conditional.stack().rename("conditional")
        u = self.unpenalized.stack().rename("unpenalized")
        out = pd.concat([c, u], axis=1).reset_index()
        out.columns = ["level", "name", "conditional", "unpenalized"]
        return out


def shrinkage(result, group: str | None = None, *, max_iter: int = 50) -> ShrinkageData:
    """Data of a shrinkage plot: conditional modes and per-level unpenalized estimates.

    For each level of ``group`` the unpenalized estimate is the (weighted, for GLMMs iteratively
    reweighted) least-squares fit of that level's observations on the term's columns, with the
    fixed effects and the other grouping factors' random effects held at their estimates as an
    offset: what the random effects would be with no pooling across levels. The distance to the
    conditional mode is the shrinkage.

    Parameters
    ----------
    result : MixedModelResult
    group : str, optional
        Grouping factor (default: the first in the formula).
    max_iter : int
        IRLS iterations for GLMMs.

    Returns
    -------
    ShrinkageData

    Notes
    -----
    The analogue of MixedModelsMakie's ``shrinkageplot`` data.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> s = shrinkage(m, "subj")
    >>> s.unpenalized.shape
    (18, 2)
    """
    check_result(result)
    term = _term(result, group)
    design = result.model.design
    others = {t.group: None for t in design.reterms if t.group != term.group}
    offset = conditional_eta(result, others)     # everything but this term's random effects
    family = result_family(result)
    y = np.asarray(result.y, float)
    pw = result.prior_weights
    w0 = np.ones_like(y) if pw is None else np.asarray(pw, float)
    est = _per_level_fit(term, y, offset, w0, family, result.ranef[term.group].to_numpy(),
                         max_iter)
    ref = result.ranef[term.group]
    return ShrinkageData(term.group, ref.copy(),
                         pd.DataFrame(est, index=ref.index, columns=ref.columns))


def _per_level_fit(term, y, offset, w0, family, start, max_iter) -> np.ndarray:
    """Per-level (IR)LS of y on the term's columns with an offset; NaN where not determined."""
    L, p = term.nlevels, term.ncols
    Z = term.z.T
    refs = term.refs
    b = start.copy()
    converged = np.zeros(L, bool)
    for _ in range(max_iter if family is not None else 1):
        eta = offset + np.einsum("nj,nj->n", Z, b[refs])
        if family is None:
            w, zwork = w0, y - offset
        else:
            with np.errstate(all="ignore"):
                mu = family.linkinv(eta)
                dmu = family.mu_eta(eta)
                var = family.variance(mu)
            w = w0 * dmu * dmu / var
            zwork = eta - offset + (y - mu) / dmu
        G = np.zeros((L, p, p))
        r = np.zeros((L, p))
        for a in range(p):
            r[:, a] = np.bincount(refs, w * Z[:, a] * zwork, minlength=L)
            for c in range(a + 1):
                G[:, a, c] = G[:, c, a] = np.bincount(refs, w * Z[:, a] * Z[:, c], minlength=L)
        new = np.full((L, p), np.nan)
        ok = np.zeros(L, bool)
        for lv in range(L):
            g = G[lv]
            if not np.all(np.isfinite(g)) or not np.all(np.isfinite(r[lv])):
                continue
            s = np.linalg.svd(g, compute_uv=False)
            if s[0] > 0 and s[-1] > 1e-10 * s[0]:
                new[lv] = np.linalg.solve(g, r[lv])
                ok[lv] = True
        if family is None:
            return np.where(ok[:, None], new, np.nan)
        step = np.nanmax(np.abs(new - b), axis=1, initial=0.0)
        converged = ok & (step < 1e-8 * (1 + np.nanmax(np.abs(new), axis=1, initial=0.0)))
        b = np.where(ok[:, None], new, b)
        if np.all(converged | ~ok):
            break
    # a level whose estimate runs away (e.g. all successes) is not determined
    return np.where((converged & np.all(np.abs(b) < 30, axis=1))[:, None], b, np.nan)


# ============================================================================ caterpillars
def _term(result, group):
    design = result.model.design
    if group is None:
        return design.reterms[0]
    for t in design.reterms:
        if t.group == group:
            return t
    raise MixedModelError(f"no grouping factor {group!r}; the model has "
                          f"{[t.group for t in design.reterms]}")


def ppoints(n: int) -> np.ndarray:
    """R's ``ppoints(n)``: (i − a)/(n + 1 − 2a), a = 3/8 for n ≤ 10, else 1/2."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def caterpillar(result, group: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Data of a caterpillar plot: conditional modes with intervals, levels ordered.

    Parameters
    ----------
    result : MixedModelResult
    group : str, optional
        Grouping factor (default: the first).
    level : float
        Coverage of the intervals ``mode ± z·condsd`` (z = Φ⁻¹((1 + level)/2)).

    Returns
    -------
    pandas.DataFrame
        Long table ``level, name, estimate, condsd, lower, upper, rank``; the levels are ordered
        by the estimate of the first column (``rank`` 0 = smallest), the same order in every
        column, as lme4's ``dotplot(ranef(m, condVar = TRUE))``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> caterpillar(m, "subj").shape
    (36, 7)
    """
    check_result(result)
    term = _term(result, group)
    z = _zq(level)
    est = result.ranef[term.group]
    sd = result.ranef_sd[term.group]
    order = np.argsort(est.iloc[:, 0].to_numpy(), kind="stable")
    rank = np.empty(len(order), int)
    rank[order] = np.arange(len(order))
    frames = []
    for j, name in enumerate(est.columns):
        e, s = est.iloc[:, j].to_numpy(), sd.iloc[:, j].to_numpy()
        frames.append(pd.DataFrame({"level": est.index.astype(str), "name": name, "estimate": e,
                                    "condsd": s, "lower": e - z * s, "upper": e + z * s,
                                    "rank": rank}).iloc[order])
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(group=term.group, level=level)
    return out


def qq_caterpillar(result, group: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Data of a normal-quantile caterpillar plot: each column sorted on its own.

    Returns
    -------
    pandas.DataFrame
        ``level, name, estimate, condsd, lower, upper, theoretical``: within each column the
        levels sorted by estimate, ``theoretical`` the standard normal quantiles of
        ``ppoints(n_levels)`` (lme4's ``qqmath(ranef(m, condVar = TRUE))``).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> qq_caterpillar(m)["theoretical"].round(3).tolist()[:2]
    [-1.282, -0.643]
    """
    check_result(result)
    term = _term(result, group)
    z = _zq(level)
    est = result.ranef[term.group]
    sd = result.ranef_sd[term.group]
    theo = stats.norm.ppf(ppoints(len(est)))
    frames = []
    for j, name in enumerate(est.columns):
        e, s = est.iloc[:, j].to_numpy(), sd.iloc[:, j].to_numpy()
        order = np.argsort(e, kind="stable")
        frames.append(pd.DataFrame({"level": est.index.astype(str)[order], "name": name,
                                    "estimate": e[order], "condsd": s[order],
                                    "lower": (e - z * s)[order], "upper": (e + z * s)[order],
                                    "theoretical": theo}))
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(group=term.group, level=level)
    return out


def _zq(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise MixedModelError(f"level must be between 0 and 1, not {level!r}")
    return float(stats.norm.ppf(0.5 + level / 2))
