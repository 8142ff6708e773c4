"""Text summary of a fit in MixedModels.jl's layout."""
from __future__ import annotations

import math

import numpy as np

from .errors import NotFittedError


def _num(x, spec: str) -> str:
    """``format(x, spec)``, or NaN / Inf spelled out for a value that is not finite."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isfinite(x):
        return format(x, spec)
    width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
    text = "NaN" if math.isnan(x) else ("Inf" if x > 0 else "-Inf")
    return text.rjust(int(width)) if width else text


def _pvalue(p: float) -> str:
    if p is None or not math.isfinite(p):
        return ""
    return "<1e-99" if p < 1e-99 else (f"{p:.4f}" if p >= 1e-4 else f"<1e-{int(-math.log10(p))}")


def summary_text(r) -> str:
    """Fit statistics, variance components with correlations, and the fixed-effects table.

    Raises
    ------
    NotFittedError
        The fit's objective is not a finite number (the fit failed; nothing to summarise).
    """
    if r.objective is None or not math.isfinite(r.objective):
        raise NotFittedError(f"this fit failed: its objective is {r.objective}, so its estimates "
                             "are not usable and there is no summary. Check the response and "
                             "the predictors for extreme or nearly constant values")
    lines = []
    if r.is_lmm:
        lines.append(f"Linear mixed model fit by {r.method_description}")
    else:
        lines.append(f"Generalized linear mixed model fit by maximum likelihood ({r.method_description})")
    lines.append(f" {r.formula}")
    if not r.is_lmm:
        lines.append(f" Distribution: {r.family}\n Link: {r.link}")
    lines.append("")
    if r.reml:
        lines.append(f" REML criterion at convergence: {_num(r.objective, '.4f')}")
    else:
        lines.append("   logLik    -2 logLik       AIC         AICc        BIC    ")
        lines.append(" " + " ".join(_num(v, "10.4f") for v in
                                    (r.loglik, -2 * r.loglik, r.aic, r.aicc, r.bic)))
    lines.append("")
    lines.append("Variance components:")
    vc = r.varcorr
    corr_cols = [c for c in vc.columns if c.startswith("corr:")]
    head = f"{'':12s}{'Column':14s}{'Variance':>12s}{'Std.Dev.':>11s}"
    if corr_cols:
        head += "   Corr."
    lines.append(head)
    last = None
    for _, row in vc.iterrows():
        g = row["group"] if row["group"] != last else ""
        last = row["group"]
        s = (f"{str(g)[:11]:12s}{str(row['name'])[:13]:14s}{_num(row['variance'], '12.6g')}"
             f"{_num(row['sd'], '11.6g')}")
        cs = [row[c] for c in corr_cols if not np.isnan(row[c])] if corr_cols else []
        if cs:
            s += "  " + " ".join(_num(c, "+.2f") for c in cs)
        lines.append(s)
    ngroups = ", ".join(f"{g}, {len(df)}" for g, df in r.ranef.items())
    lines.append(f" Number of obs: {r.nobs}; levels of grouping factors: {ngroups}")
    lines.append("")
    lines.append(" Fixed-effects parameters:")
    ct = r.coeftable
    w = max(12, max(len(str(i)) for i in ct.index) + 1) if len(ct) else 12
    lines.append(f"{'':{w}s}{'Coef.':>12s}{'Std. Error':>12s}{'z':>9s}{'Pr(>|z|)':>10s}")
    for name, row in ct.iterrows():
        lines.append(f"{name!s:{w}s}{_num(row['estimate'], '12.6g')}"
                     f"{_num(row['std_error'], '12.6g')}{_num(row['z_value'], '9.2f')}"
                     f"{_pvalue(row['p_value']):>10s}")
    if r.warnings:
        lines.append("")
        lines.extend(f" Note: {msg}" for msg in r.warnings)
    lines.append(f" Optimizer: {r.optsum.optimizer}, {r.optsum.evaluations} evaluations, "
                 f"{r.optsum.verdict}")
    return "\n".join(lines)
