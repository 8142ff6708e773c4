"""Running bootstrap replicates: in chunks, in this process, on a process pool or on any
``concurrent.futures.Executor``, with progress reports and cancellation.

Replicate ``j`` draws from child ``j`` of ``SeedSequence(seed)``, so the table is the same
whatever the number of workers or the chunking. A replicate engine pickles as the model's
design and settings only, and is rebuilt once per worker process (and thread).
"""
from __future__ import annotations

import itertools
import math
import os
import pickle
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from .._threads import blas_threads
from ..optimize import Progress

__all__ = ["PROGRESS_INTERVAL", "WINDOW_PER_WORKER", "run_replicates"]

#: Seconds between progress reports while replicates run (the callback can cancel at each).
PROGRESS_INTERVAL = 0.25
#: Tasks in flight per worker: new chunks are submitted as earlier ones finish, so a huge
#: ``n`` never creates more than this many futures per worker.
WINDOW_PER_WORKER = 2


def _chunks(n: int, size: int, ramp: bool):
    """(start, stop) of the chunks, lazily; with ``ramp`` the sizes grow 1, 2, 4, ... up to
    ``size``, so the first replicates report (and can be cancelled) at once."""
    s, k = 0, 1 if ramp else size
    while s < n:
        e = min(s + k, n)
        yield s, e
        s, k = e, min(2 * k, size)


class _Tally:
    """Finished rows by chunk start, and the progress callback's verdict."""

    def __init__(self, progress, n: int, keep_partial: bool):
        self.progress, self.n, self.keep_partial = progress, n, keep_partial
        self.done: dict[int, np.ndarray] = {}
        self.t0 = time.perf_counter()
        self.last = self.t0

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.done.values())

    def add(self, start: int, rows: np.ndarray, complete: bool) -> None:
        if len(rows) and (complete or self.keep_partial):
            self.done[start] = rows

    def report(self, count: int | None = None) -> bool:
        """Call the progress callback; True when it asked to stop."""
        self.last = time.perf_counter()
        if self.progress is None:
            return False
        done = self.count if count is None else count
        return self.progress(Progress.replicates(done, self.n, self.last - self.t0)) is False

    def due(self) -> bool:
        return time.perf_counter() - self.last >= PROGRESS_INTERVAL


def _run_here(replicator, chunks, entropy, tally: _Tally) -> bool:
    """Run chunks in this process; returns whether the run was cancelled.

    With ``tally.keep_partial`` progress is also reported between replicates (every
    :data:`PROGRESS_INTERVAL` seconds), and a cancellation keeps the replicates of the chunk
    under way.
    """
    for s, e in chunks:
        out = np.empty((e - s, replicator.width()))
        with blas_threads():
            for i, j in enumerate(range(s, e)):
                out[i] = replicator(j, entropy)
                if (tally.keep_partial and i + 1 < e - s and tally.due()
                        and tally.report(tally.count + i + 1)):
                    tally.add(s, out[:i + 1], False)
                    return tally.count < tally.n
        tally.add(s, out, True)
        if tally.report():
            return tally.count < tally.n
    return False


def _run_pool(replicator, chunks, entropy, tally: _Tally, executor, workers) -> bool:
    """Run chunks on an executor (ours when ``executor`` is None); True when cancelled.

    At most :data:`WINDOW_PER_WORKER` chunks per worker are in flight. With a pool of our own,
    a shared counter makes progress move with every finished replicate and a stop event ends
    the running chunks after their current replicate when the callback cancels.
    """
    payload = pickle.dumps(replicator, protocol=pickle.HIGHEST_PROTOCOL)
    token = uuid.uuid4().hex
    own = executor is None
    halt = counter = None
    if own:
        ctx = _mp_context()
        halt, counter = ctx.Event(), ctx.Value("q", 0)
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                       initializer=_worker_init,
                                       initargs=(token, payload, halt, counter))
    send = None if own else payload
    window = WINDOW_PER_WORKER * max(1, workers or getattr(executor, "_max_workers", 0) or 4)
    chunks = iter(chunks)
    pending: dict = {}
    cancelled = False

    def fill():
        while len(pending) < window:
            nxt = next(chunks, None)
            if nxt is None:
                return
            pending[executor.submit(_run_chunk, token, send, entropy, *nxt)] = nxt

    def collect(futures):
        for fut in futures:
            s, e = pending.pop(fut)
            if fut.cancelled():
                continue
            start, out = fut.result()
            tally.add(start, out, len(out) == e - s)

    try:
        fill()
        while pending:
            finished, _ = wait(list(pending), timeout=PROGRESS_INTERVAL,
                               return_when=FIRST_COMPLETED)
            collect(finished)
            fill()
            count = None
            if counter is not None and tally.keep_partial:
                count = max(tally.count, counter.value)
            if (finished or (tally.keep_partial and tally.due())) and tally.report(count):
                cancelled = True
                break
        if cancelled:
            if halt is not None:
                halt.set()                    # running chunks stop after their replicate
            for fut in pending:
                fut.cancel()
            if own:
                collect(wait(list(pending))[0])
            return tally.count < tally.n
        return False
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)


