"""Reusable Streamlit pieces: guarded page bodies, charts with PNG export, tables with CSV
download, durable selectors, the job progress panel and the code panel.
"""
from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from gui.engine import MixedModelError
from gui.figures.charts_common import chart_config, presentation_figure, without_links
from gui.shell import actions, state
from gui.views.tables import csv_safe, escape_markdown

PRESENTATION = "presentation"     # preference: larger type and charts for a projector


def presentation() -> bool:
    """Whether presentation mode (larger type and charts, for a projector) is on."""
    return bool(state.pref(PRESENTATION, False))


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)[-3:]
    return "\n".join(f"in {f.name} ({os.path.basename(f.filename)}, line {f.lineno})" for f in frames)


@contextmanager
def guard(what: str = "this page") -> Iterator[None]:
    """Show any exception as a plain message, never a traceback.

    Engine errors (``MixedModelError``) are shown as they are. Anything else gets a short
    message and, in an expander, the exception and where it happened. Streamlit's own
    control-flow exceptions (rerun, stop) derive from ``BaseException`` and pass through.
    Session state is untouched, so nothing the user did is lost.
    """
    try:
        yield
    except MixedModelError as e:
        st.error(escape_markdown(e))
    except Exception as e:
        st.error(f"Something went wrong while showing {what}. Your data, model and fits are kept.")
        with st.expander("Details"):
            st.text(f"{type(e).__name__}: {str(e)[:500]}\n{_where(e)}")


def _point_to(page: str, text: str, icon: str) -> None:
    st.info(text)
    st.page_link(PAGE_FILES[page], label=f"Go to {page.title()}", icon=icon)


def need_data() -> pd.DataFrame | None:
    df = state.data()
    if df is None:
        _point_to("data", "No data yet. Choose a bundled dataset or upload a file on the **Data** page.",
                  ":material/table_view:")
    return df


def need_fit() -> None:
    """Say that there is no fit yet and where to make one."""
    _point_to("model", "No fitted model yet. Build one on the **Model** page and press **Fit**.",
              ":material/functions:")


def chosen_fit() -> state.FitRecord | None:
    """The fit a result page shows (a picker of the session's fits), or None after saying how to get one."""
    rec = fit_picker() if state.fits() else None
    if rec is None:
        need_fit()
    return rec


PAGE_FILES = {
    "data": "pages/data.py", "explore": "pages/explore.py", "model": "pages/model.py",
    "summary": "pages/summary.py", "effects": "pages/effects.py", "ranef": "pages/random_effects.py",
    "bootstrap": "pages/bootstrap.py",
    "diagnostics": "pages/diagnostics.py", "compare": "pages/compare.py",
    "plan": "pages/plan.py",
}


# ------------------------------------------------------------- chart, table


def plain_message(kind: str, text: str) -> None:
    """A success/info/warning/error box showing ``text`` literally (no Markdown from user text)."""
    getattr(st, kind if kind in ("success", "info", "warning", "error") else "info")(escape_markdown(text))


def chart(fig: go.Figure, name: str, *, key: str | None = None) -> None:
    """A Plotly figure with the toolbar's camera button exporting ``name``.png (larger type and
    height in presentation mode)."""
    fig = without_links(fig)
    if presentation():
        fig = presentation_figure(fig)
    st.plotly_chart(fig, config=chart_config(name), theme=None, key=key)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_").lower() or "table"


def table(df: pd.DataFrame, name: str, *, display: pd.DataFrame | None = None, index: bool = True,
          height: int | Literal["auto", "content", "stretch"] = "auto", key: str | None = None) -> None:
    """Show a table (``display`` if given, e.g. rounded) and a CSV download of ``df`` (full precision)."""
    st.dataframe(display if display is not None else df, hide_index=not index, height=height)
    st.download_button("Download CSV", csv_safe(df, index=index), file_name=f"{_slug(name)}.csv",
                       mime="text/csv", key=key or f"dl.{_slug(name)}", icon=":material/download:")


# ------------------------------------------------------------ preferences


def pref_select(label: str, name: str, options: Sequence[Any], default: Any = None, *, widget: str = "selectbox",
                help: str | None = None, format_func: Any = str, horizontal: bool = True) -> Any:
    """A selectbox/radio whose value survives page switches (stored in ``state.pref``)."""
    options = list(options)
    if not options:
        return None
    key = state.widget_key(name)
    current = state.pref(name, default if default in options else options[0])
    if current not in options:
        current = default if default in options else options[0]
        state.set_pref(name, current)
    if state.widget(key) not in options:
        state.set_widget(key, current)
    kw = dict(key=key, on_change=state.store_pref, args=(name,), help=help, format_func=format_func)
    if widget == "radio":
        return st.radio(label, options, horizontal=horizontal, **kw)
    if widget == "segmented":
        val = st.segmented_control(label, options, selection_mode="single", **kw)
        return val if val is not None else current
    return st.selectbox(label, options, **kw)


