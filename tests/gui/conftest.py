"""Fixtures of the GUI tests: reference numbers (copied from lme4 output into tests/gui/data),
bundled datasets, and fits shared by the page tests."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))



def _parse(v):
    if isinstance(v, str):
        try:
            return json.loads(v.replace("'", '"').replace("None", "null").replace("True", "true")
                              .replace("False", "false"))
        except json.JSONDecodeError:
            return v
    return v


def reference(name: str) -> dict:
    """lme4 reference fit (see tests/gui/data/*.json; written by lme4 1.1-31)."""
    raw = json.loads((DATA / f"{name}.json").read_text())
    return {k: _parse(v) for k, v in raw.items()}


@pytest.fixture(scope="session")
def sleep_ref() -> dict:
    return reference("sleepstudy_ml")


@pytest.fixture(scope="session")
def sleep_ranef(sleep_ref):
    """Conditional modes and conditional SDs of sleepstudy (ML), levels × (Intercept, days)."""
    r = sleep_ref["ranef"][0]
    idx = pd.Index(r["levels"], name="subj")
    b = pd.DataFrame(np.array(r["values"]), index=idx, columns=r["names"])
    sd = pd.DataFrame(np.array(r["condsd"]), index=idx, columns=r["names"])
    return b, sd


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    from mm_core import datasets

    return datasets.load("sleepstudy")


def _fit_record(name: str, formula: str, **kw):
    from gui import engine
    from gui.files.io import frame_hash
    from gui.shell.state import FitRecord
    from gui.spec.model_spec import ModelSpec
    from mm_core import datasets

    data = datasets.load(name)
    spec = ModelSpec.from_text(formula)
    spec.family = kw.get("family", "gaussian")
    spec.reml = kw.get("reml", False)
    res = engine.fit(spec.to_formula(), data, **spec.fit_kwargs())
    return FitRecord(id=1, spec=spec, formula=spec.to_formula(), data_name=name, data_key=frame_hash(data),
                     data=data, result=res, seconds=0.01)


@pytest.fixture(scope="session")
def lmm_record():
    return _fit_record("sleepstudy", "reaction ~ 1 + days + (1 + days | subj)")


@pytest.fixture(scope="session")
def glmm_record():
    return _fit_record("cbpp", "cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)", family="binomial")


@pytest.fixture(scope="session")
def lmm_factor_record():
    """A linear mixed model with a factor, fitted by REML (so Kenward–Roger applies). Fit 2: the
    page caches key fits by data and fit id, and ``lmm_record`` is fit 1 of the same data."""
    return replace(_fit_record("sleepstudy", "reaction ~ 1 + factor(days) + (1 | subj)", reml=True), id=2)


@pytest.fixture(scope="session")
def contra_record():
    """A binomial GLMM with two interacting factors and a covariate (fit 3)."""
    return replace(_fit_record("contra", "use ~ 1 + age + urban * livch + (1 | dist)", family="binomial"), id=3)
