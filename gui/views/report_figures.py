"""The figures a report can hold, built by the pages' own chart functions and drawn as PNG.

:func:`figures` builds the Plotly figures of a fit the user picked (the same builders and
inputs as the Random effects, Diagnostics, Summary and Bootstrap pages); :func:`to_png` draws
them with Kaleido, which drives a headless Chromium (Debian's ``/usr/bin/chromium`` unless
``BROWSER_PATH`` names another). No Streamlit here.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from gui import engine
from gui.figures import charts
from gui.views import bootstrap_view, derived

CATERPILLAR = "Caterpillar plots"
DIAGNOSTICS = "Residual diagnostics"
COEFFICIENTS = "Coefficient plot"
BOOTSTRAP = "Bootstrap histograms"
CHOICES = (CATERPILLAR, DIAGNOSTICS, COEFFICIENTS, BOOTSTRAP)
WIDTH, HEIGHT = 900, 520
MAX_HEIGHT = 1800


def figures(rec: Any, boot: Any, chosen: tuple[str, ...] | list[str], *, ranef_level: float = 0.95,
            boot_level: float = 0.95) -> list[tuple[str, go.Figure]]:
    """``(caption, figure)`` for each picked kind the fit has (no bootstrap histograms without a run),
    with the interval levels of the Random effects and Bootstrap pages."""
    res = rec.result
    out: list[tuple[str, go.Figure]] = []
    if CATERPILLAR in chosen:
        for group in res.ranef:
            fig = charts.caterpillar(engine.caterpillar(res, group, level=ranef_level), group=group,
                                     level=ranef_level)
            out.append((f"Conditional modes of the random effects of {group} with {ranef_level:.0%} prediction "
                        "intervals", fig))
    if DIAGNOSTICS in chosen:
        rf = derived.residual_frame(rec, leverage=False)
        kind = "scaled" if res.is_lmm else "pearson"
        out.append((f"{kind.capitalize()} residuals against fitted values",
                    charts.resid_vs_fitted(rf["fitted"].to_numpy(float), rf[kind].to_numpy(float), kind=kind)))
        out.append((f"Normal quantile plot of the {kind} residuals", charts.qq_normal(rf[kind].to_numpy(float),
                                                                                     kind=kind)))
    if COEFFICIENTS in chosen and (len(res.coeftable) > 1 or res.coeftable.index[0] != "(Intercept)"):
        out.append(("Fixed effects with 95% Wald intervals", charts.coefplot(res.coeftable)))
    if BOOTSTRAP in chosen and boot is not None:
        view = bootstrap_view.view(boot, level=boot_level)
        samples = view.samples[list(view.samples.columns)[:9]]
        out.append((f"Parametric bootstrap: {len(view.samples)} replicates, shortest {boot_level:.0%} intervals",
                    charts.bootstrap_histograms(samples, view.estimates, view.intervals, level=boot_level)))
    return out


def browser_path() -> str | None:
    """The Chromium Kaleido drives: ``BROWSER_PATH`` if set, else Debian's chromium if present."""
    return os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


def to_png(figs: list[go.Figure]) -> list[bytes]:
    """PNG images of the figures, drawn in one headless browser (2× scale, print quality).

    Raises
    ------
    RuntimeError
        When no browser can be started (the message says what is missing).
    """
    if not figs:
        return []
    import kaleido

    path = browser_path()
    if not path:
        raise RuntimeError("no Chromium browser was found (install Debian's chromium or set BROWSER_PATH)")
    os.environ.setdefault("BROWSER_PATH", path)
    with tempfile.TemporaryDirectory(prefix="mm-report-") as tmp:
        jobs = []
        for i, fig in enumerate(figs):
            height = fig.layout.height or HEIGHT
            jobs.append({"fig": fig, "path": str(Path(tmp) / f"figure{i}.png"),
                         "opts": {"format": "png", "width": WIDTH, "height": min(int(height), MAX_HEIGHT),
                                  "scale": 2}})
        kaleido.write_fig_from_object_sync(jobs)
        return [Path(j["path"]).read_bytes() for j in jobs]
