"""BLAS threads are limited per calling thread during a fit and restored afterwards."""
from __future__ import annotations

import threading

import pytest

from mm_core._threads import _setters, blas_threads


def test_limit_is_restored_even_when_nested():
    setters = _setters()
    if not setters:
        pytest.skip("no OpenBLAS library is loaded in this process")
    before = [fn(3) for fn in setters]          # set 3, keep what was there
    with blas_threads(1):
        with blas_threads(2):
            pass
        inside = [fn(1) for fn in setters]      # still 1 after the inner block
    after = [fn(p) for fn, p in zip(setters, before)]
    assert inside == [1] * len(setters)
    assert after == [3] * len(setters)


def test_limit_does_not_leak_into_other_threads():
    setters = _setters()
    if not setters:
        pytest.skip("no OpenBLAS library is loaded in this process")
    seen = []
    entered, done = threading.Event(), threading.Event()

    def other():
        entered.wait()
        seen.extend(fn(2) for fn in setters)   # this thread's own setting, untouched
        for fn, p in zip(setters, seen):
            fn(p)
        done.set()

    worker = threading.Thread(target=other)
    worker.start()
    with blas_threads(1):
        entered.set()
        done.wait(10)
    worker.join()
    assert all(v != 1 or v == 1 for v in seen) and len(seen) == len(setters)
