"""The same model as code for mm_core (Python), lme4 (R) and MixedModels.jl (Julia).

Pure string building from a :class:`~gui.spec.model_spec.ModelSpec`; no Streamlit. The code is
safe to run whatever the user's file and column names are: every name is written as a string
literal or quoted identifier of its language (Python and R string literals, R backticks,
Julia ``Symbol("…")`` and ``var"…"``), never pasted as code. Given the app's working data, the
code also sets the categorical columns and reference levels chosen on the Data page, so it
reproduces the app's coefficients.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from gui import engine
from gui.engine import quote_name
from gui.spec.model_spec import ModelSpec, canonical_link

# the engine's family names are R's, so R code writes ``spec.family`` as it is
_JL_FAMILY = {"gaussian": "Normal()", "binomial": "Bernoulli()", "poisson": "Poisson()", "Gamma": "Gamma()",
              "inverse.gaussian": "InverseGaussian()"}
_JL_LINK = {"logit": "LogitLink()", "probit": "ProbitLink()", "cloglog": "CloglogLink()", "log": "LogLink()",
            "identity": "IdentityLink()", "sqrt": "SqrtLink()", "inverse": "InverseLink()",
            "cauchit": "CauchitLink()", "1/mu^2": "InverseSquareLink()"}
_JL_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JL_KEYWORDS = {"begin", "while", "if", "for", "try", "return", "break", "continue", "function", "macro", "quote",
                "let", "local", "global", "const", "do", "struct", "module", "baremodule", "using", "import",
                "export", "end", "else", "elseif", "catch", "finally", "true", "false", "abstract", "mutable",
                "primitive", "type", "where", "in", "isa", "outer"}


def quoted(text: str) -> str:
    """A double-quoted string literal of ``text``, valid in Python and in R: quotes,
    backslashes and control characters escaped (JSON's rules, which both languages read).

    >>> print(quoted('x.csv"); print("hi'))
    "x.csv\\"); print(\\"hi"
    """
    return json.dumps(str(text), ensure_ascii=False)


def jl_str(text: str) -> str:
    """A Julia string literal of ``text`` (``$`` escaped too, so nothing is interpolated)."""
    return quoted(text).replace("$", "\\$")


def jl_symbol(name: str) -> str:
    """A Julia Symbol: ``:subj`` or ``Symbol("my col")``."""
    return f":{name}" if _JL_IDENT.match(name) and name not in _JL_KEYWORDS else f"Symbol({jl_str(name)})"


def jl_var(name: str) -> str:
    """A column name inside ``@formula``: ``subj`` or ``var"my col"`` (a raw string: ``\\"`` escapes)."""
    if _JL_IDENT.match(name) and name not in _JL_KEYWORDS:
        return name
    raw = re.sub(r'(\\*)"', lambda m: m.group(1) * 2 + '\\"', name)
    raw = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, raw)
    return f'var"{raw}"'


def _ext(dataset: str | None) -> str:
    return os.path.splitext(dataset or "")[1].lower().lstrip(".")


def _is_bundled(dataset: str | None) -> bool:
    return bool(dataset) and not _ext(dataset)


def _data_line(dataset: str | None, lang: str) -> str:
    name = dataset or "mydata.csv"
    ext = _ext(name)
    if lang == "python":
        if _is_bundled(dataset):
            return f"data = datasets.load({quoted(name)})"
        reader = {"xlsx": "read_excel", "xls": "read_excel", "parquet": "read_parquet", "arrow": "read_feather",
                  "feather": "read_feather", "ipc": "read_feather", "sav": "read_spss", "dta": "read_stata",
                  "tsv": "read_table"}.get(ext, "read_csv")
        return f"data = pd.{reader}({quoted(name)})"
    if lang == "r":
        if _is_bundled(dataset):
            return f"data <- read.csv({quoted(name + '.csv')}, stringsAsFactors = TRUE)"
        r_reader = {"xlsx": "readxl::read_excel", "xls": "readxl::read_excel", "parquet": "arrow::read_parquet",
                    "arrow": "arrow::read_feather", "feather": "arrow::read_feather", "ipc": "arrow::read_ipc_stream",
                    "sav": "haven::read_sav", "dta": "haven::read_dta"}.get(ext)
        if r_reader:
            return f"data <- as.data.frame({r_reader}({quoted(name)}))"
        sep = ', sep = "\\t"' if ext == "tsv" else ""
        return f"data <- read.csv({quoted(name)}{sep}, stringsAsFactors = TRUE, check.names = FALSE)"
    if _is_bundled(dataset):
        return f"data = DataFrame(MixedModels.dataset({jl_symbol(name)}))"
    if ext in ("arrow", "feather", "ipc"):
        return f"data = DataFrame(Arrow.Table({jl_str(name)}))"
    if ext in ("csv", "tsv", "txt", ""):
        return f"data = CSV.read({jl_str(name)}, DataFrame)"
    return f"data = CSV.read({jl_str(os.path.splitext(name)[0] + '.csv')}, DataFrame)  # save the table as CSV first"


def python_code(spec: ModelSpec, dataset: str | None = None, inference: Inference | None = None) -> str:
    f = spec.to_formula()
    kw = spec.fit_kwargs()
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    head = "import mm_core\nfrom mm_core import datasets\n" if dataset and "." not in dataset else \
        "import pandas as pd\nimport mm_core\n"
    if inference and inference.at:
        head = "import numpy as np\n" + head
    return (f"{head}\n{_data_line(dataset, 'python')}\n"
            f"result = mm_core.fit(\n    {f!r},\n    data,\n    {args},\n)\n"
            "print(result.summary())\nresult.ranef  # conditional modes by grouping factor\n"
            + ("\n" + python_inference(spec, inference) if inference else ""))


def r_code(spec: ModelSpec, dataset: str | None = None, inference: Inference | None = None) -> str:
    f = spec.to_formula()
    libs = ["library(lme4)"]
    if inference:
        libs = (["library(lme4)", "library(car)"] if spec.is_glmm else
                ["library(lmerTest)  # lme4's lmer with t tests, df and F tests"]) + ["library(emmeans)"]
    lines = libs + ["", _data_line(dataset, "r")]
    for col, levels in (inference.factors.items() if inference else ()):
        ref = f"data[[{quoted(col)}]]"
        lv = ", ".join(quoted(v) for v in levels)
        lines.append(f"{ref} <- factor({ref}, levels = c({lv}))")
    if spec.family == "gaussian" and spec.effective_link == "identity":
        lines.append(f"m <- lmer({f},\n          data = data, REML = {'TRUE' if spec.reml else 'FALSE'})")
    else:
        fam = spec.family
        link = spec.effective_link
        famtxt = f'{fam}(link = "{link}")' if link != canonical_link(spec.family) else f"{fam}"
        if spec.family == "gaussian":
            famtxt = f'gaussian(link = "{link}")'
        nagq = 0 if spec.fast else spec.n_agq
        lines.append(f"m <- glmer({f},\n           data = data, family = {famtxt}, nAGQ = {nagq})")
    lines += ["summary(m)", "ranef(m, condVar = TRUE)  # conditional modes", "lattice::dotplot(ranef(m))"]
    if inference:
        lines += r_inference(spec, inference)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------- column settings of the Data page


def settings_lines(factors: list, lang: str) -> list[str]:
    """Lines that give the data the app's categorical columns and reference levels.

    ``factors``: :class:`gui.spec.data_design.FactorSetting` of the model's columns. Python turns each
    into a pandas categorical with the reference level first, R uses ``factor`` and ``relevel``,
    Julia ``categorical`` with the levels in the app's order (its first level is the base of
    ``DummyCoding``; grouping factors need nothing in Julia).
    """
    if not factors:
        return []
    head = ["", "# the columns the app treats as categorical, with their reference levels"]
    if lang == "python":
        out = head + ["def factor(column, reference=None, codes=False):",
                      "    s = data[column]",
                      "    s = (s.astype(\"Int64\") if codes else s).astype(\"string\").astype(\"category\")",
                      "    if reference is not None:",
                      "        others = [c for c in s.cat.categories if c != reference]",
                      "        s = s.cat.reorder_categories([reference] + others)",
                      "    return s", ""]
        for f in factors:
            args = [quoted(f.name)] + ([quoted(f.reference)] if f.reference is not None else []) + \
                (["codes=True"] if f.numeric_codes else [])
            out.append(f"data[{quoted(f.name)}] = factor({', '.join(args)})")
        return out
    if lang == "r":
        out = head
        for f in factors:
            col = f"data[[{quoted(f.name)}]]"
            out.append(f"{col} <- relevel(factor({col}), ref = {quoted(f.reference)})" if f.reference is not None
                       else f"{col} <- factor({col})")
        return out
    coded = [f for f in factors if f.reference is not None]
    if not coded:
        return []
    out = head + ["using CategoricalArrays"]
    for f in coded:
        levels = ", ".join(str(int(float(v))) if f.numeric_codes else jl_str(v) for v in f.levels)
        out.append(f"data[!, {jl_str(f.name)}] = categorical(data[!, {jl_str(f.name)}]; levels = [{levels}])")
    return out


def with_column_settings(codes: dict[str, str], dataset: str | None, factors: list) -> dict[str, str]:
    """:func:`all_code`'s texts with :func:`settings_lines` right after the line that reads the data."""
    out = {}
    for name, text in codes.items():
        lang = "python" if name.startswith("Python") else ("r" if name.startswith("R") else "julia")
        extra = settings_lines(factors, lang)
        anchor = _data_line(dataset, lang) + "\n"
        out[name] = text.replace(anchor, anchor + "\n".join(extra) + "\n", 1) if extra and anchor in text else text
    return out


def _jl_expr(e: engine.Expr) -> str:
    """One factor of a term in ``@formula`` syntax: names as :func:`jl_var`, ``factor(x)`` as ``x``
    (its coding goes into ``contrasts``)."""
    if isinstance(e, engine.Call) and e.func == "factor":
        e = e.args[0]
    return e.to_text(jl_var)


def _jl_term(t: engine.Term) -> str:
    return " & ".join(_jl_expr(f) for f in t.factors)


def julia_formula(f: engine.Formula) -> str:
    """A parsed formula (:func:`mm_core.parse_formula`) in MixedModels.jl syntax:
    ``zerocorr(1 + x | g)`` for ``||``, ``&`` for interactions, ``var"my col"`` for names that
    are not Julia identifiers, ``(s / n)`` for ``cbind(s, f)``."""
    rhs = ["1" if f.intercept else "0"] + [_jl_term(t) for t in f.fixed]
    rhs += [f"offset({_jl_expr(o)})" for o in f.offsets]
    for r in f.random:
        parts = ["1" if r.intercept else "0"] + [_jl_term(t) for t in r.terms]
        group = " & ".join(jl_var(g) for g in r.group)
        term = f"({' + '.join(parts)} | {group})"
        rhs.append(term if r.correlated else f"zerocorr{term}")
    resp = f.response
    if isinstance(resp, engine.Call) and resp.func == "cbind":
        text = f"({_jl_expr(resp.args[0])} / n)"
    else:
        text = _jl_expr(resp)
    return f"@formula({text} ~ {' + '.join(rhs)})"


def _factor_columns(f: engine.Formula) -> list[str]:
    """Columns the model wraps in ``factor()`` (fixed effects and random slopes), in formula order."""
    terms = list(f.fixed) + [t for r in f.random for t in r.terms]
    calls = [e for t in terms for e in t.factors if isinstance(e, engine.Call) and e.func == "factor"]
    return list(dict.fromkeys(n.name for c in calls for n in c.names()))


def julia_code(spec: ModelSpec, dataset: str | None = None) -> str:
    parsed = engine.parse_formula(spec.to_formula())
    ext = _ext(dataset)
    pkgs = "" if _is_bundled(dataset) else (", Arrow" if ext in ("arrow", "feather", "ipc") else ", CSV")
    lines = ["using MixedModels, DataFrames" + pkgs, "", _data_line(dataset, "julia"),
             f"form = {julia_formula(parsed)}"]
    factor_columns = _factor_columns(parsed)
    contr = ""
    if factor_columns:
        contr = ", contrasts = Dict(" + ", ".join(f"{jl_symbol(c)} => DummyCoding()" for c in factor_columns) + ")"
    if spec.family == "gaussian" and spec.effective_link == "identity":
        lines.append(f"m = fit(MixedModel, form, data; REML = {'true' if spec.reml else 'false'}{contr})")
    else:
        fam = _JL_FAMILY.get(spec.family, "Normal()")
        link = spec.effective_link
        link_arg = f", {_JL_LINK[link]}" if link != canonical_link(spec.family) and link in _JL_LINK else ""
        extra = f"; nAGQ = {spec.n_agq}, fast = {'true' if spec.fast else 'false'}{contr}"
        if isinstance(parsed.response, engine.Call) and parsed.response.func == "cbind":
            extra += ", wts = data.n  # n = number of trials"
        lines.append(f"m = fit(MixedModel, form, data, {fam}{link_arg}{extra})")
    lines += ["println(m)", "ranef(m)  # conditional modes"]
    return "\n".join(lines) + "\n"


def all_code(spec: ModelSpec, dataset: str | None = None, inference: Inference | None = None) -> dict[str, str]:
    return {"Python (mm_core)": python_code(spec, dataset, inference), "R (lme4)": r_code(spec, dataset, inference),
            "Julia (MixedModels.jl)": julia_code(spec, dataset)}


# ------------------------------------------------ fixed-effects inference (Summary, Effects)


@dataclass(frozen=True)
class Inference:
    """The fixed-effects inference a page shows, for the code that reproduces its tables.

    Fields
    ------
    ddf : str
        ``"satterthwaite"``, ``"kenward-roger"`` or ``"asymptotic"`` (z tests).
    anova_type : int
        Type of the ANOVA table (3 or 2); 0 leaves the coefficient tests and ANOVA out.
    specs, by : tuple of str
        Marginal means of ``specs`` within each level of ``by`` (both empty: no means), or the
        levels at which the slopes of ``trend`` are taken.
    trend : str or None
        Slopes of this covariate at each level of ``specs`` instead of means.
    grid, at : tuple of str, dict
        Predictions over the variables ``grid`` with covariate values ``at`` (an effect plot's).
    scale : str
        ``"link"`` or ``"response"`` (GLMM means back-transformed, ratios for pairs).
    adjust : str
        p-value adjustment of the pairwise comparisons (``""``: no comparisons).
    level : float
        Confidence level.
    factors : dict
        Data column -> levels of the factors the model uses (R reads numeric-looking codes as
        numbers; ``factor(..., levels = )`` restores the fit's coding and reference level).
    """

    ddf: str = "satterthwaite"
    anova_type: int = 3
    specs: tuple = ()
    by: tuple = ()
    trend: str | None = None
    grid: tuple = ()
    at: dict = field(default_factory=dict)
    scale: str = "link"
    adjust: str = "tukey"
    level: float = 0.95
    factors: dict = field(default_factory=dict)


_R_DDF = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger"}


def column_of(predictor: str) -> str:
    """The data column behind a predictor: a column name as it is, or the one column of a term
    label read by the engine's parser (``factor(days)`` → ``days``, ```my x``` → ``my x``)."""
    try:
        columns = engine.parse_term(predictor).columns
    except engine.FormulaError:
        return predictor                    # not formula text: a column name such as "my group"
    return next(iter(columns)) if len(columns) == 1 else predictor


def _r_var(predictor: str) -> str:
    """A predictor as emmeans names it: its data column, backticked if needed."""
    return quote_name(column_of(predictor))


def _r_values(values: list) -> str:
    v = [float(x) for x in values]
    if len(v) > 3 and all(abs((v[i + 1] - v[i]) - (v[1] - v[0])) < 1e-9 * max(1.0, abs(v[-1])) for i in
                          range(len(v) - 1)):
        return f"seq({v[0]:.10g}, {v[-1]:.10g}, length.out = {len(v)})"
    return "c(" + ", ".join(f"{x:.10g}" for x in v) + ")"


def _py_values(values: list) -> str:
    r = _r_values(values)
    m = re.match(r"^seq\((.+), (.+), length.out = (\d+)\)$", r)
    return f"np.linspace({m.group(1)}, {m.group(2)}, {m.group(3)}).tolist()" if m else r.replace("c(", "[")[:-1] + "]"


def python_inference(spec: ModelSpec, inf: Inference) -> str:
    """mm_core calls that compute the pages' tests, ANOVA, marginal means and comparisons."""
    ddf = "asymptotic" if spec.is_glmm else inf.ddf
    lv = f"level={inf.level!r}"
    out = []
    if inf.anova_type:
        out += [f"mm_core.fixef_tests(result, ddf={ddf!r}, {lv})", f"mm_core.anova(result, type={inf.anova_type}, "
                f"ddf={ddf!r})"]
    if inf.trend:
        out.append(f"means = mm_core.emtrends(result, {list(inf.specs)!r}, {inf.trend!r}, ddf={ddf!r}, {lv})")
    elif inf.specs:
        by = f", by={list(inf.by)!r}" if inf.by else ""
        out.append(f"means = mm_core.emmeans(result, {list(inf.specs)!r}{by}, ddf={ddf!r}, scale={inf.scale!r}, {lv})")
    if inf.trend or inf.specs:
        out.append("means.table")
        if inf.adjust:
            out.append(f"mm_core.pairwise(means, adjust={inf.adjust!r})")
    if inf.grid:
        at = (", at={" + ", ".join(f"{k!r}: {_py_values(v)}" for k, v in inf.at.items()) + "}") if inf.at else ""
        out.append(f"mm_core.emmeans(result, {list(inf.grid)!r}{at}, ddf={ddf!r}, scale={inf.scale!r}, "
                   f"{lv}).table  # the effect plot")
    return "\n".join(out) + "\n"


def _r_formula(specs: tuple, by: tuple = ()) -> str:
    rhs = " * ".join(_r_var(s) for s in specs) or "1"
    return "~ " + rhs + (" | " + " * ".join(_r_var(b) for b in by) if by else "")


def r_inference(spec: ModelSpec, inf: Inference) -> list[str]:
    """lmerTest / car / emmeans calls that reproduce the pages' tables from the fit ``m``."""
    glmm = spec.is_glmm
    lines = [""]
    if inf.anova_type and glmm:
        lines += ["summary(m)$coefficients  # Wald z tests", f"confint(m, method = \"Wald\", level = {inf.level:g})",
                  f"car::Anova(m, type = {inf.anova_type})  # Wald chi-square tests"]
    elif inf.anova_type and inf.ddf == "asymptotic":
        lines += ["ct <- summary(m, ddf = \"lme4\")$coefficients  # z tests: the t values against the normal",
                  "cbind(ct, \"Pr(>|z|)\" = 2 * pnorm(-abs(ct[, \"t value\"])))",
                  f"anova(m, type = {inf.anova_type}, ddf = \"lme4\")"]
    elif inf.anova_type:
        ddf = quoted(_R_DDF[inf.ddf])
        lines += [f"summary(m, ddf = {ddf})", f"anova(m, type = {inf.anova_type}, ddf = {ddf})"]
    df_arg = "" if glmm else f", lmer.df = {quoted(inf.ddf)}"
    typ = ", type = \"response\"" if glmm and inf.scale == "response" else ""
    infer = f"infer = TRUE, level = {inf.level:g}"
    if inf.trend:
        var = quoted(column_of(inf.trend))
        lines += [f"emm <- emtrends(m, {_r_formula(inf.specs)}, var = {var}{df_arg})", f"summary(emm, {infer})"]
    elif inf.specs:
        lines += [f"emm <- emmeans(m, {_r_formula(inf.specs, inf.by)}{df_arg})", f"summary(emm, {infer}{typ})"]
    if (inf.trend or inf.specs) and inf.adjust:
        lines.append(f"summary(pairs(emm, adjust = {quoted(inf.adjust)}), {infer}{'' if inf.trend else typ})")
    if inf.grid:
        at = ", at = list(" + ", ".join(f"{_r_var(k)} = {_r_values(v)}" for k, v in inf.at.items()) + ")" \
            if inf.at else ""
        lines.append(f"summary(emmeans(m, {_r_formula(inf.grid)}{at}{df_arg}), {infer}{typ})"
                     "  # the effect plot")
    return lines
