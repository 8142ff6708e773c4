"""Files the app reads and writes: uploaded data and the workspace file.

============================  ======================================================================
``io``                        reading uploads (CSV and text, Excel, Parquet, Arrow, SPSS, Stata),
                              with limits and clear refusals; content hashes
``workspace``                 the saved session: data, model, fits and bootstrap runs as one file
                              of JSON and Parquet, checked when opened
``versions``                  names and versions of the app, the engine and the libraries, as
                              workspace manifests and reports record them
============================  ======================================================================

Rule (checked by ``tests/gui/test_layers.py``): files import only themselves, the
specification and :mod:`gui.engine`; an uploaded file is untrusted and never unpickled.
"""
