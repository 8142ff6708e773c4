"""The Streamlit app's helpers. ``app.py`` and ``pages/`` import these; ``mm_core`` never does.

Layers (checked by ``tests/gui/test_layers.py``):

- Streamlit-free, unit-tested: ``model_spec`` (the widget model ⇄ formula text),
  ``data_design`` (column kinds, families, candidate terms, nesting/crossing), ``io``
  (uploads), ``charts`` (+ ``charts_*``: pure Plotly builders), ``numerics`` (plot smoothers),
  ``tables`` (display formatting), ``codegen`` (Python / R / Julia code), ``derived`` (the
  engine's diagnostics and predictions, shaped for the pages), ``effects`` (tests, ANOVA, marginal
  means and comparisons of a fit, shaped for the Summary and Effects pages), ``sparsity``, ``report`` (plain-language warnings), ``comparison`` (LRT),
  ``bootstrap_view``, ``jobs`` (background work), ``workers`` (worker processes), ``engine``
  (the one doorway to ``mm_core``), ``workspace`` (the saved-session file), ``versions``,
  ``report_document`` and ``report_figures`` (HTML and Word reports), ``augmented_data`` (results back into the data).
- Streamlit: ``state`` (every session-state key), ``cache`` (every ``st.cache_*``),
  ``actions`` (state-changing operations), ``page`` (setup + guard of every page),
  ``widgets`` (charts, tables, durable selectors, job panel, code panel), ``model_builder``
  (the Model page's widgets).
"""
