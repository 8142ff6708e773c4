"""Run engine work in a separate process so the Streamlit server stays responsive.

A fit of insteval (73,421 rows) keeps a CPU busy for tens of seconds; in a thread of the
server process it would also hold the GIL and freeze every page. :func:`in_process` returns
a function for :class:`gui.background.jobs.Job`: run in the job's thread, it starts a worker process
(``forkserver``: forked from a clean, pre-imported server, never from the threaded Streamlit
process), relays the worker's progress messages to the job's callback, sets the worker's
cancel event when the callback says stop, and returns the worker's result or raises its
exception. No Streamlit here; the worker imports only the engine.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Any

from gui.background.jobs import progress_info

_CTX: Any = None
_START_LOCK = threading.Lock()
PROGRESS_INTERVAL = 0.1     # seconds between progress messages from the worker
# seconds after a cancel request before the worker is terminated: a fit checks its callback
# after every evaluation, a bootstrap after every chunk of replicates (and then keeps them)
KILL_AFTER = {"fit": 10.0, "bootstrap": 60.0, "power": 60.0}


class WorkerDied(RuntimeError):
    """The worker process ended without a result (killed, out of memory, crashed)."""


def _context() -> Any:
    global _CTX
    if _CTX is None:
        ctx: BaseContext
        try:
            forkserver = mp.get_context("forkserver")
            forkserver.set_forkserver_preload(["gui.background.workers", "gui.engine", "mm_core"])
            ctx = forkserver
        except ValueError:  # platforms without fork
            ctx = mp.get_context("spawn")
        _CTX = ctx
    return _CTX


@contextmanager
def _without_main() -> Iterator[None]:
    """Start children without re-running the parent's ``__main__``.

    Under Streamlit ``__main__`` is the app script; multiprocessing would import it again in
    every worker (running the app's page code there). The workers only need ``gui.background.workers``
    and ``mm_core``, so the main-module entries are dropped from the preparation data while a
    worker starts.
    """
    from multiprocessing import spawn

    original = spawn.get_preparation_data

    def prep(name: str) -> dict:
        d = original(name)
        d.pop("init_main_from_path", None)
        d.pop("init_main_from_name", None)
        return d

    with _START_LOCK:
        spawn.get_preparation_data = prep
        try:
            yield
        finally:
            spawn.get_preparation_data = original


# ------------------------------------------------------------------ worker side


def _task_fit(progress: Callable[..., bool], formula: str, data: Any, kwargs: dict) -> Any:
    from gui import engine

    return engine.fit(formula, data, progress=progress, **kwargs)


def _task_bootstrap(progress: Callable[..., bool], result: Any, n: int, seed: int) -> Any:
    from gui import engine

    return engine.parametric_bootstrap(result, n, seed=seed, progress=progress)


def _task_power(progress: Callable[..., bool], target: Any, test: Any, kwargs: dict) -> Any:
    from gui import engine

    return engine.power(target, test, progress=progress, **kwargs)


TASKS: dict[str, Callable[..., Any]] = {"fit": _task_fit, "bootstrap": _task_bootstrap, "power": _task_power}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except OSError:
        return True


def _worker(task: str, args: tuple, out: Any, cancel: Any, app_pid: int) -> None:
    try:
        os.setpgrp()       # its own process group: a cancel that must kill also stops the engine's pool
    except OSError:
        pass
    try:
        os.nice(10)        # the server's page runs come first
    except OSError:
        pass
    last = [0.0]
    pending: list[dict] = [{}]

    def progress(*a: Any, **kw: Any) -> bool:
        pending[0].update(progress_info(a, kw))
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            out.put(("progress", dict(pending[0])))
            if not _alive(app_pid):          # the app is gone: nobody waits for the result
                cancel.set()
        return not cancel.is_set()

    try:
        result = TASKS[task](progress, *args)
        if pending[0]:
            out.put(("progress", dict(pending[0])))
        out.put(("done", result))
    except BaseException as e:
        frames = traceback.extract_tb(e.__traceback__)[-3:]
        detail = f"{type(e).__name__}: {str(e)[:500]}\n" + "\n".join(
            f"in {f.name} ({f.filename.rsplit('/', 1)[-1]}, line {f.lineno})" for f in frames)
        try:
            out.put(("error", e, detail))
        except Exception:
            out.put(("error", RuntimeError(f"{type(e).__name__}: {e}"), detail))


# ------------------------------------------------------------------- app side


def in_process(task: str, *args: Any) -> Callable[[Callable[..., bool]], Any]:
    """A ``Job`` body that runs ``TASKS[task](progress, *args)`` in a worker process."""
    if task not in TASKS:
        raise KeyError(task)

    def run(progress: Callable[..., bool]) -> Any:
        ctx = _context()
        out = ctx.Queue()
        cancel = ctx.Event()
        # not a daemon: the engine's bootstrap starts its own pool of processes inside it
        proc = ctx.Process(target=_worker, args=(task, args, out, cancel, os.getpid()), daemon=False,
                           name=f"mm-{task}")
        with _without_main():
            proc.start()
        cancel_time: float | None = None
        try:
            while True:
                try:
                    msg = out.get(timeout=0.1)
                except queue_mod.Empty:
                    msg = None
                if msg is None:
                    if not proc.is_alive():
                        try:  # a message may have arrived just before the exit
                            msg = out.get(timeout=0.5)
                        except queue_mod.Empty:
                            if cancel.is_set():
                                from mm_core.errors import FitCancelled

                                raise FitCancelled("cancelled") from None
                            raise WorkerDied(f"the worker process stopped unexpectedly (exit code {proc.exitcode})"
                                             ) from None
                    else:
                        if not progress() and not cancel.is_set():
                            cancel.set()
                            cancel_time = time.monotonic()
                        if cancel_time and time.monotonic() - cancel_time > KILL_AFTER[task]:
                            _terminate(proc)
                        continue
                kind = msg[0]
                if kind == "progress":
                    if not progress(msg[1]) and not cancel.is_set():
                        cancel.set()
                        cancel_time = time.monotonic()
                elif kind == "done":
                    return msg[1]
                elif kind == "error":
                    raise msg[1]
        finally:
            if proc.is_alive():      # it has sent its result or was cancelled: give it a moment to exit
                proc.join(timeout=0.5)
            if proc.is_alive():
                _terminate(proc)
                proc.join(timeout=2)
            out.close()

    return run


def _terminate(proc: Any) -> None:
    """Stop a worker and the processes it started (its process group, whose id is its pid)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError, OSError):
        proc.terminate()


def warm_up() -> None:
    """Start the fork server in the background so the first large fit starts quickly."""
    try:
        from multiprocessing import forkserver

        _context()
        with _without_main():
            forkserver.ensure_running()
    except Exception:
        pass
