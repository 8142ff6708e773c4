"""The conditional modes of the random effects, for plots: shrinkage toward the population
(against per-level unpenalized estimates) and caterpillar and normal-quantile caterpillar plots."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import MixedModelError
from ..simulate import check_result, conditional_eta, result_family

__all__ = ["ShrinkageData", "caterpillar", "ppoints", "qq_caterpillar", "shrinkage"]


@dataclass(frozen=True, eq=False)
class ShrinkageData:
    """Conditional modes next to per-level unpenalized estimates, for one grouping factor.

    Fields
    ------
    group : str
    conditional : pandas.DataFrame
        Conditional modes (levels × columns), as ``result.ranef[group]``.
    unpenalized : pandas.DataFrame
        Per-level estimates without the penalty (no pooling), same shape; NaN where a level's
        data cannot determine them.
    """

    group: str
    conditional: pd.DataFrame
    unpenalized: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Long table: ``level, name, conditional, unpenalized``."""
        c = self.conditional.stack().rename("conditional")
        u = self.unpenalized.stack().rename("unpenalized")
        out = pd.concat([c, u], axis=1).reset_index()
        out.columns = ["level", "name", "conditional", "unpenalized"]
        return out


def shrinkage(result, group: str | None = None, *, max_iter: int = 50) -> ShrinkageData:
    """Data of a shrinkage plot: conditional modes and per-level unpenalized estimates.

    For each level of ``group`` the unpenalized estimate is the (weighted, for GLMMs iteratively
    reweighted) least-squares fit of that level's observations on the term's columns, with the
    fixed effects and the other grouping factors' random effects held at their estimates as an
    offset: what the random effects would be with no pooling across levels. The distance to the
    conditional mode is the shrinkage.

    Parameters
    ----------
    result : MixedModelResult
    group : str, optional
        Grouping factor (default: the first in the formula).
    max_iter : int
        IRLS iterations for GLMMs.

    Returns
    -------
    ShrinkageData

    Notes
    -----
    The analogue of MixedModelsMakie's ``shrinkageplot`` data.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> s = shrinkage(m, "subj")
    >>> s.unpenalized.shape
    (18, 2)
    """
    check_result(result)
    term = _term(result, group)
    design = result.model.design
    others = {t.group: None for t in design.reterms if t.group != term.group}
    offset = conditional_eta(result, others)     # everything but this term's random effects
    family = result_family(result)
    y = np.asarray(result.y, float)
    pw = result.prior_weights
    w0 = np.ones_like(y) if pw is None else np.asarray(pw, float)
    est = _per_level_fit(term, y, offset, w0, family, result.ranef[term.group].to_numpy(),
                         max_iter)
    ref = result.ranef[term.group]
    return ShrinkageData(term.group, ref.copy(),
                         pd.DataFrame(est, index=ref.index, columns=ref.columns))


def _per_level_fit(term, y, offset, w0, family, start, max_iter) -> np.ndarray:
    """Per-level (IR)LS of y on the term's columns with an offset; NaN where not determined."""
    L, p = term.nlevels, term.ncols
    Z = term.z.T
    refs = term.refs
    b = start.copy()
    converged = np.zeros(L, bool)
    for _ in range(max_iter if family is not None else 1):
        eta = offset + np.einsum("nj,nj->n", Z, b[refs])
        if family is None:
            w, zwork = w0, y - offset
        else:
            with np.errstate(all="ignore"):
                mu = family.linkinv(eta)
                dmu = family.mu_eta(eta)
                var = family.variance(mu)
            w = w0 * dmu * dmu / var
            zwork = eta - offset + (y - mu) / dmu
        G = np.zeros((L, p, p))
        r = np.zeros((L, p))
        for a in range(p):
            r[:, a] = np.bincount(refs, w * Z[:, a] * zwork, minlength=L)
            for c in range(a + 1):
                G[:, a, c] = G[:, c, a] = np.bincount(refs, w * Z[:, a] * Z[:, c], minlength=L)
        new = np.full((L, p), np.nan)
        ok = np.zeros(L, bool)
        for lv in range(L):
            g = G[lv]
            if not np.all(np.isfinite(g)) or not np.all(np.isfinite(r[lv])):
                continue
            s = np.linalg.svd(g, compute_uv=False)
            if s[0] > 0 and s[-1] > 1e-10 * s[0]:
                new[lv] = np.linalg.solve(g, r[lv])
                ok[lv] = True
        if family is None:
            return np.where(ok[:, None], new, np.nan)
        step = np.nanmax(np.abs(new - b), axis=1, initial=0.0)
        converged = ok & (step < 1e-8 * (1 + np.nanmax(np.abs(new), axis=1, initial=0.0)))
        b = np.where(ok[:, None], new, b)
        if np.all(converged | ~ok):
            break
    # a level whose estimate runs away (e.g. all successes) is not determined
    return np.where((converged & np.all(np.abs(b) < 30, axis=1))[:, None], b, np.nan)


