"""Long work (fits, bootstrap) in a background thread, polled by the page.

A :class:`Job` runs ``fn(progress)`` in a daemon thread. ``progress`` is handed to the
engine as its callback: it records what the engine reports (evaluations, objective,
replicates done) and returns ``False`` once :meth:`Job.cancel` was called, which makes the
engine raise ``FitCancelled``. The thread never calls ``st.*``; pages read
:attr:`Job.status` and :meth:`Job.snapshot` on each run. No Streamlit here.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any


def progress_info(args: tuple, kwargs: dict) -> dict[str, Any]:
    """Plain, picklable dict of what a progress callback received: the engine's
    ``mm_core.Progress`` (fits, bootstrap and power runs), ``(done, total)``, a dict or keywords."""
    out: dict[str, Any] = {}
    if len(args) >= 2 and all(isinstance(a, (int, float)) for a in args[:2]):
        out["done"] = int(args[0])
        out["total" if isinstance(args[1], int) else "engine_elapsed"] = args[1]
    elif args:
        obj = args[0]
        if isinstance(obj, dict):
            out.update(obj)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            out["done"] = int(obj)
        else:
            replicates = getattr(obj, "stage", None) == "replicates"
            for name in ("evaluations", "objective", "elapsed", "done", "total", "replicate", "n", "completed",
                         "singular", "stage"):
                v = getattr(obj, name, None)
                if replicates and name in ("evaluations", "objective"):
                    continue                       # a run's record counts replicates, not evaluations
                if isinstance(v, (int, float, str, bool)):
                    out[name] = v
    out.update({k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, bool))})
    return out


class Job:
    """A unit of background work with progress, cancel and result.

    Fields
    ------
    kind : str
        "fit" or "bootstrap".
    label : str
        Shown next to the progress bar.
    total : int or None
        Number of steps when known (bootstrap replicates), for a determinate bar.
    meta : dict
        Whatever the caller needs to turn the result into a record (spec, data, fit id, ...).
    status : str
        "pending", "running", "done", "error" or "cancelled".
    result, error, error_detail
        Set when the job ends.
    """

    def __init__(self, fn: Callable[[Callable[..., Any]], Any], *, kind: str, label: str,
                 total: int | None = None, meta: dict | None = None) -> None:
        self.fn = fn
        self.kind = kind
        self.label = label
        self.total = total
        self.meta = dict(meta or {})
        self.status = "pending"
        self.result: Any = None
        self.error: BaseException | None = None
        self.error_detail = ""
        self.started = 0.0
        self.finished = 0.0
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._progress: dict[str, Any] = {"evaluations": 0, "objective": None, "done": 0}
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- control
    def start(self) -> Job:
        self.started = time.perf_counter()
        self.status = "running"
        self._thread = threading.Thread(target=self._run, name=f"mm-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def run_here(self) -> Job:
        """Run synchronously in the calling thread (tests, tiny fits)."""
        self.started = time.perf_counter()
        self.status = "running"
        self._run()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends or ``timeout`` seconds pass; True if it ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.finished_ok or self.status in ("error", "cancelled")

    @property
    def finished_ok(self) -> bool:
        return self.status == "done"

    @property
    def running(self) -> bool:
        return self.status in ("pending", "running")

    @property
    def elapsed(self) -> float:
        end = self.finished or time.perf_counter()
        return end - self.started if self.started else 0.0

    # --------------------------------------------------------------- progress
    def progress(self, *args: Any, **kwargs: Any) -> bool:
        """Callback for the engine. Accepts an info object, ``(done, total)`` or keywords."""
        info = progress_info(args, kwargs)
        for alias in ("replicate", "completed"):
            if alias in info and "done" not in info:
                info["done"] = info[alias]
        if "n" in info and "total" not in info:
            info["total"] = info["n"]
        with self._lock:
            self._progress.update({k: v for k, v in info.items() if v is not None})
        return not self._cancel.is_set()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            snap = dict(self._progress)
        snap["elapsed"] = self.elapsed
        snap.setdefault("total", self.total)
        if self.total and not snap.get("total"):
            snap["total"] = self.total
        return snap

    def fraction(self) -> float | None:
        s = self.snapshot()
        total = s.get("total")
        if total:
            return max(0.0, min(1.0, float(s.get("done", 0)) / float(total)))
        return None

    def describe(self) -> str:
        s = self.snapshot()
        parts = [self.label]
        if s.get("total"):
            done = int(s.get("done") or 0)
            parts.append(f"{done} of {s['total']}")
            if done == 0:
                parts.append("starting")
            if 0 < done < s["total"]:
                parts.append(f"about {s['elapsed'] / done * (s['total'] - done):.0f} s left")
        if s.get("evaluations"):
            parts.append(f"{s['evaluations']} evaluations")
        obj = s.get("objective")
        if obj is not None:
            try:
                parts.append(f"objective {float(obj):,.4f}")
            except (TypeError, ValueError):
                pass
        parts.append(f"{s['elapsed']:.1f} s")
        return " · ".join(parts)

    # ------------------------------------------------------------------- body
    def _run(self) -> None:
        try:
            result = self.fn(self.progress)
            if self._cancel.is_set() and result is None:
                self.status = "cancelled"
            else:
                self.result = result
                self.status = "done"
        except BaseException as e:
            if type(e).__name__ == "FitCancelled" or self._cancel.is_set():
                self.status = "cancelled"
            else:
                self.status = "error"
            self.error = e
            frames = traceback.extract_tb(e.__traceback__)[-3:]
            self.error_detail = f"{type(e).__name__}: {str(e)[:500]}\n" + "\n".join(
                f"in {f.name} ({f.filename.rsplit('/', 1)[-1]}, line {f.lineno})" for f in frames)
        finally:
            self.finished = time.perf_counter()
