"""Pictures of a fit: optimizer trace, fixed-effects forest plot, sparsity patterns,
bootstrap histograms, model comparison. Pure functions to ``go.Figure``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gui.figures.charts_common import BLUE, GREY, PALETTE, VERMILION, base_layout, empty_figure, grid_shape


def trace_counts(trace: pd.DataFrame) -> str:
    """"63 evaluations: 33 check, 30 optimize" (by stage when the trace has several)."""
    n = len(trace)
    text = f"{n} evaluation{'s' if n != 1 else ''}"
    if "stage" in trace and trace["stage"].nunique() > 1:
        counts = trace["stage"].value_counts(sort=False)
        text += ": " + ", ".join(f"{int(k)} {stage}" for stage, k in counts.items())
    return text


def optimizer_trace(trace: pd.DataFrame) -> go.Figure:
    """Objective (top) and θ components (bottom) at each evaluation of the optimizer."""
    if trace is None or len(trace) == 0 or "objective" not in trace:
        return empty_figure("The optimizer trace is not available.")
    ev = trace["evaluation"] if "evaluation" in trace else np.arange(1, len(trace) + 1)
    thetas = [c for c in trace.columns if c.startswith("theta")]
    fig = make_subplots(rows=2 if thetas else 1, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["objective", "θ (relative covariance parameters)"][: 2 if thetas else 1])
    obj = trace["objective"].to_numpy(float)
    best = np.fmin.accumulate(np.where(np.isfinite(obj), obj, np.inf))
    fig.add_trace(go.Scatter(x=ev, y=obj, mode="markers", marker={"color": GREY, "size": 4}, name="evaluated",
                             hovertemplate="evaluation %{x}<br>objective %{y:.6f}<extra></extra>"), row=1, col=1)
    # black: the θ lines below take the palette's colours, so the objective's line never shares one
    fig.add_trace(go.Scatter(x=ev, y=best, mode="lines", line={"color": "#000000"}, name="best so far",
                             hovertemplate="evaluation %{x}<br>best %{y:.6f}<extra></extra>"), row=1, col=1)
    finite = obj[np.isfinite(obj)]
    if finite.size > 3:
        lo, hi = float(np.min(finite)), float(np.quantile(finite, 0.9))
        pad = (hi - lo) * 0.05 or 1.0
        fig.update_yaxes(range=[lo - pad, hi + pad], row=1, col=1)
    for k, c in enumerate(thetas):
        colour = PALETTE[k % (len(PALETTE) - 1)]          # the palette without its black
        fig.add_trace(go.Scatter(x=ev, y=trace[c], mode="lines", line={"color": colour}, name=c,
                                 hovertemplate=f"{c}: %{{y:.5f}}<extra></extra>"), row=2, col=1)
    fig.update_xaxes(title_text="evaluation", row=2 if thetas else 1, col=1)
    fig = base_layout(fig, "Optimizer trace", f"{trace_counts(trace)}; final objective {best[-1]:.6f}",
                      height=520 if thetas else 340)
    fig.update_layout(showlegend=True)
    return fig


def coefplot(coeftable: pd.DataFrame, *, show_intercept: bool = False, exp: bool = False,
             level_label: str = "95%", interval: str = "Wald interval") -> go.Figure:
    """Fixed-effects estimates with their confidence intervals (forest plot); ``interval`` names
    them on the axis ("Wald interval", "t interval (Satterthwaite df)")."""
    if coeftable is None or coeftable.empty:
        return empty_figure("No fixed effects.")
    ct = coeftable
    if not show_intercept and len(ct) > 1:
        ct = ct.loc[[i for i in ct.index if i != "(Intercept)"]]
    est = ct["estimate"].to_numpy(float)
    lo = ct["ci_lower"].to_numpy(float) if "ci_lower" in ct else est - 1.96 * ct["std_error"].to_numpy(float)
    hi = ct["ci_upper"].to_numpy(float) if "ci_upper" in ct else est + 1.96 * ct["std_error"].to_numpy(float)
    if exp:
        est, lo, hi = np.exp(est), np.exp(lo), np.exp(hi)
    names = [str(i) for i in ct.index][::-1]
    fig = go.Figure(go.Scatter(x=est[::-1], y=names, mode="markers", marker={"color": BLUE, "size": 8},
                               error_x={"type": "data", "symmetric": False, "array": (hi - est)[::-1],
                                        "arrayminus": (est - lo)[::-1], "color": GREY, "width": 0},
                               customdata=np.column_stack([lo, hi])[::-1],
                               hovertemplate="<b>%{y}</b><br>%{x:.4g} [%{customdata[0]:.4g}, %{customdata[1]:.4g}]"
                                             "<extra></extra>"))
    fig.add_vline(x=1.0 if exp else 0.0, line={"color": GREY, "dash": "dot"})
    fig.update_yaxes(type="category", automargin=True)
    fig.update_xaxes(title_text=("exp(estimate)" if exp else "estimate") + f" and {level_label} {interval}")
    return base_layout(fig, "Fixed effects", None, height=int(max(260, 34 * len(names) + 120)))


def sparsity_image(pattern: np.ndarray, title: str, boundaries: list[int] | None = None,
                   nnz: int | None = None, shape: tuple[int, int] | None = None) -> go.Figure:
    """Black-and-white picture of a matrix's non-zeros (a 'spy' plot); large matrices arrive
    block-aggregated (any non-zero in the block)."""
    if pattern is None or pattern.size == 0:
        return empty_figure("No matrix.")
    z = np.asarray(pattern, dtype=float)
    fig = go.Figure(go.Heatmap(z=np.where(z > 0, 1.0, np.nan), colorscale=[[0, "#202020"], [1, "#202020"]],
                               showscale=False, hovertemplate="row %{y}, column %{x}<extra></extra>"))
    for b in boundaries or []:
        fig.add_hline(y=b - 0.5, line={"color": VERMILION, "width": 1})
        fig.add_vline(x=b - 0.5, line={"color": VERMILION, "width": 1})
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showticklabels=False)
    fig.update_xaxes(constrain="domain", showticklabels=False)
    shp = shape or z.shape
    sub = f"{shp[0]} × {shp[1]}"
    if nnz is not None:
        sub += f", {nnz:,} non-zeros ({nnz / (shp[0] * shp[1]):.1%})"
    if shape and tuple(shape) != z.shape:
        sub += f"; drawn as {z.shape[0]}×{z.shape[1]} blocks"
    return base_layout(fig, title, sub + "; orange lines separate the random-effects terms", height=460)


def bootstrap_histograms(samples: pd.DataFrame, estimates: dict[str, float] | None = None,
                         intervals: dict[str, tuple[float, float]] | None = None, level: float = 0.95,
                         max_panels: int = 12) -> go.Figure:
    """Histogram per bootstrapped parameter with the estimate (orange) and the shortest coverage
    interval (shaded; ``intervals``, from ``BootstrapResult.confint``)."""
    if samples is None or samples.empty:
        return empty_figure("No bootstrap replicates.")
    cols = [c for c in samples.columns if pd.api.types.is_numeric_dtype(samples[c])][:max_panels]
    rows, ncols = grid_shape(len(cols), max_cols=3)
    fig = make_subplots(rows=rows, cols=ncols, subplot_titles=cols, vertical_spacing=min(0.12, 0.4 / rows))
    for k, c in enumerate(cols):
        r, cc = k // ncols + 1, k % ncols + 1
        v = samples[c].to_numpy(float)
        v = v[np.isfinite(v)]
        fig.add_trace(go.Histogram(x=v, nbinsx=30, marker={"color": BLUE}, opacity=0.8, name=c,
                                   hovertemplate="%{x}: %{y} replicates<extra></extra>"), row=r, col=cc)
        lo, hi = (intervals or {}).get(c, (np.nan, np.nan))
        if np.isfinite(lo) and np.isfinite(hi):
            fig.add_vrect(x0=lo, x1=hi, fillcolor=BLUE, opacity=0.12, line_width=0, row=r, col=cc)
        est = (estimates or {}).get(c)
        if est is not None and np.isfinite(est):
            fig.add_vline(x=est, line={"color": VERMILION, "width": 2}, row=r, col=cc)
    fig.update_annotations(font_size=11)
    return base_layout(fig, "Bootstrap distributions",
                       f"orange: estimate; shaded: shortest {round(level * 100)}% coverage interval",
                       height=int(260 * rows + 90))


def compare_ic(table: pd.DataFrame) -> go.Figure:
    """AIC and BIC of the session's fits (lower is better)."""
    if table is None or table.empty:
        return empty_figure("No fits yet.")
    fig = go.Figure()
    for k, col in enumerate(("AIC", "BIC")):
        if col in table:
            fig.add_trace(go.Bar(x=table["fit"].astype(str), y=table[col], name=col, marker={"color": PALETTE[k]},
                                 hovertemplate=f"%{{x}}: {col} %{{y:.2f}}<extra></extra>"))
    fig.update_layout(barmode="group", showlegend=True)
    fig.update_yaxes(title_text="information criterion")
    lo = np.nanmin(table[[c for c in ("AIC", "BIC") if c in table]].to_numpy(float))
    hi = np.nanmax(table[[c for c in ("AIC", "BIC") if c in table]].to_numpy(float))
    fig.update_yaxes(range=[lo - 0.1 * (hi - lo + 1), hi + 0.1 * (hi - lo + 1)])
    fig = base_layout(fig, "Information criteria", "lower is better", height=340)
    fig.update_layout(showlegend=True)
    return fig
