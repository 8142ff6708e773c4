"""Power by simulation: simulate from a model, refit, test, count the rejections.

For each size of the design (``along``/``sizes``), a *pilot* data set is drawn at the true
parameters and fitted once; its model is the template the replicates refit with the
bootstrap's fast engines (:func:`mm_core.bootstrap.make_replicator`: cross-products updated
for the new response only, BOBYQA warm-started). Replicate ``j`` of the whole run (size
``j // n_sim``) draws its response from child ``j`` of ``SeedSequence(seed)`` and runs wherever
:func:`mm_core.bootstrap.run_replicates` sends it (a process pool or any
``concurrent.futures.Executor``), so the result is the same whatever the number of workers.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .._threads import blas_threads
from ..bootstrap import make_replicator, run_replicates
from ..errors import MixedModelError
from ..simulate import check_count, replicate_rng, seed_entropy
from .design import OBSERVATIONS, Scenario, StudyDesign, as_true_model, grow, scenario, theta_of
from .hypothesis import CoefficientTest, LikelihoodRatioTest, TermTest, as_test, small_sample_test, term_columns
from .result import PowerResult, size_summary

__all__ = ["power"]

#: Leading columns of a replicate's row, before the refit's own row.
HEAD = ["p_value", "statistic", "df"]


# ============================================================================ one size
def _fit(sc: Scenario, design, reml: bool, options: dict, theta0=None):
    """A full fit of ``design`` (its response set) with the scenario's family and weights."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # singular simulated fits are counted instead
        if sc.family is None:
            from ..lmm import LinearMixedModel
            model = LinearMixedModel(design, reml=reml, weights=sc.fit_weights,
                                     allow_more_random_effects=True)
            return model.fit(formula_text=options.get("formula"), theta0=theta0)
        from ..glmm import fit_glmm
        return fit_glmm(design, family=sc.family, weights=sc.fit_weights,
                        n_agq=options.get("n_agq", 1), fast=options.get("fast", False),
                        formula_text=options.get("formula"), allow_more_random_effects=True)


def _without(design, drop: str):
    """The design without a fixed-effects term or a grouping factor's random effects."""
    if drop in set(design.fixef_terms) and drop != "(Intercept)":
        keep = [j for j, lab in enumerate(design.fixef_terms) if lab != drop]
        return replace(design, X=design.X[:, keep],
                       fixef_names=[design.fixef_names[j] for j in keep],
                       fixef_terms=[design.fixef_terms[j] for j in keep])
    groups = [t.group for t in design.reterms]
    if drop in groups:
        if len(groups) == 1:
            raise MixedModelError(f"dropping the random effects of '{drop}' leaves no random "
                                  "effects; compare with a linear model instead")
        return replace(design, reterms=[t for t in design.reterms if t.group != drop])
    terms = sorted({lab for lab in design.fixef_terms if lab != "(Intercept)"})
    raise MixedModelError(f"'{drop}' is neither a fixed-effects term ({', '.join(terms)}) nor a "
                          f"grouping factor ({', '.join(groups)}) of the model")


