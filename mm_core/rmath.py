"""Vectorized ports of R's nmath routines, to the last bit or two.

``pnorm``, ``dnorm``, ``pcauchy``, ``qcauchy`` serve the links (:mod:`mm_core.links`);
``dbinom``, ``dpois`` and ``dgamma`` (Loader's saddle-point algorithm with ``stirlerr`` and
``bd0``) serve the families' AIC and log-densities (:mod:`mm_core.families`). Every function
takes and returns float64 arrays and follows R's special cases (NaN, infinite and
out-of-range arguments) as ``src/nmath`` does.

Examples
--------
>>> round(float(dbinom_log(3, 10, 0.5)), 6)   # dbinom(3, 10, 0.5, log = TRUE)
-2.14398
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln

__all__ = [
    "EPS",
    "as_float",
    "dbinom_log",
    "dbinom_raw_log",
    "dgamma_log",
    "dnorm",
    "dpois_log",
    "nonint",
    "pcauchy",
    "pnorm",
    "qcauchy",
]

# ---------------------------------------------------------------------------
# Constants (R's Rmath.h / float.h values)
# ---------------------------------------------------------------------------
EPS = float(np.finfo(np.float64).eps)          # .Machine$double.eps
_DBL_MIN = float(np.finfo(np.float64).tiny)     # .Machine$double.xmin
_M_2PI = 6.283185307179586476925286766559
_M_LN_2PI = 1.837877066409345483560659472811
_M_LN_SQRT_2PI = 0.918938533204672741780329736406
_M_1_SQRT_2PI = 0.398942280401432677939946059934
_M_SQRT_32 = 5.656854249492380195206754896838


def as_float(x) -> np.ndarray:
    """``x`` as a float64 array, without copying when it already is one."""
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------
# Vectorized ports of R's nmath routines (pnorm, dnorm, pcauchy, stirlerr, bd0,
# dpois_raw, dbinom_raw, dgamma).  Used by the links and by aic / loglik_obs.
# ---------------------------------------------------------------------------
_PN_A = (2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582,
         18154.981253343561249, 0.065682337918207449113)
_PN_B = (47.20258190468824187, 976.09855173777669322, 10260.932208618978205,
         45507.789335026729956)
_PN_C = (0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979,
         597.27027639480026226, 2494.5375852903726711, 6848.1904505362823326,
         11602.651437647350124, 9842.7148383839780218, 1.0765576773720192317e-8)
_PN_D = (22.266688044328115691, 235.38790178262499861, 1519.377599407554805,
         6485.558298266760755, 18615.571640885098091, 34900.952721145977266,
         38912.003286093271411, 19685.429676859990727)
_PN_P = (0.21589853405795699, 0.1274011611602473639, 0.022235277870649807,
         0.001421619193227893466, 2.9112874951168792e-5, 0.02307344176494017303)
_PN_Q = (1.28426009614491121, 0.468238212480865118, 0.0659881378689285515,
         0.00378239633202758244, 7.29751555083966205e-5)


def _pnorm_del(x: np.ndarray, temp: np.ndarray) -> np.ndarray:
    """Cody's ``do_del``: ``exp(-x^2/2) * temp`` with x^2 split for accuracy."""
    xsq = np.trunc(x * 16.0)
    xsq /= 16.0
    dlt = (x - xsq) * (x + xsq)
    dlt *= -0.5
    np.exp(dlt, out=dlt)
    xsq *= -xsq
    xsq *= 0.5
    np.exp(xsq, out=xsq)
    xsq *= dlt
    xsq *= temp
    return xsq


