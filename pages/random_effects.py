"""Random effects page: caterpillar, qq-caterpillar, shrinkage, per-group panels, table."""
from __future__ import annotations

import streamlit as st

from gui import engine
from gui.figures import charts
from gui.shell import cache, page, widgets
from gui.views import tables

VIEWS = ["Caterpillar", "QQ caterpillar", "Shrinkage", "Groups with fitted lines", "Table"]


def controls(rec):
    res = rec.result
    c1, c2, c3 = st.columns(3)
    with c1:
        group = widgets.pref_select("Grouping factor", "re.group", list(res.ranef))
    ranef = res.ranef[group]
    with c2:
        level = widgets.pref_slider("Interval level", "re.level", 0.50, 0.99, 0.95, 0.01)
    with c3:
        orders = [str(c) for c in ranef.columns] + ["alphabetical"]
        order = widgets.pref_select("Order levels by", "re.order", orders, orders[0],
                                    help="lme4 orders by the first column (usually the intercept).")
    names = [str(c) for c in ranef.columns]
    columns = st.multiselect("Columns (terms)", names, default=names, key=f"w.re.cols.{group}.{rec.id}")
    transform = None
    if res.link in ("log", "logit"):
        transform = "exp" if widgets.pref_toggle("exp scale (odds / rate ratios)", "re.exp", False) else None
    return group, level, order, columns or names, transform


def group_panels(rec, group, levels):
    """Observed data and fitted lines of some levels (``levels``: all, in the caterpillar's order)."""
    data = rec.data
    grouping = rec.result.grouping_columns[group]
    covs = [c for c in data.columns if c not in grouping and str(data[c].dtype) != "category"]
    covs = covs or [c for c in data.columns if c not in grouping]
    c1, c2 = st.columns(2)
    with c1:
        x = widgets.pref_select("x axis", f"re.x.{rec.id}", covs, covs[0])
    with c2:
        n_show = st.number_input("Panels", 1, min(60, len(levels)), min(18, len(levels)),
                                 key=f"w.re.npanels.{rec.id}")
    chosen = st.multiselect("Levels to show (default: spread over the caterpillar ordering)", levels,
                            key=f"w.re.levels.{group}.{rec.id}")
    if not chosen:
        step = max(1, len(levels) // int(n_show))
        chosen = levels[::step][: int(n_show)]
    frame = cache.derived(rec, "group_frame", group=group, x=x)
    widgets.chart(charts.group_panels(frame, x="x", y="y", group="group", conditional="conditional",
                                      population="population", levels=chosen, max_panels=60,
                                      labels={"x": x, "y": rec.result.response_name, "group": group}),
                  f"groups_{group}_fit{rec.id}")
    if frame.attrs.get("held"):
        st.caption(tables.escape_markdown("Lines at typical values of the other predictors: " + ", ".join(
            f"{c} = {v:.4g} (mean)" if isinstance(v, float) else f"{c} = {v} (most frequent)"
            for c, v in frame.attrs["held"].items()) + "."))


def body(rec) -> None:
    res = rec.result
    with widgets.guard("the controls"):
        group, level, order, columns, transform = controls(rec)
    view = widgets.pref_select("Show", "re.view", VIEWS, VIEWS[0], widget="radio")
    with widgets.guard(f"the {view.lower()}"):
        if view == "Caterpillar":
            sizes = cache.derived(rec, "group_sizes", group=group)
            widgets.chart(charts.caterpillar(engine.caterpillar(res, group, level=level), group=group, level=level,
                                             order_by=order, columns=columns, transform=transform, sizes=sizes),
                          f"caterpillar_{group}_fit{rec.id}")
            st.caption("Hover a point for the level's name, interval and number of observations. Orange: the interval "
                       "excludes zero. Intervals ignore the uncertainty in the variance estimates.")
        elif view == "QQ caterpillar":
            widgets.chart(charts.qq_caterpillar(engine.qq_caterpillar(res, group, level=level), group=group,
                                                level=level, columns=columns),
                          f"qqcaterpillar_{group}_fit{rec.id}")
        elif view == "Shrinkage":
            s = cache.derived(rec, "shrinkage", group=group)
            widgets.chart(charts.shrinkage(s.conditional, s.unpenalized, group=group, columns=columns),
                          f"shrinkage_{group}_fit{rec.id}")
            st.caption("Each group's estimate from its own data alone (orange) is pulled towards zero, the population "
                       "value, by partial pooling (blue). Groups with little or noisy data move most.")
        elif view == "Groups with fitted lines":
            group_panels(rec, group, charts.order_levels(engine.caterpillar(res, group, level=level)))
        else:
            widgets.table(tables.ranef_table(res.ranef[group], res.ranef_sd[group]), f"ranef_{group}_fit{rec.id}",
                          key="dl.ranef")


page.run("Random effects", body, "Conditional modes (BLUPs) of the random effects with prediction intervals from "
                                 "their conditional standard deviations.", per_fit=True)
