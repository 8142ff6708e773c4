"""Per-fit quantities the pages show, taken from the engine's own computations.

Thin adapters over :mod:`mm_core`'s prediction and diagnostics (through :mod:`gui.engine`):
each takes a :class:`gui.shell.state.FitRecord` (result + the data it was fitted to) and returns the
small, picklable frames and arrays a page draws; :func:`gui.shell.cache.derived` caches them per
session. Computed here, because they are presentation the engine has no reason to know: the
data rows a fit used (labels, group codes, observations per level), the standardized
residuals on the y axis of the leverage plot (the scale of the engine's Cook's distance) and
the spread of each simulation for the dispersion histogram (the parts of the engine's
dispersion statistic). No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gui import engine
from gui.spec.data_design import group_codes

#: residual types a page offers, in the engine's names (``scaled`` exists for LMMs only)
RESIDUAL_KINDS = ("scaled", "pearson", "deviance", "response")


def used_rows(rec: Any) -> pd.DataFrame:
    """The data rows the fit used, in the fit's order."""
    return rec.data.iloc[np.asarray(rec.result.rows)]


def group_sizes(rec: Any, group: str) -> pd.Series:
    """Observations per level of a grouping factor (for hover texts)."""
    return group_codes(used_rows(rec), group).value_counts()


def held_values(rec: Any, group: str, x: str) -> dict[str, Any]:
    """The model's other predictors and the typical value each is held at in the group panels:
    the mean of a numeric column, the most frequent level of a factor."""
    d = used_rows(rec)
    parsed = rec.result.parsed_formula
    response = {n.name for n in parsed.response.names()}
    grouping = rec.result.grouping_columns[group]
    out: dict[str, Any] = {}
    for c in d.columns:
        if c in parsed.columns and c not in response and c != x and c not in grouping:
            s = d[c]
            if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
                out[c] = s.mode(dropna=True).iloc[0]
            else:
                out[c] = float(s.mean())
    return out


def group_frame(rec: Any, group: str, x: str) -> pd.DataFrame:
    """Columns for per-group panels: x, y, group, and the fitted values with (``conditional``)
    and without (``population``, ``mm_core.predict(re_form="NA")``) the random effects.

    The fitted values are predictions with the model's other predictors held at typical
    values (:func:`held_values`, listed in ``frame.attrs["held"]``), so each group's line is a
    function of ``x`` alone rather than a zig-zag through the other covariates.
    """
    res = rec.result
    d = used_rows(rec)
    held = held_values(rec, group, x)
    if held:
        nd = d.copy()
        for c, v in held.items():
            s = d[c]
            nd[c] = pd.Categorical([v] * len(d), categories=s.cat.categories) \
                if isinstance(s.dtype, pd.CategoricalDtype) else v
        conditional = engine.predict(res, nd).to_numpy(float)
        population = engine.predict(res, nd, re_form="NA").to_numpy(float)
    else:
        conditional = np.asarray(res.fitted, float)
        population = engine.predict(res, re_form="NA").to_numpy(float)
    out = pd.DataFrame({
        "x": d[x].to_numpy() if x in d else np.arange(len(d)),
        "y": np.asarray(res.y, float),
        "group": group_codes(d, group).to_numpy(),
        "conditional": conditional,
        "population": population,
    })
    out.attrs["held"] = held
    return out


def shrinkage(rec: Any, group: str) -> Any:
    """Conditional modes and no-pooling estimates of a grouping factor (``mm_core.shrinkage``)."""
    return engine.shrinkage(rec.result, group)


@dataclass(frozen=True)
class VarianceExplained:
    """Nakagawa–Schielzeth R² and the ICCs of a fit (``mm_core.r_squared`` / ``mm_core.icc``).

    ``r2``: ``marginal``, ``conditional``; ``icc``: the engine's table (grouping factors and
    ``total`` × ``variance, adjusted, conditional``); ``latent``: GLMM values on the latent scale.
    """

    r2: pd.Series
    icc: pd.DataFrame
    latent: bool


