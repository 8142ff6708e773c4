"""GLM families and link functions, numerically as R's ``stats`` package.

A :class:`Family` bundles a response distribution (variance function, unit deviance,
AIC, log-density, starting values, response checks) with a :class:`Link`. Every
function is vectorized over float64 arrays and reproduces R's ``family()`` objects to
the last bit or two: the links follow ``make.link`` (and R's C code for logit),
the deviance residuals follow ``family()$dev.resids``, and the AIC follows
``family()$aic``, including R's ``dbinom``/``dpois``/``dgamma`` (Loader's saddle-point
algorithm, re-implemented here in vectorized form).

Use :func:`get_family` to build a family from the names an R user would type::

    >>> fam = get_family("binomial")          # binomial(link = "logit")
    >>> fam.link.name
    'logit'
    >>> get_family("Poisson", "sqrt")         # poisson(link = "sqrt")
    Family('poisson', link='sqrt')

Notes
-----
*R stats vs lme4's C++.* ``glmer`` evaluates the links and the variance in C++
(``lme4/src/glmFamily.cpp``), which differs from ``make.link`` only at the extremes:
there the logit inverse link is ``min(plogis(eta), 1 - eps)`` (no ±30 cut-off), the
probit inverse link ``min(pnorm(eta), 1 - eps)`` without clamping ``eta``, the probit
``mu_eta`` has no ``eps`` floor, and the binomial variance is ``max(mu (1 - mu), eps)``.
The functions here are R's ``stats`` versions (what ``binomial()$linkinv`` etc. return);
for ``|eta| < 30`` (logit) or ``|eta| < 8.1`` (probit) both agree to one ulp.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import gammaln, ndtri, xlogy

from .errors import DataError, MixedModelError

__all__ = [
    "Link", "LogitLink", "ProbitLink", "CauchitLink", "CloglogLink", "LogLink",
    "IdentityLink", "InverseLink", "SqrtLink", "InverseSquareLink",
    "Family", "Binomial", "Poisson", "Gaussian", "GammaFamily", "InverseGaussian",
    "get_link", "get_family", "FAMILY_NAMES", "LINK_NAMES",
]

# ---------------------------------------------------------------------------
# Constants (R's Rmath.h / float.h values)
# ---------------------------------------------------------------------------
_EPS = float(np.finfo(np.float64).eps)          # .Machine$double.eps
_DBL_MIN = float(np.finfo(np.float64).tiny)     # .Machine$double.xmin
_M_2PI = 6.283185307179586476925286766559
_M_LN_2PI = 1.837877066409345483560659472811
_M_LN_SQRT_2PI = 0.918938533204672741780329736406
_M_1_SQRT_2PI = 0.398942280401432677939946059934
_M_SQRT_32 = 5.656854249492380195206754896838
_LOGIT_THRESH = 30.0                             # THRESH / MTHRESH in R's family.c
_PROBIT_THRESH = 8.125890664701906               # -qnorm(.Machine$double.eps)
_CAUCHIT_THRESH = 1.0 / math.tan(math.pi * _EPS)  # -qcauchy(.Machine$double.eps)


def _f(x) -> np.ndarray:
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


def _pnorm(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, lower tail: R's ``pnorm(x)`` (Cody's algorithm, pnorm_both).

    ``scipy.special.ndtr`` loses up to ~1e-14 relative accuracy in the lower tail;
    this port agrees with R to the last bit or two.
    """
    x = _f(x)
    out = np.empty_like(x)
    y = np.abs(x)
    # |x| <= qnorm(3/4)
    m1 = y <= 0.67448975
    m2 = (y <= _M_SQRT_32) & ~m1
    m3 = (y > _M_SQRT_32) & (x > -37.5193) & (x < 8.2924)
    if m1.any():
        xm = x[m1]
        xsq = xm * xm
        xsq[np.abs(xm) <= _EPS * 0.5] = 0.0  # R: xnum = xden = 0 for tiny |x|
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


def _dnorm(x: np.ndarray) -> np.ndarray:
    """Standard normal density: R's ``dnorm(x)`` (x^2 split for |x| >= 5)."""
    x = _f(x)
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


def _pcauchy(x: np.ndarray) -> np.ndarray:
    """Standard Cauchy CDF: R's ``pcauchy(x)``."""
    x = _f(x)
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


def _qcauchy(p: np.ndarray) -> np.ndarray:
    """Standard Cauchy quantile: R's ``qcauchy(p)`` (via ``tanpi``)."""
    p = _f(p)
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
    n = _f(n)
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
    x, npr = np.broadcast_arrays(_f(x), _f(npr))
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
    x, lam = np.broadcast_arrays(_f(x), _f(lam))
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


