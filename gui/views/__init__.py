"""View-models: what the pages show, computed from a fit without Streamlit.

============================  ======================================================================
``tables``                    display formatting: rounding, labels, p-values, Markdown escaping,
                              spreadsheet-safe CSV
``report``                    headline numbers, method label and plain-language advice of a fit
``derived``                   the engine's diagnostics and predictions of a fit, shaped for pages
``effects``                   tests, ANOVA, marginal means and comparisons of a fit
``comparison``                likelihood-ratio test between two fits, with a conclusion
``codegen``                   the model as Python, R and Julia code
``bootstrap_view``            bootstrap replicates and intervals as the Bootstrap page shows them
``plan_view``                 the Plan page: design form, true model, power tables and curve,
                              sandbox figures
``sparsity``                  sparsity patterns of Z'Z and of its Cholesky factor
``augmented_data``            a fit's results back into its data (R's ``broom.mixed::augment``)
``report_document``           the HTML and Word report
``report_figures``            the report's figures, drawn as images
============================  ======================================================================

Rule (checked by ``tests/gui/test_layers.py``): a view-model never imports the shell or the
background jobs, so it is unit-tested without a Streamlit script run.
"""