def variance_explained(rec: Any) -> VarianceExplained | None:
    """R² and ICC, or None where the engine does not define them (some families and links)."""
    res = rec.result
    try:
        return VarianceExplained(engine.r_squared(res), engine.icc(res), latent=not res.is_lmm)
    except engine.MixedModelError:
        return None


@dataclass(frozen=True)
class SimulatedResiduals:
    """What the Diagnostics page draws of ``mm_core.quantile_residuals`` (without the n × n_sim
    simulations, which would bloat the session cache).

    Fields: ``residuals`` (scaled quantile residuals, uniform under the model), ``predicted``
    (fitted values on the response scale), ``tests`` (the engine's table: statistic, p_value,
    description by test), ``spread_sim`` / ``spread_obs`` (SD of the simulated / observed
    responses around the fitted values, the parts of the engine's dispersion statistic),
    ``n_sim``, ``seed``, ``conditional``.
    """

    residuals: np.ndarray
    predicted: np.ndarray
    tests: pd.DataFrame
    spread_sim: np.ndarray
    spread_obs: float
    n_sim: int
    seed: int
    conditional: bool
    caveat: str = ""

    def p_values(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.tests["p_value"].items()}


def simulated_residuals(rec: Any, n_sim: int = 250, seed: int = 123, conditional: bool = True
                        ) -> SimulatedResiduals:
    """DHARMa-style scaled residuals and their tests (``mm_core.quantile_residuals``)."""
    qr = engine.quantile_residuals(rec.result, n_sim, seed=seed, conditional=conditional)
    tests = qr.tests()
    caveat = ""
    y = np.asarray(rec.result.y, float)
    binary = rec.result.family == "binomial" and bool(np.all(np.isin(y, (0.0, 1.0))))
    if not qr.integer or binary:            # zero inflation is a question for counts only
        tests = tests.drop(index="zero_inflation", errors="ignore")
    if binary:
        caveat = ("The response is binary (0/1): a single 0/1 observation cannot be over-dispersed, so the "
                  "dispersion test has almost no power here and a large p-value says little. Over-dispersion of "
                  "binary data shows only in counts of successes per group (fit the grouped data as "
                  "cbind(successes, failures)). Zero inflation does not apply to binary data.")
    return SimulatedResiduals(
        residuals=np.asarray(qr.residuals, float), predicted=np.asarray(rec.result.fitted, float), tests=tests,
        spread_sim=np.std(qr.simulated - qr.fitted[:, None], axis=0, ddof=1),
        spread_obs=float(np.std(qr.observed - qr.fitted, ddof=1)), n_sim=qr.n_sim, seed=seed,
        conditional=conditional, caveat=caveat)


def residual_frame(rec: Any, leverage: bool = True) -> pd.DataFrame:
    """Per observation: fitted value, the engine's residuals of each kind the family has and
    (if asked) leverage, Cook's distance and standardized residuals.

    Leverage needs an extra factorization (seconds for 70,000 rows), so large-data pages ask
    for it only when they draw it. ``standardized`` is the Pearson residual / √(φ(1 − h)),
    φ = σ² (1 for binomial and Poisson): Cook's distance is standardized² · h / (p (1 − h)),
    so the leverage plot's contours agree with ``mm_core.cooks_distance`` (NaN where h = 1).
    Without leverages, h is taken as 0.
    """
    res = rec.result
    out = pd.DataFrame({"fitted": np.asarray(res.fitted, float)})
    for kind in RESIDUAL_KINDS:
        try:
            out[kind] = engine.residuals(res, kind)
        except engine.MixedModelError:      # e.g. no "scaled" residuals for a GLMM
            pass
    h = np.zeros(len(out))
    out["leverage"] = out["cooks distance"] = np.nan
    if leverage:
        h = np.asarray(res.leverage, float)
        out["leverage"] = h
        out["cooks distance"] = engine.cooks_distance(res)
    phi = res.sigma ** 2 if res.sigma is not None else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["standardized"] = np.where(h < 1.0, out["pearson"] / np.sqrt(phi * (1.0 - h)), np.nan)
    return out
