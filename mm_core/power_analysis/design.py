"""A study design described by its structure, a model's true parameters, and data drawn from them.

:class:`StudyDesign` says how a study is laid out: grouping factors (subjects, items, schools)
with their numbers of levels, crossed with each other or nested in one another, observations per
cell, factors and covariates that vary within the groups, and factors assigned to the levels of
a grouping factor (between-group factors). :class:`TrueModel` holds a formula and the values of
its parameters: fixed effects by coefficient name, the standard deviations and correlations of
each random-effects term, σ, and the family and link of a GLMM. :func:`simulate_design` draws a
data set from the two; the power analysis (:func:`mm_core.power_analysis.power`) uses the same pieces.

Responses are drawn as :func:`mm_core.simulate` draws them (:class:`~mm_core.simulate.ResponseSimulator`),
so a data set from a design and a replicate of a power run with the same seed and replicate
number are the same draw.
"""
from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..design import Design, materialize
from ..errors import DataError, MixedModelError
from ..families import get_family
from ..intervals import covariance_layout, theta_from_sdcor
from ..simulate import ResponseSimulator, check_count, replicate_rng, seed_entropy

__all__ = [
    "OBSERVATIONS",
    "Scenario",
    "StudyDesign",
    "TrueModel",
    "as_true_model",
    "scenario",
    "simulate_design",
    "simulate_with_effects",
]

#: ``along`` value that grows the observations per cell instead of a grouping factor.
OBSERVATIONS = "observations"


