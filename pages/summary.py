"""Summary page: fit statistics, variance components, fixed effects, warnings, optimizer trace,
R²/ICC, sparsity of Z'Z and L."""
from __future__ import annotations

import streamlit as st

from gui import cache, charts, page, report, tables, widgets


def body(rec) -> None:
    res = rec.result

    with widgets.guard("the fit statistics"):
        st.caption(f"{tables.md_code(rec.formula)} · {report.method_label(res)} · data: "
                   f"{tables.escape_markdown(rec.data_name)} · {rec.seconds:.2f} s")
        tiles = report.headline(res)
        for start in range(0, len(tiles), 3):     # three to a row, so that large numbers are not cut
            for col, (label, value, help_) in zip(st.columns(3), tiles[start:start + 3]):
                col.metric(label, value, help=help_)

    with widgets.guard("the warnings"):
        for level, text in report.advice(res):
            getattr(st, level)(text)

    with widgets.guard("the variance components"):
        st.subheader("Variance components")
        widgets.table(res.varcorr, f"varcorr_fit{rec.id}", display=tables.varcorr_display(res.varcorr), index=False,
                      key="dl.varcorr")
        ve = cache.derived(rec, "variance_explained")
        if ve is not None:
            scale = " on the latent (link) scale" if ve.latent else ""
            c = st.columns(3)
            c[0].metric("Marginal R²", f"{ve.r2['marginal']:.3f}", help="Variance explained by the fixed effects "
                        f"(Nakagawa & Schielzeth){scale}.")
            c[1].metric("Conditional R²", f"{ve.r2['conditional']:.3f}", help="Variance explained by fixed and "
                        f"random effects{scale}.")
            c[2].metric("ICC (adjusted)", f"{ve.icc.loc['total', 'adjusted']:.3f}", help="Share of the variance "
                        f"not explained by the fixed effects that is between groups{scale}.")
            if len(ve.icc) > 2:
                st.caption("Adjusted ICC by grouping factor: " + ", ".join(
                    f"{g} {v:.3f}" for g, v in ve.icc["adjusted"].drop("total").items()))

    with widgets.guard("the fixed effects"):
        st.subheader("Fixed effects")
        widgets.table(res.coeftable, f"fixef_fit{rec.id}", display=tables.coeftable_display(res.coeftable),
                      key="dl.coeftable")
        st.caption("Wald z tests and 95% Wald intervals. Significance: *** < 0.001, ** < 0.01, * < 0.05, . < 0.1")
        if len(res.coeftable) > 1 or res.coeftable.index[0] != "(Intercept)":
            exp = res.link in ("log", "logit") and widgets.pref_toggle(
                "Show exp(estimate) (odds or rate ratios)", "summary.exp", False)
            widgets.chart(charts.coefplot(res.coeftable, exp=bool(exp)), f"coefplot_fit{rec.id}")

    with widgets.guard("the fit statistics table"):
        st.subheader("Fit statistics")
        widgets.table(tables.fit_statistics_numeric(res), f"fitstats_fit{rec.id}", display=tables.fit_statistics(res),
                      index=False, key="dl.fitstats")

    tab_trace, tab_sparse, tab_text, tab_code = st.tabs(["Optimizer trace", "Sparsity of Z'Z and L", "Text summary",
                                                         "Code"])
    with tab_trace, widgets.guard("the optimizer trace"):
        trace = getattr(res.optsum, "trace", None)
        widgets.chart(charts.optimizer_trace(trace), f"optimizer_trace_fit{rec.id}")
        st.caption(report.optimizer_caption(res))
        if trace is not None and len(trace):
            widgets.table(trace, f"optimizer_trace_fit{rec.id}", index=False, height=200, key="dl.trace")

    with tab_sparse, widgets.guard("the sparsity patterns"):
        st.caption("Each random effect is a row and column of Z'Z. Nested factors keep the Cholesky factor L as sparse "
                   "as Z'Z; crossed factors fill it in, which is why they cost more.")
        show = st.toggle("Compute the sparsity patterns", key="w.summary.sparsity",
                         value=len(rec.data) <= 20000)
        if show:
            pat = cache.sparsity(rec.key, rec.formula, rec.data, None)
            c1, c2 = st.columns(2)
            with c1:
                widgets.chart(charts.sparsity_image(pat.ztz, "Z'Z", pat.boundaries, pat.nnz_ztz, (pat.q, pat.q)),
                              f"ztz_fit{rec.id}")
            with c2:
                if pat.chol is not None:
                    widgets.chart(charts.sparsity_image(pat.chol, "Cholesky factor L", pat.boundaries, pat.nnz_chol,
                                                        (pat.q, pat.q)), f"cholesky_fit{rec.id}")
            st.caption("Terms: " + "; ".join(pat.terms) + ". " + pat.note + ".")

    with tab_text, widgets.guard("the text summary"):
        st.code(res.summary(), language=None)

    with tab_code, widgets.guard("the code panel"):
        widgets.code_panel(rec.spec, rec.data_name)


page.run("Summary", body, per_fit=True)
