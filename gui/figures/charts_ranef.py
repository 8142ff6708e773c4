"""Random-effects pictures: caterpillar, qq-caterpillar, shrinkage, per-group panels.

Pure functions from DataFrames/arrays to ``go.Figure`` (no Streamlit). The numbers come from
the engine (``mm_core.caterpillar``, ``qq_caterpillar``, ``shrinkage``), whose conventions are
lme4's ``dotplot/qqmath(ranef(m, condVar = TRUE))`` and MixedModelsMakie's: intervals are
b̂ ± z·(conditional SD), "prediction intervals of the conditional modes" (they ignore
uncertainty in the variance parameters).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gui.figures.charts_common import BLUE, GREY, VERMILION, base_layout, empty_figure, grid_shape

MAX_LABELLED_LEVELS = 60


def order_levels(frame: pd.DataFrame, order_by: str | int = 0) -> list[str]:
    """Level order of a caterpillar (``mm_core.caterpillar``'s table): the engine's order (by the
    first column, as lme4), by another column's conditional mode, or ``"alphabetical"``."""
    if order_by == "alphabetical":
        return sorted(dict.fromkeys(frame["level"]))
    names = list(dict.fromkeys(frame["name"]))
    col = names[order_by] if isinstance(order_by, int) else order_by
    sub = frame[frame["name"] == col]
    return list(sub["level"] if col == names[0] else sub.sort_values("estimate", kind="stable")["level"])


def _columns(frame: pd.DataFrame, columns: list[str] | None) -> list[str]:
    names = list(dict.fromkeys(frame["name"]))
    return [c for c in (columns or names) if c in names]


def _pct(level: float) -> str:
    return f"{round(level * 100)}%"


def caterpillar(frame: pd.DataFrame, *, group: str = "", level: float = 0.95, order_by: str | int = 0,
                columns: list[str] | None = None, transform: str | None = None,
                sizes: pd.Series | None = None) -> go.Figure:
    """Caterpillar plot: one panel per random-effects column, levels on y, intervals on x.

    Parameters
    ----------
    frame : DataFrame
        ``mm_core.caterpillar(result, group, level)``: ``level, name, estimate, condsd, lower,
        upper`` per level and column, intervals b̂ ± z·condsd at ``level``.
    order_by : int, str or "alphabetical"
        Level order, the same in every panel (default: the engine's, by the first column).
    transform : None or "exp"
        ``"exp"`` shows exp(b̂) with exp-transformed interval ends (odds/rate ratios),
        reference line at 1.
    sizes : Series, optional
        Observations per level, shown on hover.
    """
    if frame is None or frame.empty:
        return empty_figure("No random effects to show.")
    cols = _columns(frame, columns)
    order = order_levels(frame, order_by)
    ref = 1.0 if transform == "exp" else 0.0
    fig = make_subplots(rows=1, cols=len(cols), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[str(c) for c in cols])
    for j, col in enumerate(cols, start=1):
        d = frame[frame["name"] == col].set_index("level").loc[order]
        x, lo, hi = (d[c].to_numpy(dtype=float) for c in ("estimate", "lower", "upper"))
        if transform == "exp":
            x, lo, hi = np.exp(x), np.exp(lo), np.exp(hi)
        custom = np.column_stack([lo, hi, d["condsd"].to_numpy(dtype=float)]
                                 + ([sizes.reindex(order).to_numpy()] if sizes is not None else []))
        hover = (f"<b>%{{y}}</b><br>{col}: %{{x:.4g}}<br>{_pct(level)} interval: "
                 "[%{customdata[0]:.4g}, %{customdata[1]:.4g}]<br>conditional SD: %{customdata[2]:.4g}")
        if sizes is not None:
            hover += "<br>observations: %{customdata[3]}"
        fig.add_trace(go.Scatter(
            x=x, y=order, mode="markers", name=str(col),
            marker={"color": np.where((lo > ref) | (hi < ref), VERMILION, BLUE).tolist(), "size": 6},
            error_x={"type": "data", "symmetric": False, "array": hi - x, "arrayminus": x - lo,
                     "color": GREY, "thickness": 1.2, "width": 0},
            customdata=custom, hovertemplate=hover + "<extra></extra>"), row=1, col=j)
        fig.add_vline(x=ref, line={"color": GREY, "dash": "dot", "width": 1}, row=1, col=j)
    n = len(order)
    fig.update_yaxes(categoryorder="array", categoryarray=order, type="category",
                     showticklabels=n <= MAX_LABELLED_LEVELS, automargin=True)
    fig.update_yaxes(title_text=group if n <= MAX_LABELLED_LEVELS else f"{group} ({n} levels, hover for names)",
                     row=1, col=1)
    for j in range(2, len(cols) + 1):
        fig.update_yaxes(showticklabels=False, row=1, col=j)
    sub = (f"{_pct(level)} prediction intervals of the conditional modes (± z · conditional SD)"
           + ("; exp scale" if transform == "exp" else "") + f"; orange: interval excludes {ref:g}")
    return base_layout(fig, f"Conditional modes by {group}" if group else "Conditional modes", sub,
                       height=int(min(1800, max(320, 16 * n + 140))))


def qq_caterpillar(frame: pd.DataFrame, *, group: str = "", level: float = 0.95,
                   columns: list[str] | None = None) -> go.Figure:
    """Normal QQ plot of conditional modes, one panel per column (lme4 ``qqmath``).

    ``frame`` is ``mm_core.qq_caterpillar(result, group, level)``: within each column the levels
    sorted by estimate, with intervals and ``theoretical`` normal quantiles at ``ppoints(n)``.
    """
    if frame is None or frame.empty:
        return empty_figure("No random effects to show.")
    cols = _columns(frame, columns)
    fig = make_subplots(rows=1, cols=len(cols), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[str(c) for c in cols])
    for j, col in enumerate(cols, start=1):
        d = frame[frame["name"] == col]
        x = d["estimate"].to_numpy(dtype=float)
        fig.add_trace(go.Scatter(
            x=x, y=d["theoretical"].to_numpy(dtype=float), mode="markers", name=str(col),
            text=d["level"].astype(str).tolist(), marker={"color": BLUE, "size": 6},
            error_x={"type": "data", "symmetric": False, "array": d["upper"].to_numpy(dtype=float) - x,
                     "arrayminus": x - d["lower"].to_numpy(dtype=float), "color": GREY, "thickness": 1.2,
                     "width": 0},
            hovertemplate="<b>%{text}</b><br>b̂: %{x:.4g}<br>normal quantile: %{y:.3f}<extra></extra>"),
            row=1, col=j)
        fig.add_vline(x=0.0, line={"color": GREY, "dash": "dot", "width": 1}, row=1, col=j)
    fig.update_yaxes(title_text="Standard normal quantiles", row=1, col=1)
    return base_layout(fig, f"Normal QQ plot of conditional modes by {group}" if group else "QQ caterpillar",
                       f"each column sorted on its own; bars: {_pct(level)} prediction intervals", height=480)


def shrinkage(pooled: pd.DataFrame, unpooled: pd.DataFrame, *, group: str = "",
              columns: list[str] | None = None) -> go.Figure:
    """Shrinkage plot: each level's estimate without pooling (orange) and its conditional mode
    (blue), joined by a line (MixedModelsMakie ``shrinkageplot``).

    One column: levels on y ordered by the conditional mode. Two or more: a panel for each
    pair of columns (at most 4 columns, 6 panels).
    """
    if pooled is None or pooled.empty:
        return empty_figure("No random effects to show.")
    cols = [c for c in (columns or list(pooled.columns)) if c in pooled.columns and c in unpooled.columns][:4]
    idx = [i for i in pooled.index if i in unpooled.index]
    P, U = pooled.loc[idx, cols], unpooled.loc[idx, cols]
    labels = [str(v) for v in idx]
    sub = "orange: estimate from each group alone (no pooling); blue: conditional mode (partial pooling)"
    if len(cols) == 1:
        c = cols[0]
        order = P[c].sort_values(kind="stable").index
        lab = [str(v) for v in order]
        fig = go.Figure()
        xs, ys = [], []
        for lv, name in zip(order, lab):
            xs += [U.at[lv, c], P.at[lv, c], None]
            ys += [name, name, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": GREY, "width": 1}, hoverinfo="skip",
                                 showlegend=False))
        fig.add_trace(go.Scatter(x=U.loc[order, c], y=lab, mode="markers", name="no pooling",
                                 marker={"color": VERMILION, "size": 6},
                                 hovertemplate="<b>%{y}</b><br>no pooling: %{x:.4g}<extra></extra>"))
        fig.add_trace(go.Scatter(x=P.loc[order, c], y=lab, mode="markers", name="conditional mode",
                                 marker={"color": BLUE, "size": 6},
                                 hovertemplate="<b>%{y}</b><br>conditional mode: %{x:.4g}<extra></extra>"))
        fig.add_vline(x=0.0, line={"color": GREY, "dash": "dot", "width": 1})
        fig.update_yaxes(type="category", categoryorder="array", categoryarray=lab,
                         showticklabels=len(lab) <= MAX_LABELLED_LEVELS, title_text=group)
        fig.update_xaxes(title_text=str(c))
        fig = base_layout(fig, f"Shrinkage of the conditional modes by {group}", sub,
                          height=int(min(1800, max(320, 16 * len(lab) + 140))))
        fig.update_layout(showlegend=True)
        return fig
    pairs = [(a, b) for i, a in enumerate(cols) for b in cols[i + 1:]]
    rows, ncols = grid_shape(len(pairs), max_cols=3)
    fig = make_subplots(rows=rows, cols=ncols, subplot_titles=[f"{b} vs {a}" for a, b in pairs])
    for k, (a, b) in enumerate(pairs):
        row, column = k // ncols + 1, k % ncols + 1
        xs, ys = [], []
        for lv in idx:
            xs += [U.at[lv, a], P.at[lv, a], None]
            ys += [U.at[lv, b], P.at[lv, b], None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": GREY, "width": 1}, hoverinfo="skip",
                                 showlegend=False), row=row, col=column)
        fig.add_trace(go.Scatter(x=U[a], y=U[b], mode="markers", name="no pooling", text=labels,
                                 marker={"color": VERMILION, "size": 6}, showlegend=k == 0,
                                 hovertemplate="<b>%{text}</b> (no pooling)<br>%{x:.4g}, %{y:.4g}<extra></extra>"),
                      row=row, col=column)
        fig.add_trace(go.Scatter(x=P[a], y=P[b], mode="markers", name="conditional mode", text=labels,
                                 marker={"color": BLUE, "size": 6}, showlegend=k == 0,
                                 hovertemplate="<b>%{text}</b> (conditional mode)<br>%{x:.4g}, %{y:.4g}"
                                               "<extra></extra>"),
                      row=row, col=column)
        fig.update_xaxes(title_text=str(a), row=row, col=column)
        fig.update_yaxes(title_text=str(b), row=row, col=column)
    fig = base_layout(fig, f"Shrinkage of the conditional modes by {group}", sub, height=420 * rows)
    fig.update_layout(showlegend=True)
    return fig


