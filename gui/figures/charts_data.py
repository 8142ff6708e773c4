"""Exploratory pictures of the data before modelling (the Explore page).

Pure functions from a DataFrame to ``go.Figure``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gui.engine import level_labels
from gui.figures.charts_common import BLUE, GREY, VERMILION, base_layout, empty_figure, grid_shape, spread_levels
from gui.figures.numerics import kernel_proportion

MAX_DOT_LEVELS = 80


def group_means(data: pd.DataFrame, response: str, group: str) -> pd.Series:
    """Mean response per level, sorted increasingly (the dot plot's level order)."""
    d = data[[response, group]].dropna()
    return d.groupby(level_labels(d[group]), observed=True)[response].mean().sort_values(kind="stable")


def dotplot_by_group(data: pd.DataFrame, response: str, group: str, max_levels: int = MAX_DOT_LEVELS) -> go.Figure:
    """Every observation of the response by level of the grouping factor, levels sorted by
    their mean (the Dyestuff plot), the mean as a larger mark."""
    if response not in data or group not in data:
        return empty_figure("Choose a numeric response and a grouping factor.")
    d = data[[response, group]].dropna()
    if not pd.api.types.is_numeric_dtype(d[response]):
        return empty_figure(f"{response} is not numeric.")
    means = group_means(d, response, group)
    shown, note = spread_levels(list(means.index), max_levels)
    g = level_labels(d[group])
    keep = g.isin(shown)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=d.loc[keep, response], y=g[keep], mode="markers", name="observation",
                             marker={"color": BLUE, "size": 5, "opacity": 0.6},
                             hovertemplate=f"<b>%{{y}}</b><br>{response}: %{{x:.4g}}<extra></extra>"))
    fig.add_trace(go.Scatter(x=means[shown], y=shown, mode="markers", name="mean",
                             marker={"color": VERMILION, "size": 10, "symbol": "line-ns-open", "line": {"width": 2}},
                             hovertemplate="<b>%{y}</b><br>mean: %{x:.4g}<extra></extra>"))
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=shown, title_text=group,
                     showticklabels=len(shown) <= 60)
    fig.update_xaxes(title_text=response)
    return base_layout(fig, f"{response} by {group}", "levels sorted by their mean (orange)" + note,
                       height=int(min(1600, max(300, 14 * len(shown) + 140))))


def trellis(data: pd.DataFrame, x: str, y: str, group: str, max_panels: int = 30) -> go.Figure:
    """One small panel per group: y against x with the group's own least-squares line."""
    if any(c not in data for c in (x, y, group)):
        return empty_figure("Choose a response, a covariate and a grouping factor.")
    d = data[[x, y, group]].dropna()
    if not pd.api.types.is_numeric_dtype(d[y]) or not pd.api.types.is_numeric_dtype(d[x]):
        return empty_figure("The response and the covariate must both be numeric.")
    g = level_labels(d[group])
    levels = list(group_means(d.assign(**{group: g}), y, group).index)
    note = ""
    if len(levels) > max_panels:
        note = f" ({max_panels} of {len(levels)} groups shown)"
        levels = levels[:: max(1, len(levels) // max_panels)][:max_panels]
    rows, cols = grid_shape(len(levels), max_cols=6)
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, shared_yaxes=True,
                        subplot_titles=levels, vertical_spacing=min(0.08, 0.3 / rows), horizontal_spacing=0.02)
    for k, lv in enumerate(levels):
        r, c = k // cols + 1, k % cols + 1
        dd = d[g == lv].sort_values(x)
        fig.add_trace(go.Scatter(x=dd[x], y=dd[y], mode="markers", marker={"color": BLUE, "size": 5},
                                 hovertemplate=f"<b>{lv}</b><br>{x}: %{{x}}<br>{y}: %{{y:.4g}}<extra></extra>"),
                      row=r, col=c)
        if dd[x].nunique() >= 2:
            slope, icpt = np.polyfit(dd[x].to_numpy(float), dd[y].to_numpy(float), 1)
            xs = np.array([dd[x].min(), dd[x].max()], dtype=float)
            fig.add_trace(go.Scatter(x=xs, y=icpt + slope * xs, mode="lines", line={"color": VERMILION},
                                     hovertemplate=f"{lv}: slope {slope:.4g}<extra></extra>"), row=r, col=c)
    fig.update_annotations(font_size=10)
    return base_layout(fig, f"{y} against {x}, one panel per {group}{note}",
                       "each group's own least-squares line; panels ordered by the group mean",
                       height=int(max(360, 150 * rows + 100)))


def success_indicator(s: pd.Series) -> tuple[np.ndarray, str]:
    """0/1 array of a binary response and the name of the 'success' level (the second level)."""
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
        levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.dropna().unique())
        succ = levels[-1] if len(levels) >= 2 else (levels[0] if levels else "")
        return np.where(s.isna(), np.nan, (s == succ).astype(float)), str(succ)
    return s.to_numpy(dtype=float), "1"


