"""The immutable result of a fit, with the field's vocabulary.

A :class:`MixedModelResult` is built complete by :func:`mm_core.fit`. Quantities that need an
extra factorization (conditional standard deviations of the random effects, leverage) are
computed on first access from the fitted model the result keeps, then cached; the result never
changes after that and pickles with whatever has been computed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd
from scipy import special

from .design import Design
from .errors import MixedModelError
from .families import get_family
from .formula import Formula, parse_formula
from .optimize import OptSummary

COEF_COLUMNS = pd.Index(["estimate", "std_error", "z_value", "p_value", "ci_lower", "ci_upper"],
                        dtype=object)


def labels(names, name: str | None = None) -> pd.Index:
    """An index of labels (coefficient, level or column names), kept as plain Python strings."""
    return pd.Index(list(names), dtype=object, name=name)


def varcorr_frame(groups: list[str], names: list[list[str]], covs: list[np.ndarray],
                  residual_variance: float | None) -> pd.DataFrame:
    """Variance components as a table.

    One row per grouping factor and column (``group, name, variance, sd``) plus the residual;
    columns ``corr:<name>`` hold the correlation of the row's column with that earlier column of
    the same group (NaN elsewhere), the lower triangle lme4 prints.
    """
    col_group, col_name, col_var = [], [], []
    corr: dict[str, list] = {}
    nrows = sum(len(nm) for nm in names) + (residual_variance is not None)
    row = 0
    for g, nm, cov in zip(groups, names, covs):
        var = np.diag(cov)
        sd = np.sqrt(np.maximum(var, 0.0))
        for i, n in enumerate(nm):
            col_group.append(g)
            col_name.append(n)
            col_var.append(float(var[i]))
            for j in range(i):
                denom = sd[i] * sd[j]
                corr.setdefault(f"corr:{nm[j]}", [math.nan] * nrows)[row] = (
                    float(cov[i, j] / denom) if denom > 0 else math.nan)
            row += 1
    if residual_variance is not None:
        col_group.append("Residual")
        col_name.append("")
        col_var.append(float(residual_variance))
    variance = np.asarray(col_var, dtype=float)
    data = {"group": np.array(col_group, dtype=object), "name": np.array(col_name, dtype=object),
            "variance": variance, "sd": np.sqrt(np.maximum(variance, 0.0))}
    data.update((k, np.asarray(v, dtype=float)) for k, v in corr.items())
    return pd.DataFrame(data, columns=labels(data))


def coef_table(beta: np.ndarray, se: np.ndarray, names: list[str], level: float = 0.95) -> pd.DataFrame:
    """Wald table: ``estimate, std_error, z_value, p_value, ci_lower, ci_upper`` by coefficient."""
    beta = np.asarray(beta, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / se
    p = 2.0 * special.ndtr(-np.abs(z))
    q = float(special.ndtri(0.5 + level / 2))
    table = np.column_stack([beta, se, z, p, beta - q * se, beta + q * se])
    return pd.DataFrame(table, index=labels(names, "coefficient"), columns=COEF_COLUMNS)


@dataclass(frozen=True, eq=False)
class TableNumbers:
    """The numbers behind a result's labelled tables.

    Fields
    ------
    names : tuple of str
        Fixed-effects coefficient names.
    beta, se : ndarray
        Estimates and standard errors.
    vcov : ndarray
        Their covariance matrix.
    groups, columns, covariances : tuple
        Per random-effects term in lme4's order: grouping factor, column names, covariance
        matrix of the random effects.
    residual_variance : float or None
        σ² (None for families without a scale).
    ranef : tuple of (group, levels, columns, values)
        Conditional modes per grouping factor, formula order.
    """

    names: tuple
    beta: np.ndarray
    se: np.ndarray
    vcov: np.ndarray
    groups: tuple
    columns: tuple
    covariances: tuple
    residual_variance: float | None
    ranef: tuple


class FittedModel(Protocol):
    """What a result asks of the model that produced it (``LinearMixedModel``,
    ``GeneralizedLinearMixedModel``) for the fields it computes on first access."""

    def condvar(self, result: MixedModelResult) -> dict: ...

    def leverage(self, result: MixedModelResult) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class MixedModelResult:
    """A fitted linear or generalized linear mixed model.

    Fields
    ------
    formula : str
        The model formula as given.
    family, link : str
        ``"gaussian"``/``"identity"`` for an LMM.
    reml : bool
        Fitted by REML (LMMs only).
    n_agq : int
        Quadrature points (GLMMs; 1 = Laplace, 0 = ``fast``).
    objective : float
        ML deviance or REML criterion (LMM); −2 log-likelihood on lme4's scale (GLMM).
    loglik, aic, bic, aicc : float
        Log-likelihood (REML log-likelihood for REML fits) and information criteria.
    deviance : float
        −2 log-likelihood for ML fits and GLMMs; for REML fits the ML deviance at the REML
        estimates (lme4's ``deviance(m, REML = FALSE)``).
    nobs : int
        Observations used.
    dof : int
        Number of parameters: fixed effects + covariance parameters (+ σ where estimated).
    fixef, stderror : pandas.Series
        Fixed effects and their standard errors, by coefficient name.
    vcov : pandas.DataFrame
        Covariance matrix of the fixed effects.
    coeftable : pandas.DataFrame
        ``estimate, std_error, z_value, p_value, ci_lower, ci_upper`` (95 % Wald) by coefficient.
    theta : ndarray
        Relative covariance parameters, terms in lme4's order (decreasing number of levels).
    sigma : float or None
        Residual standard deviation (None for families without a scale).
    varcorr : pandas.DataFrame
        Variance components (see :func:`varcorr_frame`).
    ranef : dict of str -> DataFrame
        Conditional modes of the random effects by grouping factor (levels × columns).
    fitted : ndarray
        Fitted values on the response scale.
    residuals : ndarray
        Response residuals ``y − fitted``.
    is_singular : bool
        Some variance is zero or some correlation ±1 (lme4's ``isSingular``).
    optsum : OptSummary
        Optimizer settings, trace and verdict.
    warnings : tuple of Note
        Plain-language notes (strings with a ``code``, see :mod:`mm_core.notes`): dropped rows
        and columns, singular fit, convergence, separation.
    n_dropped : int
        Rows dropped for missing values.
    rows : ndarray
        Positions (``iloc``) of the data rows used.
    dropped_columns : tuple of str
        Fixed-effects columns removed as redundant (collinear or constant).
    y : ndarray
        The response as fitted (proportions for binomial responses).
    prior_weights : ndarray or None
        Prior weights (numbers of trials for binomial responses).
    model : FittedModel
        The fitted model (``LinearMixedModel`` / ``GeneralizedLinearMixedModel``): used for
        refits, bootstrap, profiles and the lazily computed fields below.
    design : Design
        The model's design (:func:`mm_core.design.materialize`): model matrices, the response's
        name and levels, factor levels and the random-effects terms with their level labels.

    The labelled tables ``fixef``, ``stderror``, ``vcov``, ``coeftable``, ``varcorr`` and
    ``ranef`` are views of ``tables`` (:class:`TableNumbers`), all computed by the fit, and are
    assembled as pandas objects on first access. Fields computed on first access from the
    fitted model: ``ranef_sd`` (conditional standard deviations, same shape as ``ranef``),
    ``leverage`` (diagonal of the hat matrix), ``condvar`` (per-level conditional covariance
    matrices of the random effects).
    """

    formula: str
    family: str
    link: str
    reml: bool
    n_agq: int
    objective: float
    loglik: float
    aic: float
    bic: float
    aicc: float
    deviance: float
    nobs: int
    dof: int
    tables: TableNumbers
    theta: np.ndarray
    sigma: float | None
    fitted: np.ndarray
    residuals: np.ndarray
    is_singular: bool
    optsum: OptSummary
    warnings: tuple
    n_dropped: int
    rows: np.ndarray
    dropped_columns: tuple
    y: np.ndarray
    prior_weights: np.ndarray | None
    model: FittedModel = field(repr=False)
    design: Design = field(repr=False)
    extras: dict = field(default_factory=dict, repr=False)

    # -- labelled tables ------------------------------------------------------------------------
    @cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(self.tables.beta, index=labels(self.tables.names), name="estimate")

    @cached_property
    def stderror(self) -> pd.Series:
        return pd.Series(self.tables.se, index=labels(self.tables.names), name="std_error")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        idx = labels(self.tables.names)
        return pd.DataFrame(self.tables.vcov, index=idx, columns=idx)

    @cached_property
    def coeftable(self) -> pd.DataFrame:
        return coef_table(self.tables.beta, self.tables.se, list(self.tables.names))

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        t = self.tables
        return varcorr_frame(list(t.groups), [list(c) for c in t.columns], list(t.covariances),
                             t.residual_variance)

    @cached_property
    def ranef(self) -> dict:
        return {g: pd.DataFrame(values, index=labels(levels, g), columns=labels(cols))
                for g, levels, cols, values in self.tables.ranef}

    # -- derived ----------------------------------------------------------------------------------
    @property
    def beta(self) -> np.ndarray:
        return self.tables.beta

    @property
    def is_lmm(self) -> bool:
        return self.family == "gaussian" and self.link == "identity"

    @property
    def method(self) -> str:
        """How the model was fitted: ``"REML"`` or ``"ML"`` (linear mixed models), ``"Laplace"``,
        ``"AGQ(9)"`` (adaptive Gauss–Hermite quadrature, 9 points) or ``"fast"`` (lme4's
        ``nAGQ = 0``) for GLMMs. R: ``isREML(m)``, ``m@devcomp$dims[["nAGQ"]]``.

        Examples
        --------
        >>> import mm_core
        >>> mm_core.fit("reaction ~ days + (days | subj)", mm_core.datasets.load("sleepstudy"),
        ...             reml=True).method
        'REML'
        """
        if self.is_lmm:
            return "REML" if self.reml else "ML"
        if self.n_agq == 0:
            return "fast"
        return "Laplace" if self.n_agq == 1 else f"AGQ({self.n_agq})"

    @property
    def method_description(self) -> str:
        """:attr:`method` in words: ``"maximum likelihood (ML)"``, ``"Laplace approximation"``,
        ``"adaptive Gauss–Hermite, 9 points"``, ``"fast (nAGQ = 0)"``, ``"REML"``."""
        method = self.method
        if method == "ML":
            return "maximum likelihood (ML)"
        if method == "Laplace":
            return "Laplace approximation"
        if method == "fast":
            return "fast (nAGQ = 0)"
        if method.startswith("AGQ"):
            return f"adaptive Gauss–Hermite, {self.n_agq} points"
        return method

    @cached_property
    def parsed_formula(self) -> Formula:
        """:attr:`formula` as the engine's parser reads it (:func:`mm_core.parse_formula`): the
        response, the fixed-effects terms, the random-effects terms and their grouping factors.

        R: ``formula(m)``, with ``lme4::nobars`` / ``findbars`` for the two parts.

        Examples
        --------
        >>> import mm_core
        >>> m = mm_core.fit("reaction ~ days + (days | subj)", mm_core.datasets.load("sleepstudy"))
        >>> [t.label for t in m.parsed_formula.fixed], m.parsed_formula.groups
        (['days'], ('subj',))
        """
        return parse_formula(self.formula)

    @property
    def response_name(self) -> str:
        """The response as the formula writes it (``"reaction"``,
        ``"cbind(incidence, size - incidence)"``); R: ``deparse(formula(m)[[2]])``."""
        return self.design.response_name

    @property
    def grouping_columns(self) -> dict[str, tuple[str, ...]]:
        """The data columns of each grouping factor, by its name in :attr:`ranef`
        (``{"batch": ("batch",), "batch:cask": ("batch", "cask")}``); R: the variables of each
        bar's right side, ``lapply(findbars(formula(m)), function(b) all.vars(b[[3]]))``."""
        return {r.group_label: tuple(r.group) for r in self.parsed_formula.random}

    @property
    def has_dispersion(self) -> bool:
        """Whether the model has a free scale (σ of an LMM, φ of a gaussian, Gamma or inverse
        Gaussian GLMM) rather than φ = 1 (binomial, Poisson)."""
        return self.is_lmm or get_family(self.family, self.link).has_dispersion

    @property
    def converged(self) -> bool:
        return self.optsum.converged

    @cached_property
    def condvar(self) -> dict:
        """Conditional covariance matrices of the random effects: group -> array (ℓ, p, p)."""
        return self.model.condvar(self)

    @cached_property
    def ranef_sd(self) -> dict:
        """Conditional standard deviations of the random effects (lme4 ``condVar``)."""
        out = {}
        for g, cv in self.condvar.items():
            sd = np.sqrt(np.maximum(np.diagonal(cv, axis1=1, axis2=2), 0.0))
            out[g] = pd.DataFrame(sd, index=self.ranef[g].index, columns=self.ranef[g].columns)
        return out

    @cached_property
    def leverage(self) -> np.ndarray:
        """Diagonal of the hat matrix (lme4 ``hatvalues``)."""
        return self.model.leverage(self)

    def residuals_of(self, kind: str = "response") -> np.ndarray:
        """Residuals of type ``response``, ``pearson``, ``working``, ``deviance`` or ``scaled``
        (LMMs), as lme4's ``residuals(m, type = kind)``; :func:`mm_core.residuals` adds quantile
        residuals."""
        if self.is_lmm:
            # as lme4: Pearson residuals are √w (y − fitted), ``scaled`` divides them by σ;
            # working and deviance residuals equal the (weighted) response residuals
            r = np.asarray(self.residuals, float)
            w = self.prior_weights
            sw = np.sqrt(w) if w is not None else 1.0
            if kind == "response":
                return r
            if kind in ("pearson", "working", "deviance"):
                return r * sw
            if kind == "scaled":
                return r * sw / cast(float, self.sigma)      # an LMM always has σ
            raise MixedModelError(f"unknown residual type {kind!r}; use response, pearson, working, "
                                  "deviance or scaled")
        model: Any = self.model                      # a GLMM here: response, prior weights, family
        y, mu, pw, fam = model.y, np.asarray(self.fitted, float), model.pw, model.family
        if kind == "response":
            return y - mu
        if kind == "pearson":
            return (y - mu) * np.sqrt(pw / fam.variance(mu))
        if kind == "working":
            return (y - mu) / fam.mu_eta(fam.linkfun(mu))
        if kind == "deviance":
            d = np.sqrt(np.maximum(fam.dev_resids(y, mu, pw), 0.0))
            return np.where(y > mu, d, -d)
        raise MixedModelError(f"unknown residual type {kind!r}; use response, pearson, working or "
                              "deviance")

    def summary(self) -> str:
        """A printable summary in MixedModels.jl's layout."""
        from .summary import summary_text
        return summary_text(self)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        kind = "LMM" if self.is_lmm else f"GLMM ({self.family}, {self.link})"
        return f"<MixedModelResult {kind}: {self.formula}; objective {self.objective:.4f}>"
