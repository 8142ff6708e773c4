"""Summary page: fit statistics, variance components, fixed effects, warnings, optimizer trace,
R²/ICC, sparsity of Z'Z and L."""
from __future__ import annotations

import streamlit as st

from gui.figures import charts
from gui.shell import cache, page, state, widgets
from gui.views import effects, report, tables


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

    ddf, anova_type = "asymptotic", 0
    with widgets.guard("the fixed effects"):
        st.subheader("Fixed effects")
        if res.is_lmm:
            ddf = widgets.pref_select("Degrees of freedom", state.PREF_DDF, effects.ddf_choices(res), widget="radio",
                                      format_func=effects.DDF_LABELS.get, help=effects.DDF_HELP)
            ddf, why = cache.effects(rec, "usable_ddf", ddf=ddf)
            if why:
                st.warning(why)
        ft = cache.effects(rec, "fixef_tests", ddf=ddf)
        exp = res.link in ("log", "logit") and bool(widgets.pref_toggle(
            "Show exp(estimate) (odds or rate ratios)", "summary.exp", False))
        widgets.table(ft, f"fixef_fit{rec.id}", display=tables.fixef_tests_display(ft, exp=exp), key="dl.coeftable")
        st.caption(("Wald z tests and 95% Wald intervals" if ddf == "asymptotic" else
                    f"t tests and 95% intervals with {effects.DDF_LABELS[ddf]} df")
                   + ". Significance: *** < 0.001, ** < 0.01, * < 0.05, . < 0.1")
        if len(ft) > 1 or ft.index[0] != "(Intercept)":
            widgets.chart(charts.coefplot(ft.rename(columns={"lower": "ci_lower", "upper": "ci_upper"}),
                                          exp=exp, interval="Wald interval" if ddf == "asymptotic" else
                                          f"t interval ({effects.DDF_LABELS[ddf]} df)"), f"coefplot_fit{rec.id}")

    with widgets.guard("the ANOVA table"):
        preds = effects.predictors(rec)
        if preds.terms:
            st.subheader("Tests of the model's terms")
            anova_type = widgets.pref_select("Sums of squares", state.PREF_ANOVA_TYPE, [3, 2], widget="segmented",
                                             format_func=lambda t: f"type {'III' if t == 3 else 'II'}",
                                             help="Type III: each term adjusted for all others (lmerTest's "
                                                  "default). Type II: each term adjusted for the terms that do not "
                                                  "contain it (car's default).")
            a = cache.effects(rec, "anova", type=anova_type, ddf=ddf)
            widgets.table(a, f"anova_type{anova_type}_fit{rec.id}", display=tables.anova_display(a), key="dl.anova")
            st.caption(f"F tests with {effects.DDF_LABELS[ddf]} denominator df (lmerTest's anova)" if res.is_lmm and
                       ddf != "asymptotic" else "Wald χ² tests (car::Anova)" if not res.is_lmm else
                       "F tests with infinite denominator df")

    with widgets.guard("the fit statistics table"):
        st.subheader("Fit statistics")
        widgets.table(tables.fit_statistics_numeric(res), f"fitstats_fit{rec.id}", display=tables.fit_statistics(res),
                      index=False, key="dl.fitstats")

    tab_trace, tab_sparse, tab_text, tab_code = st.tabs(["Optimizer trace", "Sparsity of Z'Z and L", "Text summary",
                                                         "Code"])
    with tab_trace, widgets.guard("the optimizer trace"):
        trace = res.optsum.trace
        widgets.chart(charts.optimizer_trace(trace), f"optimizer_trace_fit{rec.id}")
        st.caption(report.optimizer_caption(res))
        if len(trace):
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
        widgets.code_panel(rec.spec, rec.data_name, effects.code_inference(rec, ddf=ddf, anova_type=anova_type))

    with widgets.guard("the report and results downloads"), \
            st.expander("Report and results: download a report of this fit, or the data with its results"):
        widgets.report_downloads([rec], f"w.report.fit{rec.id}")
        st.divider()
        widgets.results_download(rec)


page.run("Summary", body, per_fit=True)
