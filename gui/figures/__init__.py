"""Pure figure builders: data in, ``plotly.graph_objects.Figure`` out, no Streamlit.

============================  ======================================================================
``charts``                    the one name pages use: every builder of the modules below
``charts_common``             palette, layout, empty figure, toolbar configuration, presentation size
``charts_data``               the data before a model: histograms, trellis, dot plots, cross tables
``charts_diag``               residual diagnostics: residuals vs fitted, QQ, scale-location, leverage
``charts_effects``            effect plots and contrast plots of marginal means
``charts_fit``                coefficient plot, information criteria, optimizer trace, bootstrap
                              histograms, sparsity images
``charts_ranef``              caterpillar and QQ plots of conditional modes, shrinkage, group panels
``numerics``                  plot smoothers: lowess, binned quantiles, Cook's distance contours
============================  ======================================================================

Rule (checked by ``tests/gui/test_layers.py``): a figure module imports only other figure
modules and :mod:`gui.engine`, so each builder is unit-tested on ``fig.data`` and ``fig.layout``.
"""
