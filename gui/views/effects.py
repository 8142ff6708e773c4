"""Fixed-effects inference of a fit, shaped for the Summary and Effects pages.

Thin adapters over the engine's ``fixef_tests``, ``anova``, ``emmeans``, ``emtrends`` and
``pairwise`` (through :mod:`gui.engine`): each takes a :class:`gui.shell.state.FitRecord` and returns
small, picklable tables that :func:`gui.shell.cache.effects` keeps per session. Here too: which
predictors of a fit are factors and which are covariates, the covariate grid an effect plot
is drawn over, the observed data under it, and the words for the scales of a GLMM
(probabilities, rates, odds and rate ratios). No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gui import engine
from gui.engine import level_labels
from gui.views import codegen
from gui.views.derived import used_rows
from gui.views.tables import escape_markdown, fmt_num

#: denominator-df methods as the engine names them, with their labels in the app
DDF_LABELS = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward–Roger", "asymptotic": "z (asymptotic)"}
#: what the df methods are, for the pages' help texts
DDF_HELP = ("t tests with Satterthwaite's denominator df (lmerTest's, jamovi's and JASP's default) or "
            "Kenward–Roger's (pbkrtest; slower, and for fits by REML only), or z tests that treat the "
            "variances as known.")
#: p-value adjustments of pairwise comparisons (engine name -> label)
ADJUST_LABELS = {"tukey": "Tukey", "holm": "Holm", "bonferroni": "Bonferroni", "none": "none"}
#: points of the covariate grid an effect plot is drawn over
GRID_POINTS = 41


def ddf_choices(result: Any) -> list[str]:
    """df methods that apply: Satterthwaite (default), Kenward–Roger (REML fits, as pbkrtest) or
    z for an LMM; z for a GLMM."""
    if not result.is_lmm:
        return ["asymptotic"]
    return ["satterthwaite"] + (["kenward-roger"] if result.reml else []) + ["asymptotic"]


@dataclass(frozen=True)
class Predictors:
    """The fixed-effects predictors of a fit, as the engine's marginal means see them
    (``mm_core.effects.model_terms.fixed_structure``).

    Fields
    ------
    factors : dict of str -> list
        Factor (its data column, as emmeans names it: ``days`` for ``factor(days)``) -> its
        levels in the fit, reference level first.
    covariates : list of str
        Data columns of the numeric predictors (an effect plot can run over them).
    terms : list of str
        Fixed-effect term labels (R's spelling, ``recipe:temp``), without the intercept.
    crossed : frozenset of (str, str)
        (covariate, factor) pairs that meet in a term: the covariate's slope differs between
        the factor's levels.
    """

    factors: dict = field(default_factory=dict)
    covariates: list = field(default_factory=list)
    terms: list = field(default_factory=list)
    crossed: frozenset = frozenset()

    @property
    def variables(self) -> list[str]:
        """Factors first, then covariates: the choices of the horizontal axis."""
        return list(self.factors) + list(self.covariates)

    def is_factor(self, name: str | None) -> bool:
        return name in self.factors


def predictors(rec: Any) -> Predictors:
    """Factors, covariates and terms of a fit, in formula order."""
    s = engine.fixed_structure(rec.result.design)
    factors = {col: [str(v) for v in levels] for col, levels in s.factor_columns.items()}
    crossed = set()
    for t in s.terms:
        covs = set().union(*(s.numerics[k] for k in s.numeric_keys(t)))
        crossed |= {(c, s.factors[k][0]) for c in covs for k in s.factor_keys(t)}
    return Predictors(factors=factors, covariates=[c for c in s.covariate_columns if c not in factors],
                      terms=[t.label for t in s.terms], crossed=frozenset(crossed))


def covariate_grid(rec: Any, x: str, n: int = GRID_POINTS) -> list[float]:
    """``n`` evenly spaced values over the observed range of covariate ``x`` (the rows the fit used)."""
    v = pd.to_numeric(used_rows(rec)[x], errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    lo, hi = float(v.min()), float(v.max())
    return [lo] if hi <= lo else np.linspace(lo, hi, n).tolist()


def observed(rec: Any, x: str, lines: str | None = None) -> pd.DataFrame:
    """The data under an effect plot: columns ``x``, ``lines`` (if given) and ``y`` (the response
    as fitted: proportions for binomial responses). Factor values are text, as level labels."""
    d = used_rows(rec)
    factors = predictors(rec).factors
    out = pd.DataFrame({v: level_labels(d[v]).to_numpy() if v in factors else
                        pd.to_numeric(d[v], errors="coerce").to_numpy(float)
                        for v in dict.fromkeys([x] + ([lines] if lines else []))})
    out["y"] = np.asarray(rec.result.y, float)
    return out


# ------------------------------------------------------------------- scales


@dataclass(frozen=True)
class Scales:
    """Words for a fit's scales: ``link`` (the linear predictor, "log odds"), ``response`` (what
    back-transformed means are, "probability"), ``ratio`` (what back-transformed differences
    become, "odds ratio"; empty where they stay differences)."""

    link: str
    response: str
    ratio: str


def scales(result: Any) -> Scales:
    """The words for a fit's link and response scales (see :class:`Scales`)."""
    link, family = result.link, result.family
    response = {"binomial": "probability", "poisson": "rate"}.get(family, "mean")
    linkname = {"logit": "log odds", "log": "log " + ("rate" if family == "poisson" else "mean"),
                "probit": "probit", "cloglog": "complementary log-log", "identity": "mean",
                "inverse": "inverse mean", "sqrt": "square root of the mean"}.get(link, link)
    ratio = {"logit": "odds ratio", "log": "rate ratio" if family == "poisson" else "ratio"}.get(link, "")
    return Scales(link=linkname, response=response, ratio=ratio)