class SizeCase:
    """Everything one size of the design needs to run a replicate (picklable).

    Fields
    ------
    scenario : Scenario
    replicator : LmmReplicator or GlmmReplicator
        Refits a response (the analysis model).
    smaller : replicator or None
        Refits the smaller model of a likelihood-ratio test.
    lrt_df : int
        Difference in the numbers of parameters (likelihood-ratio test).
    df : float or None
        Balanced-design df of a t or F test (None: the engine computes them per fit).
    full_fit : bool
        Each replicate needs a full result (engine's small-sample tests, F tests of several
        coefficients).
    """

    def __init__(self, sc: Scenario, test, reml: bool, options: dict, seed: int, index: int):
        self.scenario, self.test, self.options = sc, test, dict(options)
        lrt = isinstance(test, LikelihoodRatioTest)
        self.reml = bool(reml) and sc.family is None and not lrt
        sim = sc.simulator()
        pilot_y = sim.draw(replicate_rng(seed, 2 ** 40 + index))
        design = replace(sc.design, y=pilot_y)
        pilot = _fit(sc, design, self.reml, options)
        self.fixef_names = list(pilot.fixef.index)
        if self.fixef_names != list(sc.fixef_names):
            raise MixedModelError("a fixed-effects column is redundant at this size of the design; "
                                  "choose larger sizes")
        self.replicator = make_replicator(pilot, beta=sc.beta, theta=sc.theta, sigma=sc.sigma)
        self.smaller, self.lrt_df, self.full_fit = None, 0, False
        if lrt:
            from ..lrt import likelihood_ratio_test
            small = _fit(sc, _without(design, test.drop), False, options)
            table = likelihood_ratio_test(small, pilot).table
            self.lrt_df = int(table["df"].iloc[1])
            self.smaller = make_replicator(small, beta=small.beta, theta=small.theta,
                                           sigma=small.sigma)
        else:
            if isinstance(test, CoefficientTest) and test.coefficient not in self.fixef_names:
                raise MixedModelError(f"unknown coefficient '{test.coefficient}'; the model's "
                                      f"coefficients are {', '.join(self.fixef_names)}")
            cols = ([test.coefficient] if isinstance(test, CoefficientTest) else
                    [self.fixef_names[j] for j in term_columns(sc.design, self.fixef_names,
                                                               test.term)])
            if sc.family is not None and test.ddf != "z":
                raise MixedModelError("Satterthwaite and Kenward–Roger degrees of freedom apply to "
                                      "linear mixed models; for a GLMM use the Wald z test "
                                      "(ddf='z') or a likelihood-ratio test")
            # small-sample df need the refit itself; a z test of several columns its covariance
            self.full_fit = test.ddf != "z" or (isinstance(test, TermTest) and len(cols) > 1)
        self.p = len(self.fixef_names)
        self.k = len(sc.theta)

    def width(self) -> int:
        return len(HEAD) + self.replicator.width()

    def __call__(self, j: int, entropy: int) -> np.ndarray:
        rep = self.replicator
        y = rep.sim.draw(replicate_rng(entropy, j))
        row = rep.refit(y)
        out = np.full(self.width(), np.nan)
        out[len(HEAD):] = row
        if not np.isfinite(row[0]):
            return out
        p, test = self.p, self.test
        beta, se = row[3:3 + p], row[3 + p:3 + 2 * p]
        try:
            if isinstance(test, LikelihoodRatioTest):
                assert self.smaller is not None     # built with the test in __init__
                small = self.smaller.refit(y)[0]
                chisq = max(small - row[0], 0.0)
                from scipy import stats
                out[:3] = (float(stats.chi2.sf(chisq, self.lrt_df)), chisq, self.lrt_df)
                return out
            result = vcov = None
            if self.full_fit:
                result = _fit(self.scenario, replace(self.scenario.design, y=y), self.reml,
                              self.options, theta0=row[3 + 2 * p:])
                vcov = result.vcov.to_numpy()
            stat, dfv, pv = small_sample_test(test, self.scenario.design,
                                              fixef_names=self.fixef_names, beta=beta,
                                              std_error=se, vcov=vcov, result=result)
            out[:3] = (pv, stat, dfv)
        except (MixedModelError, np.linalg.LinAlgError, ValueError, FloatingPointError):
            out[:3] = np.nan
        return out


