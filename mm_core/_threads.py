"""BLAS threads during a fit.

numpy and scipy each load their own OpenBLAS. The objective and PIRLS make thousands of calls
on small matrices, for which OpenBLAS's threads cost more than they save, and their
spin-waiting lets the two libraries' pools stall each other: on two busy cores a 2×2 solve took
milliseconds. Fits therefore run with ``MM_CORE_BLAS_THREADS`` (default 1) BLAS threads, set
with OpenBLAS's *thread-local* ``openblas_set_num_threads_local`` in every OpenBLAS loaded in
the process: other threads (other sessions of a server) are unaffected and the previous value
is restored on exit. Some level-3 routines (the triangular solve ``dtrsm`` behind every small
``dtrtrs``) ignore the thread-local value and read the library's global one: a 120 × 4 solve
then took 10 ms instead of 10 µs on two busy cores. So the global count is lowered too while
at least one fit runs in the process (a counter under a lock; the first fit to enter saves
the value, the last to leave restores it). Where no OpenBLAS is loaded the block runs unchanged.
"""
from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager

_SETTERS: list | None = None
_GLOBAL: list | None = None
_LOCK = threading.Lock()
_ACTIVE: list = [0, []]    # fits running, and the global counts saved by the first


def _openblas_paths() -> list[str]:
    try:
        with open("/proc/self/maps") as fh:
            return sorted({line.split()[-1] for line in fh if "openblas" in line and ".so" in line})
    except OSError:
        return []


def _setters() -> list:
    """``openblas_set_num_threads_local`` of every OpenBLAS loaded in the process."""
    global _SETTERS
    if _SETTERS is None:
        _SETTERS = []
        for path in _openblas_paths():
            try:
                fn = ctypes.CDLL(path).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            _SETTERS.append(fn)
    return _SETTERS


def _global_setters() -> list:
    """(get, set) of the global thread count of every OpenBLAS loaded in the process."""
    global _GLOBAL
    if _GLOBAL is None:
        _GLOBAL = []
        names = [("openblas_get_num_threads", "openblas_set_num_threads"),
                 ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
                 ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_")]
        for path in _openblas_paths():
            lib = ctypes.CDLL(path)
            for get_name, set_name in names:
                try:
                    get, put = getattr(lib, get_name), getattr(lib, set_name)
                except AttributeError:
                    continue
                get.argtypes, get.restype = [], ctypes.c_int
                put.argtypes, put.restype = [ctypes.c_int], None
                _GLOBAL.append((get, put))
                break
    return _GLOBAL


def _enter_global(n: int) -> None:
    with _LOCK:
        if _ACTIVE[0] == 0:
            _ACTIVE[1] = [(put, get()) for get, put in _global_setters()]
            for put, _ in _ACTIVE[1]:
                put(n)
        _ACTIVE[0] += 1


def _leave_global() -> None:
    with _LOCK:
        _ACTIVE[0] -= 1
        if _ACTIVE[0] == 0:
            for put, previous in _ACTIVE[1]:
                put(previous)
            _ACTIVE[1] = []


@contextmanager
def blas_threads(n: int | None = None):
    """Run the block with ``n`` BLAS threads in the calling thread (default
    ``MM_CORE_BLAS_THREADS`` or 1)."""
    if n is None:
        n = int(os.environ.get("MM_CORE_BLAS_THREADS", "1") or 1)
    if n > 0:
        _enter_global(n)
    setters = _setters() if n > 0 else []
    previous = [fn(n) for fn in setters]
    try:
        yield
    finally:
        for fn, p in zip(setters, previous):
            fn(p)
        if n > 0:
            _leave_global()
