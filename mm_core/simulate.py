"""Simulation of responses from a fitted mixed model (lme4's ``simulate``).

A new response is drawn in two steps, as lme4 and MixedModels.jl do:

1. spherical random effects ``u ~ N(0, I_q)``, mapped to ``b = s Λθ u`` (``s = σ`` for a linear
   mixed model, ``s = 1`` for a GLMM), unless the conditional modes are kept (``use_u=True``);
2. the response given the linear predictor ``η = Xβ + Zb + offset``: ``y = η + σ ε / √w`` with
   ``ε ~ N(0, I_n)`` for an LMM; for a GLMM ``μ = g⁻¹(η)`` and ``y`` from the family
   (Bernoulli/binomial with the prior weights as numbers of trials, returned as proportions
   like the fitted response; Poisson; Gamma and inverse Gaussian with dispersion σ²).

Every simulated response ``j`` draws from its own generator,
``numpy.random.SeedSequence(seed, spawn_key=(j,))`` (the ``j``-th child of ``SeedSequence(seed)``),
so column ``j`` of :func:`simulate` is the response of replicate ``j`` of
:func:`mm_core.bootstrap.parametric_bootstrap` with the same seed, whatever the chunking or the
number of workers.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from .design.reterm import fitting_order, term_layouts
from .errors import MixedModelError, NotFittedError

__all__ = ["FittedModel", "ResponseSimulator", "replicate_rng", "seed_entropy", "simulate"]


def seed_entropy(seed=None, rng: np.random.Generator | None = None) -> int:
    """The integer entropy that keys every replicate's generator.

    ``seed`` (an int) is used as given; a ``numpy.random.Generator`` (as ``seed`` or ``rng``)
    contributes 128 bits drawn from it; ``None`` draws fresh OS entropy.
    """
    if rng is not None and seed is not None:
        raise MixedModelError("give either seed or rng, not both")
    if isinstance(seed, np.random.Generator):
        seed, rng = None, seed
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise MixedModelError("rng must be a numpy.random.Generator")
        hi, lo = rng.integers(0, 2 ** 63, size=2, dtype=np.uint64)
        return (int(hi) << 64) | int(lo)
    if seed is None:
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)  # drawn from the OS: one integer
        return entropy
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MixedModelError("seed must be a non-negative integer or a numpy Generator, "
                              f"not {seed!r}")
    return int(seed)


def replicate_rng(entropy: int, j: int) -> np.random.Generator:
    """Generator of replicate ``j``: child ``j`` of ``SeedSequence(entropy)``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(j,))))


@runtime_checkable
class FittedModel(Protocol):
    """What the functions on fitted models read from a fit: the fitted model object with its
    design, the optimizer's summary, the result tables and θ.

    :class:`mm_core.results.MixedModelResult` is one; an unfitted
    :class:`~mm_core.lmm.LinearMixedModel` is not.
    """

    model: object
    optsum: object
    tables: object
    theta: np.ndarray


def check_result(result) -> None:
    """Refuse anything but a fitted model (:class:`FittedModel`) with :class:`NotFittedError`."""
    if not isinstance(result, FittedModel):
        raise NotFittedError("expected a fitted model (the result of mm_core.fit), got "
                             f"{type(result).__name__}; fit the model first")


def fixef_columns(design, fixef_names) -> list[int]:
    """Positions in ``design.X`` of the estimated fixed effects (redundant columns dropped)."""
    idx = {nm: j for j, nm in enumerate(design.fixef_names)}
    return [idx[nm] for nm in fixef_names]


def result_family(result):
    """The :class:`mm_core.families.Family` of a result (None for a linear mixed model)."""
    if result.is_lmm:
        return None
    from .families import get_family
    fam = getattr(result.model, "family", None)
    if fam is not None and not isinstance(fam, str):
        return fam
    return get_family(result.family, result.link)