def pref_slider(label: str, name: str, lo: float, hi: float, default: float, step: float, **kw: Any) -> Any:
    key = state.widget_key(name)
    if not state.has_widget(key):
        state.set_widget(key, state.pref(name, default))
    return st.slider(label, lo, hi, step=step, key=key, on_change=state.store_pref, args=(name,), **kw)


def pref_toggle(label: str, name: str, default: bool = False, **kw: Any) -> bool:
    key = state.widget_key(name)
    if not state.has_widget(key):
        state.set_widget(key, bool(state.pref(name, default)))
    return st.toggle(label, key=key, on_change=state.store_pref, args=(name,), **kw)


def fit_picker(label: str = "Fit") -> state.FitRecord | None:
    """Choose which fit of the session a page shows (defaults to the latest)."""
    recs = state.fits()
    if not recs:
        return None
    ids = [r.id for r in recs][::-1]
    cur = state.current_fit()
    key = "w.fit_picker"
    if state.widget(key) not in ids or state.widget(key) != (cur.id if cur else None):
        state.set_widget(key, cur.id if cur else ids[0])

    def _store() -> None:
        state.set_current_fit(state.widget(key))

    labels = {r.id: r.label for r in recs}
    fid = st.selectbox(label, ids, key=key, format_func=lambda i: labels.get(i, str(i)), on_change=_store)
    return state.fit_by_id(fid)


# -------------------------------------------------------------------- jobs


def job_panel(kind: str | None = None) -> bool:
    """Progress and Cancel for the running job; polls every half second. True if a job runs."""
    job = state.job()
    if job is None or (kind and job.kind != kind):
        return False

    @st.fragment(run_every=0.5)
    def _panel() -> None:
        j = state.job()
        if j is None:
            return
        if not j.running:
            st.rerun()
        frac = j.fraction()
        if frac is not None:
            st.progress(frac, text=escape_markdown(j.describe()))
        else:
            # not a ``with`` block: leaving one would mark the status complete (a tick) while it runs
            box = st.status(escape_markdown(j.describe()), state="running", expanded=False)
            box.write("The page stays usable; other pages show the previous results.")
        st.button("Cancel", key=f"cancel.{j.kind}", on_click=actions.cancel_job, icon=":material/cancel:",
                  disabled=j.cancel_requested)

    _panel()
    return True


def _with_data_settings(codes: dict, spec: Any, dataset: str | None) -> dict:
    """The code with the Data page's categorical columns and reference levels, when it reads the
    session's current data."""
    from gui.spec.data_design import factor_settings
    from gui.views.codegen import with_column_settings

    if dataset is None or dataset != state.data_name():
        return codes
    return with_column_settings(codes, dataset, factor_settings(spec, state.data(), state.data_raw()))


# -------------------------------------------------------------------- code


def code_panel(spec: Any, dataset: str | None, inference: Any = None) -> None:
    """The model as Python, R and Julia code; with ``inference`` (a :class:`gui.views.codegen.Inference`)
    also the calls that reproduce the page's tests and marginal means."""
    from gui.views.codegen import all_code

    codes = all_code(spec, dataset, inference)
    tabs = st.tabs(list(codes))
    codes = _with_data_settings(codes, spec, dataset)
    lang = {"Python (mm_core)": "python", "R (lme4)": "r", "Julia (MixedModels.jl)": "julia"}
    for tab, (name, text) in zip(tabs, codes.items()):
        with tab:
            st.code(text, language=lang[name])


# --------------------------------------------------------------- workspace


def workspace_panel() -> None:
    """Save the whole session as one file, or open a saved one (Data page)."""
    from gui.files import workspace

    def _open() -> None:
        f = state.widget("w.ws.open")
        if f is not None:
            with st.spinner("Checking the workspace and refitting its models…"):
                actions.open_workspace(f.name, f.getvalue())

    ws = state.snapshot()
    n_fit = len(ws.fits)
    stamp = pd.Timestamp.now().strftime("%Y%m%d-%H%M")
    c1, c2 = st.columns(2)
    with c1:
        st.download_button("Save workspace", lambda: workspace.write(ws),
                           file_name=f"{_slug(ws.data_name or 'workspace')}-{stamp}.{workspace.EXTENSION}",
                           mime="application/zip", key="w.ws.save", icon=":material/save:",
                           disabled=ws.data is None and not n_fit, on_click="ignore",
                           help="One file with the data, column settings, the model being built, every fit, the "
                                "bootstrap runs and the pages' settings. Open it again here in a later session.")
        st.caption(f"Holds {escape_markdown(ws.data_name or 'no data')}, {n_fit} fit{'s' * (n_fit != 1)} and "
                   f"{len(ws.boots)} bootstrap run{'s' * (len(ws.boots) != 1)}. Fits are refitted on opening.")
    with c2:
        st.file_uploader("Open workspace (replaces this session's data and fits)", type=[workspace.EXTENSION, "zip"],
                         key="w.ws.open", on_change=_open)


