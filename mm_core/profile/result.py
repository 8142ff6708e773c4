"""The result of profiling: the ζ curves and the intervals they give."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..covparams import check_level
from ..errors import MixedModelError

__all__ = ["ProfileResult"]


@dataclass(frozen=True, eq=False)
class ProfileResult:
    """Profile ζ curves and intervals.

    Fields
    ------
    table : pandas.DataFrame
        Every evaluated point: ``parameter`` (the one held fixed), ``zeta``, ``deviance`` and
        the values of all parameters there (columns named as lme4: ``sd_(Intercept)|subj``,
        ``sigma``, coefficient names), sorted by parameter and value.
    intervals : pandas.DataFrame
        ``type, group, name, estimate, lower, upper`` at ``level`` (exact crossings).
    estimates : pandas.Series
        The estimates (ML for LMMs), by parameter name.
    deviance : float
        Deviance at the estimates (ζ = 0).
    level : float
    notes : tuple of str
    """

    table: pd.DataFrame
    intervals: pd.DataFrame
    estimates: pd.Series
    deviance: float
    level: float
    notes: tuple

    def zeta(self, parameter: str) -> pd.DataFrame:
        """``value, zeta`` along the profile of one parameter."""
        if parameter not in self.estimates.index:
            raise MixedModelError(f"unknown parameter {parameter!r}; the parameters are "
                                  f"{list(self.estimates.index)}")
        sub = self.table[self.table["parameter"] == parameter]
        return pd.DataFrame({"value": sub[parameter].to_numpy(), "zeta": sub["zeta"].to_numpy()})

    def confint(self, level: float | None = None) -> pd.DataFrame:
        """Intervals at ``level``: exact at the profiled level, else monotone interpolation of ζ."""
        if level is None or abs(level - self.level) < 1e-12:
            return self.intervals.copy()
        check_level(level)
        from scipy.interpolate import PchipInterpolator
        z = stats.norm.ppf(0.5 + level / 2)
        out = self.intervals.copy()
        for name in out.index:
            if name not in set(self.table["parameter"]):
                out.loc[name, ["lower", "upper"]] = np.nan
                continue
            zt = self.zeta(name).sort_values("zeta").drop_duplicates("zeta")
            zz, vv = zt["zeta"].to_numpy(), zt["value"].to_numpy()
            if len(zz) < 2 or np.any(np.diff(vv) <= 0):
                out.loc[name, ["lower", "upper"]] = np.nan
                continue
            f = PchipInterpolator(zz, vv, extrapolate=False)
            lo = float(f(-z)) if zz[0] <= -z else float(self.intervals.loc[name, "lower"])
            hi = float(f(z)) if zz[-1] >= z else float(self.intervals.loc[name, "upper"])
            out.loc[name, "lower"] = lo if zz[0] <= -z else (vv[0] if self._bounded(name, vv[0])
                                                             else np.nan)
            out.loc[name, "upper"] = hi if zz[-1] >= z else (vv[-1] if self._bounded(name, vv[-1])
                                                             else np.nan)
        out.attrs.update(level=level, method="profile")
        return out

    @staticmethod
    def _bounded(name: str, v: float) -> bool:
        return (name.startswith("sd_") and v == 0.0) or (name.startswith("cor_") and abs(v) == 1.0)
