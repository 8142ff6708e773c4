"""The Model page's widgets: a view of :class:`~gui.spec.model_spec.ModelSpec` in session state.

Widgets are primed from the spec whenever the spec's version changes (a formula edit, a new
dataset, adding a random-effects row); every widget's ``on_change`` rebuilds the spec from
all widgets and writes it back (:func:`_from_widgets`). So the formula text and the widgets
always show the same model, in both directions.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from gui.engine import quote_name
from gui.shell import actions, state
from gui.spec.data_design import (
    families_for,
    family_for_response,
    family_problem,
    grouping_candidates,
    interaction_candidates,
    response_kind_of_text,
    term_candidates,
)
from gui.spec.model_spec import ModelSpec, RandomSpec, canonical_link, links_for, term_parts
from gui.views.tables import escape_markdown

P = "w.m."          # prefix of every model widget key
VERSION_KEY = P + "_version"
FORMULA_KEY = P + "formula"
ADD_GROUP_KEY = P + "add_group"


def _k(name: str) -> str:
    return P + name


def response_options(data: pd.DataFrame, spec: ModelSpec) -> list[str]:
    from gui.spec.data_design import is_categorical

    out = [quote_name(c) for c in data.columns if not is_categorical(data[c]) or data[c].nunique() == 2]
    if spec.response and spec.response not in out:
        out.insert(0, spec.response)
    return out


def family_options(data: pd.DataFrame, spec: ModelSpec) -> list[str]:
    fams = families_for(response_kind_of_text(spec.response, data)) if spec.response else ["gaussian"]
    if spec.family not in fams:
        fams = fams + [spec.family]
    return fams or ["gaussian"]


def _mains(spec: ModelSpec) -> list[str]:
    return [t for t in spec.fixed if len(term_parts(t)) == 1]


def _inters(spec: ModelSpec) -> list[str]:
    return [t for t in spec.fixed if len(term_parts(t)) > 1]


def prime(spec: ModelSpec, data: pd.DataFrame) -> None:
    """(Re)initialise the widget keys from the spec when the spec changed since last time."""
    version = state.spec_version()
    if state.widget(VERSION_KEY) == version and state.has_widget(FORMULA_KEY):
        return
    state.drop_widgets(P)
    values = {VERSION_KEY: version, FORMULA_KEY: state.formula_text() or (spec.to_formula() if spec.response else ""),
              _k("response"): spec.response, _k("family"): spec.family, _k("link"): spec.effective_link,
              _k("reml"): spec.reml, _k("nagq"): int(spec.n_agq), _k("fast"): spec.fast,
              _k("intercept"): spec.intercept, _k("mains"): _mains(spec), _k("inters"): _inters(spec)}
    for i, r in enumerate(spec.random):
        values.update({_k(f"re{i}.group"): r.group, _k(f"re{i}.intercept"): r.intercept,
                       _k(f"re{i}.slopes"): list(r.slopes), _k(f"re{i}.correlated"): r.correlated})
    for key, value in values.items():
        state.set_widget(key, value)


def _from_widgets() -> None:
    """``on_change`` of every model widget: rebuild the spec from all widget values."""
    ss = state.widget
    old = state.spec()
    data = state.data()
    response = ss(_k("response"), old.response)
    family = ss(_k("family"), old.family)
    link = ss(_k("link"), old.effective_link)
    if data is not None and response != old.response:
        derived, note = family_for_response(old.with_(response=response), data, old.response)
        if note:
            family, link = derived.family, derived.effective_link
            state.set_message("info", note)
    if family != old.family or link not in links_for(family):
        link = canonical_link(family)
    mains = list(ss(_k("mains"), _mains(old)))
    inters = [t for t in ss(_k("inters"), _inters(old)) if all(p in mains for p in term_parts(t))]
    random = []
    for i, r in enumerate(old.random):
        random.append(RandomSpec(group=ss(_k(f"re{i}.group"), r.group),
                                 intercept=bool(ss(_k(f"re{i}.intercept"), r.intercept)),
                                 slopes=list(ss(_k(f"re{i}.slopes"), r.slopes)),
                                 correlated=bool(ss(_k(f"re{i}.correlated"), r.correlated))))
    new = ModelSpec(response=response, family=family, link=None if link == canonical_link(family) else link,
                    intercept=bool(ss(_k("intercept"), old.intercept)), fixed=mains + inters, random=random,
                    reml=bool(ss(_k("reml"), old.reml)), n_agq=int(ss(_k("nagq"), old.n_agq)),
                    fast=bool(ss(_k("fast"), old.fast)), offsets=list(old.offsets))
    state.set_spec(new)


def _on_formula() -> None:
    actions.apply_formula_text(state.widget(FORMULA_KEY, ""))


def _add_random(group: str) -> None:
    spec = state.spec().copy()
    spec.random.append(RandomSpec(group=group))
    state.set_spec(spec)


def add_group_key() -> str:
    """Key of the "Add random effects for" box: new for every version of the spec.

    The box is an action, not a value: once a group is added it must be empty again. A key
    that changes with the spec gives the browser a fresh, empty widget, so a selection is
    never sent a second time (which appended ``(1 | g)`` again on every later rerun).
    """
    return f"{ADD_GROUP_KEY}.{state.spec_version()}"


def _on_add_random(key: str) -> None:
    g = state.widget(key)
    if g and g not in {r.group for r in state.spec().random}:
        _add_random(g)


def _remove_random(i: int) -> None:
    spec = state.spec().copy()
    if 0 <= i < len(spec.random):
        spec.random.pop(i)
    state.set_spec(spec)


def _clear_model() -> None:
    old = state.spec()
    state.set_spec(ModelSpec(response=old.response, family=old.family, link=old.link, reml=old.reml,
                             n_agq=old.n_agq, fast=old.fast))


# ------------------------------------------------------------------ render


def response_section(data: pd.DataFrame, spec: ModelSpec) -> None:
    st.selectbox("Response", response_options(data, spec), key=_k("response"), on_change=_from_widgets,
                 help="The variable being modelled. A two-level factor is a binary response (binomial family).")
    c1, c2 = st.columns(2)
    fams = family_options(data, spec)
    c1.selectbox("Family", fams, key=_k("family"), on_change=_from_widgets,
                 help="Only the families the response allows are offered.")
    links = list(links_for(spec.family))
    if state.widget(_k("link")) not in links:
        state.set_widget(_k("link"), links[0])
    c2.selectbox("Link", links, key=_k("link"), on_change=_from_widgets)
    if spec.family == "gaussian" and spec.effective_link == "identity":
        st.toggle("REML (restricted maximum likelihood)", key=_k("reml"), on_change=_from_widgets,
                  help="REML estimates of variances are less biased; use ML (off) to compare models "
                       "with different fixed effects by likelihood-ratio test.")
    else:
        c3, c4 = st.columns(2)
        single_scalar = len(spec.random) == 1 and len(spec.random[0].columns) == 1
        c3.number_input("Quadrature points (n_agq)", min_value=1, max_value=25 if single_scalar else 1, step=1,
                        key=_k("nagq"), on_change=_from_widgets,
                        help="1 = Laplace approximation. More points (adaptive Gauss–Hermite) only for a "
                             "single scalar random-effects term.")
        c4.toggle("Fast (nAGQ = 0)", key=_k("fast"), on_change=_from_widgets,
                  help="Faster, slightly less accurate: lme4's nAGQ = 0.")


def fixed_section(data: pd.DataFrame, spec: ModelSpec) -> None:
    st.checkbox("Intercept", key=_k("intercept"), on_change=_from_widgets)
    mains_opts = term_candidates(data, spec)
    for t in _mains(spec):
        if t not in mains_opts:
            mains_opts.append(t)
    st.multiselect("Main effects", mains_opts, key=_k("mains"), on_change=_from_widgets,
                   help="Covariates and factors. factor(x) treats a numeric column as categorical.")
    inter_opts = interaction_candidates(_mains(spec), spec)
    st.multiselect("Interactions", inter_opts, key=_k("inters"), on_change=_from_widgets,
                   help="Two-way interactions of the chosen main effects; more via the formula text.",
                   disabled=len(_mains(spec)) < 2 and not _inters(spec))


def random_section(data: pd.DataFrame, spec: ModelSpec) -> None:
    groups = grouping_candidates(data, spec)
    slopes_all = list(term_candidates(data, spec))
    for i, r in enumerate(spec.random):
        with st.container(border=True, key=f"re_row_{i}"):
            c1, c2, c3 = st.columns([3, 2, 1])
            opts = groups if r.group in groups else groups + [r.group]
            c1.selectbox("Grouping factor", opts, key=_k(f"re{i}.group"), on_change=_from_widgets)
            c2.checkbox("Random intercept", key=_k(f"re{i}.intercept"), on_change=_from_widgets)
            c2.checkbox("Correlated", key=_k(f"re{i}.correlated"), on_change=_from_widgets,
                        disabled=len(r.columns) < 2,
                        help="| (correlated) or || (independent) random effects.")
            c3.button(":material/delete:", key=_k(f"re{i}.remove"), on_click=_remove_random, args=(i,),
                      help=f"Remove the random effects for {r.group}")
            sl = [s for s in slopes_all if s not in r.group.split(":")]
            sl += [s for s in r.slopes if s not in sl]
            st.multiselect("Random slopes", sl, key=_k(f"re{i}.slopes"), on_change=_from_widgets,
                           help="Effects allowed to vary between levels of the grouping factor.")
            st.caption(escape_markdown(r.describe()))
    free = [g for g in groups if g not in {r.group for r in spec.random}]
    if free:
        key = add_group_key()
        st.container(key=ADD_GROUP_KEY).selectbox(
                     "Add random effects for", free, key=key, index=None, on_change=_on_add_random, args=(key,),
                     placeholder="choose a grouping factor…",
                     help="Adds a random intercept for each level of the factor; add slopes in its box. "
                          "a:b groups by the combinations of a and b (b nested in a).")
    elif not groups:
        st.warning("No categorical column to group by. Mark a column as categorical on the Data page.")


def formula_section() -> None:
    st.text_area("Formula (lme4 syntax; edit, then press Ctrl+Enter or click outside the box)", key=FORMULA_KEY,
                 on_change=_on_formula, height=80)
    err = state.formula_error()
    if err:
        text, pos, end = err.get("text", ""), err.get("pos"), err.get("end")
        msg = err["message"]
        if pos is not None and text:
            width = max(1, (end or pos + 1) - pos)
            st.error(f"Formula problem at character {pos + 1}: {escape_markdown(msg)}")
            st.code(f"{text}\n{' ' * pos}{'^' * width}", language=None)
        else:
            st.error(f"Formula problem: {escape_markdown(msg)}")
        st.caption("The widgets still show the last valid model.")


_FAMILY_NAMES = {"gaussian": "Gaussian", "binomial": "binomial", "poisson": "Poisson", "Gamma": "Gamma",
                 "inverse.gaussian": "inverse Gaussian"}


def fit_label(spec: ModelSpec) -> str:
    """The Fit button's text, naming what it will fit: "Fit Gaussian LMM (REML)", "Fit Poisson GLMM (log link)"."""
    if not spec.is_glmm:
        return f"Fit Gaussian LMM ({'REML' if spec.reml else 'ML'})"
    fam = _FAMILY_NAMES.get(spec.family, spec.family)
    how = ", nAGQ = 0" if spec.fast else (f", {spec.n_agq} quadrature points" if spec.n_agq > 1 else "")
    return f"Fit {fam} GLMM ({spec.effective_link} link{how})"


def _start_fit(spec: ModelSpec, data: pd.DataFrame) -> None:
    actions.start_fit(spec, data)


def fit_button(spec: ModelSpec, data: pd.DataFrame) -> None:
    job = state.job()
    busy = job is not None and job.running
    problems = []
    if not spec.response:
        problems.append("choose a response")
    if not spec.random:
        problems.append("add random effects for at least one grouping factor")
    if any(not r.columns for r in spec.random):
        problems.append("every random-effects term needs an intercept or a slope")
    if state.formula_error():
        problems.append("fix the formula")
    mismatch = family_problem(spec, data)
    if mismatch:
        problems.append(mismatch)
    label = fit_label(spec)
    c1, c2 = st.columns([1, 3])
    c1.button(label, type="primary", key="w.fit", disabled=busy or bool(problems), on_click=_start_fit,
              args=(spec.copy(), data), icon=":material/play_arrow:")
    c2.button("Clear model", key="w.clear_model", on_click=_clear_model, disabled=busy)
    if problems:
        st.caption("To fit: " + "; ".join(problems) + ".")
    if len(data) > 20000 and not busy:
        st.caption(f"{len(data):,} rows: the fit runs in the background with progress and a Cancel button.")