class PowerReplicator:
    """Replicate ``j`` of a power run: size ``j // n_sim`` of ``cases``."""

    def __init__(self, cases: list, n_sim: int):
        self.cases, self.n_sim = cases, n_sim

    def width(self) -> int:
        return self.cases[0].width()

    def __call__(self, j: int, entropy: int) -> np.ndarray:
        return self.cases[j // self.n_sim](j, entropy)


# ============================================================================ inputs
def _sizes(along, sizes, current: int) -> list[int]:
    if sizes is None:
        return [current]
    if isinstance(sizes, (int, np.integer, str)):
        sizes = [sizes]
    out = []
    for s in sizes:
        s = check_count(s, f"a size along '{along}'")
        if s < current:
            raise MixedModelError(f"sizes must not be below the current design: '{along}' has "
                                  f"{current} now, so give sizes of at least {current} (got {s})")
        out.append(s)
    if len(set(out)) != len(out):
        raise MixedModelError(f"the sizes {out} repeat a value")
    return sorted(out)


def _result_scenarios(result, along, sizes, effect, params) -> tuple:
    """Scenarios grown from a fitted model's matrices, at its estimates (with changes)."""
    from ..intervals import covariance_layout, sdcor
    from ..simulate import result_family
    design = result.model.design
    params = dict(params or {})
    bad = set(params) - {"fixef", "sd", "corr", "sigma"}
    if bad:
        raise MixedModelError(f"for a fitted model, params may change fixef, sd, corr and sigma, "
                              f"not {sorted(bad)}")
    fixef = dict(zip(result.fixef.index, result.beta))
    changes = dict(params.get("fixef") or {})
    changes.update(effect or {})
    unknown = [k for k in changes if k not in fixef]
    if unknown:
        raise MixedModelError(f"unknown effect name(s) {unknown}; the model's coefficients are "
                              f"{', '.join(fixef)}")
    fixef.update({k: float(v) for k, v in changes.items()})
    family = result_family(result)
    sigma = params.get("sigma", result.sigma)
    scale = result.sigma if result.sigma is not None else None
    base = sdcor(result.theta, scale if family is None or family.has_dispersion else None,
                 covariance_layout(design))[0]
    theta = theta_of(design, dict(params.get("sd") or {}), dict(params.get("corr") or {}),
                     sigma if family is None or family.has_dispersion else None, base=base)
    model = result.model
    fit_w = model.weights if family is None else model.user_weights
    grid: list[int | None]
    if along is None:
        grid, current = [None], None
    else:
        if along == OBSERVATIONS:
            raise MixedModelError(f"along='{OBSERVATIONS}' applies to a study design; a fitted "
                                  "model grows along one of its grouping factors")
        groups = {t.group: t.nlevels for t in design.reterms}
        if along not in groups:
            raise MixedModelError(f"'{along}' is not a grouping factor of the model (its grouping "
                                  f"factors are {', '.join(groups)})")
        current = groups[along]
        grid = list(_sizes(along, sizes, current))
    out = []
    for size in grid:
        d, pw, fw = design, result.prior_weights, fit_w
        if size is not None:
            d, pw = grow(design, along, size, result.prior_weights)
            fw = grow(design, along, size, fit_w)[1]
        out.append(Scenario(design=d, frame=None, beta=np.array([fixef[k] for k in result.fixef.index]),
                            theta=theta, fixef_names=list(result.fixef.index), sigma=sigma,
                            family=family, weights=pw, fit_weights=fw))
    options = {"formula": result.formula, "n_agq": result.n_agq,
               "fast": bool(getattr(model, "fast", False))}
    return out, grid, current, result.reml, options


def _design_scenarios(design: StudyDesign, params, along, sizes, effect) -> tuple:
    if params is None:
        raise MixedModelError("a power analysis from a design needs the model and its true "
                              "parameters (params=TrueModel(...))")
    model = as_true_model(params)
    if effect:
        model = replace(model, fixef={**dict(model.fixef or {}), **effect})
    grid: list[int | None]
    if along is None:
        grid, current, designs = [None], None, [design]
    else:
        current = design.size(along)
        sizes_along = _sizes(along, sizes, current)
        grid = list(sizes_along)
        designs = [design.resized(along, s) for s in sizes_along]
    options = {"formula": model.formula}
    return [scenario(d, model) for d in designs], grid, current, model.reml, options


def _effect(effect, test) -> dict | None:
    if effect is None:
        return None
    if isinstance(effect, dict):
        return {str(k): v for k, v in effect.items()}
    if isinstance(test, CoefficientTest):
        return {test.coefficient: effect}
    raise MixedModelError("give the effect as {coefficient: value} for this test")


# ============================================================================ the driver
def power(result_or_design, test, *, n_sim: int, seed=None, along: str | None = None,
          sizes=None, level: float = 0.05, progress: Callable | None = None,
          executor=None, effect=None, params=None, workers: int | None = None,
          chunk_size: int | None = None) -> PowerResult:
    """Power of a test by simulation, at one size of the design or along a power curve.

    Parameters
    ----------
    result_or_design : MixedModelResult or StudyDesign
        Simulate from a fitted model at its estimates (as simr's ``powerSim(fit)``), or from a
        design with ``params``.
    test : str, CoefficientTest, TermTest or LikelihoodRatioTest
        A coefficient name means its t test with Satterthwaite df.
    n_sim : int
        Simulations per size.
    seed : int or numpy.random.Generator, optional
        Replicate ``j`` (size ``j // n_sim``) draws from child ``j`` of ``SeedSequence(seed)``:
        the same seed gives the same table whatever ``workers`` or ``executor``.
    along : str, optional
        A grouping factor whose number of levels changes (simr's ``extend(along=)``), or
        ``"observations"`` (observations per cell of a design).
    sizes : list of int, optional
        Sizes along ``along``, none below the current one (a power curve).
    level : float
        Significance level α.
    progress : callable, optional
        ``progress(p)`` with a :class:`mm_core.Progress` (``p.done`` of ``p.total`` simulations)
        after each chunk of simulations; returning ``False``
        stops the run and keeps the finished simulations (``result.cancelled``).
    executor : concurrent.futures.Executor, optional
        Where chunks run (e.g. a dask client's ``get_executor()``); default a process pool.
    effect : float or dict, optional
        New value of the tested coefficient (a number) or of named coefficients (a dict), as
        simr's ``fixef(fit)["x"] <- value``.
    params : TrueModel or dict, optional
        The true model of a design; for a fitted model, changes to ``fixef``, ``sd``, ``corr``
        and ``sigma``.
    workers, chunk_size : int, optional
        Size of the default pool (1: in this process) and simulations per task.

    Returns
    -------
    PowerResult

    Raises
    ------
    MixedModelError
        Unknown coefficient, term or effect name; sizes below the current design; ``n_sim``
        not a positive integer; a design without replication.

    Notes
    -----
    simr's ``powerSim(fit, test = fixed("x"), nsim)`` and ``powerCurve(extend(fit, along =
    "g", n = max), along = "g", breaks = sizes)``. Power is the share of simulations whose
    p-value is below ``level`` (failed refits count as not rejecting and are reported), with a
    Clopper–Pearson 95 % interval (R's ``binom.test``, as simr reports).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 | subj)", datasets.load("sleepstudy"), reml=True)
    >>> r = power(m, CoefficientTest("days", "z"), n_sim=20, seed=1, workers=1, effect=2.0)
    >>> r.table[["nobs", "n_sim"]].to_dict("records")
    [{'nobs': 180, 'n_sim': 20}]
    """
    from ..results import MixedModelResult
    n_sim = check_count(n_sim, "n_sim (simulations per size)")
    test = as_test(test)
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise MixedModelError(f"level must be between 0 and 1, not {level!r}")
    effect = _effect(effect, test)
    if sizes is not None and along is None:
        raise MixedModelError("sizes need along: the grouping factor (or 'observations') to grow")
    entropy = seed_entropy(seed)
    if isinstance(result_or_design, MixedModelResult):
        scen, grid, current, reml, options = _result_scenarios(result_or_design, along, sizes,
                                                               effect, params)
    elif isinstance(result_or_design, StudyDesign):
        scen, grid, current, reml, options = _design_scenarios(result_or_design, params, along,
                                                               sizes, effect)
    else:
        raise MixedModelError("power needs a fitted model (mm_core.fit) or a StudyDesign, not "
                              f"{type(result_or_design).__name__}")
    with blas_threads():                  # the pilot fits: small matrices, one BLAS thread
        cases = [SizeCase(sc, test, reml, options, entropy, i) for i, sc in enumerate(scen)]
    replicator = PowerReplicator(cases, n_sim)
    rows, reps, cancelled, used, elapsed = run_replicates(
        replicator, n_sim * len(cases), entropy, progress=progress, executor=executor,
        workers=workers, chunk_size=chunk_size)
    size_of = reps // n_sim
    table = size_summary(cases, rows, size_of, grid, along, level, test)
    return PowerResult(test=test, level=level, along=along,
                       sizes=tuple(g if g is not None else math.nan for g in grid),
                       current=current, table=table, rows=rows, replicates=reps,
                       n_sim=n_sim, seed=entropy, cancelled=cancelled, elapsed=elapsed,
                       workers=used, cases=tuple(cases))