def pnorm(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, lower tail: R's ``pnorm(x)`` (Cody's algorithm, pnorm_both).

    ``scipy.special.ndtr`` loses up to ~1e-14 relative accuracy in the lower tail;
    this port agrees with R to the last bit or two.
    """
    x = as_float(x)
    out = np.empty_like(x)
    y = np.abs(x)
    # |x| <= qnorm(3/4)
    m1 = y <= 0.67448975
    m2 = (y <= _M_SQRT_32) & ~m1
    m3 = (y > _M_SQRT_32) & (x > -37.5193) & (x < 8.2924)
    if m1.any():
        xm = x[m1]
        xsq = xm * xm
        xsq[np.abs(xm) <= EPS * 0.5] = 0.0  # R: xnum = xden = 0 for tiny |x|
        xnum = _PN_A[4] * xsq
        xden = xsq.copy()
        for i in range(3):
            xnum += _PN_A[i]
            xnum *= xsq
            xden += _PN_B[i]
            xden *= xsq
        xnum += _PN_A[3]
        xden += _PN_B[3]
        xnum *= xm
        xnum /= xden
        xnum += 0.5
        out[m1] = xnum
    # qnorm(3/4) < |x| <= sqrt(32)
    if m2.any():
        ym = y[m2]
        xnum = _PN_C[8] * ym
        xden = ym.copy()
        for i in range(7):
            xnum += _PN_C[i]
            xnum *= ym
            xden += _PN_D[i]
            xden *= ym
        xnum += _PN_C[7]
        xden += _PN_D[7]
        xnum /= xden
        cum = _pnorm_del(ym, xnum)
        pos = x[m2] > 0
        cum[pos] = 1.0 - cum[pos]
        out[m2] = cum
    # sqrt(32) < |x|, within Cody's range for the lower tail
    if m3.any():
        xm = x[m3]
        xsq = 1.0 / (xm * xm)
        xnum = _PN_P[5] * xsq
        xden = xsq.copy()
        for i in range(4):
            xnum += _PN_P[i]
            xnum *= xsq
            xden += _PN_Q[i]
            xden *= xsq
        xnum += _PN_P[4]
        xden += _PN_Q[4]
        temp = xsq * xnum / xden
        temp = (_M_1_SQRT_2PI - temp) / y[m3]
        cum = _pnorm_del(xm, temp)
        pos = xm > 0
        cum[pos] = 1.0 - cum[pos]
        out[m3] = cum
    m4 = ~(m1 | m2 | m3)
    if m4.any():
        out[m4] = np.where(x[m4] > 0, 1.0, np.where(np.isnan(x[m4]), np.nan, 0.0))
    return out


def dnorm(x: np.ndarray) -> np.ndarray:
    """Standard normal density: R's ``dnorm(x)`` (x^2 split for |x| >= 5)."""
    x = as_float(x)
    y = np.abs(x)
    out = _M_1_SQRT_2PI * np.exp(-0.5 * y * y)
    big = y >= 5.0
    if big.any():
        yb = y[big]
        x1 = np.round(yb * 65536.0) / 65536.0  # ldexp(R_forceint(ldexp(x, 16)), -16)
        x2 = yb - x1
        val = _M_1_SQRT_2PI * (np.exp(-0.5 * x1 * x1) * np.exp((-0.5 * x2 - x1) * x2))
        val[yb > 38.56804181549334] = 0.0  # sqrt(-2*M_LN2*(DBL_MIN_EXP + 1-DBL_MANT_DIG))
        out[big] = val
    return out


def pcauchy(x: np.ndarray) -> np.ndarray:
    """Standard Cauchy CDF: R's ``pcauchy(x)``."""
    x = as_float(x)
    small = np.abs(x) <= 1.0
    out = np.arctan(x)
    out /= np.pi
    out += 0.5
    big = ~small
    if big.any():
        xb = x[big]
        yb = np.arctan(1.0 / xb) / np.pi
        out[big] = np.where(xb > 0, 0.5 - yb + 0.5, -yb)
    return out


def qcauchy(p: np.ndarray) -> np.ndarray:
    """Standard Cauchy quantile: R's ``qcauchy(p)`` (via ``tanpi``)."""
    p = as_float(p)
    upper = p > 0.5
    pp = np.where(upper, 1.0 - p, p)
    t = np.tan(np.pi * pp)
    t[pp == 0.25] = 1.0                     # R's tanpi is exact at 1/4
    with np.errstate(divide="ignore"):
        out = np.where(upper, 1.0 / t, -1.0 / t)
    out[p == 0.5] = 0.0
    out[(p < 0) | (p > 1)] = np.nan
    return out


