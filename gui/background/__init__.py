"""Background jobs: long computations that report progress and can be cancelled.

============================  ======================================================================
``jobs``                      ``Job``: a computation in a thread, with progress, cancel and outcome
``workers``                   the same in a worker process (large fits, bootstrap and power runs),
                              so that a long computation never slows the server down
============================  ======================================================================

Rule (checked by ``tests/gui/test_layers.py``): background modules import only themselves and
:mod:`gui.engine`; only the shell starts jobs.
"""