# ------------------------------------------------------------ report, results


def report_downloads(records: list, key: str, *, comparison: pd.DataFrame | None = None) -> None:
    """Figure choice and "Download report" buttons (HTML, Word) for ``records``; built on click."""
    from gui.views import report_document, report_figures

    pref = "report.figures"
    wkey = state.widget_key(pref)
    if not state.has_widget(wkey):
        chosen = [c for c in state.pref(pref, [report_figures.CATERPILLAR, report_figures.DIAGNOSTICS])
                  if c in report_figures.CHOICES]
        state.set_widget(wkey, chosen)
    figures = st.multiselect("Figures in the report", report_figures.CHOICES, key=wkey, on_change=state.store_pref,
                             args=(pref,), help="Drawn as images; the bootstrap histograms need a bootstrap run.")
    boots = {r.id: state.boot_for(r.id) for r in records if state.boot_for(r.id) is not None}
    ranef_level, boot_level = float(state.pref("re.level", 0.95)), float(state.pref("boot.level", 0.95))
    name = _slug(records[0].short_label if len(records) == 1 else "all_fits")
    built: dict[str, Any] = {}
    inference = report_inference(records)            # read here: the report is built outside the page's run

    def content() -> Any:
        if "report" not in built:
            built["report"] = report_document.build(records, boots, figures=tuple(figures), comparison=comparison,
                                                    inference=inference, ranef_level=ranef_level,
                                                    boot_level=boot_level)
        return built["report"]

    c1, c2 = st.columns(2)
    c1.download_button("Download report (HTML)", lambda: report_document.to_html(content()).encode("utf-8"),
                       file_name=f"report_{name}.html", mime="text/html", key=f"{key}.html", on_click="ignore",
                       icon=":material/description:")
    c2.download_button("Download report (Word)", lambda: report_document.to_docx(content()),
                       file_name=f"report_{name}.docx", key=f"{key}.docx", on_click="ignore",
                       mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                       icon=":material/article:")
    st.caption("Data description, methods paragraph, APA tables, the chosen figures and the code in Python, R and "
               "Julia. Building it takes a few seconds per figure.")


def report_inference(records: list) -> Any:
    """The Summary page's df method and ANOVA type and the Effects page's choices of each fit
    (where it has been opened for the fit), for the report's tables."""
    from gui.views import effects, report_document

    chosen = {}
    for rec in records:
        preds = effects.predictors(rec)
        x = state.pref(state.effects_pref("x", rec.id))
        if x not in preds.variables:
            continue
        lines = state.pref(state.effects_pref("lines", rec.id))
        chosen[rec.id] = dict(x=x, lines=lines if lines in preds.factors and lines != x else None,
                              compare=state.pref(state.effects_pref("compare", rec.id), "within"),
                              scale="link" if rec.result.is_lmm else state.pref(state.PREF_SCALE, "response"),
                              level=float(state.pref(state.PREF_LEVEL, 0.95)),
                              adjust=state.pref(state.PREF_ADJUST, "tukey"))
    return report_document.Inference(ddf=state.pref(state.PREF_DDF, "satterthwaite"),
                                     anova_type=int(state.pref(state.PREF_ANOVA_TYPE, 3)), effects=chosen)


def results_download(rec: state.FitRecord) -> None:
    """Download the fit's data with fitted values, residuals, conditional modes, leverage, Cook's distance."""
    from gui.views.augmented_data import FORMATS, augmented_data, formats_for, to_bytes

    fmt = pref_select("Format", "results.format", formats_for(len(rec.data)), "CSV", widget="radio",
                      help="Excel files of large data take a minute to write; CSV and Parquet are quicker.")
    ext, mime = FORMATS[fmt]
    st.download_button(f"Download data with results ({fmt})", lambda: to_bytes(augmented_data(rec), fmt),
                       file_name=f"{_slug(rec.data_name)}_{_slug(rec.short_label)}_results.{ext}", mime=mime,
                       key=f"w.results.dl.{rec.id}", on_click="ignore", icon=":material/download:")
    st.caption("Every row of the data, with the fitted value, residuals (response, Pearson, deviance, and scaled "
               "or simulated quantile), each grouping factor's conditional modes, leverage and Cook's distance. "
               "Rows dropped for missing values keep empty results.")