def _nonint(x: np.ndarray) -> np.ndarray:
    """R's ``R_nonint``: ``x`` is more than 1e-7 (relative) away from an integer."""
    x = _f(x)
    r = np.rint(x)
    ne = x != r
    if ne.any():
        ne[ne] = np.abs(x[ne] - r[ne]) > 1e-7 * np.maximum(1.0, np.abs(x[ne]))
    return ne


def _dpois_log(x, lam) -> np.ndarray:
    """R's ``dpois(x, lam, log = TRUE)``; non-integer ``x`` gives ``-Inf`` (R also warns)."""
    x, lam = np.broadcast_arrays(_f(x), _f(lam))
    bad = _nonint(x) | (x < 0) | ~np.isfinite(x)
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


def _dbinom_log_int(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
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


def _dbinom_log(x, n, p) -> np.ndarray:
    """R's ``dbinom(x, n, p, log = TRUE)``.

    ``x`` and ``n`` are rounded as R does; non-integer or negative ``x`` gives ``-Inf``,
    and negative or non-integer ``n`` or ``p`` outside [0, 1] gives NaN.
    """
    x, n, p = np.broadcast_arrays(_f(x), _f(n), _f(p))
    bad_par = (p < 0) | (p > 1) | (n < 0) | _nonint(n) | np.isnan(x) | np.isnan(n) | np.isnan(p)
    bad_x = _nonint(x) | (x < 0) | ~np.isfinite(x)
    bad = bad_par | bad_x
    if bad.any():
        ok = ~bad
        out = np.full(x.shape, -np.inf)
        out[ok] = _dbinom_log_int(np.rint(x[ok]), np.rint(n[ok]), p[ok])
        out[bad_par] = np.nan
        return out
    return _dbinom_log_int(np.rint(x), np.rint(n), p)


def _dgamma_log(x, shape, scale) -> np.ndarray:
    """R's ``dgamma(x, shape, scale = scale, log = TRUE)``."""
    x, shape, scale = np.broadcast_arrays(_f(x), _f(shape), _f(scale))
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


# ---------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------
class Link:
    """A GLM link function ``eta = g(mu)`` with its inverse and derivative.

    Subclasses implement R's ``make.link(name)``; instances hold no state, so they
    pickle by class and compare equal by name.

    Fields
    ------
    name : str
        R's name of the link (``"logit"``, ``"1/mu^2"``, ...).

    Methods
    -------
    link(mu)
        ``g(mu)``, R's ``linkfun``.
    linkinv(eta)
        ``g^{-1}(eta)``, R's ``linkinv``, clamped away from the boundary as R does.
    mu_eta(eta)
        ``d mu / d eta``, R's ``mu.eta``.
    valideta(eta)
        Whether ``eta`` is in the link's domain, R's ``valideta``.

    Notes
    -----
    R equivalent: ``make.link("logit")`` and friends, also ``binomial()$linkinv``.

    Examples
    --------
    >>> lk = get_link("logit")
    >>> float(lk.linkinv(np.array([0.0]))[0])
    0.5
    """

    name: str = ""

    def link(self, mu):
        raise NotImplementedError

    def linkinv(self, eta):
        raise NotImplementedError

    def mu_eta(self, eta):
        raise NotImplementedError

    def valideta(self, eta) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Link({self.name!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Link) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("Link", self.name))


class LogitLink(Link):
    """Logit link ``log(mu / (1 - mu))``; R's C code ``C_logit_link`` etc.

    ``linkinv`` is ``exp(eta)/(1 + exp(eta))`` with ``exp(eta)`` replaced by ``eps``
    below ``eta = -30`` and by ``1/eps`` above 30 (so ``mu`` stays in
    ``[eps/(1+eps), 1/(1+eps)]``); ``mu_eta`` is ``eps`` outside ``[-30, 30]``.
    """

    name = "logit"

    def link(self, mu):
        mu = _f(mu)
        return np.log(mu / (1.0 - mu))

    def linkinv(self, eta):
        eta = _f(eta)
        tmp = np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH)
        np.exp(tmp, out=tmp)
        lo = eta < -_LOGIT_THRESH
        if lo.any():
            tmp[lo] = _EPS
        hi = eta > _LOGIT_THRESH
        if hi.any():
            tmp[hi] = 1.0 / _EPS
        den = tmp + 1.0
        return np.divide(tmp, den, out=tmp)

    def mu_eta(self, eta):
        eta = _f(eta)
        e = np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH)
        np.exp(e, out=e)
        opexp = e + 1.0
        opexp *= opexp
        np.divide(e, opexp, out=e)
        out = np.abs(eta) > _LOGIT_THRESH
        if out.any():
            e[out] = _EPS
        return e


