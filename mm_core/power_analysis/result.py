"""The result of a power run: power per size with its interval, and every simulation."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from ..intervals import covariance_layout, sdcor
from ..simulate import replicate_rng

if TYPE_CHECKING:
    from .hypothesis import CoefficientTest, LikelihoodRatioTest, TermTest

__all__ = ["PowerResult", "clopper_pearson", "size_summary"]


def clopper_pearson(k, n, conf: float = 0.95) -> tuple:
    """Exact binomial interval for ``k`` successes in ``n`` trials (R's ``binom.test``)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    a = (1 - conf) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    empty = n == 0
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def _columns(case) -> list:
    names = case.fixef_names
    return (["p_value", "statistic", "df", "objective", "sigma", "singular"]
            + [f"beta[{nm}]" for nm in names] + [f"se[{nm}]" for nm in names]
            + [f"theta[{i + 1}]" for i in range(case.k)])


def size_summary(cases, rows, size_of, grid, along, level, test) -> pd.DataFrame:
    """One row per size: power, its 95 % interval, failures, singular fits, the estimate."""
    from .hypothesis import CoefficientTest
    out = []
    for i, (case, size) in enumerate(zip(cases, grid)):
        r = rows[size_of == i]
        n = len(r)
        p = r[:, 0]
        failed = ~np.isfinite(p)
        rejected = int(np.sum(p[~failed] < level))
        lo, hi = clopper_pearson(rejected, n)
        rec = {"size": size if size is not None else case.scenario.design.nobs,
               "nobs": case.scenario.design.nobs, "n_sim": n, "rejected": rejected,
               "power": rejected / n if n else math.nan, "lower": float(lo), "upper": float(hi),
               "failed": float(failed.mean()) if n else math.nan,
               "singular": float(np.nanmean(r[:, 5]) if n else math.nan),
               "mean_df": float(np.nanmean(r[:, 2])) if n and np.isfinite(r[:, 2]).any()
               else math.nan}
        if isinstance(test, CoefficientTest):
            j = case.fixef_names.index(test.coefficient)
            est = r[:, 6 + j]
            rec.update(true_value=float(case.scenario.beta[j]),
                       estimate_mean=float(np.nanmean(est)) if n else math.nan,
                       estimate_sd=float(np.nanstd(est, ddof=1)) if n > 1 else math.nan,
                       std_error_mean=float(np.nanmean(r[:, 6 + case.p + j])) if n else math.nan)
        out.append(rec)
    table = pd.DataFrame(out)
    table.attrs.update(along=along, level=level)
    return table


@dataclass(frozen=True, eq=False, init=False)
class PowerResult:
    """Power of a test by simulation, per size of the design.

    Fields
    ------
    test : CoefficientTest, TermTest or LikelihoodRatioTest
    level : float
        Significance level α.
    along : str or None
        What grows: a grouping factor, ``"observations"``, or None (one size).
    sizes : tuple
        Sizes along ``along`` (NaN for a single size).
    current : int or None
        The size of the design or fit the run started from.
    table : pandas.DataFrame
        One row per size: ``size, nobs, n_sim, rejected, power, lower, upper`` (Clopper–Pearson
        95 %), ``failed`` and ``singular`` (shares of the simulations), ``mean_df``; for a
        coefficient's test also ``true_value, estimate_mean, estimate_sd, std_error_mean``.
    rows : ndarray
        One row per finished simulation: p-value, statistic, df, objective, σ, singular, β,
        standard errors, θ (see :attr:`simulations`).
    replicates : ndarray of int
        Replicate numbers of ``rows`` (size ``j // n_sim``).
    n_sim : int
        Simulations requested per size.
    seed : int
        Entropy of ``SeedSequence(seed)``.
    cancelled : bool
        The run was stopped; the finished simulations are kept.
    elapsed : float
        Seconds.
    workers : int
        Worker processes used (1: in this process).
    scenarios : tuple of Scenario
        The design and true parameters of each size.
    """

    test: CoefficientTest | TermTest | LikelihoodRatioTest
    level: float
    along: str | None
    sizes: tuple
    current: int | None
    table: pd.DataFrame
    rows: np.ndarray = field(repr=False)
    replicates: np.ndarray = field(repr=False)
    n_sim: int
    seed: int
    cancelled: bool
    elapsed: float
    workers: int
    scenarios: tuple = field(repr=False)
    columns: tuple = field(repr=False)

    def __init__(self, *, test, level, along, sizes, current, table, rows, replicates, n_sim,
                 seed, cancelled, elapsed, workers, cases):
        values = dict(test=test, level=level, along=along, sizes=tuple(sizes), current=current,
                      table=table, rows=rows, replicates=np.asarray(replicates, np.int64),
                      n_sim=n_sim, seed=seed, cancelled=cancelled, elapsed=elapsed,
                      workers=workers, scenarios=tuple(c.scenario for c in cases),
                      columns=tuple(_columns(cases[0])))
        for k, v in values.items():
            object.__setattr__(self, k, v)

    @property
    def n_done(self) -> int:
        """Finished simulations over all sizes."""
        return len(self.rows)

    @property
    def simulations(self) -> pd.DataFrame:
        """Every finished simulation: ``size, replicate, rejected`` and the row's values."""
        df = pd.DataFrame(self.rows, columns=list(self.columns))
        idx = self.replicates // self.n_sim
        df.insert(0, "replicate", self.replicates % self.n_sim)
        df.insert(0, "size", np.asarray(self.table["size"])[idx] if len(idx) else [])
        df.insert(2, "rejected", df["p_value"].to_numpy() < self.level)
        df["singular"] = df["singular"] > 0.5
        return df

    def estimates(self) -> pd.DataFrame:
        """True value, mean, standard deviation and bias of every parameter's estimates per size.

        Parameters are named as lme4's ``confint`` names them (``sd_(Intercept)|subj``,
        ``sigma``, coefficient names).
        """
        out = []
        for i, sc in enumerate(self.scenarios):
            r = self.rows[self.replicates // self.n_sim == i]
            p, k = len(sc.fixef_names), len(sc.theta)
            layout = covariance_layout(sc.design)
            scaled = sc.sigma is not None
            names = [lab for t in layout for lab, _, _ in t.labels()]
            true = list(sdcor(sc.theta, sc.sigma if scaled else None, layout)[0])
            theta = r[:, 6 + 2 * p:6 + 2 * p + k]
            sig = r[:, 4]
            est = (sdcor(theta, sig if scaled else None, layout) if len(r)
                   else np.zeros((0, k)))
            cols = [est[:, m] for m in range(k)]
            if scaled:
                names.append("sigma")
                true.append(sc.sigma)
                cols.append(sig)
            names += list(sc.fixef_names)
            true += list(sc.beta)
            cols += [r[:, 6 + m] for m in range(p)]
            size = self.table["size"].iloc[i]
            for nm, tv, v in zip(names, true, cols):
                v = v[np.isfinite(v)]
                mean = float(v.mean()) if len(v) else math.nan
                out.append({"size": size, "parameter": nm, "true": float(tv), "mean": mean,
                            "sd": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                            "bias": mean - float(tv)})
        return pd.DataFrame(out)

    def data(self, size=None, replicate: int = 0) -> pd.DataFrame:
        """The simulated data set of one replicate (the first size by default).

        The response is drawn exactly as the run drew it (same seed and replicate number).
        For a design, its columns and the response; for a fitted model, the grouping factors,
        the fixed-effects columns, the response and the prior weights (``(weights)``, the
        numbers of trials of a binomial response given as proportions) if any.
        """
        sizes = list(self.table["size"])
        i = 0 if size is None else sizes.index(size) if size in sizes else -1
        if i < 0:
            raise ValueError(f"size {size} is not one of the run's sizes {sizes}")
        if not 0 <= int(replicate) < self.n_sim:
            raise ValueError(f"replicate must be between 0 and {self.n_sim - 1}")
        sc = self.scenarios[i]
        y = sc.simulator().draw(replicate_rng(self.seed, i * self.n_sim + int(replicate)))
        d = sc.design
        if sc.frame is not None:
            frame = sc.frame.copy()
        else:
            frame = pd.DataFrame({t.group: np.asarray(t.levels, dtype=object)[t.refs]
                                  for t in d.reterms})
            for j, nm in enumerate(d.fixef_names):
                if nm != "(Intercept)":
                    frame[nm] = d.X[:, j]
        frame[str(d.response_name)] = y
        if sc.weights is not None:
            frame["(weights)"] = sc.weights          # prior weights (binomial: trials)
        return frame

    def __str__(self) -> str:
        t = self.table
        lines = [f"Power of the {self.test.label} at α = {self.level}"]
        for _, r in t.iterrows():
            lines.append(f"  {self.along or 'n'} = {r['size']}: {r['power']:.1%} "
                         f"[{r['lower']:.1%}, {r['upper']:.1%}] of {int(r['n_sim'])} simulations")
        if self.cancelled:
            lines.append("  (stopped early: the finished simulations are shown)")
        return "\n".join(lines)