def binary_by_covariate(data: pd.DataFrame, response: str, x: str, group: str | None = None,
                        max_groups: int = 8) -> go.Figure:
    """Proportion of successes against a covariate: binned proportions and a kernel smoother,
    optionally one curve per level of a (small) factor."""
    if response not in data or x not in data:
        return empty_figure("Choose a binary response and a covariate.")
    yv, succ = success_indicator(data[response])
    xv = data[x]
    if not pd.api.types.is_numeric_dtype(xv):
        return _binary_by_factor(data, yv, succ, response, x)
    fig = go.Figure()
    groups = [None]
    if group and group in data and data[group].nunique() <= max_groups:
        groups = list(pd.unique(data[group].dropna()))
    for i, lv in enumerate(groups):
        mask = np.ones(len(data), bool) if lv is None else (data[group] == lv).to_numpy()
        xs, ys = xv.to_numpy(float)[mask], yv[mask]
        ok = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[ok], ys[ok]
        colour = [BLUE, VERMILION, "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", GREY][i % 8]
        name = "all" if lv is None else f"{group} = {lv}"
        if xs.size:
            bins = np.unique(np.quantile(xs, np.linspace(0, 1, 11)))
            which = np.clip(np.digitize(xs, bins[1:-1]), 0, max(0, len(bins) - 2))
            bx = [xs[which == b].mean() for b in np.unique(which)]
            by = [ys[which == b].mean() for b in np.unique(which)]
            bn = [int((which == b).sum()) for b in np.unique(which)]
            fig.add_trace(go.Scatter(x=bx, y=by, mode="markers", marker={"color": colour, "size": 8},
                                     name=name + " (binned)", customdata=bn, legendgroup=name,
                                     hovertemplate="mean x %{x:.3g}: proportion %{y:.3f} of %{customdata}"
                                                   "<extra></extra>"))
            gx, gy = kernel_proportion(xs, ys)
            fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines", line={"color": colour}, name=name + " (smooth)",
                                     legendgroup=name, hoverinfo="skip"))
    fig.update_yaxes(title_text=f"proportion {response} = {succ}", range=[-0.02, 1.02])
    fig.update_xaxes(title_text=x)
    fig = base_layout(fig, f"Proportion of {response} = {succ} against {x}",
                      "dots: proportions in deciles of x; lines: kernel smoother", height=440)
    fig.update_layout(showlegend=True)
    return fig


def _binary_by_factor(data: pd.DataFrame, yv: np.ndarray, succ: str, response: str, x: str) -> go.Figure:
    d = pd.DataFrame({"x": data[x].astype(str), "y": yv}).dropna()
    agg = d.groupby("x")["y"].agg(["mean", "count"])
    se = np.sqrt(agg["mean"] * (1 - agg["mean"]) / agg["count"])
    fig = go.Figure(go.Scatter(x=agg.index, y=agg["mean"], mode="markers",
                               error_y={"type": "data", "array": 1.96 * se}, marker={"color": BLUE, "size": 9},
                               customdata=agg["count"],
                               hovertemplate="%{x}: %{y:.3f} of %{customdata}<extra></extra>"))
    fig.update_yaxes(title_text=f"proportion {response} = {succ}", range=[-0.02, 1.02])
    fig.update_xaxes(title_text=x, type="category")
    return base_layout(fig, f"Proportion of {response} = {succ} by {x}", "bars: ±1.96 binomial SE", height=420)


def crosstab_heatmap(tab: pd.DataFrame, a: str, b: str, relation: str) -> go.Figure:
    """Counts of observations for each pair of levels of two grouping factors."""
    if tab is None or tab.empty:
        return empty_figure("No pairs of levels.")
    z = tab.to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(z=np.where(z > 0, z, np.nan), x=[str(c) for c in tab.columns],
                               y=[str(i) for i in tab.index], colorscale="Blues", showscale=True,
                               hovertemplate=f"{a} %{{y}} × {b} %{{x}}: %{{z}} observations<extra></extra>"))
    fig.update_xaxes(title_text=b, type="category", showticklabels=tab.shape[1] <= 60)
    fig.update_yaxes(title_text=a, type="category", autorange="reversed", showticklabels=tab.shape[0] <= 60)
    return base_layout(fig, f"{a} × {b}: {relation}", "cells with observations are coloured; blank = no data",
                       height=int(min(900, max(320, 12 * tab.shape[0] + 160))))


def histogram(data: pd.DataFrame, column: str) -> go.Figure:
    if column not in data:
        return empty_figure("Choose a column.")
    s = data[column].dropna()
    if pd.api.types.is_numeric_dtype(s):
        fig = go.Figure(go.Histogram(x=s, marker={"color": BLUE}, nbinsx=min(60, max(10, int(np.sqrt(len(s)))))))
    else:
        counts = s.astype(str).value_counts()
        fig = go.Figure(go.Bar(x=counts.index, y=counts.values, marker={"color": BLUE}))
        fig.update_xaxes(type="category")
    fig.update_xaxes(title_text=column)
    fig.update_yaxes(title_text="count")
    return base_layout(fig, f"Distribution of {column}", height=340)
