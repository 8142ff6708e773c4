"""State-changing operations of the app: load data, edit the model, fit, bootstrap, and keep
what finished background jobs (fits, bootstrap and power runs) computed.

Pages and widget callbacks call these; they read and write session state only through
:mod:`gui.shell.state` and reach the engine only through :mod:`gui.engine`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from gui import engine
from gui.background import workers
from gui.background.jobs import Job
from gui.files.io import UploadError, content_hash
from gui.shell import cache, state
from gui.spec.data_design import apply_column_types, default_spec, family_for_response
from gui.spec.model_spec import ModelSpec

# A fit is waited for up to this long in the page run that started it (small fits take
# milliseconds, so their results show at once); longer ones are polled with progress.
SYNC_WAIT_SECONDS = 1.5
# Data with more rows than this are fitted in a worker process (see gui.background.workers), so that the
# fit cannot slow the server down; smaller ones in a thread (no process start-up cost).
PROCESS_MIN_ROWS = 5000


# --------------------------------------------------------------------- data


def load_bundled(name: str) -> None:
    df = cache.bundled_dataset(name)
    state.set_data(df, name, "bundled")
    state.set_spec(default_spec(df, name))


def preload() -> None:
    """Load the sample dataset a new session starts with (``MM_APP_PRELOAD``, sleepstudy unless
    set; "" or "none" for an empty app). A dataset that cannot be loaded leaves a warning."""
    name = os.environ.get(state.PRELOAD_ENV, state.DEFAULT_PRELOAD).strip()
    if name and name.lower() != "none" and state.data() is None:
        try:
            load_bundled(name)
        except Exception as e:
            state.set_message("warning", f"The sample dataset '{name}' could not be loaded: {e}")


def upload_signature(name: str, size: int, file_id: str | None = None) -> tuple:
    """Identifies one upload: a new file, or the same file uploaded again, has a new one."""
    return (name, int(size), file_id)


def load_upload(name: str, data: bytes, file_id: str | None = None) -> bool:
    """Read an uploaded file; on failure keep the current data and say why. True if loaded.

    Every upload ends in an outcome (loaded, or why not) that the Data page shows beside the
    uploader for as long as it holds the file, so no outcome is lost to a rerun.
    """
    sig = upload_signature(name, len(data), file_id)
    if state.upload_sig() == sig:
        return state.data_name() == name and state.data_source() == "upload"
    state.set_upload_sig(sig)
    try:
        df = cache.read_upload(name, content_hash(data), data)
    except UploadError as e:
        state.set_upload_outcome(sig, "error", f"Upload failed: {e} The previous data are kept.")
        return False
    state.set_data(df, name, "upload")
    state.set_spec(default_spec(df, None))
    state.set_upload_outcome(sig, "success", f"Loaded '{name}': {df.shape[0]:,} rows × {df.shape[1]} columns.")
    return True


def clear_data() -> None:
    state.clear_data()
    state.set_spec(ModelSpec())
    cache.clear_session_caches()


def set_column_options(types: dict[str, str], refs: dict[str, str]) -> None:
    """Apply column types and reference levels; an impossible change keeps the data as it was."""
    raw = state.data_raw()
    if raw is None:
        return
    try:
        df = apply_column_types(raw, types, refs)
    except ValueError as e:
        state.set_message("error", str(e))
        return
    state.col_types().clear()
    state.col_types().update(types)
    state.ref_levels().clear()
    state.ref_levels().update(refs)
    state.set_working_data(df)


# -------------------------------------------------------------------- model


def apply_formula_text(text: str) -> bool:
    """Parse the formula box; on success update the widget model, else remember the error."""
    state.set_formula_text(text)
    text = text.strip()
    if not text:
        state.set_formula_error({"message": "The formula is empty.", "pos": None, "end": None, "text": text})
        return False
    try:
        parsed = engine.parse_formula(text)
    except engine.FormulaError as e:
        state.set_formula_error({"message": e.message, "pos": e.pos, "end": e.end, "text": text})
        return False
    except Exception as e:
        state.set_formula_error({"message": f"The formula could not be read: {e}", "pos": None, "end": None,
                                 "text": text})
        return False
    old = state.spec()
    new = ModelSpec.from_formula(parsed, base=old)
    data = state.data()
    if data is not None:
        new, note = family_for_response(new, data, old.response)
        if note:
            state.set_message("info", note)
    state.set_spec(new, text=False)
    state.set_formula_error(None)
    return True


# --------------------------------------------------------------------- fits


def start_fit(spec: ModelSpec, data: pd.DataFrame, *, wait: float = SYNC_WAIT_SECONDS) -> Job:
    """Start fitting ``spec`` in the background; wait up to ``wait`` seconds for it."""
    formula = spec.to_formula()
    kwargs = spec.fit_kwargs()
    meta = {"spec": spec.copy(), "formula": formula, "data": data, "data_name": state.data_name() or "data",
            "data_key": state.data_key() or ""}

    def fit_here(progress: Any) -> Any:
        return engine.fit(formula, data, progress=progress, **kwargs)

    work: Callable[[Any], Any] = (workers.in_process("fit", formula, data, kwargs) if len(data) > PROCESS_MIN_ROWS
                                  else fit_here)
    job = Job(work, kind="fit", label=f"Fitting {formula}", meta=meta).start()
    state.set_job(job)
    job.wait(wait)
    collect_job()
    return job


def start_bootstrap(rec: state.FitRecord, n: int, seed: int, *, wait: float = 0.0) -> Job:
    work = workers.in_process("bootstrap", rec.result, n, seed)
    job = Job(work, kind="bootstrap", label=f"Bootstrap of fit {rec.id}", total=n,
              meta={"fit_id": rec.id, "n": n, "seed": seed}).start()
    state.set_job(job)
    if wait:
        job.wait(wait)
        collect_job()
    return job


def collect_job() -> Job | None:
    """Move a finished job's outcome into the session (fit history, bootstrap, message).

    Returns the job if it is still running.
    """
    job = state.job()
    if job is None:
        return None
    if job.running:
        return job
    state.set_job(None)
    if job.status == "cancelled":
        state.set_message("warning", f"{job.label}: cancelled after {job.elapsed:.1f} s. Nothing was changed.")
    elif job.status == "error":
        state.set_message("error", engine.error_message(job.error, job.kind))
        state.set_pref("last_error_detail", "" if engine.is_user_error(job.error) else job.error_detail)
    elif job.kind == "fit":
        m = job.meta
        rec = state.FitRecord(id=state.next_fit_id(), spec=m["spec"], formula=m["formula"], data_name=m["data_name"],
                              data_key=m["data_key"], data=m["data"], result=job.result, seconds=job.elapsed)
        state.add_fit(rec)
        n_warn = len(rec.result.warnings)
        extra = f" with {n_warn} warning{'s' if n_warn != 1 else ''} (see Summary)" if n_warn else ""
        state.set_message("success", f"Fit {rec.id} done in {job.elapsed:.2f} s{extra}.")
    elif job.kind == "power":
        r = job.result
        state.set_power_record(state.PowerRecord(source=job.meta["source"], result=r, target=job.meta["target"],
                                                 seconds=job.elapsed))
        if r.cancelled:
            state.set_message("warning", f"Power run stopped: the {r.n_done} finished simulations are shown.")
        else:
            state.set_message("success", f"Power run done: {r.n_done} simulations in {job.elapsed:.1f} s.")
    elif job.kind == "bootstrap":
        m = job.meta
        state.set_boot(state.BootRecord(fit_id=m["fit_id"], n=m["n"], seed=m["seed"], result=job.result,
                                        seconds=job.elapsed))
        boot: engine.BootstrapResult = job.result
        kept = boot.n
        if boot.cancelled:
            state.set_message("warning", f"Bootstrap of fit {m['fit_id']} cancelled: {kept} of {m['n']} replicates "
                                         "were kept and are shown.")
        else:
            state.set_message("success", f"Bootstrap of fit {m['fit_id']}: {kept} replicates in {job.elapsed:.1f} s.")
    return None


def cancel_job() -> None:
    job = state.job()
    if job is not None:
        job.cancel()


# ---------------------------------------------------------------- workspace


def open_workspace(name: str, data: bytes, progress: Any = None) -> bool:
    """Open a workspace file; on any refusal keep the session as it was and say why. True if opened."""
    from gui.files import workspace

    job = state.job()
    if job is not None and job.running:
        state.set_message("error", f"'{name}' was not opened: {job.label} is still running. Wait for it or cancel "
                                   "it first.")
        return False
    try:
        ws = workspace.read(data, progress=progress)
    except workspace.WorkspaceError as e:
        state.set_message("error", f"'{name}': {e}")
        return False
    except MemoryError:
        state.set_message("error", f"'{name}' is too large to open here. Your current data and fits are kept.")
        return False
    except Exception as e:
        state.set_message("error", f"'{name}' could not be opened ({type(e).__name__}: {str(e)[:200]}). Your "
                                   "current data and fits are kept.")
        return False
    cache.clear_session_caches()
    state.restore(ws)
    n_fit, n_boot = len(ws.fits), len(ws.boots)
    state.set_message("success", f"Opened '{name}': {ws.data_name or 'no data'}, {n_fit} fit{'s' * (n_fit != 1)} "
                                 f"(refitted, objectives checked), {n_boot} bootstrap run{'s' * (n_boot != 1)}."
                      + ("".join(" " + n for n in ws.notes)))
    return True
