"""Pure figure builders and helpers: tested on fig.data / fig.layout, no Streamlit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import stats

from gui import engine
from gui.figures import charts
from gui.figures.charts_common import chart_config
from gui.figures.numerics import binned_quantiles, cooks_contour, kernel_proportion, lowess


# ------------------------------------------------------------------ caterpillar
def _long(b: pd.DataFrame, sd: pd.DataFrame, z: float = 1.959964) -> pd.DataFrame:
    """A table in the layout of ``mm_core.caterpillar`` (for pictures of made-up random effects)."""
    return pd.concat([pd.DataFrame({"level": b.index.astype(str), "name": c, "estimate": b[c], "condsd": sd[c],
                                    "lower": b[c] - z * sd[c], "upper": b[c] + z * sd[c]}) for c in b.columns],
                     ignore_index=True)


def test_caterpillar_sleepstudy_levels_order_and_intervals(lmm_record, sleep_ranef):
    b, sd = sleep_ranef
    cat = engine.caterpillar(lmm_record.result, "subj", level=0.95)
    fig = charts.caterpillar(cat, group="subj", level=0.95)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 2                                    # one panel per column
    order = list(b["(Intercept)"].sort_values().index)           # lme4: ordered by the first column
    for trace, col in zip(fig.data, b.columns):
        assert len(trace.y) == 18                                # 18 subjects per panel
        assert list(trace.y) == order                            # same order in every panel
        np.testing.assert_allclose(trace.x, b.loc[order, col], atol=1e-3)     # lme4's conditional modes
        half = 1.959964 * sd.loc[order, col].to_numpy()                       # ± z · condsd of lme4
        np.testing.assert_allclose(trace.error_x.array, half, rtol=1e-4)
        np.testing.assert_allclose(trace.error_x.arrayminus, half, rtol=1e-4)
    assert list(fig.layout.yaxis.categoryarray) == order
    assert fig.layout.annotations[0].text == "(Intercept)" and fig.layout.annotations[1].text == "days"


def test_caterpillar_level_order_options_and_exp(lmm_record, sleep_ranef):
    b, sd = sleep_ranef
    cat = engine.caterpillar(lmm_record.result, "subj", level=0.5)
    fig = charts.caterpillar(cat, group="subj", level=0.5, order_by="days")
    assert list(fig.data[0].y) == list(b["days"].sort_values().index)
    np.testing.assert_allclose(fig.data[1].error_x.array, stats.norm.ppf(0.75) * sd.loc[list(fig.data[0].y), "days"],
                               rtol=1e-4)
    assert charts.order_levels(cat, "days") == list(fig.data[0].y)
    fig = charts.caterpillar(cat, order_by="alphabetical")
    assert list(fig.data[0].y) == sorted(b.index)
    small = _long(b / 100, sd / 100)
    fig = charts.caterpillar(small, transform="exp", columns=["(Intercept)"])
    assert len(fig.data) == 1
    tr = fig.data[0]
    lv = list(tr.y)
    np.testing.assert_allclose(tr.x, np.exp(b.loc[lv, "(Intercept)"] / 100))
    hi = np.exp((b.loc[lv, "(Intercept)"] + 1.959964 * sd.loc[lv, "(Intercept)"]) / 100)
    np.testing.assert_allclose(np.asarray(tr.x) + np.asarray(tr.error_x.array), hi, rtol=1e-6)


def test_caterpillar_hover_names_level_and_sizes(sleep_ranef):
    b, sd = sleep_ranef
    sizes = pd.Series(10, index=b.index)
    fig = charts.caterpillar(_long(b, sd), group="subj", sizes=sizes)
    assert "%{y}" in fig.data[0].hovertemplate and "observations" in fig.data[0].hovertemplate
    assert np.asarray(fig.data[0].customdata).shape == (18, 4)


def test_caterpillar_many_levels_hides_labels():
    idx = [f"L{i}" for i in range(500)]
    b = pd.DataFrame({"(Intercept)": np.random.default_rng(1).normal(size=500)}, index=idx)
    fig = charts.caterpillar(_long(b, b.abs() * 0 + 0.1), group="g")
    assert fig.layout.yaxis.showticklabels is False
    assert fig.layout.height <= 1800


def test_qq_caterpillar_sorts_each_column_separately(lmm_record, sleep_ranef):
    b, sd = sleep_ranef
    fig = charts.qq_caterpillar(engine.qq_caterpillar(lmm_record.result, "subj"), group="subj")
    q = stats.norm.ppf((np.arange(1, 19) - 0.5) / 18)                 # qnorm(ppoints(18))
    for trace, col in zip(fig.data, b.columns):
        np.testing.assert_allclose(trace.x, np.sort(b[col]), atol=1e-3)
        np.testing.assert_allclose(trace.y, q)
        assert list(trace.text) == list(b[col].sort_values().index)
        np.testing.assert_allclose(trace.error_x.array, 1.959964 * sd.loc[list(trace.text), col], rtol=1e-4)


def test_shrinkage_one_and_two_columns(sleep_ranef):
    b, _ = sleep_ranef
    unpooled = b * 1.5
    fig = charts.shrinkage(b, unpooled, group="subj")          # two columns: one pair panel
    pooled_trace = next(t for t in fig.data if t.name == "conditional mode")
    np.testing.assert_allclose(pooled_trace.x, b["(Intercept)"])
    np.testing.assert_allclose(pooled_trace.y, b["days"])
    raw = next(t for t in fig.data if t.name == "no pooling")
    np.testing.assert_allclose(raw.x, unpooled["(Intercept)"])
    fig1 = charts.shrinkage(b[["days"]], unpooled[["days"]], group="subj")
    pts = next(t for t in fig1.data if t.name == "conditional mode")
    assert list(pts.y) == list(b["days"].sort_values().index)


def test_group_panels_one_panel_per_level():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": np.tile(np.arange(5), 4), "group": np.repeat(list("abcd"), 5)})
    d["y"] = d["x"] * 2 + rng.normal(size=20)
    d["conditional"] = d["x"] * 2.1
    d["population"] = d["x"] * 2
    fig = charts.group_panels(d, x="x", y="y", group="group", conditional="conditional", population="population")
    assert len(fig.data) == 12                                   # observed, population, conditional per panel
    assert [a.text for a in fig.layout.annotations] == list("abcd")
    fig2 = charts.group_panels(d, x="x", y="y", group="group", conditional="conditional", population="population",
                               levels=["b", "c"])
    assert len(fig2.data) == 6


# ------------------------------------------------------------------ explore
def test_dotplot_levels_sorted_by_mean():
    d = pd.DataFrame({"batch": list("AABBCC"), "yield": [5.0, 7, 1, 3, 10, 12]})
    fig = charts.dotplot_by_group(d, "yield", "batch")
    assert list(fig.layout.yaxis.categoryarray) == ["B", "A", "C"]
    means = fig.data[1]
    np.testing.assert_allclose(means.x, [2, 6, 11])


def test_trellis_sleepstudy_has_one_panel_and_line_per_subject(sleepstudy):
    fig = charts.trellis(sleepstudy, "days", "reaction", "subj")
    assert len(fig.layout.annotations) == 18
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 18
    # each line is that subject's least-squares fit
    s = sleepstudy[sleepstudy["subj"].astype(str) == fig.layout.annotations[0].text]
    slope, icpt = np.polyfit(s["days"], s["reaction"], 1)
    np.testing.assert_allclose(lines[0].y, icpt + slope * np.array([0, 9]), rtol=1e-8)


def test_binary_by_covariate_proportions_in_unit_interval():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, 400)
    y = pd.Categorical(np.where(rng.uniform(size=400) < 1 / (1 + np.exp(-2 * x)), "Y", "N"))
    fig = charts.binary_by_covariate(pd.DataFrame({"x": x, "use": y}), "use", "x")
    binned, smooth = fig.data[0], fig.data[1]
    assert all(0 <= v <= 1 for v in binned.y) and all(0 <= v <= 1 for v in smooth.y)
    assert binned.y[-1] > binned.y[0]                         # increasing in x
    assert "use = Y" in fig.layout.title.text


def test_crosstab_heatmap_counts():
    tab = pd.DataFrame([[2, 0], [0, 3]], index=["a", "b"], columns=["x", "y"])
    fig = charts.crosstab_heatmap(tab, "f", "g", "nested")
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z[0, 0] == 2 and np.isnan(z[0, 1])


# ------------------------------------------------------------------ diagnostics
def test_resid_vs_fitted_and_qq():
    rng = np.random.default_rng(3)
    f = rng.uniform(200, 400, 180)
    r = rng.normal(size=180)
    fig = charts.resid_vs_fitted(f, r)
    np.testing.assert_allclose(fig.data[0].x, f)
    assert fig.data[1].name == "smoother" and len(fig.data[1].x) == 80
    qq = charts.qq_normal(r)
    np.testing.assert_allclose(qq.data[0].y, np.sort(r))
    np.testing.assert_allclose(qq.data[0].x, stats.norm.ppf((np.arange(1, 181) - 0.5) / 180))   # ppoints(180)


def test_leverage_plot_has_cooks_contours(sleep_ref):
    lev = np.asarray(sleep_ref["leverage"])
    r = np.random.default_rng(4).normal(size=lev.size)
    d = r ** 2 * lev / (2 * (1 - lev))
    fig = charts.leverage_plot(lev, r, 2, cooks=d)
    assert len(fig.data) == 5                                   # points + 2 contours × 2 signs
    np.testing.assert_allclose(fig.data[0].x, lev)
    np.testing.assert_allclose(np.asarray(fig.data[0].customdata)[:, 1], d)   # Cook's distance on hover
    contour = fig.data[1]                                       # Cook's distance 0.5 along the line
    h = np.asarray(contour.x)
    np.testing.assert_allclose(np.asarray(contour.y) ** 2 * h / (2 * (1 - h)), 0.5)


def test_residuals_by_group_boxes_sorted_by_median():
    r = np.array([3.0, 4, -1, -2, 0, 1])
    g = np.array(list("aabbcc"))
    fig = charts.resid_by_group(r, g, group="g")
    assert list(fig.layout.yaxis.categoryarray) == ["b", "c", "a"]


def test_simulated_residual_plots():
    s = np.random.default_rng(5).uniform(size=300)
    fig = charts.qq_uniform(s, {"uniformity": 0.5, "zero_inflation": 0.25})
    np.testing.assert_allclose(fig.data[0].y, np.sort(s))
    np.testing.assert_allclose(fig.data[0].x, (np.arange(1, 301) - 0.5) / 300)
    assert "uniformity p = 0.5" in fig.layout.title.text and "zero inflation p = 0.25" in fig.layout.title.text
    fig2 = charts.scaled_vs_predicted(s, np.arange(300.0))
    assert len(fig2.data) == 4                                  # points + 3 binned quantile lines


# ------------------------------------------------------------------ fit pictures
def test_optimizer_trace(sleep_ref):
    trace = pd.DataFrame({"evaluation": [1, 2, 3], "objective": [1790.0, 1760.0, 1751.9],
                          "theta_1": [1, 0.9, 0.93], "theta_2": [0, 0.01, 0.018], "theta_3": [1, 0.3, 0.22]})
    fig = charts.optimizer_trace(trace)
    best = next(t for t in fig.data if t.name == "best so far")
    np.testing.assert_allclose(best.y, [1790, 1760, 1751.9])
    assert {t.name for t in fig.data} >= {"theta_1", "theta_2", "theta_3"}
    theta_colours = {t.line.color for t in fig.data if t.name.startswith("theta")}
    assert best.line.color not in theta_colours and len(theta_colours) == 3     # every line told apart


def test_coefplot_drops_intercept_and_uses_intervals(sleep_ref):
    ct = pd.DataFrame({"estimate": sleep_ref["fixef"], "std_error": sleep_ref["stderror"]},
                      index=sleep_ref["fixef_names"])
    ct["ci_lower"] = ct["estimate"] - 1.96 * ct["std_error"]
    ct["ci_upper"] = ct["estimate"] + 1.96 * ct["std_error"]
    fig = charts.coefplot(ct)
    assert list(fig.data[0].y) == ["days"]
    np.testing.assert_allclose(fig.data[0].error_x.array, [1.96 * sleep_ref["stderror"][1]])


def test_bootstrap_histograms_mark_estimate_and_interval():
    rng = np.random.default_rng(6)
    s = pd.DataFrame({"(Intercept)": rng.normal(251, 6.6, 200), "sigma": rng.normal(25.6, 1.4, 200)})
    fig = charts.bootstrap_histograms(s, {"(Intercept)": 251.4, "sigma": 25.59}, {"sigma": (23.0, 28.0)})
    assert len(fig.data) == 2
    shapes = fig.layout.shapes
    assert any(sh.type == "line" and abs(sh.x0 - 25.59) < 1e-9 for sh in shapes)
    rects = [sh for sh in shapes if sh.type == "rect"]
    assert len(rects) == 1 and (rects[0].x0, rects[0].x1) == (23.0, 28.0)


def test_sparsity_image_and_empty():
    pat = np.eye(5, dtype=bool)
    fig = charts.sparsity_image(pat, "Z'Z", [2], nnz=5, shape=(5, 5))
    assert np.nansum(np.asarray(fig.data[0].z, float)) == 5
    assert "5 non-zeros" in fig.layout.title.text
    assert isinstance(charts.empty_figure("nothing"), go.Figure)


def test_chart_config_png_export():
    cfg = chart_config("caterpillar subj/fit 1")
    assert cfg["toImageButtonOptions"]["format"] == "png"
    assert cfg["toImageButtonOptions"]["filename"] == "caterpillar_subj_fit_1"


# ------------------------------------------------------------------ numerics
def test_numerics():
    x = np.arange(100.0)
    gx, gy = lowess(x, 2 * x + 1)
    np.testing.assert_allclose(gy, 2 * gx + 1, rtol=1e-8)
    gx, gy = kernel_proportion(x, (x > 50).astype(float))
    assert gy[0] < 0.1 and gy[-1] > 0.9
    c, q = binned_quantiles(x, x, n_bins=4)
    assert c.shape == (4,) and q.shape == (4, 3)
    assert cooks_contour(np.array([0.5]), 2, 1.0)[0] == pytest.approx(np.sqrt(2))
