"""Every fitted result pickles and unpickles, whichever penalized least-squares system fitted it.

CHOLMOD's factor objects do not pickle: the systems drop them and analyse the same pattern again
after unpickling. Each test fits through one system, round-trips the result through pickle and
checks that the copy still evaluates the objective and the conditional variances, which need the
factorization again.
"""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import mm_core
from mm_core import datasets, pls
from mm_core.pirls import PLSSystem, ScalarSystem


def _crossed(n, la, lb, seed=1, binary=False):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, la, n), rng.integers(0, lb, n)
    x = rng.normal(size=n)
    eta = 0.5 * x + 0.7 * rng.normal(size=la)[a] + 0.5 * rng.normal(size=lb)[b]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float) if binary else (
        1 + eta + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "a": pd.Categorical([f"a{i}" for i in a]),
                         "b": pd.Categorical([f"b{i}" for i in b])})


def _nested(n_outer, per_outer, per_level, seed=2, binary=False):
    """Inner levels nested in outer ones: a large, diagonal Schur complement."""
    rng = np.random.default_rng(seed)
    inner = np.repeat(np.arange(n_outer * per_outer), per_level)
    outer = inner // per_outer
    x = rng.normal(size=len(inner))
    eta = 0.5 * x + rng.normal(size=n_outer)[outer] + 0.5 * rng.normal(size=inner.max() + 1)[inner]
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-eta))).astype(float) if binary else (
        eta + rng.normal(size=len(x)))
    return pd.DataFrame({"y": y, "x": x, "outer": pd.Categorical([f"o{i}" for i in outer]),
                         "inner": pd.Categorical([f"i{i}" for i in inner])})


def _roundtrip(result):
    copy = pickle.loads(pickle.dumps(result))
    assert copy.objective == result.objective
    np.testing.assert_array_equal(copy.theta, result.theta)
    np.testing.assert_array_equal(copy.fixef.to_numpy(), result.fixef.to_numpy())
    return copy


def _lmm_roundtrip(result):
    copy = _roundtrip(result)
    # the unpickled model factors again: same objective at the estimates, same conditional variances
    assert copy.model.objective(copy.theta) == pytest.approx(result.objective, rel=1e-12)
    cv, cv0 = copy.model.condvar(copy), result.model.condvar(result)
    for g in cv0:
        np.testing.assert_allclose(cv[g], cv0[g], rtol=1e-10)
    return copy


def test_small_dense_system_result_pickles():
    r = mm_core.fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    assert isinstance(r.model.pls, pls.DensePLS)
    _lmm_roundtrip(r)


def test_blocked_system_with_dense_schur_pickles():
    r = mm_core.fit("y ~ 1 + x + (1 | a) + (1 | b)", _crossed(3000, 400, 150))
    assert isinstance(r.model.pls, pls.BlockedPLS) and r.model.pls.schur_kind == "dense"
    _lmm_roundtrip(r)


def test_blocked_system_with_cholmod_schur_pickles_nested():
    r = mm_core.fit("y ~ 1 + x + (1 | outer) + (1 | inner)", _nested(3200, 2, 3))
    assert r.model.pls.schur_kind == "cholmod"
    _lmm_roundtrip(r)


@pytest.mark.slow
def test_large_crossed_cholmod_fit_pickles():
    """A crossed design whose Schur complement (more than 3,000 levels) goes to CHOLMOD."""
    r = mm_core.fit("y ~ 1 + x + (1 | a) + (1 | b)", _crossed(12_000, 5000, 3500))
    assert r.model.pls.schur_kind == "cholmod"
    _lmm_roundtrip(r)


def test_app_sized_crossed_fit_pickles():
    """The app's worker sends its result back pickled: 9,000 rows, 4,000 × 3,000 crossed levels."""
    r = mm_core.fit("y ~ 1 + x + (1 | a) + (1 | b)", _crossed(9000, 4000, 3000, seed=3))
    assert r.model.pls.schur_kind == "dense"
    copy = _roundtrip(r)
    assert copy.summary() == r.summary()
    pd.testing.assert_frame_equal(copy.varcorr, r.varcorr)


def _glmm_roundtrip(result):
    copy = _roundtrip(result)
    params = np.concatenate([copy.theta, copy.fixef.to_numpy()])
    assert copy.model.objective(params) == pytest.approx(
        result.model.objective(params), rel=1e-10)
    return copy


def test_glmm_scalar_system_dense_schur_pickles():
    r = mm_core.fit("y ~ 1 + x + (1 | a) + (1 | b)", _crossed(2000, 100, 20, binary=True),
                    family="binomial")
    assert isinstance(r.model.system, ScalarSystem) and not r.model.system.sparse_S
    _glmm_roundtrip(r)


def test_glmm_scalar_system_sparse_schur_pickles():
    r = mm_core.fit("y ~ 1 + x + (1 | outer) + (1 | inner)", _nested(200, 2, 4, binary=True),
                    family="binomial")
    assert isinstance(r.model.system, ScalarSystem) and r.model.system.sparse_S
    _glmm_roundtrip(r)


def test_glmm_general_system_with_cholmod_pickles():
    r = mm_core.fit("y ~ 1 + x + (1 | outer) + (1 | inner)", _nested(3200, 2, 3, binary=True),
                    family="binomial")
    assert isinstance(r.model.system, PLSSystem)
    assert r.model.system._get(True).schur_kind == "cholmod"
    _glmm_roundtrip(r)


def test_unpickled_fit_predicts_new_rows_with_its_training_scale():
    # the model spec (levels, codings, scale() state) travels with the result
    df = datasets.load("sleepstudy")
    m = mm_core.fit("reaction ~ 1 + scale(days) + (1 | subj)", df)
    copy = pickle.loads(pickle.dumps(m))
    new = pd.DataFrame({"days": [0.0, 12.0], "subj": ["S308", "S999"]})
    np.testing.assert_array_equal(mm_core.predict(copy, new),
                                  mm_core.predict(m, new))
    assert copy.model.design.spec == m.model.design.spec