class ResponseSimulator:
    """Draws responses from a mixed model at given parameter values.

    Parameters
    ----------
    design : Design
        The model's design (``result.model.design``).
    fixef_names : list of str
        Estimated fixed effects (columns of ``design.X`` to use).
    beta : array_like
        Fixed effects, in ``fixef_names`` order.
    theta : array_like
        Relative covariance parameters in lme4's order (terms by decreasing number of levels).
    sigma : float or None
        Residual standard deviation (LMM) or the square root of the dispersion (Gamma,
        inverse Gaussian); ignored for binomial and Poisson.
    family : Family or None
        None for a linear mixed model.
    weights : array_like, optional
        Prior weights (binomial: numbers of trials).

    Fields
    ------
    X : ndarray (n, p)
    ZL : scipy.sparse.csr_matrix (n, q)
        Z Λθ, columns in fitting order, level-major within a term.
    eta_fixed : ndarray (n,)
        Xβ + offset.
    n, q : int

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> sim = ResponseSimulator.from_result(m)
    >>> sim.draw(replicate_rng(42, 0)).shape
    (30,)
    """

    def __init__(self, design, fixef_names, beta, theta, sigma, *, family=None, weights=None):
        self.design = design
        self.family = family
        self.lmm = family is None
        self.X = np.ascontiguousarray(design.X[:, fixef_columns(design, fixef_names)])
        self.beta = np.asarray(beta, float)
        self.theta = np.asarray(theta, float)
        self.sigma = None if sigma is None else float(sigma)
        if self.lmm and (self.sigma is None or not np.isfinite(self.sigma)):
            raise MixedModelError("a linear mixed model needs a residual standard deviation σ")
        self.n = self.X.shape[0]
        w = None if weights is None else np.asarray(weights, float)
        self.weights = w
        self.noise_scale = (1.0 / np.sqrt(w)) if (w is not None and self.lmm) else None
        self.trials = None
        if not self.lmm and family.uses_trials:
            trials = np.ones(self.n) if w is None else np.rint(w)
            if w is not None and np.any(np.abs(trials - w) > 1e-8):
                raise MixedModelError("binomial prior weights must be whole numbers of trials "
                                      "to simulate responses")
            self.trials = trials.astype(np.int64)
        offset = design.offset
        self.eta_fixed = self.X @ self.beta + (offset if offset is not None else 0.0)
        # b = σΛu for LMMs and GLMMs with a dispersion (θ relative to σ), b = Λu otherwise
        self.scale_b = (self.sigma if (self.lmm or family.has_dispersion)
                        and self.sigma is not None else 1.0)
        terms = [design.reterms[i] for i in fitting_order(design.reterms)]
        self.ZL = z_lambda(term_layouts(terms), self.theta, self.n)
        self.q = self.ZL.shape[1]

    @classmethod
    def from_result(cls, result, *, beta=None, theta=None, sigma=None) -> ResponseSimulator:
        """The simulator at a fit's estimates (or at the parameter values given)."""
        check_result(result)
        model = result.model
        family = result_family(result)
        beta = result.beta if beta is None else np.asarray(beta, float)
        theta = result.theta if theta is None else np.asarray(theta, float)
        sigma = result.sigma if sigma is None else float(sigma)
        if len(beta) != len(result.fixef) or len(theta) != len(result.theta):
            raise MixedModelError(f"expected {len(result.fixef)} fixed effects and "
                                  f"{len(result.theta)} covariance parameters θ")
        return cls(model.design, list(result.fixef.index), beta, theta, sigma, family=family,
                   weights=result.prior_weights)

    # -- drawing ------------------------------------------------------------------------------
    def linear_predictor(self, rng: np.random.Generator) -> np.ndarray:
        """η = Xβ + offset + s Z Λ u with fresh u."""
        u = rng.standard_normal(self.q)
        return self.eta_fixed + self.scale_b * (self.ZL @ u)

    def draw(self, rng: np.random.Generator, eta: np.ndarray | None = None) -> np.ndarray:
        """One response vector; ``eta`` fixes the linear predictor (conditional simulation)."""
        if eta is None:
            eta = self.linear_predictor(rng)
        if self.lmm:
            e = rng.standard_normal(self.n)
            if self.noise_scale is not None:
                e *= self.noise_scale
            return eta + self.sigma * e
        return self.respond(rng, self.family.linkinv(eta))

    def respond(self, rng: np.random.Generator, mu: np.ndarray) -> np.ndarray:
        """A GLMM response with mean ``mu`` (binomial: proportions of the trials)."""
        phi = 1.0
        if self.family.has_dispersion:
            w = self.weights if self.weights is not None else 1.0
            phi = (self.sigma ** 2 if self.sigma is not None else 1.0) / w
        return self.family.sample(rng, mu, trials=self.trials, phi=phi)