# stirlerr(n) = log(n!) - log(sqrt(2*pi*n)*(n/e)^n) at n = 0, 0.5, ..., 15 (R's sferr_halves)
_SFERR_HALVES = np.array([
    0.0,
    0.1534264097200273452913839, 0.0810614667953272582196703,
    0.0548141210519176538961387, 0.0413406959554092940938221,
    0.0331628735199362874851105, 0.0276779256849983391487893,
    0.0237461636562974959713303, 0.0207906721037650931115228,
    0.0184884505326731852307794, 0.0166446911898211921631949,
    0.0151349732219173788735138, 0.0138761288230707479987457,
    0.0128104652429202269242507, 0.0118967099458917700950557,
    0.0111045597582069173266308, 0.0104112652619720964974786,
    0.0097994161261588032983904, 0.0092554621827127329177286,
    0.0087687001341393854629550, 0.0083305634333628712564693,
    0.0079341145643140205472496, 0.0075736754879518407949720,
    0.0072445543013203831795462, 0.0069428401072095298656642,
    0.0066652470327076824423562, 0.0064089941880042070684396,
    0.0061717122630394576475346, 0.0059513701127588477356244,
    0.0057462165130101156820261, 0.0055547335519628013710387,
])
_S0 = 1.0 / 12.0
_S1 = 1.0 / 360.0
_S2 = 1.0 / 1260.0
_S3 = 1.0 / 1680.0
_S4 = 1.0 / 1188.0


