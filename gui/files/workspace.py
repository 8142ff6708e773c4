"""The workspace file: everything a session holds, saved as data and opened again.

A workspace is a zip archive of JSON and Parquet, never pickle or anything else that runs code
when read (an uploaded file is untrusted):

=====================  ==========================================================================
``manifest.json``      format name and version, app, engine and library versions, and the size and
                       SHA-256 of every other member
``session.json``       data name and source, column types, reference levels, the model being built,
                       every fit's specification and headline numbers, bootstrap settings, the
                       pages' preferences
``data/<key>.parquet`` each distinct table: the data as loaded, the working data, the data of each fit
``boot/<id>/*.parquet`` the replicates of the bootstrap run of fit ``<id>``
=====================  ==========================================================================

Fits are stored as their specification and refitted on open: the engine is deterministic, the
refit gives back the object every page needs (diagnostics, profiles and the bootstrap work on
the fitted model, not on printed numbers), and its objective is checked against the stored one
(:data:`OBJECTIVE_TOLERANCE`), so a workspace never shows numbers the engine does not
reproduce. Bootstrap runs are stored as their replicates (re-running them would take minutes).

:func:`read` checks everything before anything is built (size of the upload and of every member
before it is decompressed, the manifest, every hash, the format version) and raises
:class:`WorkspaceError` with a plain message; a caller that swaps the session only after
:func:`read` returned leaves the session as it was on any refusal. No Streamlit here.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gui import engine
from gui.files.io import MAX_ROWS, frame_hash
from gui.files.versions import APP_NAME, APP_VERSION, engine_version, software
from gui.spec.model_spec import FAMILIES, ModelSpec, links_for

FORMAT = "mm-workbench-workspace"
FORMAT_VERSION = 1
EXTENSION = "mmw"
MANIFEST = "manifest.json"
SESSION = "session.json"

MAX_FILE_BYTES = 256 * 2**20          # the upload itself
MAX_UNCOMPRESSED_BYTES = 1024 * 2**20  # all members together, as declared and as read
MAX_JSON_BYTES = 32 * 2**20
MAX_MEMBERS = 2000
MAX_FITS = 200
#: |refitted − stored objective| allowed on open (the project's tolerance for deviances)
OBJECTIVE_TOLERANCE = 1e-3

_BOOT_FRAMES = ("fits", "tidy", "values", "estimates", "parameters")


class WorkspaceError(engine.MixedModelError):
    """A workspace file that cannot be opened; the message says why and what to do."""


@dataclass
class Workspace:
    """A session's contents, as saved and as opened.

    Fields
    ------
    data_raw, data : DataFrame or None
        The data as loaded and the working data (column types and reference levels applied).
    data_name, data_source : str or None
        Dataset or file name; ``"bundled"`` or ``"upload"``.
    col_types, ref_levels : dict
        The column types and reference levels chosen on the Data page.
    spec : ModelSpec
        The model being built on the Model page; ``formula_text`` the text in its formula box.
    fits : list
        Objects (when saving) or dicts (when opened) with the fields of ``gui.shell.state.FitRecord``.
    boots : list
        Objects or dicts with the fields of ``gui.shell.state.BootRecord``.
    current_fit, next_fit_id : int or None, int
        The fit the result pages show and the number the next fit gets.
    prefs : dict
        The pages' durable preferences (JSON values only).
    notes : list of str
        What opening found worth saying (e.g. a refit whose objective moved within tolerance).
    """

    data_raw: pd.DataFrame | None = None
    data: pd.DataFrame | None = None
    data_name: str | None = None
    data_source: str | None = None
    col_types: dict = field(default_factory=dict)
    ref_levels: dict = field(default_factory=dict)
    spec: ModelSpec = field(default_factory=ModelSpec)
    formula_text: str = ""
    fits: list = field(default_factory=list)
    boots: list = field(default_factory=list)
    current_fit: int | None = None
    next_fit_id: int = 1
    prefs: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


# ============================================================================ writing


def _json_value(v: Any) -> Any:
    """``v`` if JSON can hold it exactly (preferences are plain values), else None."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        items = [_json_value(x) for x in v]
        return None if any(x is None and y is not None for x, y in zip(items, v)) else items
    return None


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame = df.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def _frame_of(series_or_frame: Any, index_name: str) -> pd.DataFrame:
    if isinstance(series_or_frame, pd.Series):
        out = series_or_frame.rename("value").to_frame()
    else:
        out = series_or_frame.copy()
    out.index = out.index.astype(str)
    return out.rename_axis(index_name).reset_index()


