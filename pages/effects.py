"""Effects page: marginal means, slopes, pairwise comparisons and the effect plot of a fit (emmeans)."""
from __future__ import annotations

from types import SimpleNamespace

import streamlit as st

from gui.figures import charts
from gui.shell import cache, page, state, widgets
from gui.views import effects, tables

NONE = "(none)"       # no factor for separate lines (formula labels never look like this)


def controls(rec, preds) -> SimpleNamespace:
    res = rec.result
    c = SimpleNamespace(ddf="asymptotic", scale="link", compare="within")
    c1, c2, c3 = st.columns(3)
    with c1:
        c.x = widgets.pref_select("Predictor (horizontal axis)", state.effects_pref("x", rec.id), preds.variables,
                                  help="A factor: its estimated marginal means and their comparisons. A covariate: "
                                       "the model's predictions over its range and its slope.")
    with c2:
        lines = widgets.pref_select("Separate lines for", state.effects_pref("lines", rec.id),
                                    [NONE] + [f for f in preds.factors if f != c.x])
        c.lines = None if lines == NONE else lines
    with c3:
        if res.is_lmm:
            c.ddf = widgets.pref_select("Degrees of freedom", state.PREF_DDF, effects.ddf_choices(res),
                                        format_func=effects.DDF_LABELS.get, help=effects.DDF_HELP)
        else:
            words = effects.scales(res)
            c.scale = widgets.pref_select(
                "Scale", state.PREF_SCALE, ["response", "link"],
                format_func=lambda s: f"response ({words.response})" if s == "response" else f"link ({words.link})",
                help="Response: means back-transformed" + (f", comparisons as {words.ratio}s" if words.ratio else "")
                     + ". Link: the linear predictor, where the tests are done.")
    c4, c5, c6 = st.columns(3)
    with c4:
        c.adjust = widgets.pref_select("P-value adjustment", state.PREF_ADJUST, list(effects.ADJUST_LABELS),
                                       format_func=effects.ADJUST_LABELS.get,
                                       help="How the p-values and intervals of the pairwise comparisons are "
                                            "corrected for making several comparisons.")
    with c5:
        c.level = widgets.pref_select("Confidence level", state.PREF_LEVEL, [0.90, 0.95, 0.99], 0.95,
                                      format_func=lambda v: f"{v:.0%}")
    with c6:
        if c.lines and preds.is_factor(c.x):
            c.compare = widgets.pref_select("Compare", state.effects_pref("compare", rec.id), ["within", "all"],
                                            format_func=lambda v: f"{c.x} within each {c.lines}" if v == "within"
                                            else "all combinations")
    # what is shown is kept as the fit's choices (the report shows the same table)
    for what, value in (("x", c.x), ("lines", lines), ("compare", c.compare)):
        if state.pref(state.effects_pref(what, rec.id)) != value:
            state.set_pref(state.effects_pref(what, rec.id), value)
    return c


def means_section(rec, preds, c):
    res = rec.result
    m = cache.effects(rec, "shown_means", x=c.x, lines=c.lines, compare=c.compare, ddf=c.ddf, scale=c.scale,
                      level=c.level, adjust=c.adjust)
    if preds.is_factor(c.x):
        st.subheader("Estimated marginal means")
        widgets.table(m.table, f"emmeans_{'_'.join(m.columns)}_fit{rec.id}", key="dl.emmeans", index=False,
                      display=tables.means_display(m.table, m.columns, c.level,
                                                   estimate=effects.estimate_label(res, c.scale)))
        st.caption(effects.averaging_note(rec, m.columns) + (" Intervals back-transformed from the link scale; tests "
                   "on the link scale." if c.scale == "response" and not res.is_lmm else ""))
    else:
        st.subheader(f"Slope of {tables.escape_markdown(c.x)}")
        widgets.table(m.table, f"slopes_{c.x}_fit{rec.id}", key="dl.emtrends", index=False,
                      display=tables.means_display(m.table, m.columns, c.level, estimate="Slope", tests=True))
        st.caption(effects.slope_note(rec, c.x, c.lines))
    return m