def _term(result, group):
    design = result.model.design
    if group is None:
        return design.reterms[0]
    for t in design.reterms:
        if t.group == group:
            return t
    raise MixedModelError(f"no grouping factor {group!r}; the model has "
                          f"{[t.group for t in design.reterms]}")


def ppoints(n: int) -> np.ndarray:
    """R's ``ppoints(n)``: (i − a)/(n + 1 − 2a), a = 3/8 for n ≤ 10, else 1/2."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def caterpillar(result, group: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Data of a caterpillar plot: conditional modes with intervals, levels ordered.

    Parameters
    ----------
    result : MixedModelResult
    group : str, optional
        Grouping factor (default: the first).
    level : float
        Coverage of the intervals ``mode ± z·condsd`` (z = Φ⁻¹((1 + level)/2)).

    Returns
    -------
    pandas.DataFrame
        Long table ``level, name, estimate, condsd, lower, upper, rank``; the levels are ordered
        by the estimate of the first column (``rank`` 0 = smallest), the same order in every
        column, as lme4's ``dotplot(ranef(m, condVar = TRUE))``.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> caterpillar(m, "subj").shape
    (36, 7)
    """
    check_result(result)
    term = _term(result, group)
    z = _zq(level)
    est = result.ranef[term.group]
    sd = result.ranef_sd[term.group]
    order = np.argsort(est.iloc[:, 0].to_numpy(), kind="stable")
    rank = np.empty(len(order), int)
    rank[order] = np.arange(len(order))
    frames = []
    for j, name in enumerate(est.columns):
        e, s = est.iloc[:, j].to_numpy(), sd.iloc[:, j].to_numpy()
        frames.append(pd.DataFrame({"level": est.index.astype(str), "name": name, "estimate": e,
                                    "condsd": s, "lower": e - z * s, "upper": e + z * s,
                                    "rank": rank}).iloc[order])
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(group=term.group, level=level)
    return out


def qq_caterpillar(result, group: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Data of a normal-quantile caterpillar plot: each column sorted on its own.

    Returns
    -------
    pandas.DataFrame
        ``level, name, estimate, condsd, lower, upper, theoretical``: within each column the
        levels sorted by estimate, ``theoretical`` the standard normal quantiles of
        ``ppoints(n_levels)`` (lme4's ``qqmath(ranef(m, condVar = TRUE))``).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> qq_caterpillar(m)["theoretical"].round(3).tolist()[:2]
    [-1.282, -0.643]
    """
    check_result(result)
    term = _term(result, group)
    z = _zq(level)
    est = result.ranef[term.group]
    sd = result.ranef_sd[term.group]
    theo = stats.norm.ppf(ppoints(len(est)))
    frames = []
    for j, name in enumerate(est.columns):
        e, s = est.iloc[:, j].to_numpy(), sd.iloc[:, j].to_numpy()
        order = np.argsort(e, kind="stable")
        frames.append(pd.DataFrame({"level": est.index.astype(str)[order], "name": name,
                                    "estimate": e[order], "condsd": s[order],
                                    "lower": (e - z * s)[order], "upper": (e + z * s)[order],
                                    "theoretical": theo}))
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(group=term.group, level=level)
    return out


def _zq(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise MixedModelError(f"level must be between 0 and 1, not {level!r}")
    return float(stats.norm.ppf(0.5 + level / 2))
