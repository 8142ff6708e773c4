"""Turn the engine's bootstrap result into what the Bootstrap page shows.

Tolerant of the result's exact shape: a ``.fits``/``.replicates``/``.samples`` DataFrame (or
a DataFrame itself) with one row per replicate. No Streamlit here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gui.numerics import percentile_interval, shortest_interval

_SKIP = re.compile(r"^(se|std_?err|stderror)[\[_(:]|^(replicate|rep|iteration|converged|singular|evaluations|"
                   r"feval|index)$", re.I)


@dataclass
class BootView:
    samples: pd.DataFrame                 # replicate × parameter (numeric)
    estimates: dict[str, float]           # parameter -> estimate of the original fit
    intervals: dict[str, tuple]           # parameter -> shortest interval
    table: pd.DataFrame                   # per parameter: estimate, mean, sd, intervals
    n_singular: int | None
    singular_text: str


def replicate_frame(boot_result: Any) -> pd.DataFrame:
    for name in ("fits", "replicates", "samples", "table", "estimates"):
        v = getattr(boot_result, name, None)
        if callable(v) and name != "table":
            try:
                v = v()
            except TypeError:
                v = None
        if isinstance(v, pd.DataFrame):
            return v
    if isinstance(boot_result, pd.DataFrame):
        return boot_result
    to_frame = getattr(boot_result, "to_frame", None)
    if callable(to_frame):
        return to_frame()
    raise TypeError("the bootstrap result has no table of replicates")


def _strip(name: str) -> str:
    m = re.match(r"^(?:beta|fixef|β)[\[_(:](.+?)[\])]?$", name)
    return m.group(1) if m else name


def estimate_of(name: str, res: Any) -> float | None:
    """The original fit's value of a bootstrapped parameter, recognised by name."""
    key = _strip(name)
    fe = getattr(res, "fixef", None)
    if fe is not None and key in fe.index:
        return float(fe[key])
    low = name.lower()
    if low in ("sigma", "σ", "residual") and getattr(res, "sigma", None) is not None:
        return float(res.sigma)
    if low == "objective":
        return float(res.objective)
    m = re.match(r"^(?:theta|θ)[\[_(]?(\d+)[\])]?$", low)
    if m:
        k = int(m.group(1)) - 1
        th = np.asarray(res.theta)
        return float(th[k]) if 0 <= k < th.size else None
    vc = getattr(res, "varcorr", None)
    if vc is not None:
        for _, row in vc.iterrows():
            for fmt in ("sd:{g}:{n}", "sd_{g}_{n}", "σ_{g}_{n}", "{g}:{n}", "sd({n}|{g})", "{g}.{n}"):
                if name == fmt.format(g=row["group"], n=row["name"]):
                    return float(row["sd"])
    return None


def view(boot: Any, rec: Any, level: float = 0.95) -> BootView:
    """Samples, estimates, intervals and the singular count of a bootstrap run.

    Uses the engine's ``BootstrapResult`` fields (``values``: replicate × parameter with lme4
    names, ``estimates``, ``singular``, ``confint``) when present, else a replicate table.
    """
    res = rec.result
    b = boot.result
    values = getattr(b, "values", None)
    if isinstance(values, pd.DataFrame):
        samples = values.reset_index(drop=True).astype(float)
        est = getattr(b, "estimates", None)
        estimates = {str(k): float(v) for k, v in est.items()} if est is not None else {}
        raw = getattr(b, "fits", samples)
    else:
        raw = replicate_frame(b)
        cols = [c for c in raw.columns if pd.api.types.is_numeric_dtype(raw[c])
                and not pd.api.types.is_bool_dtype(raw[c]) and not _SKIP.match(str(c))]
        samples = raw[cols].astype(float).reset_index(drop=True)
        estimates = {c: e for c in samples.columns if (e := estimate_of(c, res)) is not None}
    samples.columns = [str(c) for c in samples.columns]
    n_singular = None
    sing = getattr(b, "singular", None)
    if sing is not None and not callable(sing):
        n_singular = int(np.asarray(sing, bool).sum())
    else:
        for c in raw.columns:
            if str(c).lower() in ("singular", "is_singular"):
                n_singular = int(pd.Series(raw[c]).astype(bool).sum())
    intervals, rows = {}, []
    for c in samples.columns:
        v = samples[c].to_numpy(float)
        lo, hi = shortest_interval(v, level)
        plo, phi = percentile_interval(v, level)
        intervals[c] = (lo, hi)
        rows.append({"parameter": c, "estimate": estimates.get(c, np.nan), "bootstrap mean": np.nanmean(v),
                     "bootstrap SD": np.nanstd(v, ddof=1) if np.isfinite(v).sum() > 1 else np.nan,
                     "shortest lower": lo, "shortest upper": hi, "equal-tail lower": plo, "equal-tail upper": phi})
    table = pd.DataFrame(rows).set_index("parameter")
    n = len(samples)
    text = ""
    if n_singular is not None:
        text = (f"{n_singular} of {n} replicates ({n_singular / max(1, n):.1%}) were singular fits"
                + ("; intervals of variance components that reach zero reflect that." if n_singular else "."))
    if getattr(b, "cancelled", False):
        text += f" The run was cancelled: {n} of {getattr(b, 'n_requested', n)} replicates were kept."
    return BootView(samples, estimates, intervals, table, n_singular, text.strip())


def replicates_table(boot: Any) -> pd.DataFrame:
    """Everything per replicate, for the CSV download: objective, singular, θ, parameters."""
    b = boot.result
    fits = getattr(b, "fits", None)
    values = getattr(b, "values", None)
    if isinstance(fits, pd.DataFrame) and isinstance(values, pd.DataFrame):
        v = values.reset_index()
        keep = [c for c in fits.columns if c == "replicate" or c not in v.columns]
        return fits[keep].merge(v, on="replicate", how="left")
    return replicate_frame(b)
