"""Diagnostics page: residual plots for LMMs and GLMMs, simulation-based residuals for GLMMs."""
from __future__ import annotations

import streamlit as st

from gui.figures import charts
from gui.shell import cache, page, widgets
from gui.spec.data_design import group_codes
from gui.views.derived import RESIDUAL_KINDS

LMM_VIEWS = ["Residuals vs fitted", "Normal QQ", "Histogram", "Scale-location", "By group", "Leverage", "Table"]
GLMM_VIEWS = ["Simulated residuals"] + LMM_VIEWS
LEVERAGE_ALWAYS = 20_000     # below this many observations leverages are computed for every view


def simulated(rec) -> None:
    c1, c2, c3 = st.columns(3)
    n_sim = c1.number_input("Simulations", 50, 2000, 250, 50, key="w.diag.nsim")
    seed = c2.number_input("Seed", 0, 2**31 - 1, 123, key="w.diag.seed")
    mode = c3.radio("Simulate", ["conditional", "unconditional"], horizontal=True, key="w.diag.mode",
                    help="conditional: given the fitted random effects (DHARMa ≥ 0.5 default); "
                         "unconditional: new random effects drawn each time.")
    sim = cache.derived(rec, "simulated_residuals", n_sim=int(n_sim), seed=int(seed),
                        conditional=mode == "conditional")
    c1, c2 = st.columns(2)
    with c1:
        widgets.chart(charts.qq_uniform(sim.residuals, sim.p_values()), f"sim_qq_fit{rec.id}")
    with c2:
        widgets.chart(charts.scaled_vs_predicted(sim.residuals, sim.predicted), f"sim_vs_pred_fit{rec.id}")
    if sim.caveat:
        st.info(sim.caveat)
    widgets.chart(charts.dispersion_histogram(sim.spread_sim, sim.spread_obs), f"dispersion_fit{rec.id}")
    widgets.table(sim.tests, f"simulation_tests_fit{rec.id}", key="dl.simtests")
    st.caption(f"DHARMa-style scaled residuals: {sim.n_sim} {mode} simulations, seed {sim.seed}. Under "
               "a correct model they are uniform on (0, 1); small p-values flag problems.")


def body(rec) -> None:
    res = rec.result
    is_lmm = res.is_lmm
    c1, c2 = st.columns([2, 3])
    with c1:
        view = widgets.pref_select("Show", "diag.view." + ("lmm" if is_lmm else "glmm"),
                                   LMM_VIEWS if is_lmm else GLMM_VIEWS, widget="selectbox")
    lev = view in ("Leverage", "Scale-location", "Table") or res.nobs <= LEVERAGE_ALWAYS
    rf = cache.derived(rec, "residual_frame", leverage=lev)
    kinds = [k for k in RESIDUAL_KINDS if k in rf]
    with c2:
        kind = widgets.pref_select("Residual type", "diag.kind", kinds, "scaled" if is_lmm else "pearson",
                                   widget="radio", help="scaled = Pearson residual / σ (LMM); Pearson = (y − μ)/√V(μ); "
                                                        "deviance = signed root of the deviance contribution.")
    r = rf[kind].to_numpy(float)
    f = rf["fitted"].to_numpy(float)
    with widgets.guard(f"the {view.lower()}"):
        if view == "Simulated residuals":
            simulated(rec)
        elif view == "Residuals vs fitted":
            widgets.chart(charts.resid_vs_fitted(f, r, kind=kind), f"resid_fitted_fit{rec.id}")
        elif view == "Normal QQ":
            widgets.chart(charts.qq_normal(r, kind=kind), f"qq_fit{rec.id}")
            if not is_lmm:
                st.caption("For GLMMs, Pearson residuals need not be normal; prefer the simulated residuals.")
        elif view == "Histogram":
            widgets.chart(charts.resid_histogram(r, kind=kind), f"resid_hist_fit{rec.id}")
        elif view == "Scale-location":
            widgets.chart(charts.scale_location(f, rf["standardized"].to_numpy(float)), f"scale_location_fit{rec.id}")
        elif view == "By group":
            g = widgets.pref_select("Grouping factor", "diag.group", list(res.ranef))
            codes = group_codes(cache.derived(rec, "used_rows"), g).to_numpy()
            widgets.chart(charts.resid_by_group(r, codes, group=g), f"resid_by_{g}_fit{rec.id}")
        elif view == "Leverage":
            widgets.chart(charts.leverage_plot(rf["leverage"].to_numpy(float), rf["standardized"].to_numpy(float),
                                               len(res.fixef), cooks=rf["cooks distance"].to_numpy(float)),
                          f"leverage_fit{rec.id}")
        else:
            widgets.table(rf, f"residuals_fit{rec.id}", index=False, key="dl.resid")


page.run("Diagnostics", body, "Do the residuals look like the model assumes?", per_fit=True)
