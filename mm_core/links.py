"""GLM link functions, numerically as R's ``make.link`` (and R's C code for the logit).

A :class:`Link` maps the mean to the linear predictor, ``eta = g(mu)``, with its inverse
and derivative; :func:`get_link` builds one from the name an R user would type.

Examples
--------
>>> get_link("logit").linkinv(np.array([0.0]))
array([0.5])
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from .errors import MixedModelError
from .rmath import EPS, as_float, dnorm, pcauchy, pnorm, qcauchy

__all__ = [
    "LINK_NAMES",
    "CauchitLink",
    "CloglogLink",
    "IdentityLink",
    "InverseLink",
    "InverseSquareLink",
    "Link",
    "LogLink",
    "LogitLink",
    "ProbitLink",
    "SqrtLink",
    "get_link",
]

_LOGIT_THRESH = 30.0                             # THRESH / MTHRESH in R's family.c
_PROBIT_THRESH = 8.125890664701906               # -qnorm(.Machine$double.eps)
_CAUCHIT_THRESH = 1.0 / math.tan(math.pi * EPS)  # -qcauchy(.Machine$double.eps)


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
        mu = as_float(mu)
        return np.log(mu / (1.0 - mu))

    def linkinv(self, eta):
        eta = as_float(eta)
        tmp = np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH)
        np.exp(tmp, out=tmp)
        lo = eta < -_LOGIT_THRESH
        if lo.any():
            tmp[lo] = EPS
        hi = eta > _LOGIT_THRESH
        if hi.any():
            tmp[hi] = 1.0 / EPS
        den = tmp + 1.0
        return np.divide(tmp, den, out=tmp)

    def mu_eta(self, eta):
        eta = as_float(eta)
        e = np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH)
        np.exp(e, out=e)
        opexp = e + 1.0
        opexp *= opexp
        np.divide(e, opexp, out=e)
        out = np.abs(eta) > _LOGIT_THRESH
        if out.any():
            e[out] = EPS
        return e


class ProbitLink(Link):
    """Probit link ``qnorm(mu)``; ``linkinv`` clamps ``eta`` to ``±(-qnorm(eps))``,
    ``mu_eta = max(dnorm(eta), eps)``, as ``make.link("probit")``."""

    name = "probit"

    def link(self, mu):
        return ndtri(as_float(mu))

    def linkinv(self, eta):
        return pnorm(np.clip(as_float(eta), -_PROBIT_THRESH, _PROBIT_THRESH))

    def mu_eta(self, eta):
        return np.maximum(dnorm(eta), EPS)


class CauchitLink(Link):
    """Cauchit link ``qcauchy(mu)``; ``linkinv`` clamps ``eta`` to ``±(-qcauchy(eps))``,
    ``mu_eta = max(dcauchy(eta), eps)``, as ``make.link("cauchit")``."""

    name = "cauchit"

    def link(self, mu):
        return qcauchy(mu)

    def linkinv(self, eta):
        return pcauchy(np.clip(as_float(eta), -_CAUCHIT_THRESH, _CAUCHIT_THRESH))

    def mu_eta(self, eta):
        eta = as_float(eta)
        return np.maximum(1.0 / (np.pi * (1.0 + eta * eta)), EPS)


class CloglogLink(Link):
    """Complementary log-log link ``log(-log(1 - mu))``, as ``make.link("cloglog")``:
    ``linkinv = pmax(pmin(-expm1(-exp(eta)), 1 - eps), eps)``,
    ``mu_eta = pmax(exp(eta) * exp(-exp(eta)), eps)`` with ``eta`` capped at 700."""

    name = "cloglog"

    def link(self, mu):
        mu = as_float(mu)
        return np.log(-np.log(1.0 - mu))

    def linkinv(self, eta):
        with np.errstate(over="ignore"):
            out = -np.expm1(-np.exp(as_float(eta)))
        return np.clip(out, EPS, 1.0 - EPS, out=out)

    def mu_eta(self, eta):
        e = np.exp(np.minimum(as_float(eta), 700.0))
        with np.errstate(over="ignore"):
            out = e * np.exp(-e)
        return np.maximum(out, EPS, out=out)


class LogLink(Link):
    """Log link; ``linkinv = mu_eta = pmax(exp(eta), eps)`` as ``make.link("log")``."""

    name = "log"

    def link(self, mu):
        return np.log(as_float(mu))

    def linkinv(self, eta):
        with np.errstate(over="ignore"):
            out = np.exp(as_float(eta))
        return np.maximum(out, EPS, out=out)

    def mu_eta(self, eta):
        return self.linkinv(eta)


class IdentityLink(Link):
    """Identity link. ``link``/``linkinv`` return their argument itself (no copy)."""

    name = "identity"

    def link(self, mu):
        return as_float(mu)

    def linkinv(self, eta):
        return as_float(eta)

    def mu_eta(self, eta):
        return np.ones_like(as_float(eta))


class InverseLink(Link):
    """Inverse link ``1/mu``; ``mu_eta = -1/eta^2``; ``eta`` must be finite and non-zero."""

    name = "inverse"

    def link(self, mu):
        return 1.0 / as_float(mu)

    def linkinv(self, eta):
        return 1.0 / as_float(eta)

    def mu_eta(self, eta):
        eta = as_float(eta)
        return -1.0 / (eta * eta)

    def valideta(self, eta) -> bool:
        eta = as_float(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))


class SqrtLink(Link):
    """Square-root link; ``linkinv = eta^2``, ``mu_eta = 2 eta``; ``eta`` must be > 0."""

    name = "sqrt"

    def link(self, mu):
        return np.sqrt(as_float(mu))

    def linkinv(self, eta):
        eta = as_float(eta)
        return eta * eta

    def mu_eta(self, eta):
        return 2.0 * as_float(eta)

    def valideta(self, eta) -> bool:
        eta = as_float(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


class InverseSquareLink(Link):
    """Link ``1/mu^2`` (canonical for the inverse Gaussian); ``linkinv = 1/sqrt(eta)``,
    ``mu_eta = -1/(2 eta^1.5)``; ``eta`` must be > 0."""

    name = "1/mu^2"

    def link(self, mu):
        mu = as_float(mu)
        return 1.0 / (mu * mu)

    def linkinv(self, eta):
        return 1.0 / np.sqrt(as_float(eta))

    def mu_eta(self, eta):
        return -1.0 / (2.0 * np.power(as_float(eta), 1.5))

    def valideta(self, eta) -> bool:
        eta = as_float(eta)
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
