"""The frame every page runs in: session setup, sidebar status, one-shot message, and a guard
that turns any exception into a plain message.

Each page ends with ``page.run(title, body)``. The setup is idempotent, so a page works the
same whether ``app.py``'s ``st.navigation`` runs it or Streamlit runs the file directly
(``AppTest`` and Streamlit's ``pages/`` mode do the latter).
"""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from gui.shell import actions, state, widgets
from gui.views.tables import escape_markdown, md_code


def setup() -> None:
    """Once per run: page config, session state, finished jobs, sidebar status."""
    try:
        st.set_page_config(page_title="Mixed models workbench", page_icon=":material/functions:", layout="wide")
    except Exception:
        pass
    with widgets.guard("the session"):
        _warm_up_once()
        if state.init():
            actions.preload()
        actions.collect_job()
        _sidebar()


_WARMED = False


def _warm_up_once() -> None:
    """Start the worker fork server once per server process (large fits start faster)."""
    global _WARMED
    if not _WARMED:
        _WARMED = True
        import threading

        from gui.background import workers

        threading.Thread(target=workers.warm_up, daemon=True, name="mm-warm-up").start()


_PRESENTATION_CSS = """<style>
html { font-size: 21px; }
[data-testid="stMetricValue"] { font-size: 2.4rem; }
</style>"""


def _sidebar() -> None:
    if widgets.presentation():
        st.html(_PRESENTATION_CSS)
    with st.sidebar:
        key = state.widget_key(widgets.PRESENTATION)
        state.set_widget(key, widgets.presentation())        # the durable choice, on every page
        st.toggle("Presentation mode", key=key, on_change=state.store_pref, args=(widgets.PRESENTATION,),
                  help="Larger type and charts, for a projector or a screen shared with a class.")
        df = state.data()
        if df is not None:
            st.caption(f"**Data:** {escape_markdown(state.data_name())} · {df.shape[0]:,} rows × {df.shape[1]} "
                       "columns")
        else:
            st.caption("**Data:** none loaded")
        spec = state.spec()
        if spec.response:
            st.caption(f"**Model:** {md_code(spec.to_formula())}")
        rec = state.current_fit()
        if rec is not None:
            st.caption(f"**Fits:** {len(state.fits())} · showing {rec.short_label}")
        job = state.job()
        if job is not None and job.running:
            _job_status()


@st.fragment(run_every=1.0)
def _job_status() -> None:
    """Sidebar line for a running job, on every page; reruns the page when the job ends."""
    job = state.job()
    if job is None or not job.running:
        st.rerun()
    st.caption(f":material/hourglass_top: {escape_markdown(job.describe())}")


def _message() -> None:
    msg = state.pop_message()
    if msg:
        kind, text = msg
        widgets.plain_message(kind, text)
        detail = state.pref("last_error_detail")
        if kind == "error" and detail:
            with st.expander("Details"):
                st.text(detail)
            state.set_pref("last_error_detail", "")


def run(title: str, body: Callable[..., None], caption: str | None = None, *, per_fit: bool = False) -> None:
    """Set up the session and run a page body inside :func:`gui.shell.widgets.guard`.

    With ``per_fit`` the page shows one fit: ``body(rec)`` gets the fit chosen in a picker at the
    top, and is not run (the page says how to fit a model) while the session has none.
    """
    setup()
    with widgets.guard(f"the {title} page"):
        st.title(title)
        if caption:
            st.caption(caption)
        _message()
        if not per_fit:
            body()
            return
        rec = widgets.chosen_fit()
        if rec is not None:
            body(rec)
