"""The Schur complement is factored densely, by CHOLMOD, or from sparse products instead of the
precomputed scatter map: every route must give the same objective and estimates, and the engine
must still fit (more slowly) without scikit-sparse."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mm_core import pls, pls_dense
from mm_core.design import materialize
from mm_core.lmm import LinearMixedModel


def _crossed(seed=1, n=1500, levels=(120, 40, 25)):
    rng = np.random.default_rng(seed)
    lg, lh, lk = levels
    g = rng.integers(0, lg, n)
    h = rng.integers(0, lh, n)
    k = rng.integers(0, lk, n)
    x = rng.normal(size=n)
    a, s = rng.normal(size=lh), 0.3 * rng.normal(size=lh)
    y = (1 + 0.5 * x + rng.normal(size=lg)[g] + a[h] + s[h] * x + rng.normal(size=lk)[k]
         + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h],
                         "k": [f"k{i}" for i in k]})


FORMULAS = ["y ~ 1 + x + (1 | g) + (1 | h) + (1 | k)",
            "y ~ 1 + x + (1 | g) + (1 + x | h)",
            "y ~ 1 + x + (1 + x | g) + (1 | h) + (1 | k)"]


def _fit(formula, df, monkeypatch, small_dense=False, **settings):
    with monkeypatch.context() as mp:
        if not small_dense:   # exercise the blocked factorization on these modest sizes
            mp.setattr(pls_dense, "DENSE_Q_MAX", 0)
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
    few = _crossed(n=400, levels=(30, 12, 8))
    small, k4 = _fit(formula, few, monkeypatch, small_dense=True)
    small_blocked, _ = _fit(formula, few, monkeypatch)
    assert k1[0] == "dense" and k2[0] == "cholmod" and k3[1] is False and k4[0] == "small-dense"
    for other, ref in ((chol, dense), (noscatter, dense), (small, small_blocked)):
        _same_fit(other, ref)


def _same_fit(other, ref):
    assert other.objective == pytest.approx(ref.objective, abs=1e-7)
    np.testing.assert_allclose(other.theta, ref.theta, atol=1e-5)
    np.testing.assert_allclose(other.fixef, ref.fixef, rtol=1e-6)
    for g in ref.ranef:
        np.testing.assert_allclose(other.ranef[g], ref.ranef[g], atol=1e-6)
        np.testing.assert_allclose(other.ranef_sd[g], ref.ranef_sd[g], atol=1e-6)
    np.testing.assert_allclose(other.leverage, ref.leverage, atol=1e-8)


def test_objective_equals_dense_formula():
    """log|L|² and r² from the blocked factor equal the textbook dense computation."""
    df = _crossed(n=400)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pls_dense, "DENSE_Q_MAX", 0)
        m = LinearMixedModel(materialize(FORMULAS[1], df))
    small = LinearMixedModel(materialize(FORMULAS[1], _crossed(n=300, levels=(30, 12, 8))))
    assert small.pls.schur_kind == "small-dense"
    np.testing.assert_allclose(small.objective(np.array([0.8, 0.6, 0.2, 0.4])),
                               _dense_objective(small, np.array([0.8, 0.6, 0.2, 0.4])), rtol=1e-12)
    theta = np.array([0.8, 0.6, 0.2, 0.4])
    assert m.objective(theta) == pytest.approx(_dense_objective(m, theta), rel=1e-12)
    f = m.pls.factor(theta)
    b2, u2 = m.pls.solve(f)
    beta, u = _dense_solution(m, theta)
    np.testing.assert_allclose(b2, beta, rtol=1e-9)
    np.testing.assert_allclose(u2, u, atol=1e-9)


def _dense_system(m, theta):
    Z = np.zeros((m.n, sum(t.q for t in m.reterms)))
    off = 0
    for t in m.reterms:
        for j in range(t.ncols):
            Z[np.arange(m.n), off + t.refs * t.ncols + j] = t.z[j]
        off += t.q
    lams = m.lambdas(theta)
    Lam = np.zeros((Z.shape[1], Z.shape[1]))
    off = 0
    for t, lam in zip(m.reterms, lams):
        for lv in range(t.nlevels):
            s = off + lv * t.ncols
            Lam[s:s + t.ncols, s:s + t.ncols] = lam
        off += t.q
    return Z @ Lam


def _dense_solution(m, theta):
    ZL = _dense_system(m, theta)
    A = np.block([[ZL.T @ ZL + np.eye(ZL.shape[1]), ZL.T @ m.X], [m.X.T @ ZL, m.X.T @ m.X]])
    sol = np.linalg.solve(A, np.concatenate([ZL.T @ m.y, m.X.T @ m.y]))
    return sol[ZL.shape[1]:], sol[:ZL.shape[1]]


def _dense_objective(m, theta):
    """The profiled deviance computed the textbook way, from dense matrices."""
    ZL = _dense_system(m, theta)
    beta, u = _dense_solution(m, theta)
    r2 = np.sum((m.y - ZL @ u - m.X @ beta) ** 2) + u @ u
    logdet = np.linalg.slogdet(ZL.T @ ZL + np.eye(ZL.shape[1]))[1]
    return logdet + m.n * (1 + np.log(2 * np.pi * r2 / m.n))


def test_fits_without_scikit_sparse(monkeypatch):
    df = _crossed()
    with_cholmod, _ = _fit(FORMULAS[0], df, monkeypatch, DENSE_MAX=0, DENSE_FILL=1.1)
    monkeypatch.setattr(pls, "_warned_no_cholmod", False)
    with pytest.warns(RuntimeWarning, match="scikit-sparse"):
        without, kind = _fit(FORMULAS[0], df, monkeypatch, DENSE_MAX=0, DENSE_FILL=1.1,
                             _cholmod=None)
    assert kind[0] == "dense"
    assert without.objective == pytest.approx(with_cholmod.objective, abs=1e-7)


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("formula", ["y ~ 1 + x + (1 | g) + (1 | h)", "y ~ 1 + x + (1 + x | g)",
                                     "y ~ 1 + x + (1 + x || h) + (1 | k)"])
def test_analytic_gradient_matches_central_differences(formula, reml):
    m = LinearMixedModel(materialize(formula, _crossed(n=300, levels=(30, 12, 8))), reml=reml)
    assert m.pls.schur_kind == "small-dense"
    theta = m.theta0 * 0.8 + 0.1
    _, g = m.objective_gradient(theta)
    h = 1e-6
    num = np.array([(m.objective(theta + h * e) - m.objective(theta - h * e)) / (2 * h)
                    for e in np.eye(len(theta))])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)


def _nested(seed=2, n=900, schools=15, classes=6):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, schools, n)
    c = s * classes + rng.integers(0, classes, n)
    x, z = rng.normal(size=n), rng.normal(size=n)
    y = (2 + 0.4 * x + rng.normal(size=schools)[s] + rng.normal(size=schools * classes)[c]
         + 0.3 * rng.normal(size=schools * classes)[c] * x + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "z": z, "w": rng.uniform(0.5, 2.0, n),
                         "school": [f"s{i}" for i in s], "cls": [f"c{i}" for i in c]})


#: Routes of A_R1 D A_R1ᵀ in the blocked system: the scatter map, one sparse product per θ,
#: and dense products.
ROUTES = {"gather": dict(DENSE_PRODUCT_RATIO=0), "sparse": dict(DENSE_PRODUCT_RATIO=0, GATHER_MAX=0),
          "dense": dict(DENSE_PRODUCT_RATIO=1e12)}

GRADIENT_DESIGNS = [
    ("crossed", "y ~ 1 + x + (1 | g) + (1 | h) + (1 | k)"),          # p₁ = 1, scalar later terms
    ("crossed", "y ~ 1 + x + (1 + x | g) + (1 | h)"),               # p₁ = 2
    ("crossed", "y ~ 1 + x + (1 + x + z | g) + (1 + x | h)"),       # p₁ = 3, vector later term
    ("crossed", "y ~ 1 + x + (1 | g) + (1 + x + z | h) + (1 | k)"),
    ("crossed", "y ~ 1 + x + (1 + x || h) + (1 | k)"),              # uncorrelated terms
    ("nested", "y ~ 1 + x + (1 + x | cls) + (1 + x | school)"),     # nested, vector terms
    ("nested", "y ~ 1 + x + (1 | cls) + (1 | school)"),
    ("one", "y ~ 1 + x + (1 + x + z | cls)"),                       # one term: no Schur block
]


def _richardson_gradient(fun, theta, h=1e-4):
    """Central differences with one Richardson step (error O(h⁴))."""
    def central(step):
        return np.array([(fun(theta + step * e) - fun(theta - step * e)) / (2 * step)
                         for e in np.eye(len(theta))])
    return (4 * central(h / 2) - central(h)) / 3


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("data,formula", GRADIENT_DESIGNS)
def test_blocked_gradient_matches_central_differences(data, formula, route, monkeypatch):
    """The blocked system's analytic gradient (ML and REML, with and without prior weights,
    inside and next to the boundary) agrees with Richardson-extrapolated central differences
    to a relative 10⁻⁶."""
    df = _crossed(n=600, levels=(60, 20, 9)) if data == "crossed" else _nested()
    df["z"] = np.random.default_rng(5).normal(size=len(df)) if "z" not in df else df["z"]
    w = np.random.default_rng(6).uniform(0.5, 2.0, len(df))
    monkeypatch.setattr(pls_dense, "DENSE_Q_MAX", 0)
    for name, value in ROUTES[route].items():
        monkeypatch.setattr(pls, name, value)
    for reml in (False, True):
        for weights in (None, w):
            m = LinearMixedModel(materialize(formula, df), reml=reml, weights=weights)
            assert m.pls.schur_kind in ("dense", "none") and m.has_gradient
            if m.pls.schur_kind == "dense":
                assert (route == "dense") == m.pls.dense_products
                assert (route == "gather") == m.pls.use_gather
            interior = m.theta0 * 0.8 + 0.1
            near_boundary = np.where(m.lower == 0, 2e-3, interior)
            for theta in (interior, near_boundary):
                _, g = m.objective_gradient(theta)
                num = _richardson_gradient(m.objective, theta)
                assert np.max(np.abs(g - num)) <= 1e-6 * max(1.0, np.max(np.abs(num)))


@pytest.mark.parametrize("formula", FORMULAS)
def test_dense_product_route_agrees(formula, monkeypatch):
    df = _crossed()
    gather, k1 = _fit(formula, df, monkeypatch, DENSE_PRODUCT_RATIO=0)
    dense, k2 = _fit(formula, df, monkeypatch, DENSE_PRODUCT_RATIO=1e12)
    assert k1 == ("dense", True) and k2 == ("dense", False)
    _same_fit(dense, gather)


def test_gradient_path_reaches_the_boundary():
    """A singular fit by the quasi-Newton path (blocked system) ends exactly at θ = 0 where the
    derivative-free path (dense system) ends at the boundary (below lme4's singularity
    threshold 10⁻⁴), at the same or a lower objective."""
    df = _nested()
    df["k"] = [f"k{i}" for i in np.random.default_rng(0).integers(0, 7, len(df))]  # no effect
    formula = "y ~ 1 + x + (1 + x | cls) + (1 | school) + (1 | k)"
    blocked = LinearMixedModel(materialize(formula, df))
    assert blocked.pls.gradient_first
    fit_b = blocked.fit()
    import mm_core.pls.dense as dense_mod
    old = dense_mod.DENSE_Q_MAX
    try:
        dense_mod.DENSE_Q_MAX = 10_000
        small = LinearMixedModel(materialize(formula, df))
    finally:
        dense_mod.DENSE_Q_MAX = old
    assert small.pls.schur_kind == "small-dense"
    fit_d = small.fit()
    assert fit_b.optsum.optimizer.startswith("L-BFGS-B")
    zero = (blocked.lower == 0) & (fit_d.optsum.final < 1e-4)
    assert zero.any() and fit_b.is_singular
    np.testing.assert_array_equal(fit_b.optsum.final == 0, zero)
    np.testing.assert_allclose(fit_b.optsum.final, fit_d.optsum.final, atol=1e-4)
    assert fit_b.objective <= fit_d.objective + 1e-9


@pytest.mark.parametrize("route", list(ROUTES))
def test_gradient_routes_pickle(route, monkeypatch):
    """A blocked system on any route pickles (its dense copies are dropped and rebuilt) and
    gives the same objective and gradient after loading."""
    import pickle
    monkeypatch.setattr(pls_dense, "DENSE_Q_MAX", 0)
    for name, value in ROUTES[route].items():
        monkeypatch.setattr(pls, name, value)
    m = LinearMixedModel(materialize(FORMULAS[2], _crossed(n=600, levels=(60, 20, 9))))
    theta = m.theta0 * 0.8 + 0.1
    m2 = pickle.loads(pickle.dumps(m))
    f1, g1 = m.objective_gradient(theta)
    f2, g2 = m2.objective_gradient(theta)
    assert f2 == f1
    np.testing.assert_array_equal(g2, g1)
