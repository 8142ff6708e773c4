"""Bootstrap page: parametric bootstrap of a fit with progress and cancel; histograms and intervals."""
from __future__ import annotations

import streamlit as st

from gui.figures import charts
from gui.shell import actions, page, state, widgets
from gui.views import bootstrap_view as bv
from gui.views import tables


def body(rec) -> None:
    with widgets.guard("the bootstrap controls"):
        c1, c2, c3 = st.columns([1, 1, 1])
        n = c1.number_input("Replicates", 10, 100_000, int(state.pref("boot.n", 200)), 50, key="w.boot.n",
                            on_change=lambda: state.set_pref("boot.n", state.widget("w.boot.n")))
        seed = c2.number_input("Seed", 0, 2**31 - 1, int(state.pref("boot.seed", 42)), key="w.boot.seed",
                               on_change=lambda: state.set_pref("boot.seed", state.widget("w.boot.seed")))
        level = c3.slider("Interval level", 0.5, 0.99, float(state.pref("boot.level", 0.95)), 0.01, key="w.boot.level",
                          on_change=lambda: state.set_pref("boot.level", state.widget("w.boot.level")))
        job = state.job()
        busy = job is not None and job.running

        def run() -> None:
            actions.start_bootstrap(rec, int(n), int(seed), wait=1.0)

        st.button(f"Run {int(n)} replicates", type="primary", key="w.boot.run", disabled=busy,
                  on_click=run, icon=":material/casino:")
        widgets.job_panel("bootstrap")

    boot = state.boot_for(rec.id)
    if boot is None:
        if state.job() is None:
            st.info(f"No bootstrap of {rec.short_label} yet.")
        return

    with widgets.guard("the bootstrap results"):
        view = bv.view(boot, level=float(level))
        st.caption(f"{len(view.samples)} replicates, seed {boot.seed}, {boot.seconds:.1f} s. {view.singular_text}")
        st.metric("Singular replicates", f"{view.n_singular} of {len(view.samples)}")
        params = list(view.samples.columns)
        default = params[:9]
        chosen = st.multiselect("Parameters", params, default=default, key=f"w.boot.params.{rec.id}")
        widgets.chart(charts.bootstrap_histograms(view.samples[chosen or default], view.estimates, view.intervals,
                                                  level=float(level)), f"bootstrap_fit{rec.id}")
        st.subheader("Intervals")
        widgets.table(view.table, f"bootstrap_intervals_fit{rec.id}", display=tables.interval_table(view.table),
                      key="dl.bootint")
        st.subheader("All replicates")
        widgets.table(bv.replicates_table(boot), f"bootstrap_replicates_fit{rec.id}", index=False, height=220,
                      key="dl.bootall")


page.run("Bootstrap", body, "Parametric bootstrap: simulate new responses from the fitted model, refit it, and look "
                            "at the spread of the estimates.", per_fit=True)
