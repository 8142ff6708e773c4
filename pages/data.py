"""Data page: choose a bundled dataset or upload a file; preview; column types and reference levels."""
from __future__ import annotations

import streamlit as st

from gui.files.io import UPLOAD_TYPES
from gui.shell import actions, cache, page, state, widgets
from gui.spec.data_design import categorical_columns
from gui.views.tables import escape_markdown


def _load_bundled() -> None:
    name = state.widget("w.data.dataset")
    if name:
        actions.load_bundled(name)
        state.set_message("success", f"Loaded the {name} dataset.")


def _on_upload() -> None:
    f = state.widget("w.data.upload")
    if f is not None:
        actions.load_upload(f.name, f.getvalue(), f.file_id)


def _upload_status(f) -> None:
    """Read a file the callback missed (a replaced file can arrive in a run of its own), then show
    what became of the file the uploader holds."""
    if f is None:
        return
    sig = actions.upload_signature(f.name, f.size, f.file_id)
    if state.upload_sig() != sig:
        actions.load_upload(f.name, f.getvalue(), f.file_id)
        st.rerun()
    outcome = state.upload_outcome()
    if outcome and outcome[0] == sig and (outcome[1] == "error" or state.data_source() == "upload"):
        widgets.plain_message(outcome[1], outcome[2])


def _apply_types() -> None:
    chosen = set(state.widget("w.data.categorical", []))
    raw = state.data_raw()
    if raw is None:
        return
    types = {c: ("categorical" if c in chosen else "numeric") for c in raw.columns}
    actions.set_column_options(types, dict(state.ref_levels()))


def _apply_ref() -> None:
    refs = dict(state.ref_levels())
    refs[state.widget("w.data.ref_factor")] = state.widget("w.data.ref_level")
    actions.set_column_options(dict(state.col_types()), refs)


def choose() -> None:
    names = cache.dataset_names()
    c1, c2 = st.columns(2)
    with c1.container(border=True):
        st.subheader("Bundled dataset")
        current = state.data_name() if state.data_source() == "bundled" else None
        if state.widget("w.data.dataset") not in names:
            state.set_widget("w.data.dataset", current if current in names else (
                "sleepstudy" if "sleepstudy" in names else names[0]))
        choice = st.selectbox("Dataset", names, key="w.data.dataset")
        st.caption(cache.dataset_description(choice))
        st.button("Load dataset", key="w.data.load", on_click=_load_bundled, type="primary",
                  disabled=current == choice, icon=":material/table_view:")
    with c2.container(border=True):
        st.subheader("Upload")
        f = st.file_uploader("CSV/TSV, Excel, Parquet, Arrow/Feather, SPSS .sav or Stata .dta", type=UPLOAD_TYPES,
                             key="w.data.upload", on_change=_on_upload)
        _upload_status(f)
        st.caption("The first row must hold the column names. Text columns become categorical.")


def preview(df) -> None:
    st.subheader(f"{escape_markdown(state.data_name())}: {df.shape[0]:,} rows × {df.shape[1]} columns")
    widgets.table(df, state.data_name() or "data", display=df.head(500), index=False, height=260, key="dl.data")
    if len(df) > 500:
        st.caption(f"First 500 of {len(df):,} rows shown; the download has all of them.")
    st.subheader("Columns")
    ct = cache.column_table(state.data_key() or "", df)
    widgets.table(ct, f"{state.data_name()}_columns", index=False, key="dl.columns")


def column_settings(df) -> None:
    cats_now = categorical_columns(df)
    if state.widget("w.data.key") != state.data_key() or not state.has_widget("w.data.categorical"):
        state.set_widget("w.data.key", state.data_key())
        state.set_widget("w.data.categorical", cats_now)
    st.multiselect("Treat as categorical (factors and grouping factors)", list(df.columns),
                   key="w.data.categorical", on_change=_apply_types,
                   help="Numeric codes such as herd or subject numbers must be categorical to group by them.")
    factors = [c for c in cats_now if hasattr(df[c], "cat")]
    if factors:
        c1, c2 = st.columns(2)
        if state.widget("w.data.ref_factor") not in factors:
            state.set_widget("w.data.ref_factor", factors[0])
        fac = c1.selectbox("Factor", factors, key="w.data.ref_factor")
        levels = [str(v) for v in df[fac].cat.categories]
        state.set_widget("w.data.ref_level", levels[0])
        c2.selectbox(f"Reference level of {escape_markdown(fac)} "
                     "(treatment coding compares the other levels to it)", levels,
                     key="w.data.ref_level", on_change=_apply_ref)
        st.caption(escape_markdown(f"{fac}: {len(levels)} levels — " + ", ".join(levels[:20])
                                   + (" …" if len(levels) > 20 else "")))
    st.button("Clear my data", key="w.data.clear", on_click=actions.clear_data, icon=":material/delete_forever:",
              help="Forget the data, the model being built and everything cached from them in this session "
                   "(fits stay until you remove them on Compare).")


def body() -> None:
    with widgets.guard("the data choice"):
        choose()
    with widgets.guard("the workspace"), st.expander("Workspace: save this session or open a saved one",
                                                     expanded=state.data() is None):
        widgets.workspace_panel()
    df = state.data()
    if df is None:
        st.info("No data loaded yet.")
        return
    with widgets.guard("the data preview"):
        preview(df)
    with widgets.guard("the column settings"):
        column_settings(df)


page.run("Data", body, "Pick a bundled dataset or upload your own table. Uploaded data stay in this browser "
                       "session only.")
