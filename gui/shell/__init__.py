"""The Streamlit shell: the only part of the app that imports Streamlit.

============================  ======================================================================
``page``                      the frame every page runs in: session setup, sidebar, one-shot message
``state``                     every session-state key, with typed getters, setters and defaults;
                              the records a session keeps (fits, bootstrap, power and sandbox runs)
``cache``                     every cached computation (Streamlit's data cache)
``actions``                   state-changing operations: load data, edit the model, fit, bootstrap,
                              collect finished background jobs, open a workspace
``plan_actions``              the Plan page's operations: power run, sandbox
``widgets``                   reusable pieces: the page guard, charts with PNG export, tables with
                              CSV download, durable selectors, the job panel, code and report panels
``model_builder``             the Model page's widgets
``plan_builder``              the Plan page's widgets
============================  ======================================================================

Rules (checked by ``tests/gui/test_layers.py``): only ``state`` touches the session state and
only ``cache`` caches; ``state`` holds data and calls no operation. Imports go one
way, ``page`` → ``widgets`` → ``actions`` → ``state``, so the shell has no import cycle.
"""