def write(ws: Workspace, *, created: str | None = None) -> bytes:
    """The workspace as the bytes of a zip archive.

    Parameters
    ----------
    ws : Workspace
        What to save; its fits and bootstrap runs are ``FitRecord`` / ``BootRecord`` objects.
    created : str, optional
        Timestamp recorded in the manifest (default: now, UTC).

    Returns
    -------
    bytes
        A file :func:`read` opens.

    Examples
    --------
    >>> from mm_core import datasets
    >>> blob = write(Workspace(data_raw=datasets.load("dyestuff"), data=datasets.load("dyestuff"),
    ...                        data_name="dyestuff", data_source="bundled"))
    >>> read(blob).data_name
    'dyestuff'
    """
    members: dict[str, bytes] = {}
    frames: dict[str, str] = {}

    def store_frame(df: pd.DataFrame | None, key: str | None = None) -> str | None:
        """The archive path of ``df`` (stored once per content), None for no table."""
        if df is None:
            return None
        key = key or frame_hash(df)
        if key not in frames:
            path = f"data/{key}.parquet"
            members[path] = _parquet(df)
            frames[key] = path
        return frames[key]

    fits = []
    for rec in ws.fits:
        res = rec.result
        fits.append({
            "id": int(rec.id), "spec": rec.spec.to_dict(), "formula": rec.formula, "data_name": rec.data_name,
            "data_key": rec.data_key, "data": store_frame(rec.data, rec.data_key),
            "seconds": float(rec.seconds), "created": rec.created,
            "objective": float(res.objective), "nobs": int(res.nobs),
            "fixef": {str(k): float(v) for k, v in res.fixef.items()},
            "sigma": None if res.sigma is None else float(res.sigma),
        })
    boots = []
    for b in ws.boots:
        r = b.result
        base = f"boot/{int(b.fit_id)}"
        parts = {"fits": r.fits, "tidy": r.tidy, "values": r.values.reset_index(),
                 "estimates": _frame_of(r.estimates, "parameter"), "parameters": _frame_of(r.parameters, "parameter")}
        for name, df in parts.items():
            members[f"{base}/{name}.parquet"] = _parquet(df.reset_index(drop=True) if name in ("fits", "tidy") else df)
        boots.append({"fit_id": int(b.fit_id), "n": int(b.n), "seed": int(b.seed), "seconds": float(b.seconds),
                      "files": {name: f"{base}/{name}.parquet" for name in parts},
                      "n_requested": int(r.n_requested), "engine_seed": int(r.seed), "cancelled": bool(r.cancelled),
                      "elapsed": float(r.elapsed), "workers": int(r.workers)})
    session = {
        "data": {"name": ws.data_name, "source": ws.data_source, "raw": store_frame(ws.data_raw),
                 "working": store_frame(ws.data), "col_types": dict(ws.col_types),
                 "ref_levels": {str(k): str(v) for k, v in ws.ref_levels.items()}},
        "model": {"spec": ws.spec.to_dict(), "formula_text": ws.formula_text},
        "fits": fits, "boots": boots, "current_fit": ws.current_fit, "next_fit_id": int(ws.next_fit_id),
        "prefs": {str(k): _json_value(v) for k, v in ws.prefs.items() if _json_value(v) is not None},
    }
    members[SESSION] = json.dumps(session, indent=1, allow_nan=False).encode()
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "app": APP_NAME, "app_version": APP_VERSION,
        "engine_version": engine_version(), "software": software(),
        "created": created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {name: {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
                  for name, blob in sorted(members.items())},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
        for name, blob in members.items():
            # Parquet members are compressed already
            zf.writestr(name, blob, compress_type=zipfile.ZIP_STORED if name.endswith(".parquet") else None)
    return out.getvalue()


# ============================================================================ reading


def _refuse(text: str) -> WorkspaceError:
    return WorkspaceError(f"This workspace cannot be opened: {text} Your current data and fits are kept.")


def _member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, never more than ``limit`` of them (a lying header cannot inflate memory)."""
    try:
        with zf.open(name) as f:
            blob = f.read(limit + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as e:
        raise _refuse(f"the file is damaged or truncated ({name}: {str(e)[:120]}).") from None
    if len(blob) > limit:
        raise _refuse(f"'{name}' is larger than the manifest says; the file has been altered.")
    return blob


def _json(blob: bytes, name: str) -> Any:
    try:
        return json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _refuse(f"'{name}' is not valid JSON ({str(e)[:120]}).") from None


def check(blob: bytes) -> tuple[dict, dict[str, bytes]]:
    """Verify a workspace file and return ``(manifest, {member: bytes})``.

    Refuses (:class:`WorkspaceError`) a file that is too large, is not a zip archive, is
    truncated or damaged, declares more than :data:`MAX_UNCOMPRESSED_BYTES` unpacked (checked
    on the headers before anything is decompressed, and again while reading), has no manifest
    of this format (a foreign file), comes from a newer format version, or whose members do not
    match the sizes and SHA-256 hashes of the manifest (tampered).
    """
    if len(blob) > MAX_FILE_BYTES:
        raise _refuse(f"it is {len(blob) / 2**20:,.0f} MB; workspaces of up to {MAX_FILE_BYTES // 2**20} MB "
                      "are accepted.")
    if not blob.startswith(b"PK"):
        raise _refuse("it is not a workspace file (not a zip archive). Save one with 'Save workspace'.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
        infos = zf.infolist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise _refuse(f"the file is damaged or truncated ({str(e)[:120]}).") from None
    if len(infos) > MAX_MEMBERS:
        raise _refuse(f"it holds {len(infos):,} files; a workspace has at most {MAX_MEMBERS:,}.")
    declared = sum(i.file_size for i in infos)
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise _refuse(f"it would unpack to {declared / 2**20:,.0f} MB; at most {MAX_UNCOMPRESSED_BYTES // 2**20} MB "
                      "are accepted.")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise _refuse("it holds the same member twice; the file has been altered.")
    if MANIFEST not in names:
        raise _refuse("it is not a workspace of this app (no manifest). Save one with 'Save workspace'.")
    manifest = _json(_member(zf, MANIFEST, MAX_JSON_BYTES), MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _refuse("it is not a workspace of this app (its manifest names another format).")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _refuse("its manifest has no valid format version.")
    if version > FORMAT_VERSION:
        raise _refuse(f"it was saved by a newer version of the app (workspace format {version}; this app reads "
                      f"format {FORMAT_VERSION} and older). Update the app to open it.")
    files = manifest.get("files")
    if not isinstance(files, dict) or SESSION not in files:
        raise _refuse("its manifest lists no session.")
    others = set(names) - {MANIFEST}
    if set(files) != others:
        extra, missing = sorted(others - set(files)), sorted(set(files) - others)
        what = (f"files the manifest does not list ({', '.join(extra[:3])})" if extra else
                f"missing files ({', '.join(missing[:3])})")
        raise _refuse(f"it has {what}; the file has been altered or is incomplete.")
    contents: dict[str, bytes] = {}
    for name, meta in files.items():
        if not isinstance(meta, dict) or not isinstance(meta.get("bytes"), int) or \
                not isinstance(meta.get("sha256"), str):
            raise _refuse(f"the manifest entry of '{name}' is malformed.")
        limit = MAX_JSON_BYTES if name.endswith(".json") else MAX_UNCOMPRESSED_BYTES
        if meta["bytes"] > limit:
            raise _refuse(f"'{name}' is too large ({meta['bytes'] / 2**20:,.0f} MB).")
        data = _member(zf, name, meta["bytes"])
        if len(data) != meta["bytes"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise _refuse(f"the content of '{name}' does not match its SHA-256 hash in the manifest; the file "
                          "has been altered or damaged.")
        contents[name] = data
    return manifest, contents


def _frame(contents: dict[str, bytes], path: Any) -> pd.DataFrame | None:
    if path is None:
        return None
    if not isinstance(path, str) or path not in contents:
        raise _refuse(f"the session refers to a missing table ({str(path)[:80]}).")
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(contents[path]))
        if pf.metadata.num_rows > MAX_ROWS:
            raise _refuse(f"'{path}' has {pf.metadata.num_rows:,} rows; at most {MAX_ROWS:,} are accepted.")
        return pf.read().to_pandas()
    except WorkspaceError:
        raise
    except Exception as e:
        raise _refuse(f"'{path}' is not a readable Parquet table ({str(e)[:120]}).") from None


def _dict(d: Any, what: str) -> dict:
    if not isinstance(d, dict):
        raise _refuse(f"{what} is malformed.")
    return d


def _spec(d: Any, what: str) -> ModelSpec:
    try:
        spec = ModelSpec.from_dict(_dict(d, what))
    except (TypeError, ValueError, AttributeError) as e:
        raise _refuse(f"{what} is malformed ({str(e)[:120]}).") from None
    ok = (spec.response is None or isinstance(spec.response, str)) and spec.family in FAMILIES and \
        (spec.link is None or spec.link in links_for(spec.family)) and isinstance(spec.n_agq, int) and \
        all(isinstance(t, str) for t in spec.fixed + spec.offsets) and \
        all(isinstance(r.group, str) and all(isinstance(s, str) for s in r.slopes) for r in spec.random)
    if not ok:
        raise _refuse(f"{what} is malformed.")
    return spec


def _boot_result(b: dict, contents: dict[str, bytes]) -> Any:
    files = _dict(b.get("files"), "a bootstrap entry")
    parts: dict[str, pd.DataFrame] = {}
    for name in _BOOT_FRAMES:
        frame = _frame(contents, files.get(name))
        if frame is None:
            raise _refuse("a bootstrap run is incomplete.")
        parts[name] = frame
    est = parts["estimates"].set_index("parameter")["value"].astype(float)
    params = parts["parameters"].set_index("parameter")
    return engine.BootstrapResult(
        fits=parts["fits"], tidy=parts["tidy"], estimates=est, parameters=params,
        n_requested=int(b["n_requested"]), seed=int(b["engine_seed"]), cancelled=bool(b["cancelled"]),
        elapsed=float(b["elapsed"]), workers=int(b["workers"]), values=parts["values"].set_index("replicate"))


def read(blob: bytes, *, progress: Callable[[str, float], None] | None = None) -> Workspace:
    """Open a workspace file: verify it (:func:`check`), read its tables, refit its fits.

    Parameters
    ----------
    blob : bytes
        The file as uploaded.
    progress : callable, optional
        ``progress(text, fraction)`` before each refit.

    Returns
    -------
    Workspace
        Fits and bootstrap runs as dicts with the fields of ``FitRecord`` / ``BootRecord``.

    Raises
    ------
    WorkspaceError
        For any file this function refuses, with the reason; nothing has been changed then.
    """
    manifest, contents = check(blob)
    session = _dict(_json(contents[SESSION], SESSION), SESSION)
    try:
        ws = _build(session, contents, progress)
        saved_with = str(manifest.get("engine_version", ""))
        if ws.fits and saved_with != engine_version():
            ws.notes.append(f"It was saved with engine version {saved_with[:40]}; this is {engine_version()}, and "
                            "every refit reproduced its saved objective.")
        return ws
    except WorkspaceError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise _refuse(f"the session description is malformed ({type(e).__name__}: {str(e)[:120]}).") from None


def _build(session: dict, contents: dict[str, bytes], progress: Any) -> Workspace:
    data = _dict(session["data"], "the data entry")
    model = _dict(session["model"], "the model entry")
    ws = Workspace(
        data_raw=_frame(contents, data.get("raw")), data=_frame(contents, data.get("working")),
        data_name=None if data.get("name") is None else str(data["name"]),
        data_source=None if data.get("source") is None else str(data["source"]),
        col_types={str(k): str(v) for k, v in _dict(data.get("col_types", {}), "the column types").items()},
        ref_levels={str(k): str(v) for k, v in _dict(data.get("ref_levels", {}), "the reference levels").items()},
        spec=_spec(model["spec"], "the model being built"), formula_text=str(model.get("formula_text", "")),
        current_fit=None if session.get("current_fit") is None else int(session["current_fit"]),
        next_fit_id=int(session.get("next_fit_id", 1)),
        prefs=dict(_dict(session.get("prefs", {}), "the preferences")))
    if ws.data is None:
        ws.data = ws.data_raw
    fits = session.get("fits", [])
    if not isinstance(fits, list) or len(fits) > MAX_FITS:
        raise _refuse(f"it lists more than {MAX_FITS} fits or its fit list is malformed.")
    for i, f in enumerate(fits):
        f = _dict(f, "a fit entry")
        fid = int(f["id"])
        spec = _spec(f["spec"], f"the specification of fit {fid}")
        df = _frame(contents, f["data"])
        if df is None:
            raise _refuse(f"fit {fid} has no data.")
        formula = str(f["formula"])
        if progress:
            progress(f"Refitting fit {fid}: {formula}", i / max(1, len(fits)))
        try:
            res = engine.fit(formula, df, **spec.fit_kwargs())
        except engine.MixedModelError as e:
            raise _refuse(f"fit {fid} ({formula}) could not be refitted: {str(e)[:300]}") from None
        stored = float(f["objective"])
        moved = abs(res.objective - stored)
        if not moved <= max(OBJECTIVE_TOLERANCE, 1e-8 * abs(stored)):
            raise _refuse(f"refitting fit {fid} ({formula}) gives objective {res.objective:.4f}, not the saved "
                          f"{stored:.4f}; the data or the engine differ from those it was saved with.")
        if moved > 1e-6 * max(1.0, abs(stored)):
            ws.notes.append(f"Fit {fid}: the refit's objective differs from the saved one by {moved:.2g}.")
        ws.fits.append({"id": fid, "spec": spec, "formula": formula, "data_name": str(f["data_name"]),
                        "data_key": frame_hash(df), "data": df, "result": res, "seconds": float(f["seconds"]),
                        "created": str(f.get("created", ""))})
    ids = {f["id"] for f in ws.fits}
    if len(ids) != len(ws.fits):
        raise _refuse("two fits have the same number.")
    boots = session.get("boots", [])
    if not isinstance(boots, list):
        raise _refuse("the bootstrap list is malformed.")
    for b in boots:
        b = _dict(b, "a bootstrap entry")
        fid = int(b["fit_id"])
        if fid not in ids:
            raise _refuse(f"a bootstrap run refers to fit {fid}, which the workspace does not hold.")
        ws.boots.append({"fit_id": fid, "n": int(b["n"]), "seed": int(b["seed"]), "result": _boot_result(b, contents),
                         "seconds": float(b["seconds"])})
    if ws.current_fit not in ids:
        ws.current_fit = max(ids) if ids else None
    ws.next_fit_id = max([ws.next_fit_id] + [i + 1 for i in ids])
    return ws