class ProbitLink(Link):
    """Probit link ``qnorm(mu)``; ``linkinv`` clamps ``eta`` to ``±(-qnorm(eps))``,
    ``mu_eta = max(dnorm(eta), eps)``, as ``make.link("probit")``."""

    name = "probit"

    def link(self, mu):
        return ndtri(_f(mu))

    def linkinv(self, eta):
        return _pnorm(np.clip(_f(eta), -_PROBIT_THRESH, _PROBIT_THRESH))

    def mu_eta(self, eta):
        return np.maximum(_dnorm(eta), _EPS)


class CauchitLink(Link):
    """Cauchit link ``qcauchy(mu)``; ``linkinv`` clamps ``eta`` to ``±(-qcauchy(eps))``,
    ``mu_eta = max(dcauchy(eta), eps)``, as ``make.link("cauchit")``."""

    name = "cauchit"

    def link(self, mu):
        return _qcauchy(mu)

    def linkinv(self, eta):
        return _pcauchy(np.clip(_f(eta), -_CAUCHIT_THRESH, _CAUCHIT_THRESH))

    def mu_eta(self, eta):
        eta = _f(eta)
        return np.maximum(1.0 / (np.pi * (1.0 + eta * eta)), _EPS)


class CloglogLink(Link):
    """Complementary log-log link ``log(-log(1 - mu))``, as ``make.link("cloglog")``:
    ``linkinv = pmax(pmin(-expm1(-exp(eta)), 1 - eps), eps)``,
    ``mu_eta = pmax(exp(eta) * exp(-exp(eta)), eps)`` with ``eta`` capped at 700."""

    name = "cloglog"

    def link(self, mu):
        mu = _f(mu)
        return np.log(-np.log(1.0 - mu))

    def linkinv(self, eta):
        with np.errstate(over="ignore"):
            out = -np.expm1(-np.exp(_f(eta)))
        return np.clip(out, _EPS, 1.0 - _EPS, out=out)

    def mu_eta(self, eta):
        e = np.exp(np.minimum(_f(eta), 700.0))
        with np.errstate(over="ignore"):
            out = e * np.exp(-e)
        return np.maximum(out, _EPS, out=out)


class LogLink(Link):
    """Log link; ``linkinv = mu_eta = pmax(exp(eta), eps)`` as ``make.link("log")``."""

    name = "log"

    def link(self, mu):
        return np.log(_f(mu))

    def linkinv(self, eta):
        with np.errstate(over="ignore"):
            out = np.exp(_f(eta))
        return np.maximum(out, _EPS, out=out)

    def mu_eta(self, eta):
        return self.linkinv(eta)


class IdentityLink(Link):
    """Identity link. ``link``/``linkinv`` return their argument itself (no copy)."""

    name = "identity"

    def link(self, mu):
        return _f(mu)

    def linkinv(self, eta):
        return _f(eta)

    def mu_eta(self, eta):
        return np.ones_like(_f(eta))


class InverseLink(Link):
    """Inverse link ``1/mu``; ``mu_eta = -1/eta^2``; ``eta`` must be finite and non-zero."""

    name = "inverse"

    def link(self, mu):
        return 1.0 / _f(mu)

    def linkinv(self, eta):
        return 1.0 / _f(eta)

    def mu_eta(self, eta):
        eta = _f(eta)
        return -1.0 / (eta * eta)

    def valideta(self, eta) -> bool:
        eta = _f(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))