def z_lambda(layouts: list, theta: np.ndarray, n: int) -> sp.csr_matrix:
    """Z Λθ (n × q) for the layouts of terms in fitting order."""
    if not layouts:
        return sp.csr_matrix((n, 0))
    return sp.hstack([lay.term.zmatrix(lam=lay.lam(theta)) for lay in layouts], format="csr")


def conditional_eta(result, groups: dict | None = None) -> np.ndarray:
    """Linear predictor at the conditional modes: Xβ + Zb̂ + offset on the rows used.

    ``groups`` chooses the random effects included: grouping factor -> its column names (None
    for all of them); by default every term is included.
    """
    design = result.model.design
    X = design.X[:, fixef_columns(design, list(result.fixef.index))]
    eta = X @ result.beta
    for t in design.reterms:
        if groups is not None and t.group not in groups:
            continue
        cols = term_columns(t, None if groups is None else groups[t.group])
        eta = eta + t.eta(result.ranef[t.group].to_numpy(), cols)
    if design.offset is not None:
        eta = eta + design.offset
    return eta


def term_columns(term, names) -> list[int]:
    """Positions of the named columns of a random-effects term (all of them for None)."""
    if names is None:
        return list(range(term.ncols))
    cols = [j for j, nm in enumerate(term.names) if nm in names]
    missing = set(names) - set(term.names)
    if missing:
        raise MixedModelError(f"re_form: the random-effects term for '{term.group}' has no "
                              f"column(s) {sorted(missing)} (it has {list(term.names)})")
    return cols


def check_count(n, what: str = "n") -> int:
    """``n`` as a positive int, or a clear error."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise MixedModelError(f"{what} must be a positive integer, not {n!r}")
    return int(n)


def simulate(result, n: int = 1, *, seed=None, rng: np.random.Generator | None = None,
             use_u: bool = False, beta=None, theta=None, sigma=None) -> np.ndarray:
    """Simulate responses from a fitted model.

    Parameters
    ----------
    result : MixedModelResult
    n : int
        Number of responses.
    seed : int or numpy.random.Generator, optional
        Column ``j`` uses child ``j`` of ``SeedSequence(seed)``; with the same seed it is the
        response of replicate ``j`` of :func:`~mm_core.bootstrap.parametric_bootstrap`.
    rng : numpy.random.Generator, optional
        Alternative to ``seed``: 128 bits of entropy are drawn from it.
    use_u : bool
        Keep the random effects at their conditional modes (lme4's ``use.u = TRUE``,
        ``re.form = NULL``) instead of drawing new ones.
    beta, theta, sigma : optional
        Parameter values to simulate at instead of the estimates (lme4's ``newparams``).

    Returns
    -------
    ndarray, shape (nobs, n)
        Responses on the scale of ``result.y`` (proportions for binomial responses).

    Notes
    -----
    Equivalent to ``simulate(m, nsim = n, seed = seed, use.u = use_u)`` in lme4 (the draws
    differ: the generators differ).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> simulate(m, 3, seed=1).shape
    (180, 3)
    """
    check_result(result)
    n = check_count(n)
    entropy = seed_entropy(seed, rng)
    sim = ResponseSimulator.from_result(result, beta=beta, theta=theta, sigma=sigma)
    eta = None
    if use_u:
        if beta is not None or theta is not None:
            raise MixedModelError("use_u keeps the fitted random effects; it cannot be combined "
                                  "with new beta or theta")
        eta = conditional_eta(result)
    out = np.empty((sim.n, n))
    for j in range(n):
        out[:, j] = sim.draw(replicate_rng(entropy, j), eta)
    return out