def group_panels(data: pd.DataFrame, *, x: str, y: str, group: str, conditional: str, population: str,
                 levels: list | None = None, max_panels: int = 30,
                 labels: dict[str, str] | None = None) -> go.Figure:
    """Observed data of each group with the population line (fixed effects only) and the
    group's own fitted line (fixed + random effects).

    ``data`` holds columns ``x``, ``y``, ``group``, and the two fitted columns
    ``conditional`` and ``population``.
    """
    if data is None or data.empty:
        return empty_figure("No data.")
    lv = list(levels) if levels is not None else list(pd.unique(data[group]))
    lv = lv[:max_panels]
    rows, cols = grid_shape(len(lv), max_cols=6)
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, shared_yaxes=True,
                        subplot_titles=[str(v) for v in lv], vertical_spacing=min(0.08, 0.3 / rows),
                        horizontal_spacing=0.02)
    categorical_x = not pd.api.types.is_numeric_dtype(data[x])
    for k, level in enumerate(lv):
        r, c = k // cols + 1, k % cols + 1
        d = data[data[group] == level]
        d = d.sort_values(x, kind="stable") if not categorical_x else d
        xs = d[x].astype(str) if categorical_x else d[x]
        first = k == 0
        fig.add_trace(go.Scatter(x=xs, y=d[y], mode="markers", marker={"color": GREY, "size": 5}, name="observed",
                                 showlegend=first, legendgroup="obs",
                                 hovertemplate=f"<b>{level}</b><br>%{{x}}: %{{y:.4g}}<extra></extra>"),
                      row=r, col=c)
        fig.add_trace(go.Scatter(x=xs, y=d[population], mode="lines", line={"color": VERMILION, "dash": "dash"},
                                 name="population (fixed effects)", showlegend=first, legendgroup="pop",
                                 hoverinfo="skip"), row=r, col=c)
        fig.add_trace(go.Scatter(x=xs, y=d[conditional], mode="lines", line={"color": BLUE},
                                 name="this group (fixed + random)", showlegend=first, legendgroup="cond",
                                 hoverinfo="skip"), row=r, col=c)
    fig.update_annotations(font_size=10)
    lab = {x: x, y: y, group: group, **(labels or {})}
    fig = base_layout(fig, f"{lab[y]} against {lab[x]} by {lab[group]}", "grey: observed; blue: the group's fitted "
                      "values (fixed + random effects); orange dashed: population (fixed effects only)",
                      height=int(max(360, 150 * rows + 120)))
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.08})
    return fig
