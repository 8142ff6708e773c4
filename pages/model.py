"""Model page: build the model with widgets or formula text, see the design, fit."""
from __future__ import annotations

import json

import streamlit as st

from gui.shell import cache, page, state, widgets
from gui.shell import model_builder as mb


def body() -> None:
    df = widgets.need_data()
    if df is None:
        return

    spec = state.spec()
    with widgets.guard("the formula"):
        mb.prime(spec, df)
        mb.formula_section()

    with widgets.guard("the fit controls"):
        mb.fit_button(spec, df)
        running = widgets.job_panel("fit")
        rec = state.current_fit()
        same = rec is not None and rec.spec.to_dict() == spec.to_dict() and rec.data_key == state.data_key()
        if rec is not None and not running and same and not state.formula_error():
            st.success(f"{rec.short_label} is this model ({rec.seconds:.2f} s). See the results:")
            c1, c2, c3, c4 = st.columns(4)
            c1.page_link(widgets.PAGE_FILES["summary"], label="Summary", icon=":material/summarize:")
            c2.page_link(widgets.PAGE_FILES["effects"], label="Effects", icon=":material/insights:")
            c3.page_link(widgets.PAGE_FILES["ranef"], label="Random effects", icon=":material/format_list_bulleted:")
            c4.page_link(widgets.PAGE_FILES["diagnostics"], label="Diagnostics", icon=":material/troubleshoot:")

    with widgets.guard("the model widgets"):
        left, right = st.columns(2, gap="large")
        with left:
            st.subheader("Response and family")
            mb.response_section(df, spec)
            st.subheader("Fixed effects")
            mb.fixed_section(df, spec)
        with right:
            st.subheader("Random effects")
            mb.random_section(df, spec)
            st.markdown("\n".join(f"- {line}" for line in spec.describe()))

    with widgets.guard("the design summary"):
        if spec.random:
            with st.expander("Design: grouping factors, nesting, within-group variation", expanded=False):
                ds = cache.design_summary(state.data_key() or "", json.dumps(spec.to_dict(), sort_keys=True), df, spec)
                widgets.table(ds["groups"], "grouping_factors", index=False, key="dl.groups")
                if not ds["relations"].empty:
                    st.markdown("**How the grouping factors relate**")
                    widgets.table(ds["relations"], "grouping_relations", index=False, key="dl.relations")
                if not ds["within"].empty:
                    st.markdown("**Which variables vary within groups** (only those can have random slopes)")
                    widgets.table(ds["within"], "within_group_variation", index=False, key="dl.within")

    with widgets.guard("the code panel"):
        if spec.response:
            with st.expander("Code: the same model in Python, R and Julia"):
                widgets.code_panel(spec, state.data_name())


page.run("Model", body, "Build the model with the widgets or type the formula: both always show the same model.")
