"""Plain-language pieces of the Summary page: headline numbers, warnings with advice.

No Streamlit here; returns strings and tuples the page shows.
"""
from __future__ import annotations

import re

from gui.engine import MixedModelResult, note_code
from gui.views.tables import escape_markdown, fmt_num


def method_label(res: MixedModelResult) -> str:
    if res.is_lmm:
        return "linear mixed model, " + res.method_description
    return f"generalized linear mixed model, {res.family} family, {res.link} link, {res.method_description}"


def headline(res: MixedModelResult) -> list[tuple[str, str, str]]:
    """(label, value, help) for the metric row."""
    out = [("Observations", f"{res.nobs:,}", "Rows used by the fit (after dropping missing values).")]
    if res.sigma is not None:
        out.append(("Residual SD σ", fmt_num(res.sigma, 4), "Estimated standard deviation of the residual noise."))
    out += [
        ("Log-likelihood", f"{res.loglik:,.2f}", "REML log-likelihood for REML fits." if res.reml else
         "Maximized log-likelihood."),
        ("AIC", f"{res.aic:,.2f}", "Akaike information criterion: lower is better."),
        ("BIC", f"{res.bic:,.2f}", "Bayesian information criterion: lower is better."),
        ("Parameters", f"{res.dof}", "Fixed effects + variance/covariance parameters (+ σ)."),
    ]
    return out


_SINGULAR = ("Singular fit: some variance is estimated as zero or some correlation as ±1. The model is more "
             "complex than the data support.")
#: What to do about each kind of engine note (``mm_core.Note.code``).
_ADVICE = {
    "singular": "Remove the random effect whose variance is zero (see Variance components), or make correlated "
                "random effects independent (|| instead of |). The fixed effects are still usable; compare the "
                "simpler model on the Compare page.",
    "convergence": "Centre and rescale covariates (subtract the mean, divide by the SD), simplify the random "
                   "effects, or check the optimizer trace below for a flat objective.",
    "missing_rows": "If those rows matter, fill in or recode the missing values, or drop the variable that "
                    "has them from the model; comparisons by AIC or likelihood-ratio test need the same rows.",
    "redundant_columns": "A predictor repeats information already in others (e.g. a factor level that never "
                         "occurs, or a covariate constant in the data). Remove it from the fixed effects.",
}


_INTERNAL = [
    # the engine names where its programmers find a number; the page says what it means
    (re.compile(r";?\s*result\.extras\[['\"]vcov_pls['\"]\] holds the latter\.?"),
     ". The table uses the Hessian-based standard errors (as lme4 does)."),
    (re.compile(r"\s*\(?result\.\w+(\[[^\]]*\])?\)?"), ""),
]


def plain_warning(text: str) -> str:
    """An engine warning without the names of result attributes (``result.extras[...]``)."""
    for pattern, repl in _INTERNAL:
        text = pattern.sub(repl, text)
    return text


def advice(res: MixedModelResult) -> list[tuple[str, str]]:
    """(level, text) for each warning of the fit, with what to do about it (chosen by the note's code)."""
    out: list[tuple[str, str]] = []
    seen = set()
    codes = set()
    for w in res.warnings:
        code = note_code(w) or ""
        codes.add(code)
        tip = _ADVICE.get(code, "")
        text = escape_markdown(plain_warning(str(w)))
        out.append(("warning", text + (f"\n\n**What to do:** {tip}" if tip and tip not in seen else "")))
        seen.add(tip)
    if res.is_singular and "singular" not in codes:
        out.append(("warning", f"{_SINGULAR}\n\n**What to do:** {_ADVICE['singular']}"))
    if not out:
        out.append(("success", "No warnings: the fit converged, is not singular and used every row."))
    return out


def optimizer_caption(res: MixedModelResult) -> str:
    o = res.optsum
    parts = [f"{o.evaluations} objective evaluations"]
    trace = o.trace
    if len(trace) != o.evaluations:
        other = trace["stage"].value_counts()
        other = ", ".join(f"{int(k)} " + ("of the convergence checks" if stage == "check" else f"in stage {stage}")
                          for stage, k in other.items() if stage != "optimize")
        parts[0] += " by the optimizer" + (f"; the trace also shows the {other}" if other else "")
    if o.optimizer:
        parts.append(f"optimizer {o.optimizer}")
    if o.verdict:
        parts.append(o.verdict)
    msgs = o.messages
    return "; ".join(parts) + ("." if not msgs else ". " + " ".join(map(str, msgs)))
