"""The frame every page runs in: session setup, sidebar status, one-shot message, and a guard
that turns any exception into a plain message.

Each page ends with ``page.run(title, body)``. The setup is idempotent, so a page works the
same whether ``app.py``'s ``st.navigation`` runs it or Streamlit runs the file directly
(``AppTest`` and Streamlit's ``pages/`` mode do the latter).
"""
from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from gui.engine import MixedModelError
from gui.shell import actions, state
from gui.views.tables import escape_markdown, md_code


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


def setup() -> None:
    """Once per run: page config, session state, finished jobs, sidebar status."""
    try:
        st.set_page_config(page_title="Mixed models workbench", page_icon=":material/functions:", layout="wide")
    except Exception:
        pass
    with guard("the session"):
        _warm_up_once()
        state.init()
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


PRESENTATION = "presentation"     # preference: larger type and charts for a projector
_PRESENTATION_CSS = """<style>
html { font-size: 21px; }
[data-testid="stMetricValue"] { font-size: 2.4rem; }
</style>"""


def presentation() -> bool:
    return bool(state.pref(PRESENTATION, False))


def _sidebar() -> None:
    if presentation():
        st.html(_PRESENTATION_CSS)
    with st.sidebar:
        key = state.widget_key(PRESENTATION)
        state.set_widget(key, presentation())        # the durable choice, on every page
        st.toggle("Presentation mode", key=key, on_change=state.store_pref, args=(PRESENTATION,),
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
        getattr(st, kind if kind in ("success", "info", "warning", "error") else "info")(escape_markdown(text))
        detail = state.pref("last_error_detail")
        if kind == "error" and detail:
            with st.expander("Details"):
                st.text(detail)
            state.set_pref("last_error_detail", "")


def run(title: str, body: Callable[..., None], caption: str | None = None, *, per_fit: bool = False) -> None:
    """Set up the session and run a page body inside :func:`guard`.

    With ``per_fit`` the page shows one fit: ``body(rec)`` gets the fit chosen in a picker at the
    top, and is not run (the page says how to fit a model) while the session has none.
    """
    setup()
    with guard(f"the {title} page"):
        st.title(title)
        if caption:
            st.caption(caption)
        _message()
        if not per_fit:
            body()
            return
        from gui.shell import widgets  # widgets imports this module

        rec = widgets.chosen_fit()
        if rec is not None:
            body(rec)
