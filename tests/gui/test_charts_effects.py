"""Effect plots, contrast plots, their display tables and the code panel's inference calls:
pure functions tested on tables in the engine's documented layout, no Streamlit.

The numbers are emmeans 1.8.4 output (R 4.2.2, lme4 1.1-31), from the reference cases of
``make_effects_reference.R``:

- cbpp: ``m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)``,
  ``summary(emmeans(m, ~ period), type = "response")`` and ``pairs(.., adjust = "tukey")``;
- sleepstudy: ``m <- lmer(reaction ~ days + (days | subject), sleepstudy)``,
  ``emmeans(m, ~ days, at = list(days = 0:9), lmer.df = "satterthwaite")``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gui.figures import charts
from gui.figures.charts_effects import MAX_OBSERVED, plain
from gui.spec.model_spec import ModelSpec
from gui.views import codegen, tables

COLS = ["estimate", "std_error", "df", "lower", "upper", "statistic", "p_value"]

# summary(emmeans(m, ~ period), type = "response"): prob, SE, asymp.LCL, asymp.UCL
CBPP_PROB = pd.DataFrame({
    "period": ["p1", "p2", "p3", "p4"],
    "estimate": [0.198049154814383, 0.0838719548523528, 0.0739729272416038, 0.0483907417522679],
    "std_error": [0.0369224875022519, 0.0238360233401062, 0.0226241308939695, 0.0198043820495024],
    "df": [np.inf] * 4,
    "lower": [0.135384228301112, 0.0474768416843882, 0.0401354971743671, 0.0214201555465769],
    "upper": [0.280315780598368, 0.1439506695201, 0.132402931911435, 0.10565411148918],
    "statistic": [-6.01592228054709, -7.70715635335264, -7.65182333031593, -6.92640199406849],
    "p_value": [1.78865377562106e-09, 1.28652146064606e-14, 1.98149352372327e-14, 4.31678694083177e-12]})

# summary(pairs(emmeans(m, ~ period), adjust = "tukey"), type = "response", infer = TRUE): odds ratios
CBPP_PAIRS = pd.DataFrame({
    "contrast": ["p1 / p2", "p1 / p3", "p1 / p4", "p2 / p3", "p2 / p4", "p3 / p4"],
    "estimate": [2.69751989686425, 3.09154891746915, 4.8564802106316, 1.14607084865729, 1.80035009798335,
                 1.57088900750996],
    "std_error": [0.82717318138613, 1.00981544409316, 2.07583319629395, 0.436318250222354, 0.8466169434069,
                  0.760755771116647],
    "df": [np.inf] * 6,
    "lower": [1.2269844350545, 1.33580007516833, 1.61966275039799, 0.430972365428336, 0.537885619542996,
              0.452712401186358],
    "upper": [5.93048565742833, 7.15501884359473, 14.5619203938973, 3.04770907720872, 6.02592885465603,
              5.45090496184531],
    "statistic": [3.23612698863871, 3.45542885172526, 3.69719656916116, 0.358120835920059, 1.25035521675007,
                  0.932597580073079],
    "p_value": [0.00664934987323407, 0.00308434174438799, 0.00124, 0.98, 0.59, 0.79]})

# emmeans(m, ~ days, at = list(days = 0:9), lmer.df = "satterthwaite") (first three rows)
SLEEP_GRID = pd.DataFrame({
    "days": [0.0, 1.0, 2.0],
    "estimate": [251.405104848486, 261.872390808082, 272.339676767678],
    "std_error": [6.82455577627583, 6.78688689405603, 7.09422530859885],
    "df": [17.0000051947099, 17.000004986271, 17.0000047477578],
    "lower": [237.006551095066, 247.553311433945, 257.372170017363],
    "upper": [265.803658601906, 276.191470182219, 287.307183517993],
    "statistic": [36.838, 38.585, 38.389], "p_value": [1e-17, 1e-17, 1e-17]})


def two_lines_grid() -> pd.DataFrame:
    """Predictions over x for two levels of g (made-up numbers in the engine's layout)."""
    x = np.linspace(0, 10, 5)
    rows = []
    for g, slope in (("a", 1.0), ("b", -0.5)):
        est = 2 + slope * x
        rows.append(pd.DataFrame({"x": x, "g": g, "estimate": est, "std_error": 0.5, "df": 20.0,
                                  "lower": est - 1, "upper": est + 1, "statistic": est / 0.5, "p_value": 0.01}))
    return pd.concat(rows, ignore_index=True)


# ------------------------------------------------------------------ effect plot
def test_effect_plot_of_a_covariate_is_a_line_with_a_band():
    fig = charts.effect_plot(SLEEP_GRID, "days", y_label="reaction")
    assert isinstance(fig, go.Figure)
    upper, lower, line = fig.data
    np.testing.assert_allclose(line.y, SLEEP_GRID["estimate"])
    np.testing.assert_allclose(line.x, SLEEP_GRID["days"])
    np.testing.assert_allclose(upper.y, SLEEP_GRID["upper"])
    np.testing.assert_allclose(lower.y, SLEEP_GRID["lower"])
    assert lower.fill == "tonexty" and upper.line.width == 0        # the band between the interval ends
    assert fig.layout.xaxis.title.text == "days" and fig.layout.yaxis.title.text == "reaction"
    assert "95% confidence intervals" in fig.layout.title.text


def test_effect_plot_one_line_per_level_and_observed_data_underneath():
    grid = two_lines_grid()
    obs = pd.DataFrame({"x": [0.0, 5.0, 10.0, 2.0], "g": ["a", "a", "b", "b"], "y": [1.0, 7.0, -3.0, 1.0]})
    fig = charts.effect_plot(grid, "x", lines="g", observed=obs, level=0.9)
    kinds = [(t.mode, t.name) for t in fig.data]
    # observed points first (drawn underneath), then band + line per level
    assert kinds[0] == ("markers", "observed (a)") and kinds[1] == ("markers", "observed (b)")
    lines = [t for t in fig.data if t.mode == "lines" and t.showlegend is not False]
    assert [t.name for t in lines] == ["a", "b"]
    np.testing.assert_allclose(lines[1].y, 2 - 0.5 * np.linspace(0, 10, 5))
    assert list(fig.data[1].y) == [-3.0, 1.0]
    assert fig.data[0].marker.color.startswith("rgba(") and fig.data[0].marker.color.endswith(",0.28)")
    assert fig.layout.showlegend and fig.layout.legend.title.text == "g"
    assert "90% confidence" in fig.layout.title.text


def test_effect_plot_of_a_factor_points_with_error_bars_and_dodged_lines():
    fig = charts.effect_plot(CBPP_PROB, "period", y_label="probability of incidence")
    (tr,) = fig.data
    assert tr.mode == "markers"
    np.testing.assert_allclose(tr.y, CBPP_PROB["estimate"])
    np.testing.assert_allclose(tr.x, [0, 1, 2, 3])
    np.testing.assert_allclose(tr.error_y.array, CBPP_PROB["upper"] - CBPP_PROB["estimate"])
    np.testing.assert_allclose(tr.error_y.arrayminus, CBPP_PROB["estimate"] - CBPP_PROB["lower"])
    assert list(fig.layout.xaxis.ticktext) == ["p1", "p2", "p3", "p4"]
    # two lines: the same levels, shifted apart so the bars do not overlap
    grid = pd.concat([CBPP_PROB.assign(g="a"), CBPP_PROB.assign(g="b")], ignore_index=True)
    fig = charts.effect_plot(grid, "period", lines="g")
    a, b = fig.data
    assert np.all(np.asarray(b.x) - np.asarray(a.x) > 0.1)
    np.testing.assert_allclose((np.asarray(a.x) + np.asarray(b.x)) / 2, [0, 1, 2, 3])


def test_effect_plot_of_a_factor_spreads_observed_points_around_their_level_without_randomness():
    obs = pd.DataFrame({"period": ["p1"] * 50 + ["p4"] * 50, "y": np.linspace(0, 0.5, 100)})
    fig1 = charts.effect_plot(CBPP_PROB, "period", observed=obs)
    fig2 = charts.effect_plot(CBPP_PROB, "period", observed=obs)
    pts = fig1.data[0]
    x = np.asarray(pts.x)
    assert np.all(np.abs(x[:50] - 0) < 0.25) and np.all(np.abs(x[50:] - 3) < 0.25)
    assert np.std(x[:50]) > 0.05                                         # spread, not stacked
    np.testing.assert_array_equal(x, fig2.data[0].x)                     # and the same every time


def test_effect_plot_thins_large_observed_data_and_says_so():
    n = MAX_OBSERVED * 3
    obs = pd.DataFrame({"days": np.arange(n) % 10, "y": np.arange(n, dtype=float)})
    fig = charts.effect_plot(SLEEP_GRID, "days", observed=obs)
    assert len(fig.data[0].x) == MAX_OBSERVED
    assert f"{MAX_OBSERVED:,} of {n:,} observations drawn" in fig.layout.title.text


def test_effect_plot_shows_user_text_as_text():
    grid = CBPP_PROB.rename(columns={"period": "<b>x</b>"}).assign(**{"<b>x</b>": ["<i>a</i>", "b", "c", "d"]})
    fig = charts.effect_plot(grid, "<b>x</b>")
    assert fig.layout.xaxis.title.text == "&lt;b&gt;x&lt;/b&gt;"
    assert fig.layout.xaxis.ticktext[0] == "&lt;i&gt;a&lt;/i&gt;"
    assert plain("a & b") == "a &amp; b"


def test_effect_plot_without_predictions_says_so():
    fig = charts.effect_plot(pd.DataFrame(columns=COLS), "x")
    assert fig.layout.annotations[0].text == "No predictions to show."


# ---------------------------------------------------------------- contrast plot
def test_contrast_plot_of_odds_ratios_on_a_log_axis():
    fig = charts.contrast_plot(CBPP_PAIRS, ratio=True)
    (tr,) = fig.data
    assert list(tr.y) == list(CBPP_PAIRS["contrast"][::-1])            # first contrast on top
    np.testing.assert_allclose(tr.x, CBPP_PAIRS["estimate"][::-1])
    np.testing.assert_allclose(np.asarray(tr.x) + np.asarray(tr.error_x.array), CBPP_PAIRS["upper"][::-1])
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.shapes[0].x0 == 1.0                                # no effect: ratio 1
    red = [c for c, p in zip(tr.marker.color, CBPP_PAIRS["p_value"][::-1]) if p < 0.05]
    assert len(red) == 3 and set(red) == {"#D55E00"}
    assert "Tukey adjustment" in fig.layout.title.text


def test_contrast_plot_of_differences_by_group():
    pairs = pd.DataFrame({"contrast": ["A - B", "A - B"], "g": ["x", "y"], "estimate": [1.0, -2.0],
                          "lower": [0.5, -3.0], "upper": [1.5, -1.0], "p_value": [0.01, 0.2]})
    fig = charts.contrast_plot(pairs, by=["g"], adjust="none")
    assert list(fig.data[0].y) == ["A - B | g = y", "A - B | g = x"]
    assert fig.layout.xaxis.type == "linear" and fig.layout.shapes[0].x0 == 0.0
    assert "no adjustment" in fig.layout.title.text


# ----------------------------------------------------------------------- tables
def test_means_display_rounds_for_showing_only():
    shown = tables.means_display(CBPP_PROB, ["period"], estimate="Probability")
    assert list(shown.columns) == ["period", "Probability", "SE", "95% lower", "95% upper"]   # z: no df column
    assert shown.loc[0, "Probability"] == "0.19805" and shown.loc[0, "95% upper"] == "0.28032"
    assert CBPP_PROB.loc[0, "estimate"] == 0.198049154814383                                   # numbers untouched
    shown = tables.means_display(SLEEP_GRID, ["days"], 0.9, tests=True)
    assert list(shown.columns) == ["days", "Estimate", "SE", "df", "90% lower", "90% upper", "t ratio", "p"]
    assert shown.loc[0, "df"] == "17.00" and shown.loc[0, "p"] == "< 0.0001"          # lmerTest prints 17.00


def test_pairs_display_labels_ratios_and_adjusted_p():
    shown = tables.pairs_display(CBPP_PAIRS, ratio=True)
    assert list(shown.columns) == ["contrast", "Ratio", "SE", "95% lower", "95% upper", "z ratio", "p", ""]
    assert shown.loc[0, "contrast"] == "p1 / p2" and shown.loc[0, "p"] == "0.0066" and shown.loc[0, ""] == "**"


def test_fixef_tests_and_anova_display():
    # summary(lmer(reaction ~ days + (days | subject), sleepstudy), ddf = "Satterthwaite")$coefficients
    ft = pd.DataFrame({"estimate": [251.405104848485, 10.467285959596], "std_error": [6.82455, 1.54579],
                       "df": [17.0000, 17.0000], "statistic": [36.8383, 6.77154],
                       "p_value": [1.1712e-17, 3.2637e-06], "lower": [237.0066, 7.2060],
                       "upper": [265.8036, 13.7285]}, index=["(Intercept)", "days"])
    shown = tables.fixef_tests_display(ft)
    assert list(shown.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)", "", "95% lower",
                                   "95% upper"]
    assert shown.loc["days", "df"] == "17" and shown.loc["days", "t value"] == "6.77"
    mixed = tables.fixef_tests_display(ft.assign(df=[18.000177, 18.0]))         # one column, one format
    assert list(mixed["df"]) == ["18.00", "18.00"]
    z = tables.fixef_tests_display(ft.assign(df=np.inf))
    assert "df" not in z and "z value" in z and "Pr(>|z|)" in z
    a = pd.DataFrame({"sum_sq": [29.1], "mean_sq": [14.55], "num_df": [2.0], "den_df": [42.0000001],
                      "f_value": [1.4], "p_value": [0.25]}, index=["recipe"])
    shown = tables.anova_display(a)
    assert list(shown.columns) == ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)", ""]
    assert shown.loc["recipe", "DenDF"] == "42" and shown.loc["recipe", "F value"] == "1.400"
    chi = tables.anova_display(pd.DataFrame({"chisq": [19.3], "df": [3.0], "p_value": [2.3e-4]},
                                            index=["period"]))
    assert list(chi.columns) == ["Chisq", "Df", "Pr(>Chisq)", ""] and chi.loc["period", ""] == "***"


