"""Shared look of the app's Plotly figures: palette, layout defaults, toolbar config."""
from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go

# Okabe-Ito: colour-blind safe
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
BLUE, VERMILION, GREEN, PINK, ORANGE, SKY = PALETTE[:6]
GREY = "#7f7f7f"


def chart_config(filename: str) -> dict:
    """``config=`` for ``st.plotly_chart``: PNG export from the toolbar camera button."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", filename).strip("_") or "chart"
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": safe, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def base_layout(fig: go.Figure, title: str | None = None, subtitle: str | None = None,
                height: int | None = None) -> go.Figure:
    text = title or ""
    if subtitle:
        text += f"<br><sup>{subtitle}</sup>"
    fig.update_layout(
        title={"text": text, "x": 0.0, "xanchor": "left"} if text else None,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 70 if text else 30, "b": 50},
        hoverlabel={"namelength": -1},
        showlegend=False,
    )
    if height:
        fig.update_layout(height=height)
    return fig


_LINK = re.compile(r"<(?=\s*/?\s*a[\s>/])", re.IGNORECASE)


def _defang(value, changed: list) -> object:
    if isinstance(value, str):
        out = _LINK.sub("&lt;", value)
        if out != value:
            changed.append(True)
        return out
    if isinstance(value, dict):
        return {k: _defang(v, changed) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_defang(v, changed) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "OU":
        return np.array([_defang(v, changed) for v in value.ravel()], dtype=object).reshape(value.shape)
    return value


def without_links(fig: go.Figure) -> go.Figure:
    """``fig`` with every ``<a …>`` tag in its text shown literally.

    Plotly renders a little HTML in titles, labels and hover texts; level and column names
    come from the user's file, and one named ``<a href="…">`` must not become a live link.
    Returns ``fig`` itself when there is nothing to change.
    """
    changed: list = []
    spec = _defang(fig.to_plotly_json(), changed)
    return go.Figure(spec) if changed else fig


def presentation_figure(fig: go.Figure, scale: float = 1.5) -> go.Figure:
    """A copy of ``fig`` with its type and height scaled for a projector (presentation mode)."""
    out = go.Figure(fig)
    base = (out.layout.font.size or 12) * scale
    out.update_layout(font={"size": base}, title_font={"size": base * 1.3}, hoverlabel={"font_size": base})
    out.update_annotations(font_size=base)
    if out.layout.height:
        out.update_layout(height=int(out.layout.height * 1.25))
    out.update_layout(margin={"l": 80, "t": int((out.layout.margin.t or 70) * scale) + 15})
    return out


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": GREY})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, height=240)


def grid_shape(n: int, max_cols: int = 6) -> tuple[int, int]:
    cols = min(max_cols, max(1, round(n ** 0.5 * 1.3)))
    cols = min(cols, n) if n else 1
    rows = -(-n // cols) if n else 1
    return rows, cols


def spread_levels(levels: list, max_levels: int) -> tuple[list, str]:
    """At most ``max_levels`` of an ordered list of levels, evenly spaced in the ordering, and a
    subtitle note saying so (empty when all are kept)."""
    if len(levels) <= max_levels:
        return list(levels), ""
    idx = np.linspace(0, len(levels) - 1, max_levels).round().astype(int)
    return [levels[i] for i in idx], f"; {max_levels} of {len(levels)} levels shown, evenly spaced in the ordering"
