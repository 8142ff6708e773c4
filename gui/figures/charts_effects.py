"""Pictures of what the fixed effects say: the effect plot (model predictions with intervals)
and the forest plot of pairwise comparisons.

Pure functions from the engine's tables to ``go.Figure`` (no Streamlit). The tables are in the
layout of ``mm_core.emmeans(...).table`` (one column per variable of the reference grid, then
``estimate, std_error, df, lower, upper, statistic, p_value``) and ``mm_core.pairwise``
(``contrast``, the ``by`` columns, then the same numbers). The pictures follow emmeans'
``emmip`` and GAMLj's / JASP's plots: a line with a confidence band over a covariate, one line
per level of a factor; points with error bars over a factor's levels; the observed data
faintly underneath.
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gui.figures.charts_common import BLUE, GREY, PALETTE, VERMILION, base_layout, empty_figure

#: at most this many observed points are drawn under an effect plot (evenly spaced rows beyond)
MAX_OBSERVED = 4000
#: with a factor on the x axis, the lines' points at one level spread over this width (1 = the
#: distance between levels), so their error bars do not overlap
DODGE_WIDTH = 0.5


def plain(text: object) -> str:
    """User text (column names, factor levels) for Plotly labels: shown as text, never as markup."""
    return html.escape(str(text), quote=False)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _pct(level: float) -> str:
    return f"{round(level * 100, 1):g}%"


def _levels(s: pd.Series) -> list:
    """Levels in their order: categorical order if the column has one, else first appearance."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.astype(object))
        return [c for c in s.cat.categories if c in present]
    return list(dict.fromkeys(s.tolist()))


def _spread(n: int, width: float) -> np.ndarray:
    """Deterministic horizontal offsets in (−width/2, width/2) for n points (a low-discrepancy
    sequence, so strips of points look jittered without randomness)."""
    return (np.modf(np.arange(1, n + 1) * 0.6180339887498949)[0] - 0.5) * width


def _thin(frame: pd.DataFrame, max_rows: int) -> tuple[pd.DataFrame, str]:
    if len(frame) <= max_rows:
        return frame, ""
    idx = np.linspace(0, len(frame) - 1, max_rows).round().astype(int)
    return frame.iloc[idx], f"; {max_rows:,} of {len(frame):,} observations drawn"


def effect_plot(grid: pd.DataFrame, x: str, *, lines: str | None = None, x_is_factor: bool | None = None,
                observed: pd.DataFrame | None = None, y_label: str = "prediction", level: float = 0.95,
                title: str | None = None, subtitle: str | None = None) -> go.Figure:
    """Model predictions with confidence intervals over one predictor.

    Parameters
    ----------
    grid : DataFrame
        ``mm_core.emmeans(result, [x, lines], at=...)``'s table: columns ``x``, ``lines`` (if
        given), ``estimate``, ``lower``, ``upper`` (on the scale to draw).
    x : str
        The predictor on the horizontal axis, a covariate (line with a band) or a factor (points
        with error bars, dodged when there are ``lines``).
    lines : str, optional
        A factor drawn as one line (or one colour of points) per level.
    x_is_factor : bool, optional
        Default: ``x`` is a factor unless its column is numeric.
    observed : DataFrame, optional
        The data under the predictions: columns ``x``, ``lines`` (if given) and ``y``; drawn
        faint (at most :data:`MAX_OBSERVED` points).
    y_label : str
        Axis title of the predictions ("reaction", "probability of incidence", ...).
    level : float
        Confidence level of the intervals, for the hover text and subtitle.

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per line level for the predictions (and their band or error bars), plus one
        faint marker trace per line level for the observed data, drawn first.
    """
    need = {x, "estimate", "lower", "upper"} | ({lines} if lines else set())
    if grid is None or grid.empty or not need <= set(grid.columns):
        return empty_figure("No predictions to show.")
    if x_is_factor is None:
        x_is_factor = not pd.api.types.is_numeric_dtype(grid[x])
    groups = _levels(grid[lines]) if lines else [None]
    fig = go.Figure()
    note = ""
    if observed is not None and len(observed) and "y" in observed:
        obs, note = _thin(observed, MAX_OBSERVED)
        _observed_traces(fig, obs, x, lines, groups, _levels(grid[x]) if x_is_factor else None)
    if x_is_factor:
        _factor_traces(fig, grid, x, lines, groups, level)
    else:
        _covariate_traces(fig, grid, x, lines, groups, level)
    fig.update_xaxes(title_text=plain(x))
    fig.update_yaxes(title_text=plain(y_label))
    sub = subtitle if subtitle is not None else (
        f"{'lines' if not x_is_factor else 'points'}: model predictions; "
        f"{'bands' if not x_is_factor else 'bars'}: {_pct(level)} confidence intervals")
    fig = base_layout(fig, title if title is not None else f"Predicted {plain(y_label)} by {plain(x)}",
                      sub + note, height=480)
    if lines:
        fig.update_layout(showlegend=True, legend={"title": {"text": plain(lines)}})
    return fig