def test_markdown_text_is_shown_as_written():
    assert tables.escape_markdown("a_b*c") == r"a_b\*c"           # an intraword _ is literal
    assert tables.escape_markdown(":smile: $x$") == r"\:smile: \$x\$"


# ------------------------------------------------------------------- code panel
def test_r_code_reproduces_the_lmm_tables_with_lmertest_and_emmeans():
    spec = ModelSpec.from_text("reaction ~ 1 + days + (1 + days | subj)")
    inf = codegen.Inference(ddf="kenward-roger", anova_type=2, trend="days", grid=("days",),
                            at={"days": list(np.linspace(0, 9, 41))}, adjust="")
    r = codegen.r_code(spec, "sleepstudy", inf)
    assert r.startswith("library(lmerTest)")
    assert 'summary(m, ddf = "Kenward-Roger")' in r and 'anova(m, type = 2, ddf = "Kenward-Roger")' in r
    assert 'emm <- emtrends(m, ~ 1, var = "days", lmer.df = "kenward-roger")' in r
    assert "at = list(days = seq(0, 9, length.out = 41))" in r
    assert "pairs(" not in r
    py = codegen.python_code(spec, "sleepstudy", inf)
    assert "mm_core.fixef_tests(result, ddf='kenward-roger', level=0.95)" in py
    assert "mm_core.emtrends(result, [], 'days', ddf='kenward-roger', level=0.95)" in py
    assert "at={'days': np.linspace(0, 9, 41).tolist()}" in py and py.startswith("import numpy as np")


