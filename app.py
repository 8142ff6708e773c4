"""Mixed-models workbench: entry point (``streamlit run app.py``).

Routes to the pages in ``pages/`` with ``st.navigation``. Every page sets up the session
itself (:func:`gui.shell.page.run`: session state, the sample dataset preloaded on the first run,
finished background jobs collected, sidebar status), so a page behaves the same when
Streamlit runs its file directly, as ``AppTest`` does.
"""
from __future__ import annotations

import streamlit as st

from gui.shell.widgets import PAGE_FILES as P

st.set_page_config(page_title="Mixed models workbench", page_icon=":material/functions:", layout="wide")

pages = {
    "Data": [
        st.Page(P["data"], title="Data", icon=":material/table_view:", default=True),
        st.Page(P["explore"], title="Explore", icon=":material/search:"),
    ],
    "Model": [
        st.Page(P["model"], title="Model", icon=":material/functions:"),
        st.Page(P["summary"], title="Summary", icon=":material/summarize:"),
        st.Page(P["effects"], title="Effects", icon=":material/insights:"),
        st.Page(P["ranef"], title="Random effects", icon=":material/format_list_bulleted:"),
        st.Page(P["diagnostics"], title="Diagnostics", icon=":material/troubleshoot:"),
    ],
    "Inference": [
        st.Page(P["bootstrap"], title="Bootstrap", icon=":material/casino:"),
        st.Page(P["compare"], title="Compare", icon=":material/balance:"),
        st.Page(P["plan"], title="Plan", icon=":material/query_stats:"),
    ],
}
st.navigation(pages).run()
