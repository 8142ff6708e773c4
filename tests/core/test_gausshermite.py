"""Gauss–Hermite rules for the standard normal kernel (lme4's nAGQ, MixedModels.jl's
``GaussHermiteNormalized``)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss

from mm_core.errors import MixedModelError
from mm_core.gausshermite import MAX_ORDER, gauss_hermite_normalized

# R 4.2.2, lme4 1.1-31:
#   g <- lme4::GHrule(7); print(g[, "z"], digits = 17); print(g[, "w"], digits = 17)
LME4_Z7 = [-3.7504397177257438, -2.3667594107345415, -1.1544053947399682, 1.6953088219724342e-17,
           1.1544053947399677, 2.3667594107345415, 3.7504397177257438]
LME4_W7 = [0.00054826885597221724, 0.030757123967586515, 0.24012317860501278, 0.45714285714285713,
           0.24012317860501267, 0.030757123967586477, 0.00054826885597221789]
# lme4::GHrule(12)
LME4_Z12 = [-5.5009017044677471, -4.2718258479322824, -3.2237098287700969, -2.2594644510007988,
            -1.3403751971516167, -0.44440300194413901, 0.44440300194413862, 1.3403751971516171,
            2.2594644510007988, 3.2237098287700983, 4.2718258479322815, 5.5009017044677497]
LME4_W12 = [1.4999271676371689e-07, 4.8371849225906171e-05, 0.0022033806875332005,
            0.0291166879123642, 0.14696704804532992, 0.32166436151283018, 0.32166436151282984,
            0.14696704804533001, 0.029116687912364141, 0.0022033806875331975,
            4.8371849225906402e-05, 1.4999271676371618e-07]


def _normal_moment(j: int) -> float:
    """E[Z^j] for Z ~ N(0, 1): 0 for odd j, (j-1)!! for even j."""
    if j % 2:
        return 0.0
    return float(math.prod(range(j - 1, 0, -2))) if j else 1.0


@pytest.mark.parametrize("k", list(range(1, 51)))
def test_rule_structure(k):
    z, w = gauss_hermite_normalized(k)
    assert z.shape == w.shape == (k,)
    assert z.dtype == w.dtype == np.float64
    assert np.all(np.diff(z) > 0)
    assert np.all(w > 0)
    assert abs(w.sum() - 1.0) <= 4e-16 * k
    # exactly antisymmetric / symmetric, as MixedModels.jl's symmetrisation guarantees
    np.testing.assert_array_equal(z, -z[::-1])
    np.testing.assert_array_equal(w, w[::-1])
    if k % 2:
        assert z[k // 2] == 0.0


@pytest.mark.parametrize("k", list(range(1, 51)) + [64, 80, 100])
def test_integrates_polynomials_to_degree_2k_minus_1(k):
    z, w = gauss_hermite_normalized(k)
    for j in range(0, 2 * k):
        exact = _normal_moment(j)
        approx = float(np.sum(w * z ** j))
        # scale of the terms: the sum of |w z^j| bounds the rounding error
        scale = float(np.sum(w * np.abs(z) ** j))
        assert abs(approx - exact) <= 1e-12 * max(scale, 1.0), (k, j, approx, exact)
    if k < 25:
        # degree 2k is not integrated exactly
        assert abs(np.sum(w * z ** (2 * k)) - _normal_moment(2 * k)) > 1e-6


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 13, 20, 30, 40, 50, 75, 100])
def test_agrees_with_numpy_hermegauss(k):
    z, w = gauss_hermite_normalized(k)
    zr, wr = hermegauss(k)
    np.testing.assert_allclose(z, zr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(w, wr / math.sqrt(2 * math.pi), rtol=0, atol=1e-12)
    # also in relative terms, down to the smallest tail weights
    np.testing.assert_allclose(w, wr / math.sqrt(2 * math.pi), rtol=5e-12)


@pytest.mark.parametrize("k", [2, 5, 10, 25, 50, 100])
def test_agrees_with_eigenvector_weights(k):
    # MixedModels.jl: w = abs2.(eigen(SymTridiagonal(zeros(k), sqrt.(1:k-1))).vectors[1, :])
    from scipy.linalg import eigh_tridiagonal
    zs, vecs = eigh_tridiagonal(np.zeros(k), np.sqrt(np.arange(1.0, k)))
    wj = vecs[0] ** 2
    wj = (wj + wj[::-1]) / 2
    wj /= wj.sum()
    zj = (zs - zs[::-1]) / 2
    z, w = gauss_hermite_normalized(k)
    np.testing.assert_allclose(z, zj, rtol=0, atol=1e-13)
    np.testing.assert_allclose(w, wj, rtol=0, atol=2e-15)


def test_agrees_with_lme4_ghrule():
    z, w = gauss_hermite_normalized(7)
    np.testing.assert_allclose(z, LME4_Z7, rtol=0, atol=1e-14)
    np.testing.assert_allclose(w, LME4_W7, rtol=1e-13)
    z, w = gauss_hermite_normalized(12)
    np.testing.assert_allclose(z, LME4_Z12, rtol=0, atol=1e-14)
    np.testing.assert_allclose(w, LME4_W12, rtol=1e-13)


def test_small_rules_closed_form():
    z, w = gauss_hermite_normalized(1)
    assert z.tolist() == [0.0] and w.tolist() == [1.0]
    z, w = gauss_hermite_normalized(2)
    np.testing.assert_allclose(z, [-1.0, 1.0], rtol=1e-15)
    assert w.tolist() == [0.5, 0.5]
    z, w = gauss_hermite_normalized(3)
    np.testing.assert_allclose(z, [-math.sqrt(3), 0.0, math.sqrt(3)], rtol=1e-15, atol=0)
    np.testing.assert_allclose(w, [1 / 6, 2 / 3, 1 / 6], rtol=1e-15)


def test_integrates_smooth_function():
    # E[exp(Z)] = exp(1/2)
    z, w = gauss_hermite_normalized(20)
    assert np.sum(w * np.exp(z)) == pytest.approx(math.exp(0.5), rel=1e-14)


def test_cached_and_read_only():
    a = gauss_hermite_normalized(9)
    b = gauss_hermite_normalized(np.int64(9))
    assert a[0] is b[0] and a[1] is b[1]
    with pytest.raises(ValueError):
        a[0][0] = 1.0
    with pytest.raises(ValueError):
        a[1][0] = 1.0


@pytest.mark.parametrize("bad", [0, -1, MAX_ORDER + 1, 2.5, "5", True, None])
def test_bad_orders(bad):
    with pytest.raises(MixedModelError, match="quadrature points"):
        gauss_hermite_normalized(bad)


def test_max_order_ok():
    z, w = gauss_hermite_normalized(MAX_ORDER)
    assert z.size == MAX_ORDER and abs(w.sum() - 1) < 1e-13
