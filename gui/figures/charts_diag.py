"""Residual diagnostics (the Diagnostics page).

Pure functions from arrays to ``go.Figure``. LMMs use Pearson/standardized residuals with
a normal QQ plot (not detrended); GLMMs add simulation-based (DHARMa-style) scaled
residuals against *uniform* quantiles. Each plot says its convention in the subtitle.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import stats

from gui.engine import ppoints
from gui.figures.charts_common import BLUE, GREY, VERMILION, base_layout, empty_figure, spread_levels
from gui.figures.numerics import binned_quantiles, cooks_contour, lowess

MAX_POINTS = 20000   # points drawn; larger residual sets are thinned for the browser


def _thin(n: int, seed: int = 0) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, MAX_POINTS, replace=False))


def _note(n: int) -> str:
    return f"; {MAX_POINTS:,} of {n:,} points drawn" if n > MAX_POINTS else ""


def resid_vs_fitted(fitted: np.ndarray, resid: np.ndarray, *, kind: str = "Pearson",
                    labels: np.ndarray | None = None) -> go.Figure:
    """Residuals against fitted values with a lowess smoother and a zero line."""
    f, r = np.asarray(fitted, float), np.asarray(resid, float)
    if f.size == 0:
        return empty_figure("No residuals.")
    idx = _thin(f.size)
    fig = go.Figure(go.Scattergl(x=f[idx], y=r[idx], mode="markers", name="residual",
                                 marker={"color": BLUE, "size": 5, "opacity": 0.55},
                                 text=None if labels is None else np.asarray(labels)[idx].astype(str),
                                 hovertemplate="fitted %{x:.4g}<br>residual %{y:.4g}<br>%{text}<extra></extra>"))
    gx, gy = lowess(f, r)
    if gx.size:
        fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines", name="smoother", line={"color": VERMILION, "width": 2}))
    fig.add_hline(y=0, line={"color": GREY, "dash": "dot"})
    fig.update_xaxes(title_text="fitted value")
    fig.update_yaxes(title_text=f"{kind} residual")
    return base_layout(fig, "Residuals vs fitted", "the smoother (orange) should be flat around 0" + _note(f.size),
                       height=420)


def qq_normal(resid: np.ndarray, *, kind: str = "standardized") -> go.Figure:
    """Normal QQ plot: sorted residuals against normal quantiles, line through the quartiles."""
    r = np.sort(np.asarray(resid, float)[np.isfinite(np.asarray(resid, float))])
    if r.size == 0:
        return empty_figure("No residuals.")
    q = stats.norm.ppf(ppoints(r.size))
    idx = _thin(r.size)
    fig = go.Figure(go.Scattergl(x=q[idx], y=r[idx], mode="markers", marker={"color": BLUE, "size": 5},
                                 hovertemplate="normal quantile %{x:.3f}<br>residual %{y:.4g}<extra></extra>"))
    q1, q3 = np.quantile(r, [0.25, 0.75])
    z1, z3 = stats.norm.ppf([0.25, 0.75])
    slope = (q3 - q1) / (z3 - z1)
    icpt = q1 - slope * z1
    xs = np.array([q.min(), q.max()])
    fig.add_trace(go.Scatter(x=xs, y=icpt + slope * xs, mode="lines", line={"color": VERMILION}, hoverinfo="skip"))
    fig.update_xaxes(title_text="standard normal quantile")
    fig.update_yaxes(title_text=f"{kind} residual")
    return base_layout(fig, "Normal QQ plot of residuals", "dots should fall along the line (through the quartiles)"
                       + _note(r.size), height=420)


def resid_histogram(resid: np.ndarray, *, kind: str = "standardized") -> go.Figure:
    """Histogram of residuals with the normal density of the same mean and SD."""
    r = np.asarray(resid, float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return empty_figure("No residuals.")
    nb = int(min(60, max(10, np.sqrt(r.size))))
    fig = go.Figure(go.Histogram(x=r, nbinsx=nb, histnorm="probability density", marker={"color": BLUE},
                                 opacity=0.75, name="residuals"))
    xs = np.linspace(r.min(), r.max(), 200)
    fig.add_trace(go.Scatter(x=xs, y=stats.norm.pdf(xs, r.mean(), r.std(ddof=1) if r.size > 1 else 1.0),
                             mode="lines", line={"color": VERMILION}, name="normal"))
    fig.update_xaxes(title_text=f"{kind} residual")
    fig.update_yaxes(title_text="density")
    return base_layout(fig, "Distribution of residuals", "orange: normal density with the residuals' mean and SD",
                       height=380)


def scale_location(fitted: np.ndarray, std_resid: np.ndarray) -> go.Figure:
    """√|standardized residual| against fitted values with a smoother (homogeneity of variance)."""
    f = np.asarray(fitted, float)
    s = np.sqrt(np.abs(np.asarray(std_resid, float)))
    if f.size == 0:
        return empty_figure("No residuals.")
    idx = _thin(f.size)
    fig = go.Figure(go.Scattergl(x=f[idx], y=s[idx], mode="markers", marker={"color": BLUE, "size": 5, "opacity": .55},
                                 hovertemplate="fitted %{x:.4g}<br>√|resid| %{y:.3f}<extra></extra>"))
    gx, gy = lowess(f, s)
    if gx.size:
        fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines", line={"color": VERMILION, "width": 2}))
    fig.update_xaxes(title_text="fitted value")
    fig.update_yaxes(title_text="√|standardized residual|")
    return base_layout(fig, "Scale-location", "a flat smoother means constant variance" + _note(f.size), height=420)


def resid_by_group(resid: np.ndarray, groups: np.ndarray, *, group: str = "", max_levels: int = 60) -> go.Figure:
    """Box plot of residuals per level, levels ordered by their median."""
    d = pd.DataFrame({"r": np.asarray(resid, float), "g": np.asarray(groups).astype(str)}).dropna()
    if d.empty:
        return empty_figure("No residuals.")
    med = d.groupby("g")["r"].median().sort_values(kind="stable")
    levels, note = spread_levels(list(med.index), max_levels)
    d = d[d["g"].isin(levels)]
    fig = go.Figure(go.Box(x=d["r"], y=d["g"], orientation="h", marker={"color": BLUE}, boxpoints="outliers",
                           line={"width": 1}))
    fig.add_vline(x=0, line={"color": GREY, "dash": "dot"})
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=levels, title_text=group,
                     showticklabels=len(levels) <= 60)
    fig.update_xaxes(title_text="residual")
    return base_layout(fig, f"Residuals by {group}", "levels ordered by their median residual" + note,
                       height=int(min(1600, max(320, 16 * len(levels) + 140))))


def leverage_plot(leverage: np.ndarray, std_resid: np.ndarray, n_params: int,
                  cooks: np.ndarray | None = None) -> go.Figure:
    """Standardized residuals against leverage with Cook's distance contours at 0.5 and 1
    (``cooks``: each observation's Cook's distance, shown on hover)."""
    h = np.asarray(leverage, float)
    r = np.asarray(std_resid, float)
    if h.size == 0 or not np.isfinite(h).any():
        return empty_figure("No leverages for this model.")
    idx = _thin(h.size)
    dist = np.full(h.size, np.nan) if cooks is None else np.asarray(cooks, float)
    fig = go.Figure(go.Scattergl(x=h[idx], y=r[idx], mode="markers", marker={"color": BLUE, "size": 5},
                                 customdata=np.column_stack([idx + 1, dist[idx]]),
                                 hovertemplate="observation %{customdata[0]}<br>leverage %{x:.3f}<br>std. residual "
                                               "%{y:.3f}<br>Cook's distance %{customdata[1]:.3g}<extra></extra>"))
    hs = np.linspace(max(1e-3, np.nanmin(h)), min(0.999, max(np.nanmax(h) * 1.05, 1e-3)), 100)
    for d, dash in ((0.5, "dash"), (1.0, "dot")):
        c = cooks_contour(hs, n_params, d)
        for sign in (1, -1):
            fig.add_trace(go.Scatter(x=hs, y=sign * c, mode="lines", line={"color": VERMILION, "dash": dash,
                                                                           "width": 1},
                                     hovertemplate=f"Cook's distance {d}<extra></extra>"))
    lim = max(3.0, float(np.nanmax(np.abs(r))) * 1.1) if r.size else 3.0
    fig.update_yaxes(range=[-lim, lim], title_text="standardized residual")
    fig.update_xaxes(title_text="leverage (diagonal of the hat matrix)")
    return base_layout(fig, "Residuals vs leverage", "orange lines: Cook's distance 0.5 (dashed) and 1 (dotted)"
                       + _note(h.size), height=420)


def qq_uniform(scaled: np.ndarray, p_values: dict[str, float] | None = None) -> go.Figure:
    """DHARMa ``plotQQunif``: sorted simulation-scaled residuals against uniform quantiles
    (``ppoints``), with the tests' p-values in the subtitle."""
    s = np.sort(np.asarray(scaled, float)[np.isfinite(np.asarray(scaled, float))])
    if s.size == 0:
        return empty_figure("No residuals.")
    q = ppoints(s.size)
    idx = _thin(s.size)
    fig = go.Figure(go.Scattergl(x=q[idx], y=s[idx], mode="markers", marker={"color": BLUE, "size": 5},
                                 hovertemplate="expected %{x:.3f}<br>observed %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": VERMILION}, hoverinfo="skip"))
    sub = "simulation-scaled residuals should follow the diagonal (uniform)"
    if p_values:
        sub += "; " + ", ".join(f"{k.replace('_', ' ')} p = {v:.3g}" for k, v in p_values.items())
    fig.update_xaxes(title_text="expected (uniform quantiles)", range=[0, 1])
    fig.update_yaxes(title_text="observed scaled residual", range=[0, 1])
    return base_layout(fig, "QQ plot of simulated residuals", sub, height=420)


