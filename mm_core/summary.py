"""Text summary of a fit in MixedModels.jl's layout."""
from __future__ import annotations

import math

import numpy as np


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.{digits}f}"


def _pvalue(p: float) -> str:
    return "<1e-99" if p < 1e-99 else (f"{p:.4f}" if p >= 1e-4 else f"<1e-{int(-math.log10(p))}")


def summary_text(r) -> str:
    """Fit statistics, variance components with correlations, and the fixed-effects table."""
    lines = []
    if r.is_lmm:
        lines.append(f"Linear mixed model fit by {'REML' if r.reml else 'maximum likelihood'}")
    else:
        how = "fast (nAGQ=0)" if r.n_agq == 0 else ("Laplace" if r.n_agq == 1
                                                    else f"adaptive Gauss-Hermite, {r.n_agq} points")
        lines.append(f"Generalized linear mixed model fit by maximum likelihood ({how})")
    lines.append(f" {r.formula}")
    if not r.is_lmm:
        lines.append(f" Distribution: {r.family}\n Link: {r.link}")
    lines.append("")
    if r.reml:
        lines.append(f" REML criterion at convergence: {r.objective:.4f}")
    else:
        lines.append("   logLik    -2 logLik       AIC         AICc        BIC    ")
        lines.append(f" {r.loglik:10.4f} {-2 * r.loglik:10.4f} {r.aic:10.4f} {r.aicc:10.4f} "
                     f"{r.bic:10.4f}")
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
        s = f"{str(g)[:11]:12s}{str(row['name'])[:13]:14s}{row['variance']:12.6g}{row['sd']:11.6g}"
        cs = [row[c] for c in corr_cols if not np.isnan(row[c])] if corr_cols else []
        if cs:
            s += "  " + " ".join(f"{c:+.2f}" for c in cs)
        lines.append(s)
    ngroups = ", ".join(f"{g}, {len(df)}" for g, df in r.ranef.items())
    lines.append(f" Number of obs: {r.nobs}; levels of grouping factors: {ngroups}")
    lines.append("")
    lines.append(" Fixed-effects parameters:")
    ct = r.coeftable
    w = max(12, max(len(str(i)) for i in ct.index) + 1) if len(ct) else 12
    lines.append(f"{'':{w}s}{'Coef.':>12s}{'Std. Error':>12s}{'z':>9s}{'Pr(>|z|)':>10s}")
    for name, row in ct.iterrows():
        lines.append(f"{str(name):{w}s}{row['estimate']:12.6g}{row['std_error']:12.6g}"
                     f"{row['z_value']:9.2f}{_pvalue(row['p_value']):>10s}")
    if r.warnings:
        lines.append("")
        lines.extend(f" Note: {msg}" for msg in r.warnings)
    lines.append(f" Optimizer: {r.optsum.optimizer}, {r.optsum.evaluations} evaluations, "
                 f"{r.optsum.verdict}")
    return "\n".join(lines)
