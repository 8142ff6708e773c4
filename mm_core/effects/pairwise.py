"""Pairwise comparisons of marginal means with multiplicity adjustments (emmeans' ``pairs``).

Within each combination of the ``by`` variables every pair of means (i < j in table order) is
compared as ``mean_i − mean_j``, with the df method of the means. Adjustments:

``"tukey"``
    Tukey's HSD: p-values from the studentized range distribution of k means with the
    contrast's df, ``P(Q > √2 |t|)``, and intervals ``± q_{level}(k, df)/√2 · SE``.
``"bonferroni"``, ``"holm"``
    p-values multiplied by the number of comparisons (Holm: step-down); intervals Bonferroni.
``"none"``
    Unadjusted.

On the response scale of a log or logit link the comparison is reported as a ratio
``"A / B"`` (rate ratio, odds ratio): the exponentiated difference, its interval ends
exponentiated and its standard error by the delta method; the test stays that of the
difference on the link scale (emmeans' ``summary(pairs(e), type = "response")``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from ..contrasts import level_label
from ..errors import MixedModelError
from ..results import labels
from .emmeans import EMMeans
from .inference import inference

ADJUSTMENTS = ("tukey", "holm", "bonferroni", "none")
#: Most comparisons made at once (each Tukey p-value integrates the studentized range).
MAX_PAIRS = 1000
PAIRS_COLUMNS = ["estimate", "std_error", "df", "lower", "upper", "statistic", "p_value"]


def _label(row, specs) -> str:
    """A mean's name in a contrast: its levels, a covariate's value after its name (``days4.5``)."""
    parts = []
    for v in specs:
        x = row[v]
        parts.append(f"{v}{level_label(float(x))}" if isinstance(x, (int, float, np.number))
                     else str(x))
    return " ".join(parts) if parts else "overall"


def pairwise(means: EMMeans, adjust: str = "tukey") -> pd.DataFrame:
    """All pairwise comparisons of marginal means (or slopes) within each ``by`` group.

    Parameters
    ----------
    means : EMMeans
        From :func:`mm_core.emmeans` or :func:`mm_core.emtrends`.
    adjust : {"tukey", "holm", "bonferroni", "none"}
        Multiplicity adjustment of p-values and intervals, within each ``by`` group.

    Returns
    -------
    pandas.DataFrame
        ``contrast`` ("A - B", or "A / B" for ratios), the ``by`` columns, then ``estimate,
        std_error, df, lower, upper, statistic, p_value``.

    Raises
    ------
    MixedModelError
        Unknown ``adjust``; fewer than two means to compare; more than ``MAX_PAIRS``
        comparisons.

    Notes
    -----
    R equivalent: ``summary(pairs(emmeans(m, ~ recipe), adjust = "tukey"),
    infer = c(TRUE, TRUE))``.

    Examples
    --------
    >>> from mm_core import datasets, emmeans, fit, pairwise
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)
    >>> pw = pairwise(emmeans(m, "days", at={"days": [0, 9]}))
    >>> pw["contrast"].tolist()
    ['days0 - days9']
    """
    if not isinstance(means, EMMeans):
        raise MixedModelError("pairwise compares the result of emmeans() or emtrends(), not "
                              f"{type(means).__name__}")
    adj = str(adjust).strip().lower()
    if adj not in ADJUSTMENTS:
        raise MixedModelError(f"unknown adjustment {adjust!r}; use 'tukey', 'holm', "
                              "'bonferroni' or 'none'")
    table, specs, by = means.table, list(means.specs), list(means.by)
    groups = table.groupby(by, sort=False).indices if by else {(): np.arange(len(table))}
    if max((len(ix) for ix in groups.values()), default=0) < 2:
        what = f" within each combination of {', '.join(by)}" if by else ""
        raise MixedModelError(f"a pairwise comparison needs at least two means{what}; there "
                              f"is only one ({', '.join(specs) or 'the overall mean'})")
    npairs = sum(len(ix) * (len(ix) - 1) // 2 for ix in groups.values())
    if npairs > MAX_PAIRS:
        raise MixedModelError(f"{npairs:,} pairwise comparisons are too many to compute and read "
                              f"(the limit is {MAX_PAIRS:,}); compare within groups of another "
                              "factor (by=...) or choose fewer levels with at=...")
    ratio = means.back_transformed and means.link in ("log", "logit")
    inf = inference(means.result, means.ddf)
    level = means.level
    parts = []
    for key, ix in groups.items():
        ix = np.asarray(ix)
        k = len(ix)
        if k < 2:
            continue
        pairs = [(ix[i], ix[j]) for i in range(k) for j in range(i + 1, k)]
        L = np.array([means.linfct[a] - means.linfct[b] for a, b in pairs])
        est, se, df = inf.t(L)
        ok = np.array([means.estimable[a] and means.estimable[b] for a, b in pairs])
        est, se, df = (np.where(ok, x, np.nan) for x in (est, se, df))
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = est / se
        p, crit = _adjusted(stat, df, k, len(pairs), adj, level)
        lower, upper = est - crit * se, est + crit * se
        sep = " / " if ratio else " - "
        names = [_label(table.iloc[a], specs) + sep + _label(table.iloc[b], specs)
                 for a, b in pairs]
        if ratio:
            est, lower, upper = np.exp(est), np.exp(lower), np.exp(upper)
            se = est * se
        part = pd.DataFrame({"contrast": names})
        keyvals = key if isinstance(key, tuple) else (key,)
        for v, val in zip(by, keyvals):
            part[v] = val
        for c, vals in zip(PAIRS_COLUMNS, (est, se, df, lower, upper, stat, p)):
            part[c] = np.asarray(vals, float)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out.columns = labels(out.columns)
    return out


@lru_cache(maxsize=4096)
def _tukey_quantile(level: float, k: int, df: float) -> float:
    if not np.isfinite(df) or df > 1e6:
        return float(stats.studentized_range.ppf(level, k, np.inf))
    # secant iterations on the cdf from the infinite-df quantile (scipy's ppf is a slow
    # general-purpose root search on the same cdf)
    q0 = _tukey_quantile(level, k, np.inf)
    q1 = q0 * (1.0 + 2.0 / df)
    g0 = stats.studentized_range.cdf(q0, k, df) - level
    g1 = stats.studentized_range.cdf(q1, k, df) - level
    for _ in range(30):
        if g1 == g0:
            break
        q2 = q1 - g1 * (q1 - q0) / (g1 - g0)
        q0, g0 = q1, g1
        q1 = max(q2, 0.5 * q1)
        g1 = stats.studentized_range.cdf(q1, k, df) - level
        if abs(q1 - q0) <= 1e-10 * q1:
            break
    return float(q1)


def tukey_quantile(level: float, k: int, df: float) -> float:
    """Quantile of the studentized range of k means with df degrees of freedom (R's ``qtukey``)."""
    return _tukey_quantile(float(level), int(k), float(f"{df:.7g}") if np.isfinite(df) else np.inf)


#: Above this many distinct df in one family the Tukey quantiles are interpolated.
INTERPOLATE_FROM = 8


def tukey_quantiles(level: float, k: int, df: np.ndarray) -> np.ndarray:
    """:func:`tukey_quantile` for many df: exact for a few distinct values, otherwise a
    polynomial in 1/df through the exact quantiles at Chebyshev points of their range (the
    quantile is a smooth function of 1/df; the interpolation error is about 1e-7 relative, far
    below what moves an interval end)."""
    df = np.asarray(df, float)
    ok = np.isfinite(df)
    out = np.full(len(df), tukey_quantile(level, k, np.inf))
    distinct = np.unique(np.round(df[ok], 6))
    if len(distinct) <= INTERPOLATE_FROM:
        out[ok] = [tukey_quantile(level, k, d) for d in df[ok]]
        return out
    lo, hi = 1.0 / distinct.max(), 1.0 / distinct.min()
    n = 12
    nodes = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos((2 * np.arange(n) + 1) * np.pi / (2 * n))
    values = np.array([tukey_quantile(level, k, 1.0 / x) for x in nodes])
    weights = (-1.0) ** np.arange(n) * np.sin((2 * np.arange(n) + 1) * np.pi / (2 * n))
    x = 1.0 / df[ok]
    diff = x[:, None] - nodes[None, :]
    exact = np.isclose(diff, 0.0, atol=1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = weights / diff
        interp = (terms @ values) / terms.sum(axis=1)
    hit = exact.any(axis=1)
    interp[hit] = values[np.argmax(exact[hit], axis=1)]
    out[ok] = interp
    return out


def _adjusted(stat, df, k: int, m: int, adjust: str, level: float):
    """Adjusted two-sided p-values and the critical values of the intervals."""
    a = np.abs(stat)
    raw = 2.0 * stats.t.sf(a, df)
    if adjust == "tukey" and k > 2:
        p = np.array([stats.studentized_range.sf(np.sqrt(2) * x, k, d) if np.isfinite(x)
                      else np.nan for x, d in zip(a, df)])
        return np.clip(p, 0.0, 1.0), tukey_quantiles(level, k, df) / np.sqrt(2)
    if adjust in ("bonferroni", "holm") and m > 1:
        crit = stats.t.ppf(1 - (1 - level) / (2 * m), df)
        if adjust == "bonferroni":
            return np.minimum(raw * m, 1.0), crit
        order = np.argsort(raw)
        stepped = np.maximum.accumulate(raw[order] * (m - np.arange(m)))
        p = np.empty(m)
        p[order] = np.minimum(stepped, 1.0)
        return p, crit
    return raw, stats.t.ppf(0.5 + level / 2, df)
