"""Turn the engine's :class:`mm_core.BootstrapResult` into what the Bootstrap page shows:
replicates by parameter, the engine's shortest and equal-tail intervals, the singular count.
No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass
class BootView:
    samples: pd.DataFrame                 # replicate × parameter (lme4 names)
    estimates: dict[str, float]           # parameter -> estimate of the original fit
    intervals: dict[str, tuple]           # parameter -> shortest coverage interval
    table: pd.DataFrame                   # per parameter: estimate, mean, sd, intervals
    n_singular: int
    singular_text: str


def view(boot: Any, level: float = 0.95) -> BootView:
    """Samples, estimates, intervals (``BootstrapResult.confint``) and the singular count of a run."""
    b = boot.result
    samples = b.values.reset_index(drop=True).astype(float)
    shortest = b.confint(level, "shortest")
    equal = b.confint(level, "equaltail")
    summary = b.summary()
    table = pd.DataFrame({"estimate": b.estimates, "bootstrap mean": summary["mean"],
                          "bootstrap SD": summary["std"],
                          "shortest lower": shortest["lower"], "shortest upper": shortest["upper"],
                          "equal-tail lower": equal["lower"], "equal-tail upper": equal["upper"]})
    table.index.name = "parameter"
    n, n_singular = len(samples), int(b.singular.sum())
    text = (f"{n_singular} of {n} replicates ({n_singular / max(1, n):.1%}) were singular fits"
            + ("; intervals of variance components that reach zero reflect that." if n_singular else "."))
    if b.cancelled:
        text += f" The run was cancelled: {n} of {b.n_requested} replicates were kept."
    intervals = {str(p): (lo, hi) for p, lo, hi in zip(shortest.index, shortest["lower"], shortest["upper"])}
    return BootView(samples, {str(k): float(v) for k, v in b.estimates.items()}, intervals, table, n_singular,
                    text)


def replicates_table(boot: Any) -> pd.DataFrame:
    """Everything per replicate, for the CSV download: objective, singular, θ, parameters."""
    b = boot.result
    v = b.values.reset_index()
    keep = [c for c in b.fits.columns if c == "replicate" or c not in v.columns]
    return b.fits[keep].merge(v, on="replicate", how="left")
