"""Plot helpers the engine has no reason to provide: smoothers, binned quantiles, Cook's
distance contour lines. Everything statistical about a fit (residuals, intervals, plotting
positions, R², …) comes from :mod:`mm_core` through :mod:`gui.engine`.

Pure numpy, no Streamlit or Plotly; unit-tested in ``tests/gui/test_charts.py``.
"""
from __future__ import annotations

import numpy as np


def _finite_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def lowess(x: np.ndarray, y: np.ndarray, frac: float = 2 / 3, n_out: int = 80,
           max_points: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Local-linear smoother with tricube weights (one pass of ``lowess``), on a grid.

    Large inputs are subsampled to ``max_points`` (deterministically) so a 73,000-row
    residual plot stays fast. Returns ``(grid, smooth)``; empty arrays if fewer than 5 points.
    """
    x, y = _finite_pairs(x, y)
    if x.size < 5 or np.ptp(x) == 0:
        return np.empty(0), np.empty(0)
    if x.size > max_points:
        idx = np.random.default_rng(seed).choice(x.size, max_points, replace=False)
        x, y = x[idx], y[idx]
    grid = np.linspace(x.min(), x.max(), n_out)
    k = max(3, int(np.ceil(frac * x.size)))
    out = np.empty(n_out)
    for i, g in enumerate(grid):
        d = np.abs(x - g)
        h = np.partition(d, k - 1)[k - 1]
        h = h if h > 0 else (d.max() or 1.0)
        w = np.clip(1 - (d / (h * 1.0001)) ** 3, 0, None) ** 3
        sw = w.sum()
        if sw <= 0:
            out[i] = np.nan
            continue
        mx, my = (w * x).sum() / sw, (w * y).sum() / sw
        vx = (w * (x - mx) ** 2).sum()
        slope = (w * (x - mx) * (y - my)).sum() / vx if vx > 1e-300 else 0.0
        out[i] = my + slope * (g - mx)
    return grid, out


def kernel_proportion(x: np.ndarray, y: np.ndarray, n_out: int = 80, bandwidth: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-kernel smooth of a 0/1 response against x (a proportion in [0, 1])."""
    x, y = _finite_pairs(x, y)
    if x.size < 3 or np.ptp(x) == 0:
        return np.empty(0), np.empty(0)
    if bandwidth is None:
        bandwidth = 1.06 * np.std(x) * x.size ** (-1 / 5) * 1.5 or 1.0
    grid = np.linspace(x.min(), x.max(), n_out)
    w = np.exp(-0.5 * ((grid[:, None] - x[None, :]) / bandwidth) ** 2)
    return grid, (w @ y) / np.maximum(w.sum(axis=1), 1e-300)


def binned_quantiles(x: np.ndarray, y: np.ndarray, qs: tuple[float, ...] = (0.25, 0.5, 0.75),
                     n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of y within equal-count bins of x: ``(bin centres, array (n_bins, len(qs)))``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(x, kind="stable")
    bins = [b for b in np.array_split(order, min(n_bins, max(1, x.size // 5))) if b.size]
    centres = np.array([x[b].mean() for b in bins])
    qv = np.array([np.quantile(y[b], qs) for b in bins])
    return centres, qv


def cooks_contour(leverage: np.ndarray, p: int, d: float) -> np.ndarray:
    """Standardized residual at which Cook's distance equals ``d``: ±sqrt(d·p·(1−h)/h)."""
    h = np.asarray(leverage, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(d * p * (1 - h) / h)
