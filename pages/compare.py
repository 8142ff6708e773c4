"""Compare page: every fit of the session, information criteria, likelihood-ratio tests."""
from __future__ import annotations

import streamlit as st

from gui.figures import charts
from gui.shell import cache, page, state, widgets
from gui.views import comparison, tables


def _allow_refit(pair: str) -> None:
    state.set_pref(f"cmp.refit.{pair}", True)


def lrt_section(recs: list) -> None:
    """Two fits chosen; the test runs at once when it needs no refit, else on a click (a REML fit of
    large data takes a while to refit by ML), and not at all when it does not apply."""
    labels = {r.id: r.label for r in recs}
    ids = [r.id for r in recs]
    c1, c2 = st.columns(2)
    a = c1.selectbox("Model A", ids, index=max(0, len(ids) - 2), key="w.cmp.a", format_func=lambda i: labels[i])
    b = c2.selectbox("Model B", ids, index=len(ids) - 1, key="w.cmp.b", format_func=lambda i: labels[i])
    st.caption("The model with fewer parameters is the null model; it must be a special case of the other.")
    if a == b:
        st.info("Choose two different fits.")
        return
    ra, rb = state.fit_by_id(a), state.fit_by_id(b)
    if ra is None or rb is None:
        st.info("Choose two fits of this session.")
        return
    pair = f"{ra.key}|{rb.key}"
    blocked = comparison.precheck(ra, rb)
    if blocked:
        widgets.plain_message("info", blocked)
        return
    if comparison.needs_refit(ra, rb) and not state.pref(f"cmp.refit.{pair}"):
        rows = max(ra.result.nobs, rb.result.nobs)
        st.info("The test needs maximum-likelihood fits: the REML fits among these two are refitted by ML first "
                f"({rows:,} rows; this can take a while for large data).")
        st.button("Refit by ML and test", key="w.cmp.refit", on_click=_allow_refit, args=(pair,),
                  icon=":material/play_arrow:")
        return
    out = cache.lrt(pair, ra, rb)
    for note in out.notes:
        widgets.plain_message("warning", note)
    if out.table is not None:
        widgets.table(out.table, f"lrt_fit{a}_fit{b}", display=tables.lrt_display(out.table), index=False,
                      key="dl.lrt")
        st.markdown(out.conclusion)


def body() -> None:
    recs = state.fits()
    if not recs:
        widgets.need_fit()
        return

    with widgets.guard("the comparison table"):
        tab = tables.compare_table(recs)
        widgets.table(tab, "fits", index=False, key="dl.fits")
        if len(recs) > 1:
            for note in comparison.ic_warnings(recs):
                widgets.plain_message("warning", note)
            widgets.chart(charts.compare_ic(tab), "information_criteria")
        with st.expander(f"Report of all {len(recs)} fits (HTML or Word)"):
            widgets.report_downloads(recs, "w.report.all", comparison=tab)

    with widgets.guard("the likelihood-ratio test"):
        st.subheader("Likelihood-ratio test")
        if len(recs) < 2:
            st.info("Fit a second model (for example without a random slope) to compare the two.")
        else:
            lrt_section(recs)

    with widgets.guard("the fit list"):
        st.subheader("Manage fits")
        labels = {r.id: r.label for r in recs}
        c1, c2 = st.columns([3, 1])
        rid = c1.selectbox("Fit", [r.id for r in recs], key="w.cmp.remove", format_func=lambda i: labels[i])
        c2.button("Remove fit", key="w.cmp.remove_btn", on_click=state.remove_fit, args=(rid,),
                  icon=":material/delete:")
        c2.button("Show on Summary", key="w.cmp.show", on_click=state.set_current_fit, args=(rid,))


page.run("Compare", body, "Every fit of this session is kept. Compare them by information criteria or, for nested "
                          "models, by a likelihood-ratio test.")
