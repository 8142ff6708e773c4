"""Explore page: the data before modelling, as every mixed-models text starts."""
from __future__ import annotations

import streamlit as st

from gui.figures import charts
from gui.shell import page, state, widgets
from gui.spec.data_design import categorical_columns, crosstab, relation, response_kind
from gui.views import tables

VIEWS = ["Response by group", "Trellis", "Binary response", "Grouping factors", "Distributions"]


def by_group(df, nums, cats, y0, g0) -> None:
    if not nums or not cats:
        st.info("Needs a numeric column and a categorical column.")
        return
    c1, c2 = st.columns(2)
    with c1:
        y = widgets.pref_select("Response", "ex.y", nums, y0)
    with c2:
        g = widgets.pref_select("Grouping factor", "ex.g", cats, g0)
    widgets.chart(charts.dotplot_by_group(df, y, g), f"dotplot_{y}_by_{g}")


def trellis(df, nums, cats, y0, g0) -> None:
    if len(nums) < 2 or not cats:
        st.info("Needs two numeric columns and a categorical column.")
        return
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        y = widgets.pref_select("Response", "ex.ty", nums, y0)
    with c2:
        xs = [c for c in nums if c != y]
        x = widgets.pref_select("Covariate", "ex.tx", xs, xs[0])
    with c3:
        g = widgets.pref_select("Panels by", "ex.tg", cats, g0)
    n = c4.number_input("Maximum panels", 4, 60, 30, key="w.ex.maxpanels")
    widgets.chart(charts.trellis(df, x, y, g, max_panels=int(n)), f"trellis_{y}_{x}_by_{g}")


def binary(df, nums, cats, spec) -> None:
    binaries = [c for c in df.columns if response_kind(df[c]) == "binary"]
    if not binaries:
        st.info("No binary (two-level) column in these data.")
        return
    c1, c2, c3 = st.columns(3)
    with c1:
        y = widgets.pref_select("Binary response", "ex.by", binaries,
                                spec.response if spec.response in binaries else binaries[0])
    with c2:
        xs = [c for c in df.columns if c != y]
        x = widgets.pref_select("Against", "ex.bx", xs, next((c for c in nums if c != y), xs[0]))
    with c3:
        small = ["(none)"] + [c for c in cats if c not in (y, x) and df[c].nunique() <= 8]
        g = widgets.pref_select("Separate curves by", "ex.bg", small, "(none)")
    widgets.chart(charts.binary_by_covariate(df, y, x, None if g == "(none)" else g), f"proportion_{y}_{x}")


def grouping(df, cats) -> None:
    if len(cats) < 2:
        st.info("Needs two categorical columns.")
        return
    c1, c2 = st.columns(2)
    with c1:
        a = widgets.pref_select("Factor 1", "ex.ca", cats, cats[0])
    with c2:
        others = [c for c in cats if c != a]
        b = widgets.pref_select("Factor 2", "ex.cb", others, others[0])
    rel = relation(df, a, b)
    st.markdown(f"**{tables.escape_markdown(a)}** and **{tables.escape_markdown(b)}**: "
                f"{tables.escape_markdown(rel)}.")
    widgets.chart(charts.crosstab_heatmap(crosstab(df, a, b), a, b, rel), f"crosstab_{a}_{b}")
    widgets.table(crosstab(df, a, b, max_levels=10_000), f"crosstab_{a}_{b}", key="dl.crosstab")


def body() -> None:
    df = widgets.need_data()
    if df is None:
        return
    cats = categorical_columns(df)
    nums = [c for c in df.columns if c not in cats]
    spec = state.spec()
    y0 = spec.response if spec.response in nums else (nums[-1] if nums else None)
    g0 = spec.random[0].group if spec.random and spec.random[0].group in cats else (cats[0] if cats else None)
    view = widgets.pref_select("Show", "ex.view", VIEWS, VIEWS[0], widget="radio")
    with widgets.guard(f"the {view.lower()} view"):
        if view == "Response by group":
            by_group(df, nums, cats, y0, g0)
        elif view == "Trellis":
            trellis(df, nums, cats, y0, g0)
        elif view == "Binary response":
            binary(df, nums, cats, spec)
        elif view == "Grouping factors":
            grouping(df, cats)
        else:
            col = widgets.pref_select("Column", "ex.hist", list(df.columns), y0)
            widgets.chart(charts.histogram(df, col), f"histogram_{col}")


page.run("Explore", body, "Look at the data before modelling.")
