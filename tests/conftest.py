"""Shared fixtures: lme4 reference fits and a session-wide cache of our fits of the same models."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


_VECTOR_FIELDS = ("fixef_names", "fixef", "stderror", "theta", "fitted", "leverage")


def _listify(x):
    return x if isinstance(x, list) or x is None else [x]


def load_reference(case: str) -> dict:
    """One lme4 reference fit (see tests/reference/README.md for the fields).

    R's JSON writer turns vectors of length one into scalars; they are turned back into lists
    here, and the ``values``/``condsd``/``vcov``/``corr`` matrices keep their row-major nesting.
    """
    ref = json.loads((REFERENCE_DIR / f"{case}.json").read_text())
    for key in _VECTOR_FIELDS:
        if key in ref:
            ref[key] = _listify(ref[key])
    for grp in ref.get("varcorr", []):
        grp["names"], grp["sd"] = _listify(grp["names"]), _listify(grp["sd"])
    for grp in ref.get("ranef", []):
        grp["names"], grp["levels"] = _listify(grp["names"]), _listify(grp["levels"])
    return ref


_FITS: dict = {}


def fit_case(case: str, **kwargs):
    """Our fit of a reference case, computed once per test session."""
    key = (case, tuple(sorted(kwargs.items())))
    if key not in _FITS:
        import mm_core
        ref = load_reference(case)
        opts = dict(kwargs)
        if ref["family"] == "gaussian":
            opts.setdefault("reml", ref["REML"])
            opts.setdefault("allow_more_random_effects", "catdays" in case)
        else:
            opts.setdefault("family", ref["family"])
            opts.setdefault("n_agq", ref.get("nAGQ") or 1)
        _FITS[key] = mm_core.fit(ref["formula"], mm_core.datasets.load(ref["data"]), **opts)
    return _FITS[key]


@pytest.fixture(scope="session")
def reference():
    return load_reference


@pytest.fixture(scope="session")
def fitted():
    return fit_case
