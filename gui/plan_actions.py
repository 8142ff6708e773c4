"""The Plan page's state-changing operations: start a power run, collect it, run the sandbox.

They read and write session state only through :mod:`gui.state` and reach the engine only
through :mod:`gui.engine`; the power run goes to a worker process (:mod:`gui.workers`).
"""
from __future__ import annotations

from typing import Any

from gui import engine, state, workers
from gui.jobs import Job
from gui.plan_view import MAX_SANDBOX_ROWS, PlanInputError


def start_power(target: Any, test: Any, kwargs: dict, *, source: str, target_power: float,
                wait: float = 0.0) -> Job | None:
    """Start a power run in a worker process (progress and cancel through the job panel)."""
    job = state.job()
    if job is not None and job.running:
        state.set_message("warning", "Another computation is running; wait for it or cancel it first.")
        return None
    n_sizes = len(kwargs.get("sizes") or [0])
    total = int(kwargs["n_sim"]) * n_sizes
    work = workers.in_process("power", target, test, kwargs)
    job = Job(work, kind="power", label=f"Power: {test.label}", total=total,
              meta={"source": source, "target": target_power}).start()
    state.set_job(job)
    if wait:
        job.wait(wait)
        from gui import actions

        actions.collect_job()
    return job


def collect_power(job: Job) -> None:
    """Keep a finished power run (called by :func:`gui.actions.collect_job`)."""
    r = job.result
    state.set_power_record(state.PowerRecord(source=job.meta["source"], result=r, target=job.meta["target"],
                                             seconds=job.elapsed))
    if r.cancelled:
        state.set_message("warning", f"Power run stopped: the {r.n_done} finished simulations are shown.")
    else:
        state.set_message("success", f"Power run done: {r.n_done} simulations in {job.elapsed:.1f} s.")


def run_sandbox(design: Any, model: Any, seed: int) -> None:
    """Generate one data set from the design and true values, fit it, keep all for display."""
    if design.nobs > MAX_SANDBOX_ROWS:
        raise PlanInputError(f"The sandbox generates at most {MAX_SANDBOX_ROWS:,} rows; this design has "
                             f"{design.nobs:,}. Use fewer levels or observations.")
    data, effects = engine.simulate_with_effects(design, model, seed)
    kwargs: dict[str, Any] = {"family": model.family}
    if model.family == "gaussian":
        kwargs["reml"] = bool(model.reml)
    result = engine.fit(model.formula, data, **kwargs)
    state.set_sandbox_record(state.SandboxRecord(data=data, truth=model, effects=effects, result=result,
                                                 seed=int(seed)))
