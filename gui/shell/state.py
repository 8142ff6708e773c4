"""Every ``st.session_state`` key of the app, with typed getters, setters and defaults.

Durable values live under ``mm.*`` keys that no widget owns, so switching pages never loses
the data, the model being built, the fits or the bootstrap runs. Widget keys (``w.*``) are
views: pages initialise them from the durable values and write back in callbacks.

:func:`prime` fills a plain mapping (``AppTest.session_state``) the same way, for tests.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from gui.engine import MixedModelResult
from gui.spec.model_spec import ModelSpec

# durable keys
INITIALIZED = "mm.initialized"
DATA = "mm.data"                # working DataFrame (column types and reference levels applied)
DATA_RAW = "mm.data_raw"        # as loaded or uploaded
DATA_NAME = "mm.data_name"      # dataset name or file name
DATA_SOURCE = "mm.data_source"  # "bundled" | "upload"
DATA_KEY = "mm.data_key"        # content hash of DATA
COL_TYPES = "mm.col_types"      # {column: "numeric" | "categorical"} overrides
REF_LEVELS = "mm.ref_levels"    # {column: reference level}
UPLOAD_SIG = "mm.upload_sig"    # (name, size, file id) of the upload last read
UPLOAD_OUTCOME = "mm.upload_outcome"  # (sig, kind, text): what became of that upload
MESSAGE = "mm.message"          # (kind, text) shown once at the top of the next page run
SPEC = "mm.spec"
SPEC_VERSION = "mm.spec_version"  # bumped on every change of SPEC; widgets re-prime when it moves
FORMULA_TEXT = "mm.formula_text"
FORMULA_ERROR = "mm.formula_error"  # dict(message, pos, end, text) or None
FITS = "mm.fits"
CURRENT_FIT = "mm.current_fit"
NEXT_FIT_ID = "mm.next_fit_id"
JOB = "mm.job"
BOOTS = "mm.boots"
PREFS = "mm.prefs"
PLAN_FORM = "mm.plan_form"      # the Plan page's design form (gui.views.plan_view.DesignForm)
PLAN_PARAMS = "mm.plan_params"  # its table of true parameter values
POWER = "mm.power"              # the last power run (PowerRecord)
SANDBOX = "mm.sandbox"          # the last sandbox data set and fit (SandboxRecord)

PRELOAD_ENV = "MM_APP_PRELOAD"   # dataset loaded at session start; "" or "none" for an empty app
DEFAULT_PRELOAD = "sleepstudy"


@dataclass
class FitRecord:
    """One fit of the session, kept for Summary, Compare, Bootstrap and Diagnostics.

    Fields
    ------
    id : int
        1, 2, ... in order of fitting; shown as "fit 3".
    spec : ModelSpec
        The model as built (formula, family, options).
    formula : str
        Formula text passed to ``mm_core.fit``.
    data_name, data_key : str
        Dataset label and content hash of the data it was fitted to.
    data : DataFrame
        The data (a reference, not a copy) for plots that need the rows.
    result : MixedModelResult
        The engine's result.
    seconds : float
        Wall time of the fit.
    """

    id: int
    spec: ModelSpec
    formula: str
    data_name: str
    data_key: str
    data: pd.DataFrame
    result: MixedModelResult
    seconds: float = 0.0
    created: str = field(default_factory=lambda: time.strftime("%H:%M:%S"))
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def label(self) -> str:
        r = self.result
        what = r.method if r.is_lmm else f"{r.family}, {r.method}"
        return f"fit {self.id}: {self.formula} [{what}, {self.data_name}]"

    @property
    def short_label(self) -> str:
        return f"fit {self.id}"

    @property
    def key(self) -> str:
        """Identifies the fit for the caches (data hash, fit id and a random part, so that two
        sessions' "fit 1" of the same data never share a cache entry)."""
        return f"{self.data_key}:{self.id}:{self.uid}"


@dataclass
class BootRecord:
    """A parametric bootstrap run of one fit."""

    fit_id: int
    n: int
    seed: int
    result: Any
    seconds: float = 0.0


@dataclass
class PowerRecord:
    """A power run of the Plan page: the engine's result and what it was run from."""

    source: str
    result: Any
    target: float
    seconds: float = 0.0


@dataclass
class SandboxRecord:
    """One generated data set, its fit and the true values and random effects behind it."""

    data: pd.DataFrame
    truth: Any
    effects: dict
    result: Any
    seed: int


_DEFAULTS: dict[str, Any] = {
    DATA: None, DATA_RAW: None, DATA_NAME: None, DATA_SOURCE: None, DATA_KEY: None,
    UPLOAD_SIG: None, UPLOAD_OUTCOME: None, MESSAGE: None, FORMULA_ERROR: None, CURRENT_FIT: None, JOB: None,
}


def _ss() -> MutableMapping:
    return st.session_state


def _get(key: str, factory: Any = None) -> Any:
    ss = _ss()
    if key not in ss:
        ss[key] = factory() if callable(factory) else (factory if factory is not None else _DEFAULTS.get(key))
    return ss[key]


# ------------------------------------------------------------------ session


def init() -> bool:
    """Create the durable keys once per session. True on the session's first run, when the
    caller loads the sample dataset (:func:`gui.shell.actions.preload`)."""
    ss = _ss()
    if ss.get(INITIALIZED):
        return False
    for k, v in _DEFAULTS.items():
        ss.setdefault(k, v)
    ss.setdefault(SPEC, ModelSpec())
    ss.setdefault(FITS, [])
    ss.setdefault(BOOTS, {})
    ss.setdefault(PREFS, {})
    ss.setdefault(NEXT_FIT_ID, 1)
    ss[INITIALIZED] = True
    return True


def prime(ss: MutableMapping, *, data: pd.DataFrame | None = None, name: str | None = None,
          spec: ModelSpec | None = None, fits: list[FitRecord] | None = None,
          boots: dict[int, BootRecord] | None = None) -> None:
    """Fill a session-state mapping (e.g. ``AppTest.session_state``) as a session would have it."""
    from gui.files.io import frame_hash

    ss[INITIALIZED] = True
    for k, v in _DEFAULTS.items():
        ss[k] = v
    ss[PREFS] = {}
    ss[COL_TYPES] = {}
    ss[REF_LEVELS] = {}
    if data is not None:
        ss[DATA] = data
        ss[DATA_RAW] = data
        ss[DATA_NAME] = name or "data"
        ss[DATA_SOURCE] = "bundled"
        ss[DATA_KEY] = frame_hash(data)
    ss[SPEC] = spec or ModelSpec()
    ss[FORMULA_TEXT] = ss[SPEC].to_formula() if spec else ""
    ss[FITS] = list(fits or [])
    ss[CURRENT_FIT] = fits[-1].id if fits else None
    ss[NEXT_FIT_ID] = (max(f.id for f in fits) + 1) if fits else 1
    ss[BOOTS] = dict(boots or {})


# --------------------------------------------------------------------- data


def data() -> pd.DataFrame | None:
    return _get(DATA)


def data_raw() -> pd.DataFrame | None:
    return _get(DATA_RAW)


def data_name() -> str | None:
    return _get(DATA_NAME)


def data_source() -> str | None:
    return _get(DATA_SOURCE)


def data_key() -> str | None:
    return _get(DATA_KEY)


def set_data(raw: pd.DataFrame, name: str, source: str) -> None:
    from gui.files.io import frame_hash

    ss = _ss()
    ss[DATA_RAW] = raw
    ss[DATA] = raw
    ss[DATA_NAME] = name
    ss[DATA_SOURCE] = source
    ss[DATA_KEY] = frame_hash(raw)
    ss[COL_TYPES] = {}
    ss[REF_LEVELS] = {}


def set_working_data(df: pd.DataFrame) -> None:
    from gui.files.io import frame_hash

    ss = _ss()
    ss[DATA] = df
    ss[DATA_KEY] = frame_hash(df)


def clear_data() -> None:
    ss = _ss()
    for k in (DATA, DATA_RAW, DATA_NAME, DATA_SOURCE, DATA_KEY, UPLOAD_OUTCOME):   # UPLOAD_SIG stays: the
        ss[k] = None                                                                 # uploader's file is not re-read
    ss[COL_TYPES] = {}
    ss[REF_LEVELS] = {}


def col_types() -> dict[str, str]:
    return _get(COL_TYPES, dict)


def ref_levels() -> dict[str, str]:
    return _get(REF_LEVELS, dict)


def upload_sig() -> Any:
    return _get(UPLOAD_SIG)


def set_upload_sig(sig: Any) -> None:
    _ss()[UPLOAD_SIG] = sig


def upload_outcome() -> tuple[Any, str, str] | None:
    """(sig, kind, text) of the last upload: shown beside the uploader while it holds that file."""
    return _get(UPLOAD_OUTCOME)


def set_upload_outcome(sig: Any, kind: str, text: str) -> None:
    _ss()[UPLOAD_OUTCOME] = (sig, kind, text)


# ---------------------------------------------------------------- messages


def set_message(kind: str, text: str) -> None:
    """A message for the next page run ("success", "info", "warning", "error")."""
    _ss()[MESSAGE] = (kind, text)


def pop_message() -> tuple[str, str] | None:
    ss = _ss()
    msg = ss.get(MESSAGE)
    ss[MESSAGE] = None
    return msg


# -------------------------------------------------------------------- model


def spec() -> ModelSpec:
    return _get(SPEC, ModelSpec)


def spec_version() -> int:
    return _get(SPEC_VERSION, lambda: 0)


def set_spec(s: ModelSpec, *, text: bool = True) -> None:
    ss = _ss()
    ss[SPEC] = s
    ss[SPEC_VERSION] = int(ss.get(SPEC_VERSION, 0)) + 1
    if text:
        ss[FORMULA_TEXT] = s.to_formula()
        ss[FORMULA_ERROR] = None


def formula_text() -> str:
    return _get(FORMULA_TEXT, lambda: spec().to_formula() if spec().response else "")


def set_formula_text(text: str) -> None:
    _ss()[FORMULA_TEXT] = text


def formula_error() -> dict | None:
    return _get(FORMULA_ERROR)


def set_formula_error(err: dict | None) -> None:
    _ss()[FORMULA_ERROR] = err


# --------------------------------------------------------------------- fits


def fits() -> list[FitRecord]:
    return _get(FITS, list)


def add_fit(rec: FitRecord) -> None:
    ss = _ss()
    ss[FITS] = fits() + [rec]
    ss[CURRENT_FIT] = rec.id


def next_fit_id() -> int:
    ss = _ss()
    n = _get(NEXT_FIT_ID, 1)
    ss[NEXT_FIT_ID] = n + 1
    return n


def current_fit() -> FitRecord | None:
    fid = _get(CURRENT_FIT)
    recs = fits()
    for r in recs:
        if r.id == fid:
            return r
    return recs[-1] if recs else None


def set_current_fit(fit_id: int) -> None:
    _ss()[CURRENT_FIT] = fit_id


def fit_by_id(fit_id: int) -> FitRecord | None:
    return next((r for r in fits() if r.id == fit_id), None)


def remove_fit(fit_id: int) -> None:
    ss = _ss()
    ss[FITS] = [r for r in fits() if r.id != fit_id]
    boots().pop(fit_id, None)
    if ss.get(CURRENT_FIT) == fit_id:
        ss[CURRENT_FIT] = fits()[-1].id if fits() else None


# ------------------------------------------------------------ jobs, bootstrap


def job() -> Any:
    return _get(JOB)


def set_job(j: Any) -> None:
    _ss()[JOB] = j


def boots() -> dict[int, BootRecord]:
    return _get(BOOTS, dict)


def boot_for(fit_id: int) -> BootRecord | None:
    return boots().get(fit_id)


def set_boot(rec: BootRecord) -> None:
    b = dict(boots())
    b[rec.fit_id] = rec
    _ss()[BOOTS] = b


# ------------------------------------------------------------------- plan


def plan_form() -> Any:
    from gui.views.plan_view import DesignForm

    return _get(PLAN_FORM, DesignForm)


def plan_params() -> pd.DataFrame | None:
    return _ss().get(PLAN_PARAMS)


def set_plan_params(rows: pd.DataFrame | None) -> None:
    _ss()[PLAN_PARAMS] = rows


def power_record() -> PowerRecord | None:
    return _ss().get(POWER)


def set_power_record(rec: PowerRecord | None) -> None:
    _ss()[POWER] = rec


def sandbox_record() -> SandboxRecord | None:
    return _ss().get(SANDBOX)


def set_sandbox_record(rec: SandboxRecord | None) -> None:
    _ss()[SANDBOX] = rec


# ------------------------------------------------------------ widget keys
# Widgets own keys named "w.<page>.<name>"; pages and helpers read and prime them only here.


def widget(key: str, default: Any = None) -> Any:
    """Current value of the widget with this key (``default`` if it has none yet)."""
    return _ss().get(key, default)


def has_widget(key: str) -> bool:
    return key in _ss()


def set_widget(key: str, value: Any) -> None:
    """Prime a widget (before it is drawn in this run) or change it from a callback."""
    _ss()[key] = value


def drop_widgets(prefix: str) -> None:
    """Forget the values of all widgets whose key starts with ``prefix`` (they re-prime)."""
    ss = _ss()
    for k in [k for k in ss if isinstance(k, str) and k.startswith(prefix)]:
        del ss[k]


# -------------------------------------------------------------------- prefs


def pref(name: str, default: Any = None) -> Any:
    """A durable display preference (grouping factor shown, interval level, ...)."""
    return _get(PREFS, dict).get(name, default)


def set_pref(name: str, value: Any) -> None:
    p = dict(_get(PREFS, dict))
    p[name] = value
    _ss()[PREFS] = p


# Preferences of the fixed-effects inference on the Summary and Effects pages. The df method is
# shared by both pages (LMMs only: a GLMM's tests are asymptotic); the predictor choices of the
# Effects page are kept per fit, because another fit has other predictors.
PREF_DDF = "effects.ddf.lmm"
PREF_ANOVA_TYPE = "effects.anova_type"
PREF_SCALE = "effects.scale"
PREF_ADJUST = "effects.adjust"
PREF_LEVEL = "effects.level"
PREF_OBSERVED = "effects.observed"


def effects_pref(what: str, fit_id: int) -> str:
    """Preference name of the Effects page's choice ``what`` ("x", "lines", "compare") for one fit."""
    return f"effects.{what}.{fit_id}"


def widget_key(name: str) -> str:
    """Key of a widget bound to the preference ``name``."""
    return f"w.pref.{name}"


def store_pref(name: str) -> None:
    """``on_change`` callback body: copy the widget value into the durable preference."""
    set_pref(name, _ss()[widget_key(name)])


# --------------------------------------------------------------- workspace


def snapshot() -> Any:
    """The session's contents as a :class:`gui.files.workspace.Workspace` (references, no copies)."""
    from gui.files.workspace import Workspace

    return Workspace(data_raw=data_raw(), data=data(), data_name=data_name(), data_source=data_source(),
                     col_types=dict(col_types()), ref_levels=dict(ref_levels()), spec=spec(),
                     formula_text=formula_text(), fits=list(fits()), boots=list(boots().values()),
                     current_fit=_get(CURRENT_FIT), next_fit_id=int(_get(NEXT_FIT_ID, 1)),
                     prefs=dict(_get(PREFS, dict)))


def restore(ws: Any) -> None:
    """Replace the session's contents by an opened workspace (all at once; widgets re-prime).

    Widget values are forgotten (except the workspace widgets ``w.ws.*``, one of which is calling),
    so every page draws its widgets again from the restored durable values.
    """
    from gui.files.io import frame_hash

    ss = _ss()
    recs = [FitRecord(**f) for f in ws.fits]
    boot_recs = {b["fit_id"]: BootRecord(**b) for b in ws.boots}
    ss[DATA_RAW] = ws.data_raw
    ss[DATA] = ws.data
    ss[DATA_NAME] = ws.data_name
    ss[DATA_SOURCE] = ws.data_source
    ss[DATA_KEY] = None if ws.data is None else frame_hash(ws.data)
    ss[COL_TYPES] = dict(ws.col_types)
    ss[REF_LEVELS] = dict(ws.ref_levels)
    ss[UPLOAD_SIG] = None
    ss[FITS] = recs
    ss[BOOTS] = boot_recs
    ss[CURRENT_FIT] = ws.current_fit
    ss[NEXT_FIT_ID] = ws.next_fit_id
    ss[PREFS] = dict(ws.prefs)
    set_spec(ws.spec, text=False)
    ss[FORMULA_TEXT] = ws.formula_text or ws.spec.to_formula()
    ss[FORMULA_ERROR] = None
    for k in [k for k in ss if isinstance(k, str) and k.startswith("w.") and not k.startswith("w.ws.")]:
        del ss[k]