def _colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def _subset(frame: pd.DataFrame, lines: str | None, g: object) -> pd.DataFrame:
    return frame if lines is None else frame[frame[lines].astype(str) == str(g)]


def _covariate_traces(fig: go.Figure, grid: pd.DataFrame, x: str, lines: str | None, groups: list,
                      level: float) -> None:
    for k, g in enumerate(groups):
        d = _subset(grid, lines, g).sort_values(x)
        xs = d[x].to_numpy(float)
        est, lo, hi = (d[c].to_numpy(float) for c in ("estimate", "lower", "upper"))
        colour = _colour(k)
        name = plain(g) if lines else "prediction"
        fig.add_trace(go.Scatter(x=xs, y=hi, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False,
                                 legendgroup=name, name=f"{name} upper"))
        fig.add_trace(go.Scatter(x=xs, y=lo, mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor=_rgba(colour, 0.18), hoverinfo="skip", showlegend=False,
                                 legendgroup=name, name=f"{name} lower"))
        fig.add_trace(go.Scatter(
            x=xs, y=est, mode="lines", line={"color": colour, "width": 2.5}, name=name, legendgroup=name,
            customdata=np.column_stack([lo, hi]),
            hovertemplate=(f"{plain(lines)} = {name}<br>" if lines else "") + f"{plain(x)} = %{{x:.4g}}<br>"
                          f"prediction %{{y:.4g}}<br>{_pct(level)} CI [%{{customdata[0]:.4g}}, "
                          "%{customdata[1]:.4g}]<extra></extra>"))


def _positions(x_levels: list, groups: list) -> tuple[dict, float]:
    """x position of each (level, line) pair: level index, dodged by line within ±DODGE_WIDTH/2."""
    n = len(groups)
    step = DODGE_WIDTH / n if n > 1 else 0.0
    offs = {g: (k - (n - 1) / 2) * step for k, g in enumerate(groups)}
    return {(lv, g): i + offs[g] for i, lv in enumerate(x_levels) for g in groups}, step


def _factor_traces(fig: go.Figure, grid: pd.DataFrame, x: str, lines: str | None, groups: list,
                   level: float) -> None:
    x_levels = _levels(grid[x])
    pos, _ = _positions([str(v) for v in x_levels], [str(g) for g in groups] if lines else [None])
    for k, g in enumerate(groups):
        d = _subset(grid, lines, g)
        d = d.set_index(d[x].astype(str)).reindex([str(v) for v in x_levels]).dropna(subset=["estimate"])
        key = str(g) if lines else None
        xs = np.array([pos[(lv, key)] for lv in d.index])
        est, lo, hi = (d[c].to_numpy(float) for c in ("estimate", "lower", "upper"))
        name = plain(g) if lines else "estimate"
        fig.add_trace(go.Scatter(
            x=xs, y=est, mode="markers+lines" if lines else "markers", name=name,
            marker={"color": _colour(k), "size": 10},
            line={"color": _rgba(_colour(k), 0.45), "width": 1.5, "dash": "dot"},
            error_y={"type": "data", "symmetric": False, "array": hi - est, "arrayminus": est - lo,
                     "color": _colour(k), "thickness": 2, "width": 6},
            customdata=np.column_stack([[plain(v) for v in d.index], lo, hi]),
            hovertemplate=f"{plain(x)} = %{{customdata[0]}}<br>" + (f"{plain(lines)} = {name}<br>" if lines else "")
                          + f"estimate %{{y:.4g}}<br>{_pct(level)} CI [%{{customdata[1]:.4g}}, "
                            "%{customdata[2]:.4g}]<extra></extra>"))
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(x_levels))),
                     ticktext=[plain(v) for v in x_levels], range=[-0.6, len(x_levels) - 0.4], zeroline=False)