def _name(text, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise MixedModelError(f"{what} must be a non-empty name, not {text!r}")
    return text.strip()


def _levels(values, what: str) -> tuple:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise MixedModelError(f"{what}: give a list of values, not {values!r}")
    out = tuple(values)
    if len(out) < 2:
        raise MixedModelError(f"{what} needs at least two different values, got {list(out)}")
    if len(set(out)) != len(out):
        raise MixedModelError(f"{what} has repeated values: {list(out)}")
    return out


@dataclass(frozen=True)
class StudyDesign:
    """The layout of a study.

    Parameters
    ----------
    groups : dict of str -> int
        Grouping factors and their numbers of levels, crossed with each other
        (``{"subj": 20, "item": 12}``: every subject sees every item).
    nested : dict of str -> (str, int), optional
        Grouping factors nested in another one, with their number of levels within each level
        of it: ``{"class": ("school", 4)}`` gives 4 classes in each school (labelled
        ``school1.class1`` …, so each class belongs to one school).
    n_obs : int
        Observations per cell (per combination of the grouping factors' levels and the within
        values).
    within : dict of str -> list, optional
        Factors or covariates whose values all occur within every cell: ``{"days": range(10)}``
        (numbers make a numeric column), ``{"cond": ["A", "B"]}`` (text makes a factor).
    between : dict of str -> (str, list), optional
        Factors or covariates constant within the levels of one grouping factor, assigned to
        its levels in turn (balanced when the number of levels is a multiple of the number of
        values): ``{"treat": ("subj", ["control", "drug"])}``.

    Fields
    ------
    The parameters, validated; ``nobs`` is the number of rows a data set has.

    Examples
    --------
    >>> d = StudyDesign(groups={"subj": 8}, n_obs=10,
    ...                 between={"treat": ("subj", ["control", "drug"])})
    >>> d.nobs
    80
    """

    groups: dict
    nested: dict = field(default_factory=dict)
    n_obs: int = 1
    within: dict = field(default_factory=dict)
    between: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.groups, dict) or not self.groups:
            raise MixedModelError("a design needs at least one grouping factor, e.g. "
                                  "groups={'subj': 20}")
        groups = {_name(k, "a grouping factor"): check_count(v, f"the number of levels of '{k}'")
                  for k, v in self.groups.items()}
        nested: dict[str, tuple[str, int]] = {}
        for k, spec in dict(self.nested or {}).items():
            if not (isinstance(spec, (tuple, list)) and len(spec) == 2):
                raise MixedModelError(f"nested factor '{k}': give (parent factor, levels per parent "
                                      f"level), not {spec!r}")
            parent, per = spec
            known = set(groups) | set(nested)
            if parent not in known:
                raise MixedModelError(f"nested factor '{k}' is nested in '{parent}', which is not a "
                                      f"grouping factor of the design ({', '.join(sorted(known))})")
            nested[_name(k, "a nested factor")] = (parent, check_count(per, f"the number of "
                                                                           f"levels of '{k}'"))
        within = {_name(k, "a within factor"): _levels(v, f"within factor '{k}'")
                  for k, v in dict(self.within or {}).items()}
        between = {}
        for k, spec in dict(self.between or {}).items():
            if not (isinstance(spec, (tuple, list)) and len(spec) == 2):
                raise MixedModelError(f"between factor '{k}': give (grouping factor, values), not "
                                      f"{spec!r}")
            g, values = spec
            if g not in groups and g not in nested:
                raise MixedModelError(f"between factor '{k}' is assigned to '{g}', which is not a "
                                      "grouping factor of the design")
            between[_name(k, "a between factor")] = (g, _levels(values, f"between factor '{k}'"))
        names = list(groups) + list(nested) + list(within) + list(between)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise MixedModelError(f"the design uses the name(s) {dup} twice")
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "nested", nested)
        object.__setattr__(self, "within", within)
        object.__setattr__(self, "between", between)
        object.__setattr__(self, "n_obs", check_count(self.n_obs, "n_obs (observations per cell)"))

    # ------------------------------------------------------------------------------------------
    def levels(self, factor: str) -> int:
        """Total number of levels of a grouping factor (nested ones: over all parents)."""
        if factor in self.groups:
            return self.groups[factor]
        parent, per = self.nested[factor]
        return per * self.levels(parent)

    @property
    def grouping_factors(self) -> list:
        return list(self.groups) + list(self.nested)

    @property
    def nobs(self) -> int:
        cells = math.prod(self.groups.values()) * math.prod(p for _, p in self.nested.values())
        return cells * math.prod(len(v) for v in self.within.values()) * self.n_obs

    def size(self, along: str) -> int:
        """The current size along ``along``: levels of a grouping factor, or ``n_obs``."""
        if along == OBSERVATIONS:
            return self.n_obs
        if along not in self.groups and along not in self.nested:
            raise MixedModelError(f"the design cannot grow along '{along}': use one of its grouping "
                                  f"factors ({', '.join(self.grouping_factors)}) or "
                                  f"'{OBSERVATIONS}'")
        return self.levels(along)

    def resized(self, along: str, size: int) -> StudyDesign:
        """The design with ``size`` levels of ``along`` (per parent level for a nested factor;
        the observations per cell for ``along="observations"``)."""
        if along == OBSERVATIONS:
            return replace(self, n_obs=size)
        if along in self.groups:
            return replace(self, groups={**self.groups, along: size})
        parent, _per = self.nested[along]
        total = self.levels(parent)
        if size % total:
            raise MixedModelError(f"'{along}' is nested in '{parent}' ({total} levels): give sizes "
                                  f"that are multiples of {total}")
        return replace(self, nested={**self.nested, along: (parent, size // total)})

    def frame(self) -> pd.DataFrame:
        """The data set's layout (no response): one row per observation."""
        tops = list(self.groups)
        cols: dict = {}
        grid = list(itertools.product(*[range(self.groups[g]) for g in tops]))
        codes = {g: np.array([c[i] for c in grid], np.int64) for i, g in enumerate(tops)}
        labels = {g: np.array([_label(g, k, self.groups[g]) for k in codes[g]], dtype=object)
                  for g in tops}
        for g, (parent, per) in self.nested.items():
            rep_codes = {h: np.repeat(v, per) for h, v in codes.items()}
            rep_labels = {h: np.repeat(v, per) for h, v in labels.items()}
            inner = np.tile(np.arange(per), len(next(iter(codes.values()))))
            rep_codes[g] = rep_codes[parent] * per + inner
            rep_labels[g] = np.array([f"{p}.{_label(g, k, per)}"
                                      for p, k in zip(rep_labels[parent], inner)], dtype=object)
            codes, labels = rep_codes, rep_labels
        ncell = len(next(iter(codes.values())))
        wnames = list(self.within)
        wgrid = list(itertools.product(*[self.within[w] for w in wnames])) or [()]
        per_cell = len(wgrid) * self.n_obs
        for g in self.grouping_factors:
            cols[g] = np.repeat(labels[g], per_cell)
        for i, w in enumerate(wnames):
            vals = [c[i] for c in wgrid]
            cols[w] = np.tile(np.repeat(np.asarray(vals, dtype=_dtype(vals)), self.n_obs), ncell)
        for b, (g, values) in self.between.items():
            idx = np.repeat(codes[g], per_cell) % len(values)
            cols[b] = np.asarray(values, dtype=_dtype(values))[idx]
        return pd.DataFrame(cols)


def _label(factor: str, k: int, count: int) -> str:
    """``subj01`` … ``subj12``: labels that sort in level order."""
    return f"{factor}{k + 1:0{len(str(count))}d}"


def _dtype(values) -> type:
    return float if all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                        for v in values) else object


@dataclass(frozen=True)
class TrueModel:
    """A model and the true values of its parameters.

    Parameters
    ----------
    formula : str
        lme4 syntax, e.g. ``"y ~ 1 + treat + (1 | subj)"``; the response's name is the column
        a simulated data set gets.
    fixef : dict of str -> float
        Fixed effects by coefficient name in lme4's spelling (``"treatdrug"``,
        ``"days"``); coefficients not given are 0.
    sd : dict
        Standard deviation of each random-effects column by grouping factor:
        ``{"subj": {"(Intercept)": 25, "days": 6}}``, or ``{"subj": 25}`` for a random
        intercept.
    corr : dict, optional
        Correlations within a term: ``{"subj": {("(Intercept)", "days"): 0.1}}``; 0 if not given.
    sigma : float, optional
        Residual standard deviation (linear mixed models; the dispersion's square root for
        Gamma and inverse Gaussian GLMMs).
    family, link : str
        ``"gaussian"`` (an LMM), ``"binomial"``, ``"poisson"``, …; the link defaults to the
        family's canonical one.
    reml : bool
        Analyse the simulated data by REML (linear mixed models) or ML.

    Examples
    --------
    >>> TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"(Intercept)": 10, "treatdrug": 1},
    ...           sd={"subj": 1.0}, sigma=2.0).family
    'gaussian'
    """

    formula: str
    fixef: dict = field(default_factory=dict)
    sd: dict = field(default_factory=dict)
    corr: dict = field(default_factory=dict)
    sigma: float | None = None
    family: str = "gaussian"
    link: str | None = None
    reml: bool = True

    @property
    def is_lmm(self) -> bool:
        return get_family(self.family, self.link).is_linear


def as_true_model(params) -> TrueModel:
    """A :class:`TrueModel` from itself or a dict of its fields."""
    if isinstance(params, TrueModel):
        return params
    if isinstance(params, dict):
        unknown = set(params) - set(TrueModel.__dataclass_fields__)
        if unknown:
            raise MixedModelError(f"unknown model parameter field(s) {sorted(unknown)}; use "
                                  f"{', '.join(TrueModel.__dataclass_fields__)}")
        if "formula" not in params:
            raise MixedModelError("the model parameters need a formula")
        return TrueModel(**params)
    raise MixedModelError("params must be a TrueModel or a dict with formula, fixef, sd, corr, "
                          f"sigma, family, link; got {type(params).__name__}")


def _finite(v, what: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise MixedModelError(f"{what} must be a number, not {v!r}") from None
    if not math.isfinite(x):
        raise MixedModelError(f"{what} must be finite, not {v!r}")
    return x


@dataclass(frozen=True, eq=False)
class Scenario:
    """A design in matrix form with the parameter values to simulate at.

    Fields
    ------
    design : Design
        Model matrices (``mm_core.design.Design``); its response is a placeholder.
    frame : pandas.DataFrame or None
        The data layout the matrices came from (None when grown from a fit's matrices).
    beta, theta : ndarray
        True fixed effects (in ``fixef_names`` order, redundant columns excluded) and θ.
    fixef_names : list of str
    sigma : float or None
    family : Family or None
        None for a linear mixed model.
    weights : ndarray or None
        Prior weights of the simulation (binomial: numbers of trials).
    fit_weights : ndarray or None
        Weights the refits are given (a fit's own weights).
    """

    design: Design
    frame: pd.DataFrame | None
    beta: np.ndarray
    theta: np.ndarray
    fixef_names: list
    sigma: float | None
    family: object
    weights: np.ndarray | None = None
    fit_weights: np.ndarray | None = None

    def simulator(self) -> ResponseSimulator:
        return ResponseSimulator(self.design, self.fixef_names, self.beta, self.theta, self.sigma,
                                 family=self.family, weights=self.weights)


def check_replication(design) -> None:
    """A clear error when the design cannot separate the random effects from the residual."""
    n = design.nobs
    for t in design.reterms:
        if t.nlevels >= n:
            raise DataError(f"the design has no replication: each level of '{t.group}' has a single "
                            "observation, so its random effects cannot be told apart from the "
                            "residual. Give more observations per level (n_obs, or within-group "
                            "factors).")
    from ..lmm import check_identifiable
    check_identifiable(design)           # as many random effects as observations


def theta_of(design, sd: dict, corr: dict, sigma, base=None) -> np.ndarray:
    """θ (lme4's order) from standard deviations and correlations by grouping factor.

    ``base`` (standard deviations and correlations in lme4's order, e.g. a fit's) supplies the
    values not given; without it every standard deviation must be given.
    """
    layout = covariance_layout(design)
    psi = (np.zeros(sum(t.ntheta for t in layout)) if base is None
           else np.nan_to_num(np.array(base, float)))
    known = [t.group for t in layout]
    for g in list(sd) + list(corr or {}):
        if g not in known:
            raise MixedModelError(f"'{g}' is not a grouping factor of the model's random effects "
                                  f"({', '.join(known)})")
    for term in layout:
        if term.group not in sd and base is None:
            raise MixedModelError(f"give the standard deviation(s) of the random effects of "
                                  f"'{term.group}' ({', '.join(term.names)})")
        given = sd.get(term.group, {})
        if not isinstance(given, dict):
            if term.ncols != 1:
                raise MixedModelError(f"the random effects of '{term.group}' have columns "
                                      f"{list(term.names)}: give one standard deviation each")
            given = {term.names[0]: given}
        bad = set(given) - set(term.names)
        if bad:
            raise MixedModelError(f"the random effects of '{term.group}' have no column(s) "
                                  f"{sorted(bad)}; they have {list(term.names)}")
        cors = dict((corr or {}).get(term.group, {}))
        for k, (r, c) in enumerate(zip(term.theta_rows.tolist(), term.theta_cols.tolist())):
            if r == c:
                nm = term.names[r]
                if nm not in given and base is None:
                    raise MixedModelError(f"give the standard deviation of '{nm}' for "
                                          f"'{term.group}'")
                v = _finite(given.get(nm, psi[term.theta_slice.start + k]),
                            f"the standard deviation of '{nm}' | {term.group}")
                if v < 0:
                    raise MixedModelError(f"the standard deviation of '{nm}' | {term.group} must "
                                          f"not be negative, not {v}")
            else:
                a, b = term.names[r], term.names[c]
                v = cors.pop((a, b), cors.pop((b, a), psi[term.theta_slice.start + k]))
                v = _finite(v, f"the correlation of '{a}' and '{b}' | {term.group}")
                if not -1 <= v <= 1:
                    raise MixedModelError(f"the correlation of '{a}' and '{b}' | {term.group} must "
                                          f"be between -1 and 1, not {v}")
            psi[term.theta_slice.start + k] = v
        if cors:
            raise MixedModelError(f"correlation(s) {sorted(cors)} for '{term.group}' do not match "
                                  "its correlated columns")
        cor = np.eye(term.ncols)
        for k, (r, c) in enumerate(zip(term.theta_rows.tolist(), term.theta_cols.tolist())):
            if r != c:
                cor[r, c] = cor[c, r] = psi[term.theta_slice.start + k]
        if np.linalg.eigvalsh(cor).min() < -1e-10:
            raise MixedModelError(f"the correlations of '{term.group}' do not form a valid "
                                  "correlation matrix")
    return theta_from_sdcor(psi, sigma, layout)


def scenario(design_or_frame, model: TrueModel) -> Scenario:
    """The matrices and true parameter vectors of a design (or a data layout) under a model."""
    from ..femat import independent_columns
    frame = (design_or_frame.frame() if isinstance(design_or_frame, StudyDesign)
             else design_or_frame)
    f = _response_name(model.formula)
    frame = frame.copy()
    frame[f] = np.linspace(0.0, 1.0, len(frame)) if model.is_lmm else (np.arange(len(frame)) % 2)
    design = materialize(model.formula, frame)
    if not design.reterms:
        raise MixedModelError("the model has no random-effects terms such as (1 | subj)")
    check_replication(design)
    keep = independent_columns(design.X)
    names = [design.fixef_names[j] for j in keep]
    fixef = dict(model.fixef or {})
    unknown = [k for k in fixef if k not in design.fixef_names]
    if unknown:
        raise MixedModelError(f"unknown fixed effect(s) {unknown}; the model's coefficients are "
                              f"{', '.join(design.fixef_names)}")
    beta = np.array([_finite(fixef.get(nm, 0.0), f"fixed effect '{nm}'") for nm in names])
    family = None if model.is_lmm else get_family(model.family, model.link)
    scaled = family is None or family.has_dispersion
    sigma = model.sigma
    if scaled:
        if sigma is None:
            raise MixedModelError("give the residual standard deviation sigma")
        sigma = _finite(sigma, "sigma")
        if sigma <= 0:
            raise MixedModelError(f"sigma must be positive, not {sigma}")
    else:
        sigma = None
    theta = theta_of(design, dict(model.sd or {}), dict(model.corr or {}), sigma)
    return Scenario(design=design, frame=frame.drop(columns=[f]), beta=beta, theta=theta,
                    fixef_names=names, sigma=sigma, family=family)


def grow(design, group: str, size: int, weights=None) -> tuple:
    """A fit's design with ``size`` levels of the grouping factor ``group`` (simr's ``extend``).

    New level ``k`` (``k ≥ ℓ``, the current number of levels) repeats the rows of level
    ``k mod ℓ``: its fixed-effects rows, the other grouping factors it is crossed with (the same
    items), new levels of the factors nested in it. Returns ``(design, weights)``.
    """
    terms = {t.group: t for t in design.reterms}
    if group not in terms:
        raise MixedModelError(f"'{group}' is not a grouping factor of the model (its grouping "
                              f"factors are {', '.join(terms)})")
    t = terms[group]
    ell = t.nlevels
    if size < ell:
        raise MixedModelError(f"sizes must not be below the current design: '{group}' has {ell} "
                              f"levels, so give sizes of at least {ell} (got {size})")
    if size == ell:
        return design, weights
    sources = [np.flatnonzero(t.refs == k % ell) for k in range(ell, size)]
    new_rows = np.concatenate(sources)
    copy_of = np.concatenate([np.full(len(r), k) for k, r in zip(range(ell, size), sources)])
    n0 = design.nobs

    def stack(a):
        return None if a is None else np.concatenate([a, a[new_rows]])

    reterms = []
    for u in design.reterms:
        refs = u.refs.astype(np.int64)
        if u.group == group:
            new_refs, levels = copy_of, list(u.levels) + [
                f"{u.levels[k % ell]}.{k // ell + 1}" for k in range(ell, size)]
        elif _nested_in(u, t):
            pairs = np.stack([copy_of, refs[new_rows]], axis=1)
            uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
            new_refs = u.nlevels + inv.ravel()
            levels = list(u.levels) + [f"{u.levels[r]}.{k // ell + 1}" for k, r in uniq]
        else:
            new_refs, levels = refs[new_rows], list(u.levels)
        reterms.append(replace(u, refs=np.concatenate([refs, new_refs]).astype(np.int32),
                               levels=levels, z=np.concatenate([u.z, u.z[:, new_rows]], axis=1)))
    grown = replace(design, X=np.concatenate([design.X, design.X[new_rows]]), y=stack(design.y),
                    trials=stack(design.trials), offset=stack(design.offset), reterms=reterms,
                    rows=np.arange(n0 + len(new_rows)), n_dropped=0, dropped_by_column={})
    return grown, stack(None if weights is None else np.asarray(weights, float))


def _nested_in(inner, outer) -> bool:
    """Does every level of ``inner`` occur with a single level of ``outer``?"""
    if inner.nlevels <= outer.nlevels:
        return False
    first = np.full(inner.nlevels, -1)
    first[inner.refs] = outer.refs
    return bool(np.all(first[inner.refs] == outer.refs))


def _response_name(formula: str) -> str:
    from ..formula import parse_formula
    f = parse_formula(formula)
    lhs = getattr(f, "response", None)
    name = getattr(lhs, "name", None)
    if not isinstance(name, str):
        raise MixedModelError("the model formula needs a plain response name on the left of ~ "
                              "(e.g. y ~ 1 + treat + (1 | subj)) to simulate data")
    return name


def simulate_design(design: StudyDesign, params, seed=None) -> pd.DataFrame:
    """Generate a data set from a study design and a model's true parameters.

    Parameters
    ----------
    design : StudyDesign
        Grouping factors, their crossing or nesting, observations per cell, within and
        between factors.
    params : TrueModel or dict
        The formula and the true fixed effects, random-effect standard deviations and
        correlations, σ, family and link.
    seed : int or numpy.random.Generator, optional
        The data set is replicate 0 of ``SeedSequence(seed)`` (as :func:`mm_core.simulate`).

    Returns
    -------
    pandas.DataFrame
        The design's columns and the response (named as in the formula).

    Raises
    ------
    MixedModelError
        Unknown coefficient or grouping factor, missing standard deviation, invalid
        correlation, a design without replication.

    Notes
    -----
    The equivalent of simr's ``makeLmer`` / ``makeGlmer`` followed by ``simulate`` (or of
    lme4's ``simulate(formula, newdata, newparams, family)``). ``y = Xβ + Zb + ε`` with
    ``b ~ N(0, Σ)`` built from the standard deviations and correlations and ``ε ~ N(0, σ²)``
    (LMM); for a GLMM the response is drawn from the family at ``μ = g⁻¹(Xβ + Zb)``.

    Examples
    --------
    >>> d = StudyDesign(groups={"subj": 8}, n_obs=10,
    ...                 between={"treat": ("subj", ["control", "drug"])})
    >>> m = TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"(Intercept)": 10, "treatdrug": 1},
    ...               sd={"subj": 1.0}, sigma=2.0)
    >>> simulate_design(d, m, seed=1).shape
    (80, 3)
    """
    return simulate_with_effects(design, params, seed)[0]


def simulate_with_effects(design: StudyDesign, params, seed=None) -> tuple:
    """A data set from a design and model, with the random effects it was drawn with.

    The same draw as :func:`simulate_design` (same seed, same data), for teaching: the true
    random effects can be set against a fit's conditional modes.

    Returns
    -------
    (pandas.DataFrame, dict of str -> pandas.DataFrame)
        The data set, and the random effects by grouping factor (levels × columns, on the
        linear predictor's scale).

    Examples
    --------
    >>> d = StudyDesign(groups={"subj": 6}, n_obs=4)
    >>> m = TrueModel("y ~ 1 + (1 | subj)", sd={"subj": 1.0}, sigma=1.0)
    >>> data, b = simulate_with_effects(d, m, seed=3)
    >>> b["subj"].shape
    (6, 1)
    """
    from ..design.reterm import fitting_order, term_layouts
    if not isinstance(design, StudyDesign):
        raise MixedModelError(f"design must be a StudyDesign, not {type(design).__name__}")
    model = as_true_model(params)
    sc = scenario(design, model)
    sim = sc.simulator()
    rng = replicate_rng(seed_entropy(seed), 0)
    u = rng.standard_normal(sim.q)        # the draws of ResponseSimulator.draw, in its order
    y = sim.draw(rng, sim.eta_fixed + sim.scale_b * (sim.ZL @ u))
    frame = sc.frame
    assert frame is not None     # a StudyDesign always lays its rows out
    out = frame.copy()
    out[_response_name(model.formula)] = y
    terms = [sc.design.reterms[i] for i in fitting_order(sc.design.reterms)]
    effects = {}
    for lay in term_layouts(terms):
        t = lay.term
        b = sim.scale_b * t.ranef(u[lay.start:lay.start + t.q], lay.lam(sc.theta))
        effects[t.group] = pd.DataFrame(b, index=pd.Index(list(t.levels), name=t.group),
                                        columns=list(t.names))
    return out, effects
