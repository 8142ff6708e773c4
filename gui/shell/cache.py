"""The only module that uses ``st.cache_data`` / ``st.cache_resource``.

Bundled datasets are public and cached globally. Anything derived from user data (uploads,
design summaries, sparsity patterns) is cached with ``scope="session"`` and keyed by a
content hash, so one session's data can never be returned to another. Fitted models are not
cached at all: they live in the session's fit history (:mod:`gui.shell.state`).
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st


@st.cache_data(show_spinner=False)
def dataset_names() -> list[str]:
    from mm_core import datasets

    return list(datasets.list_datasets())


@st.cache_data(show_spinner=False)
def dataset_description(name: str) -> str:
    from mm_core import datasets

    try:
        return datasets.describe(name)
    except Exception:
        return ""


@st.cache_data(show_spinner="Loading dataset…", max_entries=12)
def bundled_dataset(name: str) -> pd.DataFrame:
    from mm_core import datasets

    return datasets.load(name)


@st.cache_data(show_spinner=False, scope="session", max_entries=4)
def read_upload(name: str, digest: str, _data: bytes) -> pd.DataFrame:
    """Parsed upload, keyed by file name and content hash, private to the session."""
    from gui.files.io import read_table

    return read_table(name, _data)


@st.cache_data(show_spinner=False, scope="session", max_entries=16)
def column_table(data_key: str, _data: pd.DataFrame) -> pd.DataFrame:
    from gui.spec.data_design import column_table as _ct

    return _ct(_data)


@st.cache_data(show_spinner=False, scope="session", max_entries=32)
def design_summary(data_key: str, spec_json: str, _data: pd.DataFrame, _spec: Any) -> dict[str, pd.DataFrame]:
    from gui.spec.data_design import design_summary as _ds

    return _ds(_data, _spec)


@st.cache_data(show_spinner="Computing sparsity pattern…", scope="session", max_entries=8)
def sparsity(data_key: str, formula: str, _data: pd.DataFrame, _rows: Any) -> Any:
    from gui.views.sparsity import sparsity_patterns

    return sparsity_patterns(formula, _data, _rows)


@st.cache_data(show_spinner="Computing…", scope="session", max_entries=16)
def fit_derived(fit_key: str, what: str, _rec: Any, **kwargs: Any) -> Any:
    """A function of :mod:`gui.views.derived` of a fit, cached under ``fit_key`` (data hash + fit id)."""
    from gui.views import derived as _derived

    return getattr(_derived, what)(_rec, **kwargs)


def derived(rec: Any, what: str, **kwargs: Any) -> Any:
    """``gui.views.derived.<what>(rec, **kwargs)``, cached per fit and arguments for the session."""
    return fit_derived(rec.key, what, rec, **kwargs)


@st.cache_data(show_spinner="Refitting by ML where needed and testing…", scope="session", max_entries=16)
def lrt(pair_key: str, _small: Any, _big: Any) -> Any:
    """Likelihood-ratio test of two fits (may refit REML fits by ML, so it is cached)."""
    from gui.views.comparison import lrt as _lrt

    return _lrt(_small, _big)


def clear_session_caches() -> None:
    """Forget everything derived from this session's data ("clear my data")."""
    for fn in (read_upload, column_table, design_summary, sparsity, fit_derived, fit_effects, lrt):
        try:
            fn.clear()
        except Exception:
            pass


@st.cache_data(show_spinner="Computing tests and marginal means…", scope="session", max_entries=64)
def fit_effects(fit_key: str, what: str, _rec: Any, **kwargs: Any) -> Any:
    """A function of :mod:`gui.views.effects` of a fit (tests, ANOVA, marginal means, predictions),
    cached under ``fit_key`` (data hash + fit id) and the arguments."""
    from gui.views import effects as _effects

    return getattr(_effects, what)(_rec, **kwargs)


def effects(rec: Any, what: str, **kwargs: Any) -> Any:
    """``gui.views.effects.<what>(rec, **kwargs)``, cached per fit and arguments for the session."""
    return fit_effects(rec.key, what, rec, **kwargs)