class SqrtLink(Link):
    """Square-root link; ``linkinv = eta^2``, ``mu_eta = 2 eta``; ``eta`` must be > 0."""

    name = "sqrt"

    def link(self, mu):
        return np.sqrt(_f(mu))

    def linkinv(self, eta):
        eta = _f(eta)
        return eta * eta

    def mu_eta(self, eta):
        return 2.0 * _f(eta)

    def valideta(self, eta) -> bool:
        eta = _f(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


class InverseSquareLink(Link):
    """Link ``1/mu^2`` (canonical for the inverse Gaussian); ``linkinv = 1/sqrt(eta)``,
    ``mu_eta = -1/(2 eta^1.5)``; ``eta`` must be > 0."""

    name = "1/mu^2"

    def link(self, mu):
        mu = _f(mu)
        return 1.0 / (mu * mu)

    def linkinv(self, eta):
        return 1.0 / np.sqrt(_f(eta))

    def mu_eta(self, eta):
        return -1.0 / (2.0 * np.power(_f(eta), 1.5))

    def valideta(self, eta) -> bool:
        eta = _f(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


_LINKS: dict[str, type[Link]] = {
    cls.name: cls for cls in (LogitLink, ProbitLink, CauchitLink, CloglogLink, LogLink,
                              IdentityLink, InverseLink, SqrtLink, InverseSquareLink)
}
#: Link names accepted by :func:`get_link` (R's ``make.link`` names).
LINK_NAMES: tuple[str, ...] = tuple(_LINKS)


def get_link(link: str | Link) -> Link:
    """The :class:`Link` called ``link`` (case-insensitive), R's ``make.link(link)``.

    Parameters
    ----------
    link : str or Link
        One of :data:`LINK_NAMES`; a :class:`Link` is returned unchanged.

    Raises
    ------
    MixedModelError
        For an unknown name; the message lists the allowed names.

    Examples
    --------
    >>> get_link("Probit")
    Link('probit')
    """
    if isinstance(link, Link):
        return link
    if not isinstance(link, str):
        raise MixedModelError(f"link must be a string, not {type(link).__name__}")
    key = link.strip().lower().replace(" ", "")
    cls = _LINKS.get(key)
    if cls is None:
        raise MixedModelError(
            f"unknown link {link!r}; allowed links are {', '.join(LINK_NAMES)}")
    return cls()


# ---------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------
def _weights(wt, n: int) -> np.ndarray:
    if wt is None:
        return np.ones(n)
    wt = _f(wt)
    if wt.ndim == 0:
        return np.full(n, float(wt))
    return wt


def _require_positive(y, family: str) -> None:
    """DataError naming the rows where a positive-valued family's response is not positive."""
    y = _f(y)
    bad = y <= 0
    if bad.any():
        k = int(bad.sum())
        raise DataError(f"{family} response: values must be positive; "
                        f"{_plural(k, 'row')} {_is(k)} zero or negative: " + _rows(bad, y))


def _rows(mask: np.ndarray, values: np.ndarray, limit: int = 3) -> str:
    """'rows 3, 7, 9 (values -1, -2, -5)' for the first few offending rows (1-based)."""
    idx = np.flatnonzero(mask)[:limit]
    rows = ", ".join(str(i + 1) for i in idx)
    vals = ", ".join(f"{values[i]:g}" for i in idx)
    more = ", ..." if mask.sum() > limit else ""
    s = "s" if len(idx) > 1 else ""
    return f"row{s} {rows}{more} (value{s} {vals}{more})"


def _plural(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _is(k: int) -> str:
    return "is" if k == 1 else "are"


class Family:
    """A GLM family: response distribution plus link, as R's ``family`` objects.

    Fields
    ------
    name : str
        R's family name: ``"binomial"``, ``"poisson"``, ``"gaussian"``, ``"Gamma"``,
        ``"inverse.gaussian"``.
    link : Link
        The link function.
    default_link : str
        The canonical (default) link name (class attribute).
    allowed_links : tuple of str
        The links R's constructor lists as available (``okLinks``), default first
        (class attribute). :func:`get_family` also accepts the other
        ``make.link`` names, as R does for a link given as a string.
    has_dispersion : bool
        Whether the family has a free dispersion parameter φ (gaussian, Gamma,
        inverse Gaussian) rather than φ = 1 (binomial, Poisson).

    Notes
    -----
    R equivalent: ``binomial(link = "probit")`` etc. All array methods take and return
    float64 arrays of one length ``n``; ``wt`` are the prior weights (R's
    ``weights``; for the binomial the number of trials, with ``y`` the proportion).

    Examples
    --------
    >>> fam = get_family("poisson")
    >>> y = np.array([0.0, 2.0, 5.0]); mu = np.array([0.5, 2.5, 4.0]); wt = np.ones(3)
    >>> round(fam.deviance(y, mu, wt), 6)  # sum(poisson()$dev.resids(y, mu, wt))
    1.338861
    """

    name: str = ""
    default_link: str = ""
    allowed_links: tuple[str, ...] = ()
    has_dispersion: bool = False

    def __init__(self, link: str | Link | None = None) -> None:
        self.link = get_link(self.default_link if link is None else link)

    # -- link shortcuts ----------------------------------------------------
    def linkfun(self, mu):
        """``g(mu)``: R's ``family$linkfun``."""
        return self.link.link(mu)

    def linkinv(self, eta):
        """``g^{-1}(eta)``: R's ``family$linkinv``."""
        return self.link.linkinv(eta)

    def mu_eta(self, eta):
        """``d mu/d eta``: R's ``family$mu.eta``."""
        return self.link.mu_eta(eta)

    def valid_eta(self, eta) -> bool:
        """R's ``family$valideta``."""
        return self.link.valideta(eta)

    @property
    def is_canonical(self) -> bool:
        """Whether the link is the family's canonical link."""
        return self.link.name == self.default_link

    # -- distribution ------------------------------------------------------
    def variance(self, mu):
        """Variance function V(mu): R's ``family$variance``."""
        raise NotImplementedError

    def dev_resids(self, y, mu, wt):
        """Unit deviances times prior weights: R's ``family$dev.resids``."""
        raise NotImplementedError

    def deviance(self, y, mu, wt) -> float:
        """``sum(dev_resids(y, mu, wt))``."""
        return float(np.sum(self.dev_resids(y, mu, wt)))

    def aic(self, y, n, mu, wt, dev: float) -> float:
        """R's ``family$aic(y, n, mu, wt, dev)``: −2 log-likelihood (+2 for the
        dispersion of the dispersion families). ``n`` may be None (all ones)."""
        raise NotImplementedError

    def loglik_obs(self, y, mu, wt, phi: float | None = None):
        """Per-observation log-likelihood contributions with dispersion ``phi``.

        For binomial and Poisson ``phi`` is ignored. The sum over observations equals
        ``-(aic - 2 * has_dispersion) / 2`` when ``phi`` is the dispersion R's ``aic``
        uses (see the family's ``aic``).
        """
        raise NotImplementedError

    def valid_mu(self, mu) -> bool:
        """R's ``family$validmu``."""
        return True

    def initialize(self, y, wt=None):
        """Starting values ``mustart``: R's ``family$initialize``."""
        return _f(y).copy()

    def validate_response(self, y, wt=None) -> None:
        """Check the response and prior weights before fitting.

        Raises
        ------
        DataError
            Values that the family cannot model (message names the count and rows).
        """
        y = _f(y)
        if y.ndim != 1:
            raise DataError(f"the response must be one column, not an array of shape {y.shape}")
        bad = ~np.isfinite(y)
        if bad.any():
            k = int(bad.sum())
            raise DataError(f"the response has {_plural(k, 'missing or infinite value')}")
        if wt is not None:
            w = _f(wt)
            if w.ndim != 0 and w.shape != y.shape:
                raise DataError(f"{w.size} weights given for {y.size} observations")
            w = np.broadcast_to(w, y.shape)
            badw = ~np.isfinite(w) | (w < 0)
            if badw.any():
                k = int(badw.sum())
                raise DataError("weights must be finite and non-negative; "
                                f"{_plural(k, 'row')} {_is(k)} not: " + _rows(badw, w))

    # -- misc ----------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Family({self.name!r}, link={self.link.name!r})"

    def __eq__(self, other) -> bool:
        return (isinstance(other, Family) and other.name == self.name
                and other.link == self.link)

    def __hash__(self) -> int:
        return hash(("Family", self.name, self.link.name))


class Binomial(Family):
    """Binomial (and Bernoulli) family; R's ``binomial()``.

    ``y`` is the proportion of successes and ``wt`` the number of trials (all ones for
    a 0/1 response), as R's ``glm(cbind(s, f) ~ ...)`` stores them.

    Examples
    --------
    >>> fam = Binomial()
    >>> fam.initialize(np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    array([0.25, 0.75])
    """

    name = "binomial"
    default_link = "logit"
    allowed_links = ("logit", "probit", "cloglog", "cauchit", "log")
    has_dispersion = False

    def variance(self, mu):
        mu = _f(mu)
        return mu * (1.0 - mu)

    def dev_resids(self, y, mu, wt):
        y, mu, wt = _f(y), _f(mu), _f(wt)
        # 2 * wt * (y_log_y(y, mu) + y_log_y(1 - y, 1 - mu)), y_log_y(0, .) = 0
        a = np.divide(y, mu)
        xlogy(y, a, out=a)
        omy = 1.0 - y
        b = 1.0 - mu
        np.divide(omy, b, out=b)
        xlogy(omy, b, out=b)
        a += b
        a *= wt
        a *= 2.0
        return a

    @staticmethod
    def _terms(y, m, mu, wt) -> np.ndarray:
        # ifelse(m > 0, wt/m, 0) * dbinom(round(m*y), round(m), mu, log=TRUE)
        with np.errstate(divide="ignore", invalid="ignore"):
            fac = np.where(m > 0, wt / m, 0.0)
        x = np.rint(m * y)
        nr = np.rint(m)
        if np.all((x >= 0) & (x <= nr) & (mu >= 0) & (mu <= 1)):
            return fac * _dbinom_log_int(x, nr, mu)
        return fac * _dbinom_log(x, nr, mu)

    def aic(self, y, n, mu, wt, dev: float = 0.0) -> float:
        """R's ``binomial()$aic``: ``-2*sum(ifelse(m > 0, wt/m, 0) *
        dbinom(round(m*y), round(m), mu, log=TRUE))`` with ``m = n`` if any ``n > 1``
        else ``wt``. ``dev`` is unused."""
        y, mu = _f(y), _f(mu)
        wt = _weights(wt, y.size)
        n = np.ones_like(y) if n is None else _f(n)
        m = n if np.any(n > 1) else wt
        return float(-2.0 * np.sum(self._terms(y, m, mu, wt)))

    def loglik_obs(self, y, mu, wt, phi=None):
        """``log dbinom(round(wt*y), round(wt), mu)`` per row (weights = trials)."""
        y, mu = _f(y), _f(mu)
        wt = _weights(wt, y.size)
        return self._terms(y, wt, mu, wt)

    def valid_mu(self, mu) -> bool:
        mu = _f(mu)
        return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))

    def initialize(self, y, wt=None):
        """``(wt*y + 0.5)/(wt + 1)`` (R sets ``y`` to 0 where ``wt == 0`` first)."""
        y = _f(y)
        wt = _weights(wt, y.size)
        y = np.where(wt == 0, 0.0, y)
        return (wt * y + 0.5) / (wt + 1.0)

    def validate_response(self, y, wt=None) -> None:
        """Proportions must lie in [0, 1] (rows with zero weight are ignored, as R
        does); a non-integer number of successes ``wt*y`` gives a warning."""
        super().validate_response(y, wt)
        y = _f(y)
        w = _weights(wt, y.size)
        out = ((y < 0) | (y > 1)) & (w != 0)
        if out.any():
            k = int(out.sum())
            raise DataError(
                "binomial response: proportions must lie between 0 and 1; "
                f"{_plural(k, 'row')} {_is(k)} outside: " + _rows(out, y))
        m = w * y
        nonint = np.abs(m - np.round(m)) > 0.001
        if nonint.any():
            k = int(nonint.sum())
            warnings.warn(
                f"binomial response: non-integer number of successes (weight × proportion) "
                f"in {_plural(k, 'row')}: " + _rows(nonint, m), UserWarning, stacklevel=2)


class Poisson(Family):
    """Poisson family; R's ``poisson()``.

    Examples
    --------
    >>> Poisson().initialize(np.array([0.0, 3.0]))
    array([0.1, 3.1])
    """

    name = "poisson"
    default_link = "log"
    allowed_links = ("log", "identity", "sqrt")
    has_dispersion = False

    def variance(self, mu):
        return _f(mu)

    def dev_resids(self, y, mu, wt):
        y, mu, wt = _f(y), _f(mu), _f(wt)
        # r <- mu*wt; r[y > 0] <- wt*(y*log(y/mu) - (y - mu)); 2*r
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.divide(y, mu)
            xlogy(y, r, out=r)
            r -= y - mu
            r *= wt
            zero = y <= 0
            if zero.any():
                r[zero] = (mu * wt)[zero]
        r *= 2.0
        return r

    def aic(self, y, n, mu, wt, dev: float = 0.0) -> float:
        """R's ``poisson()$aic``: ``-2*sum(dpois(y, mu, log=TRUE)*wt)`` (``Inf`` when a
        count is not an integer, as R's ``dpois``). ``n`` and ``dev`` are unused."""
        y = _f(y)
        return float(-2.0 * np.sum(self.loglik_obs(y, mu, _weights(wt, y.size))))

    def loglik_obs(self, y, mu, wt, phi=None):
        """``wt * dpois(y, mu, log=TRUE)`` per row."""
        y = _f(y)
        return _dpois_log(y, mu) * _weights(wt, y.size)

    def valid_mu(self, mu) -> bool:
        mu = _f(mu)
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def initialize(self, y, wt=None):
        """``y + 0.1``."""
        return _f(y) + 0.1

    def validate_response(self, y, wt=None) -> None:
        """Counts must be non-negative; non-integer counts give a warning."""
        super().validate_response(y, wt)
        y = _f(y)
        neg = y < 0
        if neg.any():
            k = int(neg.sum())
            raise DataError(
                "poisson response: counts must not be negative; "
                f"{_plural(k, 'count')} {_is(k)} negative: " + _rows(neg, y))
        nonint = _nonint(y)
        if nonint.any():
            k = int(nonint.sum())
            warnings.warn(
                f"poisson response: {_plural(k, 'non-integer count')} " + _rows(nonint, y)
                + "; the log-likelihood (AIC) of such counts is undefined",
                UserWarning, stacklevel=2)


class Gaussian(Family):
    """Gaussian family; R's ``gaussian()``.

    The dispersion φ is the residual variance σ²; prior weights are precisions
    (observation ``i`` has variance ``φ / wt[i]``).

    Examples
    --------
    >>> round(Gaussian().aic(np.array([1.0, 2.0, 4.0]), None, np.array([1.5, 2.0, 3.5]),
    ...                      np.ones(3), 0.5), 6)
    5.138353
    """

    name = "gaussian"
    default_link = "identity"
    allowed_links = ("identity", "log", "inverse")
    has_dispersion = True

    def variance(self, mu):
        return np.ones_like(_f(mu))

    def dev_resids(self, y, mu, wt):
        y, mu, wt = _f(y), _f(mu), _f(wt)
        r = y - mu
        return wt * (r * r)

    def aic(self, y, n, mu, wt, dev: float) -> float:
        """R's ``gaussian()$aic``: ``nobs*(log(dev/nobs*2*pi) + 1) + 2 - sum(log(wt))``,
        i.e. φ = dev/nobs (the ML estimate) and +2 for φ; ``nobs = len(y)`` includes
        zero-weight rows, which make the value infinite as in R."""
        y = _f(y)
        wt = _weights(wt, y.size)
        nobs = y.size
        with np.errstate(divide="ignore"):
            slw = np.sum(np.log(wt))
        return float(nobs * (math.log(dev / nobs * 2.0 * math.pi) + 1.0) + 2.0 - slw)

    def loglik_obs(self, y, mu, wt, phi=None):
        """``log dnorm(y, mu, sqrt(phi/wt))`` per row; ``phi`` is required."""
        if phi is None:
            raise MixedModelError("the gaussian log-likelihood needs the dispersion phi")
        y, mu = _f(y), _f(mu)
        wt = _weights(wt, y.size)
        r = y - mu
        with np.errstate(divide="ignore"):
            return -0.5 * (math.log(2.0 * math.pi * phi) - np.log(wt) + wt * (r * r) / phi)

    def initialize(self, y, wt=None):
        """``y``; as R, fails when the link cannot take the data (inverse link with a
        zero response, log link with a non-positive one)."""
        y = _f(y)
        if (self.link.name == "inverse" and np.any(y == 0)) or (
                self.link.name == "log" and np.any(y <= 0)):
            raise DataError(
                f"cannot find valid starting values for the gaussian family with "
                f"{self.link.name} link: the response has "
                f"{'zeros' if self.link.name == 'inverse' else 'values <= 0'}")
        return y.copy()


class GammaFamily(Family):
    """Gamma family; R's ``Gamma()``. φ is the squared coefficient of variation
    (shape = 1/φ, scale = μφ); prior weights multiply the log-density.

    Examples
    --------
    >>> GammaFamily().link.name
    'inverse'
    """

    name = "Gamma"
    default_link = "inverse"
    allowed_links = ("inverse", "log", "identity")
    has_dispersion = True

    def variance(self, mu):
        mu = _f(mu)
        return mu * mu

    def dev_resids(self, y, mu, wt):
        y, mu, wt = _f(y), _f(mu), _f(wt)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(y == 0, 1.0, y / mu)
        return -2.0 * wt * (np.log(ratio) - (y - mu) / mu)

    def aic(self, y, n, mu, wt, dev: float) -> float:
        """R's ``Gamma()$aic``: ``-2*sum(dgamma(y, 1/disp, scale=mu*disp, log=TRUE)*wt) + 2``
        with ``disp = dev/sum(wt)``."""
        y = _f(y)
        wt = _weights(wt, y.size)
        disp = dev / np.sum(wt)
        return float(-2.0 * np.sum(self.loglik_obs(y, mu, wt, disp)) + 2.0)

    def loglik_obs(self, y, mu, wt, phi=None):
        """``wt * dgamma(y, shape=1/phi, scale=mu*phi, log=TRUE)`` per row."""
        if phi is None:
            raise MixedModelError("the Gamma log-likelihood needs the dispersion phi")
        y, mu = _f(y), _f(mu)
        wt = _weights(wt, y.size)
        return _dgamma_log(y, 1.0 / phi, mu * phi) * wt

    def valid_mu(self, mu) -> bool:
        mu = _f(mu)
        return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))

    def validate_response(self, y, wt=None) -> None:
        """The response must be positive."""
        super().validate_response(y, wt)
        _require_positive(y, "Gamma")