def run_replicates(replicator, n: int, entropy: int, *, progress: Callable | None = None,
                   executor: Executor | None = None, workers: int | None = None,
                   chunk_size: int | None = None) -> tuple:
    """Run replicates ``0 … n−1`` of a replicate engine, in chunks, here or on workers.

    ``replicator`` is a picklable callable ``(j, entropy) -> row`` with a ``width()``; row ``j``
    depends on ``j`` and ``entropy`` only, so the table is the same whatever the workers,
    executor or chunking. Chunks are submitted as earlier ones finish (a few per worker in
    flight), so any ``n`` starts at once. Without ``chunk_size`` the chunks grow 1, 2, 4, …
    replicates and ``progress`` (given a :class:`mm_core.Progress`) is called every ``PROGRESS_INTERVAL`` seconds
    too; returning ``False`` stops the run and keeps the finished replicates (whole chunks
    only when ``chunk_size`` is given).

    Returns
    -------
    (rows, replicates, cancelled, workers_used, elapsed)
        ``rows`` (finished × width) in replicate order and their replicate numbers.
    """
    ramp = chunk_size is None
    if chunk_size is None:
        chunk_size = min(max(16, math.ceil(n / 64)), 1000)
    tally = _Tally(progress, n, keep_partial=ramp)
    cancelled = False
    own = executor is None
    if own:
        workers = workers or (os.cpu_count() or 1)
        used = workers = sum(1 for _ in itertools.islice(_chunks(n, chunk_size, ramp), workers))
    else:
        used = getattr(executor, "_max_workers", 0) or 0
    if own and used <= 1:
        used = 1
        cancelled = _run_here(replicator, _chunks(n, chunk_size, ramp), entropy, tally)
    else:
        try:
            cancelled = _run_pool(replicator, _chunks(n, chunk_size, ramp), entropy, tally,
                                  executor, workers)
        except BrokenProcessPool as e:
            if not own:
                raise
            # worker processes could not start (e.g. a script without the
            # ``if __name__ == "__main__":`` guard under forkserver): finish in this process
            warnings.warn(f"the worker processes failed ({e}); running the remaining "
                          "replicates in this process", RuntimeWarning, stacklevel=3)
            used = 1
            rest = _remaining(_chunks(n, chunk_size, ramp), tally.done)
            cancelled = _run_here(replicator, rest, entropy, tally)
    done = tally.done
    starts = sorted(done)
    if starts:
        rows = np.vstack([done[s] for s in starts])
        reps = np.concatenate([np.arange(s, s + len(done[s])) for s in starts])
    else:
        rows = np.zeros((0, replicator.width()))
        reps = np.zeros(0, np.int64)
    return rows, reps, cancelled, used, time.perf_counter() - tally.t0


def _remaining(chunks, done: dict):
    """The chunks, and parts of chunks, whose replicates are not in ``done``."""
    for s, e in chunks:
        got = len(done.get(s, ()))
        if s + got < e:
            if got:
                yield s + got, e
            else:
                yield s, e


# ============================================================================ workers
_WORKER_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()
_WORKER_BLAS: list = []


_POOL_SIGNALS: dict = {}


def _worker_init(token: str, payload: bytes, stop=None, counter=None) -> None:
    # a worker process of our own pool: one BLAS thread for good (the pool is the parallelism)
    _WORKER_BLAS.append(blas_threads(1))
    _WORKER_CACHE[(token, threading.get_ident())] = pickle.loads(payload)
    _POOL_SIGNALS[token] = (stop, counter)


def _replicator_for(token: str, payload: bytes | None):
    """This thread's replicator (a replicator mutates its model, so threads never share one)."""
    key = (token, threading.get_ident())
    with _CACHE_LOCK:
        rep = _WORKER_CACHE.get(key)
        if rep is None:
            if payload is None:
                raise RuntimeError("bootstrap worker was not initialized")
            if len(_WORKER_CACHE) >= 16:
                _WORKER_CACHE.clear()
            rep = _WORKER_CACHE[key] = pickle.loads(payload)
        return rep


def _run_chunk(token: str, payload: bytes | None, entropy: int, start: int,
               stop: int) -> tuple[int, np.ndarray]:
    """Replicates ``start … stop−1`` (runs in a worker; the replicator is cached per thread).

    In a pool of our own, the driver's stop event ends the chunk after the replicate under way
    (the rows done so far are returned) and a shared counter reports each finished replicate.
    """
    rep = _replicator_for(token, payload)
    halt, counter = _POOL_SIGNALS.get(token, (None, None))
    out = np.empty((stop - start, rep.width()))
    with blas_threads():
        for i, j in enumerate(range(start, stop)):
            if halt is not None and halt.is_set():
                return start, out[:i]
            out[i] = rep(j, entropy)
            if counter is not None:
                with counter.get_lock():
                    counter.value += 1
    return start, out


def _mp_context():
    """``fork`` in a single-threaded process (fast, nothing re-imported), else ``forkserver``."""
    import multiprocessing as mp
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["mm_core.bootstrap"])
        return ctx
    return mp.get_context("spawn")