def _observed_traces(fig: go.Figure, obs: pd.DataFrame, x: str, lines: str | None, groups: list,
                     x_levels: list | None) -> None:
    if x_levels is not None:
        pos, step = _positions([str(v) for v in x_levels], [str(h) for h in groups] if lines else [None])
    for k, g in enumerate(groups):
        d = _subset(obs, lines, g)
        if d.empty:
            continue
        y = d["y"].to_numpy(float)
        if x_levels is None:
            xs = d[x].to_numpy(float)
        else:
            key = str(g) if lines else None
            base = np.array([pos.get((str(v), key), np.nan) for v in d[x].astype(str)])
            width = (step if lines else DODGE_WIDTH) * 0.8
            xs = base + _spread(len(d), width)
        fig.add_trace(go.Scatter(
            x=xs, y=y, mode="markers", name="observed" + (f" ({plain(g)})" if lines else ""),
            legendgroup=plain(g) if lines else "observed", showlegend=False,
            marker={"color": _rgba(_colour(k) if lines else GREY, 0.28), "size": 5}, hoverinfo="skip"))


def contrast_plot(pairs: pd.DataFrame, *, by: list[str] | None = None, ratio: bool = False, level: float = 0.95,
                  alpha: float = 0.05, adjust: str = "tukey") -> go.Figure:
    """Forest plot of pairwise comparisons: each contrast's estimate with its (adjusted) interval.

    Parameters
    ----------
    pairs : DataFrame
        ``mm_core.pairwise``'s table: ``contrast``, the ``by`` columns, ``estimate``, ``lower``,
        ``upper``, ``p_value``.
    by : list of str, optional
        Columns that split the comparisons ("within each level of"); shown in the labels.
    ratio : bool
        Ratios (odds or rate ratios on a response scale): logarithmic axis, reference line at 1.
    alpha : float
        Contrasts with an adjusted p-value below ``alpha`` are drawn in red.
    """
    if pairs is None or pairs.empty or not {"contrast", "estimate", "lower", "upper"} <= set(pairs.columns):
        return empty_figure("No comparisons to show.")
    by = [b for b in (by or []) if b in pairs.columns]
    labels = [plain(c) + "".join(f" | {plain(b)} = {plain(r[b])}" for b in by)
              for c, (_, r) in zip(pairs["contrast"], pairs.iterrows())]
    est, lo, hi = (pairs[c].to_numpy(float) for c in ("estimate", "lower", "upper"))
    p = pairs["p_value"].to_numpy(float) if "p_value" in pairs else np.full(len(pairs), np.nan)
    colours = np.where(p < alpha, VERMILION, BLUE)
    fig = go.Figure(go.Scatter(
        x=est[::-1], y=labels[::-1], mode="markers", marker={"color": colours[::-1].tolist(), "size": 8},
        error_x={"type": "data", "symmetric": False, "array": (hi - est)[::-1], "arrayminus": (est - lo)[::-1],
                 "color": GREY, "width": 0},
        customdata=np.column_stack([lo, hi, p])[::-1],
        hovertemplate="<b>%{y}</b><br>%{x:.4g} [%{customdata[0]:.4g}, %{customdata[1]:.4g}]<br>"
                      "adjusted p = %{customdata[2]:.4g}<extra></extra>"))
    fig.add_vline(x=1.0 if ratio else 0.0, line={"color": GREY, "dash": "dot"})
    fig.update_yaxes(type="category", automargin=True)
    fig.update_xaxes(title_text=("ratio" if ratio else "difference") + f" and {_pct(level)} confidence interval",
                     type="log" if ratio else "linear")
    adj = "no adjustment" if adjust == "none" else f"{adjust.title()} adjustment"
    return base_layout(fig, "Pairwise comparisons",
                       f"{adj}; red: adjusted p < {alpha:g}", height=int(max(260, 30 * len(labels) + 130)))
