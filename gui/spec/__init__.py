"""The model specification and the data design, as the Model and Data pages build them.

============================  ======================================================================
``model_spec``                ``ModelSpec``: the widget model of a formula, family and options ⇄
                              formula text
``data_design``               column kinds, families a response allows, candidate terms, nesting
                              and crossing of grouping factors, column types and reference levels
============================  ======================================================================

Rule (checked by ``tests/gui/test_layers.py``): the specification imports only itself,
:mod:`gui.engine` and the display formatting of :mod:`gui.views.tables`.
"""