def scaled_vs_predicted(scaled: np.ndarray, predicted: np.ndarray) -> go.Figure:
    """DHARMa ``plotResiduals``: scaled residuals against rank-transformed predictions with
    the 0.25/0.5/0.75 quantiles in bins (expected: flat lines at those values)."""
    s = np.asarray(scaled, float)
    p = np.asarray(predicted, float)
    if s.size == 0:
        return empty_figure("No residuals.")
    rank = (stats.rankdata(p) - 0.5) / p.size
    idx = _thin(s.size)
    outlier = (s <= 0) | (s >= 1)
    fig = go.Figure(go.Scattergl(x=rank[idx], y=s[idx], mode="markers",
                                 marker={"color": np.where(outlier[idx], VERMILION, BLUE).tolist(), "size": 5,
                                         "opacity": 0.6},
                                 hovertemplate="prediction rank %{x:.3f}<br>scaled residual %{y:.3f}<extra></extra>"))
    centres, qv = binned_quantiles(rank, s)
    for j, qq in enumerate((0.25, 0.5, 0.75)):
        fig.add_hline(y=qq, line={"color": GREY, "dash": "dash", "width": 1})
        fig.add_trace(go.Scatter(x=centres, y=qv[:, j], mode="lines+markers", line={"color": VERMILION},
                                 hovertemplate=f"binned {qq:.2f} quantile %{{y:.3f}}<extra></extra>"))
    fig.update_xaxes(title_text="model prediction (rank transformed)", range=[0, 1])
    fig.update_yaxes(title_text="scaled residual", range=[-0.02, 1.02])
    return base_layout(fig, "Scaled residuals vs predicted",
                       "orange: quantiles in bins, expected on the dashed lines at 0.25, 0.5, 0.75", height=420)


def dispersion_histogram(simulated: np.ndarray, observed: float) -> go.Figure:
    """DHARMa ``testDispersion``: the spread of the simulated responses around the fitted values
    (one SD per simulation) with the observed spread (orange)."""
    sim = np.asarray(simulated, float)
    fig = go.Figure(go.Histogram(x=sim, marker={"color": BLUE}, opacity=0.75, nbinsx=40))
    fig.add_vline(x=observed, line={"color": VERMILION, "width": 3})
    ratio = observed / np.mean(sim) if np.mean(sim) else np.nan
    fig.update_xaxes(title_text="SD of the responses around the fitted values, simulated data")
    fig.update_yaxes(title_text="count")
    return base_layout(fig, "Dispersion test", f"observed (orange) / mean simulated = {ratio:.3g}; "
                       ">1 suggests over-dispersion", height=360)
