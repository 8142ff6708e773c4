"""GLM families, numerically as R's ``stats`` package, and what a mixed model asks of them.

A :class:`Family` bundles a response distribution (variance function, unit deviance,
AIC, log-density, starting values, response checks) with a :class:`Link`
(:mod:`mm_core.links`). Every function is vectorized over float64 arrays and reproduces
R's ``family()`` objects to the last bit or two: the deviance residuals follow
``family()$dev.resids`` and the AIC follows ``family()$aic``, with R's
``dbinom``/``dpois``/``dgamma`` from :mod:`mm_core.rmath`.

A family also owns what differs between families in the mixed-model code, so that no
other module compares family names: response simulation (:meth:`Family.sample`), the
profiled dispersion of the Laplace objective (:meth:`Family.profile_dispersion`), the
latent-scale variance for R² (:meth:`Family.latent_variance`), the PIRLS evaluation path
(:attr:`Family.kernel_kind`), and whether the response is a count (``discrete``), a
proportion of trials (``uses_trials``) or has a free dispersion (``has_dispersion``).
Names have one spelling out, R's (:func:`family_name`); every accepted spelling goes in.

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
from scipy.optimize import brentq
from scipy.special import digamma, gammaln, xlogy

from .errors import DataError, MixedModelError
from .links import (
    LINK_NAMES,
    CauchitLink,
    CloglogLink,
    IdentityLink,
    InverseLink,
    InverseSquareLink,
    Link,
    LogitLink,
    LogLink,
    ProbitLink,
    SqrtLink,
    get_link,
)
from .rmath import as_float as _f
from .rmath import dbinom_log as _dbinom_log
from .rmath import dbinom_raw_log as _dbinom_log_int
from .rmath import dgamma_log as _dgamma_log
from .rmath import dnorm as _dnorm  # noqa: F401  (R's nmath ports, also reachable here)
from .rmath import dpois_log as _dpois_log
from .rmath import nonint as _nonint
from .rmath import pnorm as _pnorm  # noqa: F401

__all__ = [
    "FAMILY_NAMES",
    "LINK_NAMES",
    "Binomial",
    "CauchitLink",
    "CloglogLink",
    "Family",
    "GammaFamily",
    "Gaussian",
    "IdentityLink",
    "InverseGaussian",
    "InverseLink",
    "InverseSquareLink",
    "Link",
    "LogLink",
    "LogitLink",
    "Poisson",
    "ProbitLink",
    "SqrtLink",
    "family_name",
    "get_family",
    "get_link",
]


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
    discrete : bool
        Whether the response is a count (binomial successes, Poisson counts), so that
        simulated responses tie with the observed ones and quantile residuals are randomized.
    uses_trials : bool
        Whether the response is a proportion of trials carried as prior weights (binomial).

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
    discrete: bool = False
    uses_trials: bool = False

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

    # -- behaviour used by the mixed-model code -----------------------------
    @property
    def is_linear(self) -> bool:
        """Gaussian with the identity link: the model is a linear mixed model (fitted as lmer)."""
        return False

    @property
    def mean_range(self) -> str:
        """Where the family's means lie, in words (for messages about links)."""
        return "positive"

    @property
    def kernel_kind(self) -> str:
        """The PIRLS evaluation path: ``"logit"`` (binomial/logit), ``"log"`` (Poisson/log)
        have closed forms from one exponential; everything else is ``"generic"``."""
        return "generic"

    def aic_continuous(self, y, mu, wt) -> float | None:
        """−2 log-likelihood extended continuously to responses where R's density is zero
        (non-integer counts); None when the family needs no extension."""
        return None

    def sample(self, rng: np.random.Generator, mu, *, trials=None, phi=1.0) -> np.ndarray:
        """One response drawn with mean ``mu``: R's ``family()$simulate``.

        ``trials`` are whole numbers of trials (binomial, which returns proportions);
        ``phi`` is the dispersion, a scalar or one value per row.
        """
        raise MixedModelError(f"simulation is not available for the {self.name} family")

    def latent_variance(self, eta, var_random: float, sigma: float | None) -> tuple[float, str]:
        """The latent-scale observation variance for R² (Nakagawa, Johnson & Schielzeth 2017)
        and a description of it; ``eta`` is the fixed part of the linear predictor,
        ``var_random`` the summed random-effect variances and ``sigma`` the dispersion's root.

        Raises
        ------
        MixedModelError
            For a family and link without a latent-scale variance.
        """
        raise MixedModelError(
            f"R² is not available for the {self.name} family with the {self.link.name} link")

    # -- the dispersion, profiled out of a Laplace deviance --------------------
    def dispersion_constants(self, y, pw) -> dict:
        """Sums of the data the profiled dispersion needs (computed once per model)."""
        y, pw = _f(y), _f(pw)
        pos = pw > 0
        with np.errstate(divide="ignore"):
            return {"n": float(np.sum(pos)), "W": float(np.sum(pw)),
                    "slw": float(np.sum(np.log(pw[pos]))),
                    "swly": float(np.sum(pw[pos] * np.log(y[pos])))}

    def dispersion_objective(self, P: float, phi: float, consts: dict) -> float:
        """Σ −2 log f(y | μ̃, φ) + ‖ũ‖²/φ at dispersion ``phi``, for the penalized deviance
        ``P = Σ dᵢ + ‖ũ‖²`` (the Laplace objective without its log-determinant)."""
        raise MixedModelError(f"the {self.name} family has no dispersion to estimate")

    def profile_dispersion(self, P: float, consts: dict) -> tuple[float, float]:
        """(φ̂, :meth:`dispersion_objective` at φ̂) for penalized deviance ``P``."""
        raise MixedModelError(f"the {self.name} family has no dispersion to estimate")

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
    discrete = True
    uses_trials = True
    mean_range = "between 0 and 1"

    @property
    def kernel_kind(self) -> str:
        return "logit" if self.link.name == "logit" else "generic"

    def sample(self, rng, mu, *, trials=None, phi=1.0):
        """Successes out of ``trials`` (default one per row), returned as proportions."""
        mu = np.clip(mu, 0.0, 1.0)
        if trials is None:
            trials = np.ones(np.shape(mu), dtype=np.int64)
        return rng.binomial(trials, mu) / trials

    def latent_variance(self, eta, var_random, sigma):
        link = self.link.name
        v = {"logit": math.pi ** 2 / 3, "probit": 1.0, "cloglog": math.pi ** 2 / 6}.get(link)
        if v is None:
            raise MixedModelError(f"R² is not defined here for the binomial {link} link")
        return v, f"distribution-specific variance of the {link} link"

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
    discrete = True

    @property
    def kernel_kind(self) -> str:
        return "log" if self.link.name == "log" else "generic"

    def aic_continuous(self, y, mu, wt):
        """``-2 Σ wt (y log μ − μ − lgamma(y + 1))``, R's value at integer counts."""
        y, mu = _f(y), _f(mu)
        return float(-2.0 * np.sum(wt * (xlogy(y, mu) - mu - gammaln(y + 1.0))))

    def sample(self, rng, mu, *, trials=None, phi=1.0):
        return rng.poisson(mu).astype(float)

    def latent_variance(self, eta, var_random, sigma):
        if self.link.name == "log":
            lam = float(np.mean(np.exp(eta + var_random / 2)))
            return math.log1p(1.0 / lam), "lognormal approximation ln(1 + 1/λ)"
        if self.link.name == "sqrt":
            return 0.25, "distribution-specific variance of the sqrt link"
        return super().latent_variance(eta, var_random, sigma)

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

    @property
    def is_linear(self) -> bool:
        return self.link.name == "identity"

    @property
    def mean_range(self) -> str:
        return f"in the range of the {self.link.name} link"

    def sample(self, rng, mu, *, trials=None, phi=1.0):
        return rng.normal(mu, np.sqrt(phi) * np.ones_like(mu))

    def dispersion_constants(self, y, pw):
        # the normal density has no log y term: Σ pw log y enters as 0
        return super().dispersion_constants(np.ones_like(_f(y)), pw)

    def dispersion_objective(self, P, phi, consts):
        return consts["n"] * math.log(2 * math.pi * phi) - consts["slw"] + P / phi

    def profile_dispersion(self, P, consts):
        n = consts["n"]
        phi = P / n
        return phi, n * (1.0 + math.log(2.0 * math.pi * phi)) - consts["slw"]

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

    def sample(self, rng, mu, *, trials=None, phi=1.0):
        shape = 1.0 / phi
        return rng.gamma(shape * np.ones_like(mu), mu / shape)

    def latent_variance(self, eta, var_random, sigma):
        if self.link.name == "log" and sigma is not None:
            return float(math.log1p(sigma ** 2)), "lognormal approximation ln(1 + φ)"
        return super().latent_variance(eta, var_random, sigma)

    def dispersion_objective(self, P, phi, consts):
        a = 1.0 / phi
        W = consts["W"]
        return a * P + 2 * W * a * (1 - math.log(a)) + 2 * W * float(gammaln(a)) + 2 * consts["swly"]

    def profile_dispersion(self, P, consts):
        W = consts["W"]
        a = _gamma_shape(P / (2.0 * W))
        val = (a * P + 2.0 * W * a * (1.0 - math.log(a)) + 2.0 * W * float(gammaln(a))
               + 2.0 * consts["swly"])
        return 1.0 / a, val

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

    def sample(self, rng, mu, *, trials=None, phi=1.0):
        return rng.wald(mu, 1.0 / phi * np.ones_like(mu))

    def dispersion_objective(self, P, phi, consts):
        return consts["W"] * math.log(2 * math.pi * phi) + 3 * consts["swly"] + P / phi

    def profile_dispersion(self, P, consts):
        W = consts["W"]
        phi = P / W
        return phi, W * (1.0 + math.log(2.0 * math.pi * phi)) + 3.0 * consts["swly"]

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


def _gamma_shape(c: float) -> float:
    """The root a of log a − ψ(a) = c (c > 0): the Gamma shape 1/φ̂ that profiles the dispersion."""
    f = lambda t: t - float(digamma(math.exp(t))) - c  # noqa: E731  (decreasing in t)
    lo, hi = -30.0, 40.0
    if f(hi) > 0:
        return math.exp(hi)
    return math.exp(brentq(f, lo, hi, xtol=1e-14, rtol=1e-15))


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


def family_name(family: str | Family) -> str:
    """The one spelling of a family name, R's (``"Gamma"``, ``"inverse.gaussian"``), for any
    spelling :func:`get_family` accepts; results report families under this name.

    Examples
    --------
    >>> family_name("inverse_gaussian"), family_name("gamma"), family_name("Bernoulli")
    ('inverse.gaussian', 'Gamma', 'binomial')
    """
    return get_family(family).name
