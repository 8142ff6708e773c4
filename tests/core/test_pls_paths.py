"""The Schur complement is factored densely, by CHOLMOD, or from sparse products instead of the
precomputed scatter map: every route must give the same objective and estimates, and the engine
must still fit (more slowly) without scikit-sparse."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mm_core
from mm_core import pls
from mm_core.design import materialize
from mm_core.lmm import LinearMixedModel


def _crossed(seed=1, n=1500):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 120, n)
    h = rng.integers(0, 40, n)
    k = rng.integers(0, 25, n)
    x = rng.normal(size=n)
    a, s = rng.normal(size=40), 0.3 * rng.normal(size=40)
    y = (1 + 0.5 * x + rng.normal(size=120)[g] + a[h] + s[h] * x + rng.normal(size=25)[k]
         + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h],
                         "k": [f"k{i}" for i in k]})


FORMULAS = ["y ~ 1 + x + (1 | g) + (1 | h) + (1 | k)",
            "y ~ 1 + x + (1 | g) + (1 + x | h)",
            "y ~ 1 + x + (1 + x | g) + (1 | h) + (1 | k)"]


def _fit(formula, df, monkeypatch, **settings):
    with monkeypatch.context() as mp:
        for name, value in settings.items():
            mp.setattr(pls, name, value)
        m = LinearMixedModel(materialize(formula, df))
        kind = m.pls.schur_kind, m.pls.use_gather
        return m.fit(), kind


@pytest.mark.parametrize("formula", FORMULAS)
def test_dense_cholmod_and_sparse_products_agree(formula, monkeypatch):
    df = _crossed()
    dense, k1 = _fit(formula, df, monkeypatch)
    chol, k2 = _fit(formula, df, monkeypatch, DENSE_MAX=0, DENSE_FILL=1.1)
    noscatter, k3 = _fit(formula, df, monkeypatch, GATHER_MAX=0)
    assert k1[0] == "dense" and k2[0] == "cholmod" and k3[1] is False
    for other in (chol, noscatter):
        assert other.objective == pytest.approx(dense.objective, abs=1e-7)
        np.testing.assert_allclose(other.theta, dense.theta, atol=1e-5)
        np.testing.assert_allclose(other.fixef, dense.fixef, rtol=1e-6)
        for g in dense.ranef:
            np.testing.assert_allclose(other.ranef[g], dense.ranef[g], atol=1e-6)
            np.testing.assert_allclose(other.ranef_sd[g], dense.ranef_sd[g], atol=1e-6)
        np.testing.assert_allclose(other.leverage, dense.leverage, atol=1e-8)


def test_objective_equals_dense_formula():
    """log|L|² and r² from the blocked factor equal the textbook dense computation."""
    df = _crossed(n=400)
    m = LinearMixedModel(materialize(FORMULAS[1], df))
    theta = np.array([0.8, 0.6, 0.2, 0.4])
    Z = np.hstack([m.cp.Z1.toarray(), m.cp.ZR.toarray()])
    lams = m.lambdas(theta)
    Lam = np.zeros((Z.shape[1], Z.shape[1]))
    off = 0
    for t, lam in zip(m.reterms, lams):
        for lv in range(t.nlevels):
            s = off + lv * t.ncols
            Lam[s:s + t.ncols, s:s + t.ncols] = lam
        off += t.q
    ZL = Z @ Lam
    A = np.block([[ZL.T @ ZL + np.eye(ZL.shape[1]), ZL.T @ m.X], [m.X.T @ ZL, m.X.T @ m.X]])
    rhs = np.concatenate([ZL.T @ m.y, m.X.T @ m.y])
    sol = np.linalg.solve(A, rhs)
    u, beta = sol[:ZL.shape[1]], sol[ZL.shape[1]:]
    r2 = np.sum((m.y - ZL @ u - m.X @ beta) ** 2) + u @ u
    logdet = np.linalg.slogdet(ZL.T @ ZL + np.eye(ZL.shape[1]))[1]
    n = len(m.y)
    expected = logdet + n * (1 + np.log(2 * np.pi * r2 / n))
    assert m.objective(theta) == pytest.approx(expected, rel=1e-12)
    f = m.pls.factor(theta)
    b2, u2 = m.pls.solve(f)
    np.testing.assert_allclose(b2, beta, rtol=1e-9)
    np.testing.assert_allclose(u2, u, atol=1e-9)


def test_fits_without_scikit_sparse(monkeypatch):
    df = _crossed()
    with_cholmod, _ = _fit(FORMULAS[0], df, monkeypatch, DENSE_MAX=0, DENSE_FILL=1.1)
    monkeypatch.setattr(pls, "_warned_no_cholmod", False)
    with pytest.warns(RuntimeWarning, match="scikit-sparse"):
        without, kind = _fit(FORMULAS[0], df, monkeypatch, DENSE_MAX=0, DENSE_FILL=1.1,
                             _cholmod=None)
    assert kind[0] == "dense"
    assert without.objective == pytest.approx(with_cholmod.objective, abs=1e-7)
