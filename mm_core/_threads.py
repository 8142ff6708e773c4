"""BLAS threads during a fit.

numpy and scipy each load their own OpenBLAS. Their thread pools spin-wait after every threaded
call, so on a small machine (or a server with several sessions, or a bootstrap with one process
per core) the objective's many small dense operations wait for each other's spinning threads:
one thread each is faster, often by a factor of two or more. Fits therefore run with the BLAS
thread count limited to ``MM_CORE_BLAS_THREADS`` (default 1), restored afterwards, so numpy
behaves as before outside the engine.
"""
from __future__ import annotations

import contextlib
import os

_controller = None


def _get_controller():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a pinned requirement
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller


def blas_threads(n: int | None = None):
    """Context manager limiting BLAS to ``n`` threads (default ``MM_CORE_BLAS_THREADS`` or 1)."""
    if n is None:
        n = int(os.environ.get("MM_CORE_BLAS_THREADS", "1") or 1)
    ctl = _get_controller()
    if not ctl or n <= 0:
        return contextlib.nullcontext()
    return ctl.limit(limits=n, user_api="blas")
