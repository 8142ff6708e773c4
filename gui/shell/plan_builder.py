"""The Plan page's widgets: the study-design form, the power controls and results, the sandbox.

The design form's values live in a :class:`gui.views.plan_view.DesignForm` in session state (widgets
are primed from it and write back on every run), the true values in a parameter table, so both
survive page switches and serve the power analysis and the sandbox alike.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from gui.shell import plan_actions, state, widgets
from gui.views import plan_view as pv
from gui.views.plan_view import PlanInputError
from gui.views.tables import csv_safe, escape_markdown

P = "w.plan."


def _field(widget: Any, label: str, form: Any, name: str, **kw: Any) -> Any:
    """A widget bound to ``form.<name>`` (primed from it, written back after the run)."""
    key = P + name
    if not state.has_widget(key):
        state.set_widget(key, getattr(form, name))
    value = widget(label, key=key, **kw)
    setattr(form, name, value)
    return value


# ============================================================================ design form
def design_form() -> tuple[Any, Any] | None:
    """The study design and the true model from the form; None (with a message) when unusable."""
    form = state.plan_form()
    st.markdown("**Study design**")
    c: Sequence[DeltaGenerator] = st.columns(4)
    _field(c[0].text_input, "Grouping factor", form, "group", help="e.g. subj, school, item")
    _field(c[1].number_input, "Levels", form, "n_groups", min_value=2, max_value=5000, step=1)
    _field(c[2].text_input, "Crossed factor (optional)", form, "item", help="e.g. item: every subject sees every item")
    _field(c[3].number_input, "Its levels", form, "n_items", min_value=0, max_value=2000, step=1)
    c = list(st.columns(4))
    _field(c[0].number_input, "Observations per cell", form, "n_obs", min_value=1, max_value=1000, step=1)
    _field(c[1].text_input, "Between factor (optional)", form, "between",
           help="constant within each level of the grouping factor, e.g. treat")
    _field(c[2].text_input, "Its values", form, "between_values", help="comma-separated, e.g. control, drug")
    _field(c[3].text_input, "Within factor or covariate (optional)", form, "within", help="e.g. days")
    c = st.columns([1, 1, 2])
    _field(c[0].text_input, "Within values", form, "within_values", help="e.g. 0, 1, 2, 3 (numbers: a covariate)")
    _field(c[1].selectbox, "Family", form, "family", options=pv.FAMILIES)
    _field(c[2].text_input, "Model formula (empty: built from the design)", form, "formula",
           placeholder=form.default_formula())
    try:
        design = form.design()
        formula = form.formula_text()
        rows = pv.parameter_rows(design, formula, form.family, state.plan_params())
    except PlanInputError as e:
        st.error(escape_markdown(str(e)))
        return None
    st.caption(escape_markdown(f"{design.nobs:,} observations · model: {formula}"))
    st.markdown("**True values** (edit the *value* column)")
    key = P + "params." + format(zlib.crc32("|".join(rows["kind"] + rows["parameter"]).encode()), "x")
    edited = st.data_editor(rows, key=key, hide_index=True, disabled=["kind", "parameter"],
                            column_config={"value": st.column_config.NumberColumn("value", format="%.4g")})
    state.set_plan_params(edited)
    try:
        return design, pv.true_model(formula, form.family, edited)
    except PlanInputError as e:
        st.error(escape_markdown(str(e)))
        return None


# ============================================================================ power
def _common_controls(sizes_default: str, along_options: list[str]) -> dict:
    c: Sequence[DeltaGenerator] = st.columns(4)
    with c[0]:
        along = widgets.pref_select("Grow (levels of)", "plan.along", along_options)
    sizes = c[1].text_input("Sizes (comma-separated)", value=str(state.pref("plan.sizes", sizes_default)),
                            key=P + "sizes", on_change=lambda: state.set_pref("plan.sizes", state.widget(P + "sizes")))
    n_sim = c[2].number_input("Simulations per size", 10, 10_000, int(state.pref("plan.n_sim", 200)), 50,
                              key=P + "n_sim",
                              on_change=lambda: state.set_pref("plan.n_sim", state.widget(P + "n_sim")))
    seed = c[3].number_input("Seed", 0, 2**31 - 1, int(state.pref("plan.seed", 1)), key=P + "seed",
                             on_change=lambda: state.set_pref("plan.seed", state.widget(P + "seed")))
    c = st.columns([1, 3])
    alpha = c[0].selectbox("Significance level α", [0.05, 0.01, 0.10, 0.001], key=P + "alpha")
    with c[1]:
        target = widgets.pref_slider("Target power", "plan.target", 0.5, 0.99, 0.8, 0.01)
    return {"along": along, "sizes": sizes, "n_sim": int(n_sim), "seed": int(seed), "alpha": float(alpha),
            "target": float(target)}


def _test_choice(coefficients: list[str], terms: list[str], glmm: bool) -> Any:
    c = list(st.columns(2))
    choices = pv.GLMM_TESTS if glmm else list(pv.TEST_CHOICES)
    if state.widget(P + "test") not in choices:
        state.set_widget(P + "test", choices[0])
    kind = c[0].selectbox("Test", choices, key=P + "test")
    names = coefficients if pv.TEST_CHOICES[kind][0] == "t" else terms
    if not names:
        st.info("The model has nothing to test: add a fixed effect besides the intercept.")
        return None
    if state.widget(P + "effect") not in names:
        state.set_widget(P + "effect", names[0])
    name = c[1].selectbox("Effect", names, key=P + "effect")
    return pv.make_test(kind, name)


def power_section() -> None:
    source = widgets.pref_select("Simulate from", "plan.source", ["a fitted model", "a study design"], widget="radio")
    if source == "a fitted model":
        rec = widgets.chosen_fit()
        if rec is None:
            return
        result = rec.result
        terms = pv.fit_terms(result)
        test = _test_choice([c for cs in terms.values() for c in cs], list(terms), not result.is_lmm)
        if test is None:
            return
        coefs = pv.tested_coefficients(test, terms)
        effect = {}
        cols = st.columns(max(1, min(4, len(coefs))))
        for col, nm in zip(cols * 3, coefs[:12]):
            effect[nm] = col.number_input(f"True value of {escape_markdown(nm)}", value=float(result.fixef[nm]),
                                          format="%.4g", key=f"{P}eff.{rec.id}.{nm}")
        groups = {t.group: t.nlevels for t in result.design.reterms}
        first = next(iter(groups))
        opts = _common_controls(pv.default_sizes(groups[first]), list(groups))
        minimum = groups.get(opts["along"], 1)
        target, extra = result, {"effect": effect}
        label = f"fit {rec.id}"
    else:
        got = design_form()
        if got is None:
            return
        design, model = got
        terms = pv.design_terms(design, model.formula)
        test = _test_choice([c for cs in terms.values() for c in cs], list(terms), not model.is_lmm)
        if test is None:
            return
        along_opts = design.grouping_factors + ["observations"]
        opts = _common_controls(pv.default_sizes(design.size(design.grouping_factors[0])), along_opts)
        minimum = design.size(opts["along"])
        target, extra, label = design, {"params": model}, "study design"
    job = state.job()
    busy = job is not None and job.running
    if st.button("Run power analysis", type="primary", key=P + "run", disabled=busy, icon=":material/play_arrow:"):
        try:
            sizes = pv.parse_sizes(opts["sizes"], minimum=minimum)
            if source == "a study design":
                pv.check_design(target, extra["params"])
        except (PlanInputError, pv.engine.MixedModelError) as e:
            st.error(escape_markdown(str(e)))
        else:
            run = dict(n_sim=opts["n_sim"], seed=opts["seed"], along=opts["along"], sizes=sizes,
                       level=opts["alpha"], **extra)
            job = plan_actions.start_power(target, test, run, source=label, target_power=opts["target"], wait=0.5)
            if job is not None and state.job() is None:
                st.rerun()          # done within the wait and collected: its message shows from the top of the page
    widgets.job_panel("power")
    power_results(state.power_record())


def power_results(rec: Any) -> None:
    if rec is None:
        return
    r = rec.result
    st.subheader("Power curve")
    st.info(escape_markdown(pv.power_summary(r, rec.target)))
    widgets.chart(pv.power_curve(r.table, target=rec.target, along=r.along, level=r.level,
                                 title=f"Power: {r.test.label}"), "power_curve")
    widgets.table(r.table, "power_table", display=pv.power_table(r.table), index=False, key="dl.power")
    st.caption(f"From {rec.source}; {r.n_done} simulations, seed {r.seed}, {rec.seconds:.1f} s. Intervals: "
               "Clopper–Pearson 95%. Failed fits count as not rejecting.")
    sizes = list(r.table["size"])
    c = st.columns([1, 3])
    if state.widget(P + "data_size") not in sizes:
        state.set_widget(P + "data_size", sizes[-1])
    size = c[0].selectbox("Simulated data of size", sizes, key=P + "data_size")
    data = r.data(size=size, replicate=0)
    c[1].download_button(f"Download replicate 1 at size {size} (CSV)", csv_safe(data, index=False),
                         file_name=f"simulated_size_{size}.csv", mime="text/csv", key="dl.power_data",
                         icon=":material/download:")
    with st.expander("Estimates across simulations"):
        st.dataframe(r.estimates().round(4), hide_index=True)


# ============================================================================ sandbox
def _sandbox(design: Any, model: Any, again: bool) -> None:
    """Button callback: a new data set (the next seed for "again") and its fit."""
    seed = int(state.pref("plan.sandbox_seed", 1)) + (1 if again else 0)
    try:
        plan_actions.run_sandbox(design, model, seed)
    except (PlanInputError, pv.engine.MixedModelError) as e:
        state.set_message("error", escape_markdown(str(e)))
        return
    state.set_pref("plan.sandbox_seed", seed)


def sandbox_section() -> None:
    st.caption("Set the true values, generate one data set, fit the model, and compare what the fit "
               "recovers with the truth. Generate again to see how much it varies.")
    got = design_form()
    if got is None:
        return
    design, model = got
    c: Sequence[DeltaGenerator] = st.columns([1, 1, 3])
    c[0].button("Generate and fit", type="primary", key=P + "generate", icon=":material/science:",
                on_click=_sandbox, args=(design, model, False))
    c[1].button("Generate again", key=P + "again", icon=":material/refresh:", on_click=_sandbox,
                args=(design, model, True), disabled=state.sandbox_record() is None)
    rec = state.sandbox_record()
    if rec is None:
        return
    res = rec.result
    st.caption(escape_markdown(f"Data set {rec.seed} · {len(rec.data):,} rows · fit: {res.formula}"))
    fixed = pv.sandbox_fixed(res, rec.truth)
    variances = pv.sandbox_variances(res, rec.truth)
    widgets.chart(pv.truth_vs_estimate(fixed, variances), "sandbox_truth")
    c = list(st.columns(2))
    c[0].dataframe(fixed.round(4))
    c[1].dataframe(variances.round(4), hide_index=True)
    shrink = pv.shrinkage_frame(res, rec.effects)
    widgets.chart(pv.shrinkage_plot(shrink), "sandbox_shrinkage")
    st.caption(escape_markdown(pv.shrinkage_note(shrink)))
    widgets.table(rec.data, f"sandbox_data_{rec.seed}", index=False, height=220, key="dl.sandbox")
