"""Parametric bootstrap: simulate from the fitted model, refit, and summarize the replicates.

Each replicate simulates a response from the fitted model (:mod:`mm_core.simulate`) and refits
it. The package has one module per part:

* the replicate engines, which refit one simulated response reusing everything that does not
  depend on it: :mod:`~mm_core.bootstrap.lmm_replicator` (linear mixed models, with
  :class:`ScalarTermCriterion` for one scalar random-effects term) and
  :mod:`~mm_core.bootstrap.glmm_replicator` (GLMMs);
* the execution of replicates in chunks, here or on workers, with progress and cancellation
  (:mod:`~mm_core.bootstrap.execution`);
* the result, its tables and intervals (:mod:`~mm_core.bootstrap.result`);
* :func:`parametric_bootstrap`, which chooses the engine for a fit, runs it and assembles the
  result (:mod:`~mm_core.bootstrap.parametric`).

Replicate ``j`` draws from child ``j`` of ``SeedSequence(seed)``, so the table is the same
whatever the number of workers or the chunking; replicates run in chunks on a process pool
(by default) or on any ``concurrent.futures.Executor`` (e.g. a ``dask.distributed`` client's
``get_executor()``). A replicate engine pickles as the model's design and settings only, and
rebuilds its model once per worker process (whatever the factorization backend holds).
"""
from __future__ import annotations

from .execution import PROGRESS_INTERVAL, WINDOW_PER_WORKER, run_replicates
from .glmm_replicator import GlmmReplicator
from .lmm_replicator import SNAP_TOL, LmmReplicator, ScalarTermCriterion
from .parametric import make_replicator, parametric_bootstrap
from .result import BootstrapResult, shortest_interval

__all__ = [
    "PROGRESS_INTERVAL",
    "SNAP_TOL",
    "WINDOW_PER_WORKER",
    "BootstrapResult",
    "GlmmReplicator",
    "LmmReplicator",
    "ScalarTermCriterion",
    "make_replicator",
    "parametric_bootstrap",
    "run_replicates",
    "shortest_interval",
]
