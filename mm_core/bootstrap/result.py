"""The result of a parametric bootstrap: the replicates' table, tidy values and intervals."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..covparams import covariance_layout, estimates, parameter_names, sdcor
from ..errors import MixedModelError

__all__ = ["BootstrapResult", "assemble", "shortest_interval"]


def shortest_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Shortest interval containing ``ceil(level·n)`` of the finite values.

    MixedModels.jl's ``shortestcovint``.
    """
    v = np.sort(np.asarray(values, float)[np.isfinite(values)])
    n = len(v)
    if n == 0:
        return (math.nan, math.nan)
    k = math.ceil(n * level)
    if k >= n:
        return (float(v[0]), float(v[-1]))
    widths = v[k - 1:] - v[:n - k + 1]
    i = int(np.argmin(widths))
    return (float(v[i]), float(v[i + k - 1]))


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """The replicates of a parametric bootstrap.

    Fields
    ------
    fits : pandas.DataFrame
        One row per finished replicate: ``replicate, objective, sigma, singular``,
        ``beta[<name>]``, ``se[<name>]``, ``theta[<k>]``.
    tidy : pandas.DataFrame
        Long table: ``replicate, parameter, type, group, name, value`` with ``type`` ``"beta"``
        (fixed effect), ``"sigma"`` (a random-effect standard deviation, or the residual σ with
        group ``"residual"``) or ``"rho"`` (a correlation); ``parameter`` is lme4's name
        (``sd_(Intercept)|subj``).
    estimates : pandas.Series
        The parameters of the original fit, by lme4 name.
    parameters : pandas.DataFrame
        ``type, group, name`` of each parameter, by lme4 name.
    n_requested : int
        Replicates asked for.
    seed : int
        Entropy of ``SeedSequence(seed)``; replicate ``j`` uses its child ``j``.
    cancelled : bool
        The progress callback stopped the run (the finished replicates are kept).
    elapsed : float
        Seconds.
    workers : int
        Worker processes used (1: in this process).
    """

    fits: pd.DataFrame
    tidy: pd.DataFrame
    estimates: pd.Series
    parameters: pd.DataFrame
    n_requested: int
    seed: int
    cancelled: bool
    elapsed: float
    workers: int
    values: pd.DataFrame = field(repr=False)

    @property
    def n(self) -> int:
        """Number of finished replicates."""
        return len(self.fits)

    @property
    def singular(self) -> np.ndarray:
        return self.fits["singular"].to_numpy(bool)

    @property
    def singular_fraction(self) -> float:
        """Fraction of replicates whose refit is singular."""
        return float(self.singular.mean()) if self.n else math.nan

    @property
    def n_failed(self) -> int:
        """Replicates whose refit failed (NaN rows)."""
        return int(self.fits["objective"].isna().sum())

    def confint(self, level: float = 0.95, method: str = "shortest") -> pd.DataFrame:
        """Coverage intervals of every parameter.

        Parameters
        ----------
        level : float
        method : {"shortest", "equaltail"}
            Shortest interval covering ``level`` of the replicates (MixedModels.jl's
            ``shortestcovint``) or the ``(1−level)/2`` and ``(1+level)/2`` quantiles.

        Returns
        -------
        pandas.DataFrame
            ``type, group, name, estimate, lower, upper`` by lme4 parameter name.
        """
        if not 0 < level < 1:
            raise MixedModelError(f"level must be between 0 and 1, not {level!r}")
        rows = []
        for name in self.values.columns:
            v = self.values[name].to_numpy()
            v = v[np.isfinite(v)]
            if method == "shortest":
                lo, hi = shortest_interval(v, level)
            elif method in ("equaltail", "percentile", "quantile"):
                lo, hi = ((np.quantile(v, (1 - level) / 2), np.quantile(v, (1 + level) / 2))
                          if len(v) else (math.nan, math.nan))
            else:
                raise MixedModelError(f"unknown interval method {method!r}; use 'shortest' "
                                      "or 'equaltail'")
            rows.append((float(lo), float(hi)))
        out = self.parameters.copy()
        out["estimate"] = self.estimates
        out["lower"] = [r[0] for r in rows]
        out["upper"] = [r[1] for r in rows]
        out.attrs.update(level=level, method=f"bootstrap-{method}")
        return out

    def summary(self) -> pd.DataFrame:
        """Mean, standard deviation and the shortest 95 % interval of each parameter."""
        ci = self.confint(0.95)
        ci["mean"] = self.values.mean()
        ci["std"] = self.values.std()
        return ci


def assemble(result, rows: np.ndarray, reps: np.ndarray, n: int, entropy: int,
              cancelled: bool, elapsed: float, workers: int) -> BootstrapResult:
    names = list(result.fixef.index)
    p, k = len(names), len(result.theta)
    cols = (["objective", "sigma", "singular"] + [f"beta[{nm}]" for nm in names]
            + [f"se[{nm}]" for nm in names] + [f"theta[{i + 1}]" for i in range(k)])
    fits = pd.DataFrame(rows, columns=cols)
    fits["singular"] = fits["singular"].fillna(0).astype(bool)
    fits.insert(0, "replicate", reps.astype(np.int64))
    info = parameter_names(result)
    layout = covariance_layout(result.model.design)
    sigma = rows[:, 1]
    has_scale = "sigma" in info.index
    theta = rows[:, 3 + 2 * p:]
    values = pd.DataFrame(sdcor(theta, sigma if has_scale else None, layout)
                          if k else np.zeros((len(rows), 0)),
                          columns=list(info.index[:k]))
    if has_scale:
        values["sigma"] = sigma
    for i, nm in enumerate(names):
        values[nm] = rows[:, 3 + i]
    values.index = pd.Index(reps, name="replicate")
    long = values.reset_index().melt(id_vars="replicate", var_name="parameter",
                                     value_name="value")
    long = long.join(info, on="parameter")[["replicate", "parameter", "type", "group", "name",
                                            "value"]]
    return BootstrapResult(fits=fits, tidy=long, estimates=estimates(result), parameters=info,
                           n_requested=n, seed=entropy, cancelled=cancelled, elapsed=elapsed,
                           workers=workers, values=values)