def test_r_code_reproduces_the_glmm_tables_on_the_response_scale():
    spec = ModelSpec.from_text("cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)")
    spec.family = "binomial"
    inf = codegen.Inference(specs=("period",), scale="response", adjust="holm",
                            factors={"period": ["1", "2", "3", "4"]})
    r = codegen.r_code(spec, "cbpp", inf)
    assert "library(car)" in r and "library(emmeans)" in r and "lmerTest" not in r
    assert 'data[["period"]] <- factor(data[["period"]], levels = c("1", "2", "3", "4"))' in r
    assert r.index("factor(data") < r.index("glmer(")
    assert "car::Anova(m, type = 3)" in r
    assert "emm <- emmeans(m, ~ period)" in r                               # GLMM: asymptotic, no lmer.df
    assert 'summary(pairs(emm, adjust = "holm"), infer = TRUE, level = 0.95, type = "response")' in r
    by = codegen.Inference(specs=("factor(days)",), by=("my group",), anova_type=0)
    r = codegen.r_code(ModelSpec.from_text("reaction ~ 1 + factor(days) + (1 | subj)"), "sleepstudy", by)
    assert 'emm <- emmeans(m, ~ days | `my group`, lmer.df = "satterthwaite")' in r
    assert "anova(" not in r


def test_odds_ratio_toggle_changes_the_table_too():
    ft = pd.DataFrame({"estimate": [-1.4, 0.7], "std_error": [0.2, 0.3], "df": [np.inf, np.inf],
                       "statistic": [-7.0, 2.33], "p_value": [1e-12, 0.02], "lower": [-1.8, 0.1],
                       "upper": [-1.0, 1.3]}, index=["(Intercept)", "period2"])
    plain = tables.fixef_tests_display(ft)
    ratios = tables.fixef_tests_display(ft, exp=True)
    assert "exp(Estimate)" not in plain and "95% lower" in plain
    assert ratios.loc["period2", "exp(Estimate)"] == tables.fmt_num(np.exp(0.7), 5)
    assert ratios.loc["period2", "95% lower (exp)"] == tables.fmt_num(np.exp(0.1), 5)
    assert ratios.loc["period2", "Estimate"] == plain.loc["period2", "Estimate"]
