"""BLAS threads during a fit.

numpy and scipy each load their own OpenBLAS. The objective and PIRLS make thousands of calls
on small matrices, for which OpenBLAS's threads cost more than they save, and their
spin-waiting lets the two libraries' pools stall each other: on two busy cores a 2×2 solve took
milliseconds. Fits therefore run with ``MM_CORE_BLAS_THREADS`` (default 1) BLAS threads, set
with OpenBLAS's *thread-local* ``openblas_set_num_threads_local`` in every OpenBLAS loaded in
the process: other threads (other sessions of a server) are unaffected and the previous value
is restored on exit. Where no OpenBLAS is loaded the block runs unchanged.
"""
from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager

_SETTERS: list | None = None


def _setters() -> list:
    """``openblas_set_num_threads_local`` of every OpenBLAS loaded in the process."""
    global _SETTERS
    if _SETTERS is None:
        _SETTERS = []
        try:
            with open("/proc/self/maps") as fh:
                paths = {line.split()[-1] for line in fh if "openblas" in line and ".so" in line}
        except OSError:
            paths = set()
        for path in sorted(paths):
            try:
                fn = ctypes.CDLL(path).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            _SETTERS.append(fn)
    return _SETTERS


@contextmanager
def blas_threads(n: int | None = None):
    """Run the block with ``n`` BLAS threads in the calling thread (default
    ``MM_CORE_BLAS_THREADS`` or 1)."""
    if n is None:
        n = int(os.environ.get("MM_CORE_BLAS_THREADS", "1") or 1)
    setters = _setters() if n > 0 else []
    previous = [fn(n) for fn in setters]
    try:
        yield
    finally:
        for fn, p in zip(setters, previous):
            fn(p)