class InverseGaussian(Family):
    """Inverse Gaussian family; R's ``inverse.gaussian()`` (canonical link ``1/mu^2``).
    φ = 1/λ; prior weights multiply the log-density.

    Examples
    --------
    >>> InverseGaussian().link.name
    '1/mu^2'
    """

    name = "inverse.gaussian"
    default_link = "1/mu^2"
    allowed_links = ("1/mu^2", "inverse", "log", "identity")
    has_dispersion = True

    def variance(self, mu):
        return np.power(_f(mu), 3.0)

    def dev_resids(self, y, mu, wt):
        y, mu, wt = _f(y), _f(mu), _f(wt)
        r = y - mu
        return wt * (r * r) / (y * (mu * mu))

    def aic(self, y, n, mu, wt, dev: float) -> float:
        """R's ``inverse.gaussian()$aic``:
        ``sum(wt)*(log(disp*2*pi) + 1) + 3*sum(log(y)*wt) + 2`` with ``disp = dev/sum(wt)``."""
        y = _f(y)
        wt = _weights(wt, y.size)
        sw = float(np.sum(wt))
        return float(sw * (1.0 + math.log(dev / sw * 2.0 * math.pi))
                     + 3.0 * np.sum(np.log(y) * wt) + 2.0)

    def loglik_obs(self, y, mu, wt, phi=None):
        """``wt * log f(y; mu, lambda = 1/phi)`` per row, f the inverse Gaussian density."""
        if phi is None:
            raise MixedModelError("the inverse Gaussian log-likelihood needs the dispersion phi")
        y, mu = _f(y), _f(mu)
        wt = _weights(wt, y.size)
        r = y - mu
        return wt * (-0.5 * (math.log(2.0 * math.pi * phi) + 3.0 * np.log(y))
                     - (r * r) / (2.0 * phi * (mu * mu) * y))

    def validate_response(self, y, wt=None) -> None:
        """The response must be positive."""
        super().validate_response(y, wt)
        _require_positive(y, "inverse Gaussian")


