"""Display formatting of tables: rounding, labels, p-values. Numbers are never changed in
the result; these functions return new DataFrames for showing (CSV downloads use the
unrounded numbers). No Streamlit here.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from gui.engine import MixedModelResult

_MD_ANYWHERE = re.compile(r"([\\`*\[\]<>~$|])"              # emphasis, code, links, HTML, maths, tables
                          r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"    # emphasis (intraword _ is literal)
                          r"|:(?=[A-Za-z0-9/+-])")                 # :emoji:, :red[..], :material/icon:
_MD_LINE_START = re.compile(r"(?m)^(\s*\d*)([#>=+.)-])")          # headings, quotes, lists, rules


def escape_markdown(text: Any) -> str:
    """User text (file, column and level names, cell values) as Markdown that shows it literally.

    Characters Markdown or Streamlit give a meaning to (emphasis, code, links, HTML, ``$``
    maths, ``:material/icon:`` and ``:red[...]`` directives; headings, quotes and lists at the
    start of a line) are backslash-escaped, so ``**x**`` or ``[a](http://…)`` in a file name is
    shown as typed and plain prose keeps its look.
    """
    out = _MD_ANYWHERE.sub(lambda m: "\\" + m.group(0), str(text))
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), out)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutral(v: Any) -> Any:
    return "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v


def neutralise(df: pd.DataFrame, index: bool = False) -> pd.DataFrame:
    """A copy of ``df`` in which no text cell can run as a spreadsheet formula.

    Text cells, column names (and index labels with ``index``) starting with ``= + - @`` (or a
    tab or carriage return) get a leading apostrophe, as OWASP's CSV-injection guidance
    recommends; numbers, including negative ones, are left unchanged.
    """
    out = df.copy()
    out.columns = [_neutral(str(c)) if isinstance(c, str) else c for c in out.columns]
    for c in out.columns:
        s = out[c]
        if s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s):
            out[c] = s.astype(object).map(_neutral)
    if index:
        out.index = out.index.map(_neutral)
    return out


def csv_safe(df: pd.DataFrame, index: bool = True) -> bytes:
    """CSV bytes of ``df`` with every text cell, column name and index label neutralised
    (:func:`neutralise`)."""
    return neutralise(df, index=index).to_csv(index=index).encode("utf-8")


def md_code(text: Any) -> str:
    """``text`` as a Markdown code span (monospace, nothing rendered), whatever backticks it holds."""
    text = str(text).replace("\n", " ")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest else f"`{text}`"


def fmt_num(x: Any, digits: int = 4) -> str:
    """Significant-digit formatting that keeps large numbers readable (1751.94, 0.0813)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "" if x is None else str(x)
    if not math.isfinite(v):
        return "" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if mag >= 5 or mag < -4:
        return f"{v:.{digits - 1}e}"
    decimals = max(0, digits - 1 - mag)
    return f"{v:,.{decimals}f}" if abs(v) >= 1e4 else f"{v:.{decimals}f}"


def _p_value(p: Any) -> float | None:
    try:
        v = float(p)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_p(p: Any) -> str:
    v = _p_value(p)
    if v is None:
        return ""
    return "< 0.0001" if v < 1e-4 else f"{v:.4f}"


def stars(p: Any) -> str:
    v = _p_value(p)
    if v is None:
        return ""
    return "***" if v < 0.001 else "**" if v < 0.01 else "*" if v < 0.05 else "." if v < 0.1 else ""


def coeftable_display(ct: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Fixed-effects table with R-style labels: Estimate, Std. Error, z value, Pr(>|z|), CI."""
    pct = f"{round(level * 100)}%"
    out = pd.DataFrame(index=[str(i) for i in ct.index])
    out.index.name = "coefficient"
    out["Estimate"] = [fmt_num(v, 5) for v in ct["estimate"]]
    out["Std. Error"] = [fmt_num(v, 4) for v in ct["std_error"]]
    out["z value"] = [f"{v:.2f}" if np.isfinite(v) else "" for v in ct["z_value"].astype(float)]
    out["Pr(>|z|)"] = [fmt_p(v) for v in ct["p_value"]]
    out[""] = [stars(v) for v in ct["p_value"]]
    if "ci_lower" in ct:
        out[f"{pct} lower"] = [fmt_num(v, 5) for v in ct["ci_lower"]]
        out[f"{pct} upper"] = [fmt_num(v, 5) for v in ct["ci_upper"]]
    return out


def varcorr_display(vc: pd.DataFrame) -> pd.DataFrame:
    """Variance components: group shown once per block, correlations as a lower triangle."""
    corr_cols = [c for c in vc.columns if c.startswith("corr:")]
    rows = []
    prev = None
    for _, r in vc.iterrows():
        row = {"Group": "" if r["group"] == prev else str(r["group"]), "Name": str(r.get("name", "") or ""),
               "Variance": fmt_num(r["variance"], 5), "Std. Dev.": fmt_num(r["sd"], 5)}
        for c in corr_cols:
            v = r.get(c)
            row["Corr " + c.split(":", 1)[1]] = "" if v is None or pd.isna(v) else f"{float(v):+.3f}"
        prev = r["group"]
        rows.append(row)
    return pd.DataFrame(rows)


def fit_statistics(res: MixedModelResult) -> pd.DataFrame:
    """One row per statistic: observations, parameters, log-likelihood, deviance, AIC, AICc, BIC."""
    items: list[tuple[str, float, str]] = [
        ("Observations", res.nobs, "n"),
        ("Parameters", res.dof, "n"),
        ("Objective" + (" (REML criterion)" if res.reml else ""), res.objective, "f"),
        ("Log-likelihood", res.loglik, "f"),
        ("Deviance", res.deviance, "f"),
        ("AIC", res.aic, "f"),
        ("AICc", res.aicc, "f"),
        ("BIC", res.bic, "f"),
    ]
    if res.sigma is not None:
        items.append(("Residual SD (σ)", res.sigma, "f"))
    rows = []
    for name, v, kind in items:
        rows.append({"statistic": name, "value": f"{int(v):,}" if kind == "n" else f"{float(v):,.4f}"})
    return pd.DataFrame(rows)


def fit_statistics_numeric(res: MixedModelResult) -> pd.DataFrame:
    """The numbers behind :func:`fit_statistics`, by field name (``sigma`` None without a scale)."""
    values = {"nobs": res.nobs, "dof": res.dof, "objective": res.objective, "loglik": res.loglik,
              "deviance": res.deviance, "aic": res.aic, "aicc": res.aicc, "bic": res.bic, "sigma": res.sigma}
    return pd.DataFrame({"statistic": list(values), "value": list(values.values())})


def ranef_table(ranef: pd.DataFrame, condsd: pd.DataFrame | None) -> pd.DataFrame:
    """Conditional modes and conditional SDs side by side (numeric, for download)."""
    out = ranef.copy()
    out.columns = [f"{c}" for c in ranef.columns]
    if condsd is not None:
        for c in condsd.columns:
            out[f"{c} (cond. SD)"] = condsd[c]
    return out


def compare_table(records: list[Any]) -> pd.DataFrame:
    """Numeric comparison of fits: fit, formula, family, method, data, n, parameters, logLik, AIC, BIC."""
    rows = []
    for r in records:
        res = r.result
        rows.append({"fit": r.short_label, "formula": r.formula, "family": f"{res.family} ({res.link})",
                     "method": res.method, "data": r.data_name, "nobs": res.nobs, "parameters": res.dof,
                     "logLik": res.loglik, "deviance": res.deviance, "AIC": res.aic, "BIC": res.bic,
                     "singular": bool(res.is_singular), "seconds": round(r.seconds, 3)})
    return pd.DataFrame(rows)


def lrt_display(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        low = c.lower()
        if low in ("p", "p_value", "pvalue", "pr(>chisq)"):
            out[c] = [fmt_p(v) for v in out[c]]
        elif low in ("df", "npar"):
            out[c] = ["" if pd.isna(v) else f"{int(v)}" for v in out[c]]
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = [f"{v:.4f}" if np.isfinite(v) else "" for v in out[c].astype(float)]
    return out


def interval_table(intervals: pd.DataFrame) -> pd.DataFrame:
    out = intervals.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [fmt_num(v, 5) for v in out[c]]
    return out


# ------------------------------------------------------------ fixed-effects inference


def _fixed(v: Any, fmt: str = ".2f") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return format(f, fmt) if math.isfinite(f) else fmt_num(f)


def _df(values: Any) -> list[str]:
    """A column of df: whole numbers as such when all are whole, else all with two decimals
    (Satterthwaite's fractions); ∞ for asymptotic tests."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
    fin = v[np.isfinite(v)]
    whole = bool(np.all(np.abs(fin - np.round(fin)) < 1e-6))
    return ["" if np.isnan(x) else fmt_num(x) if not np.isfinite(x) else f"{x:,.0f}" if whole else f"{x:,.2f}"
            for x in v]


def _asymptotic(df: pd.Series) -> bool:
    return bool(np.all(~np.isfinite(df.astype(float))))


def fixef_tests_display(ft: pd.DataFrame, level: float = 0.95, exp: bool = False) -> pd.DataFrame:
    """Coefficients with t tests (lmerTest's layout: Estimate, Std. Error, df, t value, Pr(>|t|));
    z value and Pr(>|z|) without a df column when the df are infinite (asymptotic).

    With ``exp`` (log and logit links) the table adds ``exp(Estimate)`` and gives the interval
    on that scale: odds or rate ratios with their intervals, as ``exp(confint(m))`` in R.
    """
    pct = f"{round(level * 100, 1):g}%"
    z = _asymptotic(ft["df"])
    stat = "z" if z else "t"
    out = pd.DataFrame(index=[str(i) for i in ft.index])
    out.index.name = "coefficient"
    out["Estimate"] = [fmt_num(v, 5) for v in ft["estimate"]]
    out["Std. Error"] = [fmt_num(v, 4) for v in ft["std_error"]]
    if not z:
        out["df"] = _df(ft["df"])
    out[f"{stat} value"] = [_fixed(v) for v in ft["statistic"]]
    out[f"Pr(>|{stat}|)"] = [fmt_p(v) for v in ft["p_value"]]
    out[""] = [stars(v) for v in ft["p_value"]]
    if exp:
        out.insert(1, "exp(Estimate)", [fmt_num(v, 5) for v in np.exp(ft["estimate"].to_numpy(float))])
        out[f"{pct} lower (exp)"] = [fmt_num(v, 5) for v in np.exp(ft["lower"].to_numpy(float))]
        out[f"{pct} upper (exp)"] = [fmt_num(v, 5) for v in np.exp(ft["upper"].to_numpy(float))]
    else:
        out[f"{pct} lower"] = [fmt_num(v, 5) for v in ft["lower"]]
        out[f"{pct} upper"] = [fmt_num(v, 5) for v in ft["upper"]]
    return out


def anova_display(a: pd.DataFrame) -> pd.DataFrame:
    """ANOVA table as R prints it: lmerTest's F tests (Sum Sq, Mean Sq, NumDF, DenDF, F value,
    Pr(>F)) or car's Wald χ² tests (Chisq, Df, Pr(>Chisq))."""
    out = pd.DataFrame(index=[str(i) for i in a.index])
    out.index.name = "term"
    if "chisq" in a:
        out["Chisq"] = [_fixed(v, ".3f") for v in a["chisq"]]
        out["Df"] = _df(a["df"])
        out["Pr(>Chisq)"] = [fmt_p(v) for v in a["p_value"]]
    else:
        out["Sum Sq"] = [fmt_num(v, 5) for v in a["sum_sq"]]
        out["Mean Sq"] = [fmt_num(v, 5) for v in a["mean_sq"]]
        out["NumDF"] = _df(a["num_df"])
        out["DenDF"] = _df(a["den_df"])
        out["F value"] = [_fixed(v, ".3f") for v in a["f_value"]]
        out["Pr(>F)"] = [fmt_p(v) for v in a["p_value"]]
    out[""] = [stars(v) for v in a["p_value"]]
    return out


def means_display(table: pd.DataFrame, columns: list[str] | tuple, level: float = 0.95, *,
                  estimate: str = "Estimate", tests: bool = False) -> pd.DataFrame:
    """Marginal means, slopes or predictions (emmeans' layout): the grid's variables as text,
    then the estimate, SE, df and interval; the test against zero only with ``tests``."""
    pct = f"{round(level * 100, 1):g}%"
    out = pd.DataFrame({c: [fmt_num(v, 5) if isinstance(v, float) else str(v) for v in table[c]]
                        for c in columns if c in table})
    out[estimate] = [fmt_num(v, 5) for v in table["estimate"]]
    out["SE"] = [fmt_num(v, 4) for v in table["std_error"]]
    z = _asymptotic(table["df"])
    if not z:
        out["df"] = _df(table["df"])
    out[f"{pct} lower"] = [fmt_num(v, 5) for v in table["lower"]]
    out[f"{pct} upper"] = [fmt_num(v, 5) for v in table["upper"]]
    if tests:
        out["z ratio" if z else "t ratio"] = [_fixed(v) for v in table["statistic"]]
        out["p"] = [fmt_p(v) for v in table["p_value"]]
    return out


def pairs_display(pairs: pd.DataFrame, by: list[str] | tuple = (), level: float = 0.95, *,
                  ratio: bool = False) -> pd.DataFrame:
    """Pairwise comparisons (emmeans' ``pairs`` layout): contrast, the ``by`` columns, estimate
    (difference or ratio), SE, df, adjusted interval, t or z ratio, adjusted p."""
    out = pairs[["contrast"] + [b for b in by if b in pairs]].astype(str).reset_index(drop=True)
    shown = means_display(pairs.reset_index(drop=True), [], level, estimate="Ratio" if ratio else "Difference",
                          tests=True)
    shown[""] = [stars(v) for v in pairs["p_value"]]
    return pd.concat([out, shown], axis=1)