def plot_section(rec, preds, c):
    st.subheader("Effect plot")
    res = rec.result
    show_obs = widgets.pref_toggle("Show the observed data", state.PREF_OBSERVED, True)
    grid = cache.effects(rec, "prediction_grid", x=c.x, lines=c.lines, ddf=c.ddf, scale=c.scale, level=c.level)
    drawable = res.is_lmm or c.scale == "response"
    obs = cache.effects(rec, "observed", x=c.x, lines=c.lines) if show_obs and drawable else None
    fig = charts.effect_plot(grid, c.x, lines=c.lines, x_is_factor=preds.is_factor(c.x), observed=obs,
                             y_label=effects.response_label(rec, c.scale), level=c.level)
    widgets.chart(fig, f"effect_plot_{c.x}_fit{rec.id}")
    if show_obs and not drawable:
        st.caption("The observed data are drawn on the response scale only.")
    note = effects.averaging_note(rec, [c.x] + ([c.lines] if c.lines else []))
    if note and not preds.is_factor(c.x):
        st.caption(note)
    with st.expander("Plot data: predictions with intervals"):
        widgets.table(grid, f"predictions_{c.x}_fit{rec.id}", key="dl.predictions", index=False,
                      display=tables.means_display(grid, [v for v in (c.x, c.lines) if v], c.level,
                                                   estimate=effects.estimate_label(res, c.scale)))


def pairs_section(rec, preds, m, c):
    st.subheader("Pairwise comparisons")
    if m.pairs is None and not preds.is_factor(c.x):
        st.info(f"Slopes of {tables.escape_markdown(c.x)} are compared between the levels of a factor it "
                "interacts with in the model" + (f"; {tables.escape_markdown(c.lines)} does not." if c.lines
                                                 else ": choose one under *Separate lines for*."))
        return
    if m.pairs is None:
        st.info("There is only one level to compare" + (" within each group." if m.by else "."))
        return
    widgets.table(m.pairs, f"pairs_{'_'.join(m.columns)}_fit{rec.id}", key="dl.pairs", index=False,
                  display=tables.pairs_display(m.pairs, m.by, c.level, ratio=m.ratio))
    widgets.chart(charts.contrast_plot(m.pairs, by=list(m.by), ratio=m.ratio, level=c.level, adjust=c.adjust),
                  f"pairs_fit{rec.id}")
    words = effects.scales(rec.result)
    what = f"{words.ratio}s" if m.ratio else "differences"
    st.caption(f"Estimates are {what}; p-values and intervals " + ("not adjusted for multiple comparisons."
               if c.adjust == "none" else f"with {effects.ADJUST_LABELS[c.adjust]} adjustment."))


def body(rec) -> None:
    preds = effects.predictors(rec)
    if not preds.variables:
        st.info("This model has no fixed-effect predictors, only an intercept. Add some on the **Model** page.")
        return
    c = None
    with widgets.guard("the controls"):
        c = controls(rec, preds)
        c.ddf, why = cache.effects(rec, "usable_ddf", ddf=c.ddf)
        if why:
            st.warning(why)
    if c is None:
        return
    m = None
    with widgets.guard("the marginal means"):
        m = means_section(rec, preds, c)
    with widgets.guard("the effect plot"):
        plot_section(rec, preds, c)
    if m is not None:
        with widgets.guard("the pairwise comparisons"):
            pairs_section(rec, preds, m, c)
    with widgets.guard("the code panel"), st.expander("Code: these tables in Python and R"):
        factor_x, by = preds.is_factor(c.x), m.by if m else ()
        widgets.code_panel(rec.spec, rec.data_name, effects.code_inference(
            rec, ddf=c.ddf, anova_type=0, specs=tuple(v for v in m.columns if v not in by) if m else (), by=by,
            trend=None if factor_x else c.x, grid=tuple(v for v in (c.x, c.lines) if v),
            at={} if factor_x else {c.x: effects.covariate_grid(rec, c.x)}, scale=c.scale,
            adjust=c.adjust if m is not None and m.pairs is not None else "", level=c.level))


page.run("Effects", body, "What the fixed effects say: estimated marginal means, comparisons and the model's "
                          "predictions, with t tests as in lmerTest and emmeans.", per_fit=True)