def estimate_label(result: Any, scale: str) -> str:
    """Column title of marginal means: "Estimate" (LMM), "Probability" / "Log odds" (GLMM)."""
    if result.is_lmm:
        return "Estimate"
    words = scales(result)
    return (words.response if scale == "response" else words.link).capitalize()


def _mean(s: pd.Series) -> float:
    """Mean of a covariate, 0 where it is zero up to rounding (a centred covariate's mean)."""
    v = pd.to_numeric(s, errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    m = float(v.mean()) if v.size else float("nan")
    return 0.0 if v.size and abs(m) <= 1e-10 * float(np.abs(v).max()) else m


def averaging_note(rec: Any, shown: list | tuple, what: str = "Predictions") -> str:
    """How the predictors not in ``shown`` enter the means (emmeans' reference grid): factors
    averaged with equal weights, covariates held at their means over the rows the fit used.
    Markdown, with the column names escaped."""
    preds = predictors(rec)
    factors = [f for f in preds.factors if f not in shown]
    covs = [c for c in preds.covariates if c not in shown]
    rows = used_rows(rec)
    bits = []
    if factors:
        bits.append("averaged with equal weights over " + ", ".join(escape_markdown(f) for f in factors))
    if covs:
        at = ", ".join(f"{escape_markdown(c)} = {escape_markdown(fmt_num(_mean(rows[c])))}" for c in covs)
        bits.append("at " + at + " (the mean" + ("s" if len(covs) > 1 else "") + ")")
    return (f"{what} " + "; ".join(bits) + ".") if bits else ""


def slope_note(rec: Any, x: str, lines: str | None) -> str:
    """What the slopes of covariate ``x`` are (Markdown): per unit of ``x``, on the link scale
    of a GLMM, at each level of ``lines`` when the model lets them differ."""
    per_line = interacts(rec, x, lines)
    text = (f"Change in the {'predicted ' if rec.result.is_lmm else ''}{escape_markdown(response_label(rec))} per unit "
            f"of {escape_markdown(x)}" + (f" at each level of {escape_markdown(lines)}" if per_line else "") + ". "
            + averaging_note(rec, [x] + ([lines] if per_line else []), "Slopes"))
    if lines and not per_line:
        text += (f" The model has no interaction of {escape_markdown(x)} with {escape_markdown(lines)}, "
                 "so the slope is the same for every line.")
    return text


# ------------------------------------------------------------------- tables


def requested_ddf(result: Any, pref: Any) -> str:
    """The df method the Summary page is set to for a fit: the preference where it applies to the
    fit (Kenward–Roger needs a REML fit), else the first that does (Satterthwaite for an LMM,
    asymptotic for a GLMM)."""
    choices = ddf_choices(result)
    return pref if pref in choices else choices[0]


def _ddf(rec: Any, ddf: str) -> str:
    """The df method asked for; a GLMM's tests are asymptotic whatever the LMM preference is."""
    return ddf if rec.result.is_lmm else "asymptotic"


def usable_ddf(rec: Any, ddf: str) -> tuple[str, str]:
    """The df method the tables are computed with, and why it is not the one asked for.

    Kenward–Roger has limits (fits by REML, no prior weights, a bounded number of random
    effects, as pbkrtest has); where the engine refuses it the pages fall back to Satterthwaite,
    as JASP does, and where Satterthwaite cannot be had either, to z tests; they say so with
    the engine's reason.
    """
    chain = ["kenward-roger", "satterthwaite", "asymptotic"]
    reasons = []
    for method in chain[chain.index(_ddf(rec, ddf)):-1]:
        try:
            engine.fixef_tests(rec.result, ddf=method)
        except engine.MixedModelError as e:
            reasons.append(str(e))
            continue
        break
    else:
        method = "asymptotic"
    if not reasons:
        return method, ""
    what = "tests" if method == "asymptotic" else "df"
    return method, " ".join(reasons) + f" The tables show {DDF_LABELS[method]} {what} instead."


def fixef_tests(rec: Any, ddf: str, level: float = 0.95) -> pd.DataFrame:
    """t (or z) tests of the coefficients (``mm_core.fixef_tests``; lmerTest's ``summary``)."""
    return engine.fixef_tests(rec.result, ddf=_ddf(rec, ddf), level=level)


def anova(rec: Any, type: int = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
    """F tests of the terms (lmerTest's ``anova``); Wald χ² tests for a GLMM (``car::Anova``)."""
    return engine.anova(rec.result, type=type, ddf=_ddf(rec, ddf))


@dataclass(frozen=True)
class Means:
    """Marginal means (or slopes) and their pairwise comparisons.

    Fields
    ------
    table : DataFrame
        The engine's table: one column per variable in ``columns``, then ``estimate,
        std_error, df, lower, upper, statistic, p_value``.
    pairs : DataFrame or None
        ``mm_core.pairwise`` of the table (None when no group has two levels to compare).
    columns : tuple of str
        The grid's variables (``specs`` then ``by``).
    by : tuple of str
        The variables comparisons are made within.
    ratio : bool
        The comparisons are ratios ("A / B"), as on the response scale of a log or logit link.
    """

    table: pd.DataFrame
    pairs: pd.DataFrame | None
    columns: tuple
    by: tuple
    ratio: bool = False


def _pairs(means: Any, by: list[str], adjust: str) -> pd.DataFrame | None:
    t = means.table
    sizes = t.groupby([t[b].astype(str) for b in by]).size() if by else pd.Series([len(t)])
    if sizes.max() < 2:
        return None
    return engine.pairwise(means, adjust=adjust)


def means(rec: Any, specs: list[str], by: list[str] | None = None, ddf: str = "satterthwaite",
          scale: str = "link", level: float = 0.95, adjust: str = "tukey") -> Means:
    """Estimated marginal means of ``specs`` (within each level of ``by``) and their pairwise
    comparisons (``emmeans(m, ~ specs | by)``, ``pairs(.., adjust = )``)."""
    by = list(by or [])
    m = engine.emmeans(rec.result, list(specs), by=by or None, ddf=_ddf(rec, ddf), scale=scale, level=level,
                       data=rec.data)
    pairs = _pairs(m, by, adjust)
    ratio = pairs is not None and pairs["contrast"].astype(str).str.contains(" / ", regex=False).any()
    return Means(table=m.table, pairs=pairs, columns=tuple(specs) + tuple(by), by=tuple(by), ratio=bool(ratio))


def interacts(rec: Any, var: str, factor: str | None) -> bool:
    """Whether covariate ``var`` and ``factor`` meet in a term of the model (only then does the
    slope of ``var`` differ between the factor's levels)."""
    return (var, factor) in predictors(rec).crossed


def trends(rec: Any, var: str, specs: list[str], ddf: str = "satterthwaite", level: float = 0.95,
           adjust: str = "tukey") -> Means:
    """Slopes of covariate ``var`` at each level of ``specs`` and their pairwise differences
    (``emtrends(m, ~ specs, var = )``, ``pairs(..)``)."""
    m = engine.emtrends(rec.result, list(specs), var, ddf=_ddf(rec, ddf), level=level, data=rec.data)
    return Means(table=m.table, pairs=_pairs(m, [], adjust), columns=tuple(specs), by=())


def shown_means(rec: Any, x: str, lines: str | None = None, compare: str = "within", ddf: str = "satterthwaite",
                scale: str = "link", level: float = 0.95, adjust: str = "tukey") -> Means:
    """The table the Effects page shows for its choices: for a factor ``x`` its marginal means
    (with ``lines``, compared ``"within"`` each of its levels or over ``"all"`` combinations),
    for a covariate ``x`` its slope (at each level of ``lines`` where the model lets it differ)."""
    if predictors(rec).is_factor(x):
        by = [lines] if lines and compare == "within" else []
        specs = [x] + ([lines] if lines and not by else [])
        return means(rec, specs, by, ddf=ddf, scale=scale, level=level, adjust=adjust)
    return trends(rec, x, [lines] if lines and interacts(rec, x, lines) else [], ddf=ddf, level=level, adjust=adjust)


def prediction_grid(rec: Any, x: str, lines: str | None = None, ddf: str = "satterthwaite", scale: str = "link",
                    level: float = 0.95) -> pd.DataFrame:
    """Predictions with confidence intervals for an effect plot: every level of factor ``x``, or
    a grid over covariate ``x`` (``emmeans(m, ~ x * lines, at = list(x = grid))``)."""
    preds = predictors(rec)
    specs = [x] + ([lines] if lines and lines != x else [])
    at = None if preds.is_factor(x) else {x: covariate_grid(rec, x)}
    return engine.emmeans(rec.result, specs, at=at, ddf=_ddf(rec, ddf), scale=scale, level=level, data=rec.data).table


def response_label(rec: Any, scale: str = "link") -> str:
    """Axis title of predictions: the response (LMM), or the scale's word and the response
    (``probability of incidence``, ``log odds of incidence``) for a GLMM."""
    res = rec.result
    response = res.parsed_formula.response
    if isinstance(response, engine.Call) and response.func in ("cbind", "factor"):
        response = response.args[0]                 # successes of cbind(s, f); the column of factor(x)
    name = response.to_text(str)                    # column names as they are, without backticks
    levels = res.design.response_levels
    if levels:                                   # a two-level factor: the probability of its second level
        name = f"{name} = {levels[1]}"
    if res.is_lmm:
        return name
    words = scales(res)
    return f"{words.response if scale == 'response' else words.link} of {name}"


def code_inference(rec: Any, **choices: Any) -> codegen.Inference:
    """What a page computed (``choices``: the fields of :class:`gui.views.codegen.Inference`), for the
    code panel, with the factors the model uses as plain data columns (levels in the fit's order)."""
    factors = {k: v for k, v in predictors(rec).factors.items() if k in rec.data.columns}
    choices["ddf"] = _ddf(rec, choices.get("ddf", "satterthwaite"))
    return codegen.Inference(factors=factors, **choices)