_FAMILIES: dict[str, type[Family]] = {
    "bernoulli": Binomial, "binomial": Binomial,
    "poisson": Poisson,
    "gaussian": Gaussian, "normal": Gaussian,
    "gamma": GammaFamily,
    "inverse_gaussian": InverseGaussian, "inverse.gaussian": InverseGaussian,
    "inversegaussian": InverseGaussian,
}
#: Family names accepted by :func:`get_family` (lower case; matching is case-insensitive).
FAMILY_NAMES: tuple[str, ...] = tuple(_FAMILIES)


def get_family(family: str | Family, link: str | Link | None = None) -> Family:
    """Build a :class:`Family` from names, as R's ``binomial(link = ...)`` etc.

    Parameters
    ----------
    family : str or Family
        ``"bernoulli"``, ``"binomial"``, ``"poisson"``, ``"gaussian"``/``"normal"``,
        ``"gamma"``, ``"inverse_gaussian"``/``"inverse.gaussian"``/``"inversegaussian"``
        (case-insensitive), or a :class:`Family` (returned unchanged when ``link`` is
        None, otherwise rebuilt with that link).
    link : str or Link, optional
        Any :data:`LINK_NAMES` entry; default: the family's canonical link. As in R,
        a link outside ``allowed_links`` is accepted (``binomial(link = "identity")``
        works in R when the link is a string).

    Returns
    -------
    Family

    Raises
    ------
    MixedModelError
        Unknown family or link name (the message lists the allowed ones).

    Examples
    --------
    >>> get_family("Bernoulli")
    Family('binomial', link='logit')
    >>> get_family("inverse.gaussian", "log")
    Family('inverse.gaussian', link='log')
    """
    if isinstance(family, Family):
        return family if link is None else type(family)(link)
    if not isinstance(family, str):
        raise MixedModelError(f"family must be a string, not {type(family).__name__}")
    cls = _FAMILIES.get(family.strip().lower().replace(" ", "_"))
    if cls is None:
        raise MixedModelError(
            f"unknown family {family!r}; allowed families are {', '.join(FAMILY_NAMES)}")
    return cls(link)