def _stirlerr(n: np.ndarray) -> np.ndarray:
    """Error of Stirling's formula, R's ``stirlerr(n)`` (R 4.0-4.3 version), n >= 0."""
    n = as_float(n)
    out = np.empty_like(n)
    small = n <= 15.0
    if small.any():
        ns = n[small]
        nn = ns + ns
        half = nn == np.floor(nn)
        res = np.empty_like(ns)
        res[half] = _SFERR_HALVES[nn[half].astype(np.intp)]
        other = ~half
        if other.any():
            no = ns[other]
            res[other] = gammaln(no + 1.0) - (no + 0.5) * np.log(no) + no - _M_LN_SQRT_2PI
        out[small] = res
    large = ~small
    if large.any():
        nl = n[large]
        nn = nl * nl
        out[large] = np.where(
            nl > 500, (_S0 - _S1 / nn) / nl,
            np.where(nl > 80, (_S0 - (_S1 - _S2 / nn) / nn) / nl,
                     np.where(nl > 35, (_S0 - (_S1 - (_S2 - _S3 / nn) / nn) / nn) / nl,
                              (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / nl)))
    return out


def _bd0(x: np.ndarray, npr: np.ndarray) -> np.ndarray:
    """Deviance term ``x log(x/np) + np - x`` computed stably: R's ``bd0(x, np)``.

    Where ``|x - np| < 0.1 (x + np)`` the Taylor series is summed term by term until
    adding a term no longer changes the sum, exactly as R's loop does (the loop runs
    over all such elements at once; once an element has converged further terms
    cannot change it). Inputs must be finite with ``np > 0`` (as R requires).
    """
    x, npr = np.broadcast_arrays(as_float(x), as_float(npr))
    d = x - npr
    near = np.abs(d) < 0.1 * (x + npr)
    out = np.empty(x.shape)
    if near.all():
        xs, ds, ns = x, d, npr
        far = None
    else:
        far = ~near
        xf, nf = x[far], npr[far]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[far] = xf * np.log(xf / nf) + nf - xf
        if not near.any():
            return out
        xs, ds, ns = x[near], d[near], npr[near]
    v = ds / (xs + ns)
    s = ds * v
    ej = 2.0 * xs * v
    v *= v
    for j in range(1, 1000):
        ej *= v
        s_new = s + ej / (2 * j + 1)
        if np.array_equal(s_new, s, equal_nan=True):
            break
        s = s_new
    if far is None:
        return s
    out[near] = s
    return out


def _dpois_raw_log(x: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``log(lam^x exp(-lam) / x!)`` for real ``x >= 0``: R's ``dpois_raw(x, lam, log=TRUE)``.

    R >= 4.1 replaced ``bd0`` by the more accurate ``ebd0`` here; the two agree to
    about 1e-15 (relative) for the values met in practice.
    """
    x, lam = np.broadcast_arrays(as_float(x), as_float(lam))
    ok = (lam > 0) & np.isfinite(lam) & (x >= 0)
    tiny_x = x <= lam * _DBL_MIN
    tiny_l = lam < x * _DBL_MIN
    main = ok & ~tiny_x & ~tiny_l
    if main.all():
        return -0.5 * np.log(_M_2PI * x) + (-_stirlerr(x) - _bd0(x, lam))
    out = np.full(x.shape, -np.inf)
    out[(lam == 0) & (x == 0)] = 0.0
    m = ok & tiny_x
    out[m] = -lam[m]
    m = ok & ~tiny_x & tiny_l
    if m.any():
        xl, ll = x[m], lam[m]
        out[m] = -ll + xl * np.log(ll) - gammaln(xl + 1.0)
    if main.any():
        xm, lm = x[main], lam[main]
        out[main] = -0.5 * np.log(_M_2PI * xm) + (-_stirlerr(xm) - _bd0(xm, lm))
    nan = np.isnan(x) | np.isnan(lam)
    if nan.any():
        out[nan] = np.nan
    return out


def nonint(x: np.ndarray) -> np.ndarray:
    """R's ``R_nonint``: ``x`` is more than 1e-7 (relative) away from an integer."""
    x = as_float(x)
    r = np.rint(x)
    ne = x != r
    if ne.any():
        ne[ne] = np.abs(x[ne] - r[ne]) > 1e-7 * np.maximum(1.0, np.abs(x[ne]))
    return ne


def dpois_log(x, lam) -> np.ndarray:
    """R's ``dpois(x, lam, log = TRUE)``; non-integer ``x`` gives ``-Inf`` (R also warns)."""
    x, lam = np.broadcast_arrays(as_float(x), as_float(lam))
    bad = nonint(x) | (x < 0) | ~np.isfinite(x)
    if bad.any():
        out = _dpois_raw_log(np.where(bad, 0.0, np.rint(x)), lam)
        out[bad] = -np.inf
    else:
        out = _dpois_raw_log(np.rint(x), lam)
    neg = lam < 0
    if neg.any():
        out[neg] = np.nan
    nan = np.isnan(x) | np.isnan(lam)
    if nan.any():
        out[nan] = np.nan
    return out


def dbinom_raw_log(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """R's ``dbinom_raw(x, n, p, 1 - p, log = TRUE)`` for integer-valued ``x``, ``n``.

    Loader's saddle-point algorithm as in R 4.0-4.3 (R 4.4 uses ``log1p`` in the
    ``x == 0`` / ``x == n`` cases; the two agree to about one ulp).
    """
    q = 1.0 - p
    if x.size and n.min() == 1.0 and n.max() == 1.0:
        # Bernoulli: with a = P(observed outcome), b = 1 - a, R's x == 0 / x == n
        # branches are  b < 0.1 ? -bd0(1, a) - b : log(a)  (also right for a in {0, 1}).
        one = x == 1.0
        a = np.where(one, p, q)
        b = np.where(one, q, p)
        with np.errstate(divide="ignore"):
            out = np.log(a)
        s = b < 0.1
        if s.any():
            a_s = a[s]
            out[s] = -_bd0(np.ones_like(a_s), a_s) - b[s]
        other = ~one & (x != 0.0)          # x outside {0, 1}
        if other.any():
            out[other] = -np.inf
        return out
    out = np.full(x.shape, -np.inf)
    p0 = p == 0
    q0 = q == 0
    edge = p0 | q0
    if edge.any():
        out[p0 & (x == 0)] = 0.0
        out[q0 & ~p0 & (x == n)] = 0.0
        rest = ~edge
    else:
        rest = None
    x0 = x == 0
    xn = (x == n) & ~x0
    if rest is not None:
        x0 &= rest
        xn &= rest
    # x == 0: n*log(q), or -bd0(n, n*q) - n*p when p < 0.1 (R gives 0 when n == 0)
    if x0.any():
        nn, pp, qq = n[x0], p[x0], q[x0]
        with np.errstate(divide="ignore"):
            res = nn * np.log(qq)
        s = (pp < 0.1) & (nn != 0)
        if s.any():
            ns = nn[s]
            res[s] = -_bd0(ns, ns * qq[s]) - ns * pp[s]
        res[nn == 0] = 0.0
        out[x0] = res
    # x == n: n*log(p), or -bd0(n, n*p) - n*q when q < 0.1
    if xn.any():
        nn, pp, qq = n[xn], p[xn], q[xn]
        res = nn * np.log(pp)
        s = qq < 0.1
        if s.any():
            ns = nn[s]
            res[s] = -_bd0(ns, ns * pp[s]) - ns * qq[s]
        out[xn] = res
    mid = (x > 0) & (x < n)
    if rest is not None:
        mid &= rest
    if mid.any():
        xx, nn, pp, qq = x[mid], n[mid], p[mid], q[mid]
        lc = (_stirlerr(nn) - _stirlerr(xx) - _stirlerr(nn - xx)
              - _bd0(xx, nn * pp) - _bd0(nn - xx, nn * qq))
        lf = _M_LN_2PI + np.log(xx) + np.log1p(-xx / nn)
        out[mid] = lc - 0.5 * lf
    return out


def dbinom_log(x, n, p) -> np.ndarray:
    """R's ``dbinom(x, n, p, log = TRUE)``.

    ``x`` and ``n`` are rounded as R does; non-integer or negative ``x`` gives ``-Inf``,
    and negative or non-integer ``n`` or ``p`` outside [0, 1] gives NaN.
    """
    x, n, p = np.broadcast_arrays(as_float(x), as_float(n), as_float(p))
    bad_par = (p < 0) | (p > 1) | (n < 0) | nonint(n) | np.isnan(x) | np.isnan(n) | np.isnan(p)
    bad_x = nonint(x) | (x < 0) | ~np.isfinite(x)
    bad = bad_par | bad_x
    if bad.any():
        ok = ~bad
        out = np.full(x.shape, -np.inf)
        out[ok] = dbinom_raw_log(np.rint(x[ok]), np.rint(n[ok]), p[ok])
        out[bad_par] = np.nan
        return out
    return dbinom_raw_log(np.rint(x), np.rint(n), p)


def dgamma_log(x, shape, scale) -> np.ndarray:
    """R's ``dgamma(x, shape, scale = scale, log = TRUE)``."""
    x, shape, scale = np.broadcast_arrays(as_float(x), as_float(shape), as_float(scale))
    out = np.full(x.shape, -np.inf)
    pos = x > 0
    zero = x == 0
    if zero.any():
        sz = shape[zero]
        out[zero] = np.where(sz < 1, np.inf, np.where(sz > 1, -np.inf, -np.log(scale[zero])))
    lt1 = pos & (shape < 1)
    if lt1.any():
        xs, sh, sc = x[lt1], shape[lt1], scale[lt1]
        with np.errstate(over="ignore"):
            ratio = sh / xs
        lr = np.where(np.isfinite(ratio), np.log(ratio), np.log(sh) - np.log(xs))
        out[lt1] = _dpois_raw_log(sh, xs / sc) + lr
    ge1 = pos & (shape >= 1)
    if ge1.any():
        xs, sh, sc = x[ge1], shape[ge1], scale[ge1]
        out[ge1] = _dpois_raw_log(sh - 1.0, xs / sc) - np.log(sc)
    sh0 = shape == 0
    if sh0.any():
        out[sh0] = np.where(x[sh0] == 0, np.inf, -np.inf)
    bad = (shape < 0) | (scale <= 0) | np.isnan(x) | np.isnan(shape) | np.isnan(scale)
    out[bad] = np.nan
    return out

