"""A report of one or more fits to hand in: a self-contained HTML file and a Word document.

:func:`build` gathers the content from the same sources as the pages (the engine's result, the
tests, ANOVA and marginal means of :mod:`gui.views.effects` with the choices made on the Summary and
Effects pages, the display tables of :mod:`gui.views.tables`, the bootstrap view, the chart builders
and :mod:`gui.views.codegen`), so a number in the report is the number on the page, rounded only when
written out. :func:`to_html` and :func:`to_docx` write the same content: the data description,
then per fit its formula and method, a methods paragraph written from the fit, APA-style tables
(fixed effects, variance components, fit statistics, the ANOVA table, the marginal means and
comparisons of the Effects page, bootstrap intervals), the chosen figures and the code that
reproduces the fit in Python, R and Julia. No Streamlit here.
"""
from __future__ import annotations

import base64
import html
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gui import engine
from gui.files.versions import APP_NAME, APP_VERSION, software
from gui.spec.data_design import group_codes
from gui.views import bootstrap_view, codegen, effects, report_figures, tables
from gui.views.report import method_label

# ============================================================================ content


@dataclass
class Table:
    """A display table (strings) with its APA number, title and note."""

    title: str
    frame: pd.DataFrame
    note: str = ""


@dataclass
class Figure:
    title: str
    png: bytes


@dataclass
class FitSection:
    heading: str
    formula: str
    method: str
    paragraph: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    code: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    title: str
    created: str
    data_paragraphs: list[str]
    data_table: Table
    fits: list[FitSection]
    comparison: Table | None = None
    figure_note: str = ""


@dataclass(frozen=True)
class Inference:
    """The choices of the Summary and Effects pages that the report's tests follow.

    Fields
    ------
    ddf : str
        The df method chosen on the Summary page for LMMs (``"satterthwaite"``,
        ``"kenward-roger"``, ``"asymptotic"``); a GLMM's tests are asymptotic. Where the method
        does not apply to a fit the report falls back as the page does, and says why.
    anova_type : int
        Type of the ANOVA table (3 or 2), as chosen on the Summary page.
    effects : dict
        ``fit id -> keyword arguments of gui.views.effects.shown_means`` (``x, lines, compare, scale,
        level, adjust``): the marginal means or slopes the Effects page shows for the fit; fits
        without an entry have none in the report.

    The tables are computed by the functions of :mod:`gui.views.effects` the pages call (the report
    is built on a download's click, outside the pages' session cache).
    """

    ddf: str = "satterthwaite"
    anova_type: int = 3
    effects: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Tests:
    """The fixed-effects tests of one fit as its Summary page shows them.

    Fields
    ------
    table : DataFrame
        :func:`gui.views.effects.fixef_tests`: ``estimate, std_error, df, statistic, p_value, lower, upper``.
    ddf : str
        The df method the table was computed with.
    why : str
        Why it is not the method chosen ("" when it is).
    level : float
        Confidence level of the intervals.
    """

    table: pd.DataFrame
    ddf: str
    why: str
    level: float

    @property
    def statistic(self) -> str:
        return "z" if self.ddf == "asymptotic" else "t"

    @property
    def label(self) -> str:
        """The tests in words: "t tests with Satterthwaite df", "Wald z tests"."""
        return "Wald z tests" if self.ddf == "asymptotic" else f"t tests with {effects.DDF_LABELS[self.ddf]} df"


def fixef_tests(rec: Any, inference: Inference = Inference(), level: float = 0.95) -> Tests:
    """The fixed-effects tests of a fit as its Summary page shows them: the df method chosen
    there (:func:`gui.views.effects.requested_ddf`) with the page's fallback
    (:func:`gui.views.effects.usable_ddf`), the table from :func:`gui.views.effects.fixef_tests`.

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> from gui.shell.state import FitRecord
    >>> d = datasets.load("sleepstudy")
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", d)
    >>> t = fixef_tests(FitRecord(1, None, m.formula, "sleepstudy", "k", d, m))
    >>> t.ddf, round(float(t.table.loc["days", "df"]), 2)
    ('satterthwaite', 17.0)
    """
    res = rec.result
    ddf, why = "asymptotic", ""
    if res.is_lmm:
        ddf, why = effects.usable_ddf(rec, effects.requested_ddf(res, inference.ddf))
    return Tests(effects.fixef_tests(rec, ddf=ddf, level=level), ddf, why, level)


# ---------------------------------------------------------------- APA number formats


def apa_p(p: Any) -> str:
    """p as APA writes it: ``< .001``, ``.023``, ``.47`` (no leading zero)."""
    try:
        v = float(p)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(v):
        return ""
    if v < 0.001:
        return "< .001"
    return f"{v:.3f}".lstrip("0") if v < 1 else "1.000"


def _num(v: Any, digits: int = 4) -> str:
    return tables.fmt_num(v, digits)


def _fixed_effects_table(tests: Tests) -> Table:
    ft, stat = tests.table, tests.statistic
    pct = f"{round(tests.level * 100)}%"
    rows = []
    for name, r in ft.iterrows():
        rows.append({"Term": str(name), "Estimate": _num(r["estimate"], 5), "SE": _num(r["std_error"], 4),
                     "df": "∞" if not np.isfinite(r["df"]) else f"{r['df']:.1f}",
                     stat: f"{r['statistic']:.2f}" if np.isfinite(r["statistic"]) else "",
                     "p": apa_p(r["p_value"]),
                     f"{pct} CI": f"[{_num(r['lower'], 5)}, {_num(r['upper'], 5)}]"})
    note = (f"Tests: {tests.label}. CI = {pct} confidence interval"
            + (" (Wald)." if stat == "z" else f" with the {effects.DDF_LABELS[tests.ddf]} df."))
    if tests.why:
        note += " " + tests.why
    return Table("Fixed effects", pd.DataFrame(rows), note)


def _variance_table(res: Any) -> Table:
    disp = tables.varcorr_display(res.varcorr)
    note = "Variances and standard deviations of the random effects and of the residual."
    if any(str(c).startswith("Corr") for c in disp.columns):
        note += " Corr: correlations between random effects of the same grouping factor."
    return Table("Variance components", disp, note)


def _fit_statistics_table(res: Any) -> Table:
    disp = tables.fit_statistics(res).rename(columns={"statistic": "Statistic", "value": "Value"})
    return Table("Fit statistics", disp, "Log-likelihood, AIC and BIC on lme4's scale" +
                 ("; the objective and log-likelihood are REML's." if res.reml else "."))


def _generic_display(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        low = str(c).lower()
        if low.startswith("p") and ("value" in low or low in ("p", "pr(>f)", "pr(>chisq)")):
            out[c] = [apa_p(v) for v in out[c]]
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = [_num(v, 4) for v in out[c]]
    return out


def _page_display(disp: pd.DataFrame, p_values: Any = None, first: str | None = None) -> pd.DataFrame:
    """A page's display table for the report: the index as a first column, without the stars,
    p-values (the last column) as APA writes them."""
    disp = disp.drop(columns=[""], errors="ignore")
    if p_values is not None:
        disp[disp.columns[-1]] = [apa_p(v) for v in p_values]
    if first is not None:
        disp = disp.reset_index(names=first)
    return disp.reset_index(drop=True)


def _anova_table(rec: Any, tests: Tests, inference: Inference) -> Table | None:
    if not effects.predictors(rec).terms:
        return None
    kind = "III" if inference.anova_type == 3 else "II"
    tab = effects.anova(rec, type=inference.anova_type, ddf=tests.ddf)
    if not rec.result.is_lmm:
        note = f"Type {kind} Wald χ² tests (car::Anova)."
    elif tests.ddf == "asymptotic":
        note = f"Type {kind} F tests with infinite denominator df."
    else:
        note = f"Type {kind} F tests with {effects.DDF_LABELS[tests.ddf]} denominator df (lmerTest's anova)."
    return Table("Tests of the model's terms", _page_display(tables.anova_display(tab), tab["p_value"], "Term"), note)


def _means_tables(rec: Any, tests: Tests, inference: Inference) -> list[Table]:
    """The marginal means (or slopes) and their comparisons as the Effects page shows them."""
    choice = inference.effects.get(rec.id)
    if not choice:
        return []
    m = effects.shown_means(rec, ddf=tests.ddf, **choice)
    level, scale = choice.get("level", 0.95), choice.get("scale", "link")
    slopes = not effects.predictors(rec).is_factor(choice["x"])
    grid = ", ".join(v for v in m.columns if v not in m.by)
    if slopes:
        title = f"Slope of {choice['x']}" + (f" at each level of {grid}" if m.columns else "")
        disp = _page_display(tables.means_display(m.table, m.columns, level, estimate="Slope", tests=True),
                             m.table["p_value"])
    else:
        title = f"Estimated marginal means of {grid}" + (f" within each level of {', '.join(m.by)}" if m.by else "")
        disp = _page_display(tables.means_display(m.table, m.columns, level,
                                                  estimate=effects.estimate_label(rec.result, scale)))
    where = ("" if rec.result.is_lmm or slopes else " on the response scale, back-transformed from the link scale,"
             if scale == "response" else " on the link scale,")
    note = (f"{'Slopes' if slopes else 'Means'}{where} as emmeans computes them: factors not shown averaged with "
            "equal weights, covariates not shown at their means; "
            + (f"{effects.DDF_LABELS[tests.ddf]} df" if tests.ddf != "asymptotic" else "asymptotic (z)")
            + f" {round(level * 100)}% confidence intervals.")
    out = [Table(title, disp, note)]
    if m.pairs is not None:
        adjust = choice.get("adjust", "tukey")
        words = effects.scales(rec.result)
        out.append(Table(f"Pairwise comparisons of the {'slopes' if slopes else 'means'}",
                         _page_display(tables.pairs_display(m.pairs, m.by, level, ratio=m.ratio),
                                       m.pairs["p_value"]),
                         f"Estimates are {words.ratio + 's' if m.ratio else 'differences'}; p-values and intervals "
                         + ("not adjusted for multiple comparisons." if adjust == "none" else
                            f"with {effects.ADJUST_LABELS[adjust]} adjustment.")))
    return out


def _bootstrap_table(boot: Any, level: float) -> Table:
    view = bootstrap_view.view(boot, level=level)
    t = view.table
    pct = f"{round(level * 100)}%"
    disp = pd.DataFrame({"Parameter": [str(i) for i in t.index], "Estimate": [_num(v, 5) for v in t["estimate"]],
                         "Bootstrap SD": [_num(v, 4) for v in t["bootstrap SD"]],
                         f"Shortest {pct} interval": [f"[{_num(a, 5)}, {_num(b, 5)}]" for a, b in
                                                      zip(t["shortest lower"], t["shortest upper"])],
                         f"Equal-tail {pct} interval": [f"[{_num(a, 5)}, {_num(b, 5)}]" for a, b in
                                                        zip(t["equal-tail lower"], t["equal-tail upper"])]})
    return Table("Parametric bootstrap intervals", disp,
                 f"{len(view.samples)} replicates, seed {boot.seed}. {view.singular_text}")


# ---------------------------------------------------------------- methods paragraph


def _optimizer_words(name: str) -> str:
    """The optimizer as a methods section names it: NLopt's BOBYQA (lme4's default) or the
    quasi-Newton method on the analytic gradient the engine uses where that gradient is cheap."""
    if name == "LN_BOBYQA":
        return "BOBYQA (NLopt's LN_BOBYQA, as lme4)"
    return name or "BOBYQA"


def _estimation(res: Any) -> str:
    if res.is_lmm:
        return ("restricted maximum likelihood (REML)" if res.method == "REML" else "maximum likelihood (ML)")
    if res.method == "fast":
        return ("maximum likelihood with the Laplace approximation, the fixed effects estimated inside the "
                "penalized iteratively reweighted least squares (lme4's nAGQ = 0)")
    if res.method == "Laplace":
        return "maximum likelihood with the Laplace approximation to the marginal likelihood"
    return f"maximum likelihood with adaptive Gauss–Hermite quadrature ({res.n_agq} points)"


def _random_structure(rec: Any) -> str:
    res = rec.result
    used = rec.data.iloc[np.asarray(res.rows)]
    parts = []
    for r in rec.spec.random:
        n = res.ranef[r.group].shape[0] if r.group in res.ranef else group_codes(used, r.group).nunique()
        parts.append(r.describe().replace(f"for each level of {r.group}", f"for each of the {n:,} levels of {r.group}"))
    return "; ".join(parts) if parts else "none"


def _contrasts(res: Any) -> str:
    codings = res.design.contrasts
    if not codings:
        return "No fixed-effect predictor is categorical, so no contrasts apply."
    bits = []
    for name, c in codings.items():
        kind = type(c).__name__.lower()
        ref = c.reference if isinstance(c, engine.Treatment) else None
        bits.append(f"{name} ({kind} coding" + (f", reference level '{ref}')" if ref is not None else ")"))
    return "Categorical predictors were coded as " + "; ".join(bits) + "."


def methods_paragraph(rec: Any, tests: Tests, boot: Any = None, boot_level: float = 0.95,
                      inference: Inference = Inference()) -> str:
    """A methods paragraph written from the fit: software, estimation, optimizer and convergence,
    df method, random-effects structure, contrasts, singular-fit and convergence notes."""
    res = rec.result
    sw = software()
    o = res.optsum
    kind = ("a linear mixed model" if res.is_lmm else
            f"a generalized linear mixed model ({res.family} family, {res.link} link)")
    fixed = (["an intercept"] if rec.spec.intercept else []) + list(rec.spec.fixed)
    crit = "REML criterion" if res.is_lmm and res.reml else ("profiled deviance" if res.is_lmm else "deviance")
    text = [
        f"{rec.short_label.capitalize()} is {kind} for {rec.spec.response or 'the response'}, fitted by "
        f"{_estimation(res)} in {sw['engine']} ({sw['app']}; Python {sw['python']}, "
        f"NumPy {sw['numpy']}, SciPy {sw['scipy']}, pandas {sw['pandas']}, NLopt {sw['nlopt']}), whose model "
        "definitions and estimates follow lme4 (Bates, Mächler, Bolker & Walker, 2015).",
        f"Fixed effects: {', '.join(fixed) if fixed else 'none'}. Random effects: {_random_structure(rec)}.",
        _contrasts(res),
        f"The {crit} was minimized by {_optimizer_words(o.optimizer)} in {o.evaluations:,} evaluations "
        f"(stopping reason: {o.return_value}); a convergence check of its gradient and Hessian found the fit "
        f"{o.verdict}.",
        f"The analysis used {res.nobs:,} observations" + (f"; {res.n_dropped:,} rows with missing values were "
                                                          "dropped." if res.n_dropped else
                                                          "; no rows were dropped."),
    ]
    pct = f"{round(tests.level * 100)}%"
    if tests.ddf == "asymptotic":
        text.append(f"Fixed effects were tested with Wald z tests (infinite denominator df) with {pct} Wald "
                    "confidence intervals.")
    else:
        source = "pbkrtest" if tests.ddf == "kenward-roger" else "lmerTest"
        text.append(f"Fixed effects were tested with t tests with {effects.DDF_LABELS[tests.ddf]} denominator "
                    f"degrees of freedom (as {source} computes them), with {pct} confidence intervals from the "
                    "same t distributions.")
    if tests.why:
        text.append(tests.why)
    if effects.predictors(rec).terms:
        kind = "III" if inference.anova_type == 3 else "II"
        text.append(f"The model's terms were tested with type {kind} "
                    + ("Wald χ² tests (as car::Anova computes them)." if not res.is_lmm else
                       "F tests with infinite denominator df." if tests.ddf == "asymptotic" else
                       f"F tests with {effects.DDF_LABELS[tests.ddf]} denominator df (as lmerTest's anova "
                       "computes them)."))
    choice = inference.effects.get(rec.id)
    if choice:
        adjust = choice.get("adjust", "tukey")
        text.append("Estimated marginal means and slopes were computed as emmeans computes them, over a reference "
                    "grid with equal weights for the factors not shown and the covariates at their means, with "
                    + ("unadjusted pairwise comparisons." if adjust == "none" else
                       f"{effects.ADJUST_LABELS[adjust]}-adjusted pairwise comparisons."))
    if res.is_singular:
        text.append("The fit is singular: at least one variance is estimated as zero or one correlation as ±1, "
                    "so the random-effects structure is more complex than the data support.")
    else:
        text.append("The fit is not singular.")
    notes = [str(w) for w in (res.warnings or ())] + [str(m) for m in (o.messages or ())]
    if not o.converged:
        notes.insert(0, "The convergence check failed; the estimates may not be at the optimum.")
    if notes:
        text.append("Notes: " + " ".join(n if n.endswith(".") else n + "." for n in dict.fromkeys(notes)))
    if boot is not None:
        b = boot.result
        text.append(f"A parametric bootstrap ({b.n:,} replicates, seed {boot.seed}) simulated responses from the "
                    f"fitted model and refitted it; intervals are the shortest intervals covering "
                    f"{round(boot_level * 100)}% of the replicates.")
    return " ".join(text)


# ---------------------------------------------------------------- assembling


def _data_section(records: Sequence[Any]) -> tuple[list[str], Table]:
    seen: dict[str, Any] = {}
    for rec in records:
        seen.setdefault(rec.data_key, rec)
    paragraphs = []
    for rec in seen.values():
        d = rec.data
        kinds = [f"{c} (categorical, {d[c].nunique():,} levels)" if isinstance(d[c].dtype, pd.CategoricalDtype)
                 else f"{c} (numeric)" for c in d.columns[:40]]
        more = f" and {len(d.columns) - 40} more" if len(d.columns) > 40 else ""
        paragraphs.append(f"Data '{rec.data_name}': {len(d):,} rows, {d.shape[1]} columns: {', '.join(kinds)}{more}.")
    rows = []
    for rec in records:
        res = rec.result
        groups = []
        for g in res.ranef:
            levels = [str(v) for v in res.ranef[g].index]
            shown = ", ".join(levels[:8]) + (", …" if len(levels) > 8 else "")
            groups.append(f"{g}: {len(levels):,} levels ({shown})")
        rows.append({"Fit": rec.short_label, "Data": rec.data_name, "Rows used": f"{res.nobs:,}",
                     "Rows dropped": f"{res.n_dropped:,}", "Grouping factors and levels": "; ".join(groups)})
    note = "Rows dropped: rows with a missing value in a variable of the model."
    return paragraphs, Table("Observations and grouping factors", pd.DataFrame(rows), note)


def _fit_section(rec: Any, boot: Any, chosen: Sequence[str], levels: dict, inference: Inference,
                 figs_out: list) -> FitSection:
    res = rec.result
    tests = fixef_tests(rec, inference, levels["fixef"])
    tabs = [_fixed_effects_table(tests), _variance_table(res), _fit_statistics_table(res)]
    anova = _anova_table(rec, tests, inference)
    if anova is not None:
        tabs.append(anova)
    tabs += _means_tables(rec, tests, inference)
    if boot is not None:
        tabs.append(_bootstrap_table(boot, levels["boot"]))
    sec = FitSection(heading=rec.label[:1].upper() + rec.label[1:], formula=rec.formula, method=method_label(res),
                     paragraph=methods_paragraph(rec, tests, boot, levels["boot"], inference), tables=tabs,
                     code=codegen.all_code(rec.spec, rec.data_name))
    for title, fig in report_figures.figures(rec, boot, list(chosen), ranef_level=levels["ranef"],
                                             boot_level=levels["boot"]):
        figs_out.append((sec, title, fig))
    return sec


def build(records: Sequence[Any], boots: dict[int, Any] | None = None, *, figures: Sequence[str] = (),
          level: float = 0.95, ranef_level: float = 0.95, boot_level: float = 0.95,
          inference: Inference = Inference(),
          comparison: pd.DataFrame | None = None, title: str | None = None,
          render: Callable[[list], list[bytes]] | None = None) -> Report:
    """The report's content for the fits ``records`` (``FitRecord`` objects).

    Parameters
    ----------
    records : sequence of FitRecord
    boots : dict, optional
        ``fit id -> BootRecord``: bootstrap runs to report (intervals, histograms).
    figures : sequence of str
        Kinds of figure to include, from :data:`gui.views.report_figures.CHOICES`.
    level, ranef_level, boot_level : float
        Levels of the fixed effects' confidence intervals (95 %, as on the Summary page), of the
        random effects' prediction intervals and of the bootstrap intervals (those the Random
        effects and Bootstrap pages are set to).
    inference : Inference
        The df method and ANOVA type chosen on the Summary page and the Effects page's choices
        per fit; the fixed-effects tests, ANOVA table and marginal means follow them.
    comparison : DataFrame, optional
        The Compare page's table of all fits (``gui.views.tables.compare_table``).
    render : callable, optional
        Figures to PNG bytes (default :func:`gui.views.report_figures.to_png`).
    """
    boots = boots or {}
    paragraphs, data_table = _data_section(records)
    figs: list = []
    levels = {"fixef": level, "ranef": ranef_level, "boot": boot_level}
    sections = [_fit_section(rec, boots.get(rec.id), figures, levels, inference, figs)
                for rec in records]
    note = ""
    if figs:
        try:
            pngs = (render or report_figures.to_png)([f for _, _, f in figs])
            for (sec, caption, _), png in zip(figs, pngs):
                sec.figures.append(Figure(caption, png))
        except Exception as e:
            note = f"The figures could not be drawn ({type(e).__name__}: {str(e)[:200]}); the tables are complete."
    comp = None
    if comparison is not None:
        disp = comparison.drop(columns=[c for c in ("seconds",) if c in comparison.columns])
        comp = Table("Comparison of the fits", _generic_display(disp),
                     "Information criteria are comparable only between fits to the same rows.")
    return Report(title=title or (f"Mixed model report: {records[0].label}" if len(records) == 1
                                  else f"Mixed model report: {len(records)} fits"),
                  created=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  data_paragraphs=paragraphs, data_table=data_table, fits=sections, comparison=comp,
                  figure_note=note)


def _numbered(report: Report) -> list[tuple[str, Any]]:
    """Every block of the report in reading order, tables and figures numbered as APA does."""
    blocks: list[tuple[str, Any]] = [("h1", report.title),
                                     ("meta", f"{APP_NAME} {APP_VERSION} · {report.created}"), ("h2", "Data")]
    blocks += [("p", p) for p in report.data_paragraphs]
    n_tab = n_fig = 0

    def table(t: Table) -> None:
        nonlocal n_tab
        n_tab += 1
        blocks.append(("table", (f"Table {n_tab}", t)))

    table(report.data_table)
    if report.comparison is not None:
        table(report.comparison)
    if report.figure_note:
        blocks.append(("note", report.figure_note))
    for sec in report.fits:
        blocks.append(("h2", sec.heading))
        blocks.append(("p", f"Formula: {sec.formula}"))
        blocks.append(("p", f"Method: {sec.method}"))
        blocks.append(("h3", "Methods"))
        blocks.append(("methods", sec.paragraph))
        blocks.append(("h3", "Results"))
        for t in sec.tables:
            table(t)
        for f in sec.figures:
            n_fig += 1
            blocks.append(("figure", (f"Figure {n_fig}", f)))
        blocks.append(("h3", "Code reproducing the fit"))
        for lang, code in sec.code.items():
            blocks.append(("code", (lang, code)))
    return blocks


# ============================================================================ HTML

_CSS = """
body{font-family:"Times New Roman",Georgia,serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111;
line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2.2rem;border-bottom:1px solid #999}h3{font-size:1.1rem}
.meta{color:#555;font-size:.9rem}.methods{text-align:justify}
table.apa{border-collapse:collapse;margin:.4rem 0 .3rem;font-size:.95rem}
table.apa th{border-top:2px solid #000;border-bottom:1px solid #000;padding:.25rem .7rem;text-align:left}
table.apa td{padding:.2rem .7rem;vertical-align:top}table.apa tr:last-child td{border-bottom:2px solid #000}
.tnum{font-weight:bold;margin-top:1.4rem}.ttitle{font-style:italic;margin-bottom:.2rem}
.tnote{font-size:.85rem;margin-bottom:1rem}.tnote em{font-style:italic}
figure{margin:1.2rem 0}figure img{max-width:100%;border:1px solid #ddd}
pre{background:#f5f5f5;padding:.7rem;overflow-x:auto;font-size:.8rem}.note{color:#8a5a00}
"""


def _html_table(label: str, t: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in t.frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>"
                   for row in t.frame.itertuples(index=False))
    note = f'<div class="tnote"><em>Note.</em> {e(t.note)}</div>' if t.note else ""
    return (f'<div class="tnum">{e(label)}</div><div class="ttitle">{e(t.title)}</div>'
            f'<table class="apa"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}')


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page (styles and images inline; all text escaped)."""
    e = html.escape
    parts = []
    for kind, v in _numbered(report):
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{e(v)}</{kind}>")
        elif kind == "meta":
            parts.append(f'<p class="meta">{e(v)}</p>')
        elif kind == "p":
            parts.append(f"<p>{e(v)}</p>")
        elif kind == "methods":
            parts.append(f'<p class="methods">{e(v)}</p>')
        elif kind == "note":
            parts.append(f'<p class="note">{e(v)}</p>')
        elif kind == "table":
            parts.append(_html_table(*v))
        elif kind == "figure":
            label, f = v
            src = "data:image/png;base64," + base64.b64encode(f.png).decode()
            parts.append(f'<figure><div class="tnum">{e(label)}</div><div class="ttitle">{e(f.title)}</div>'
                         f'<img alt="{e(f.title)}" src="{src}"></figure>')
        elif kind == "code":
            lang, code = v
            parts.append(f"<p><strong>{e(lang)}</strong></p><pre><code>{e(code)}</code></pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


# ============================================================================ Word


def _apa_borders(table: Any) -> None:
    """APA table rules: a line above and below the header row and below the last row."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def border(cell: Any, side: str, size: int) -> None:
        tc_pr = cell._tc.get_or_add_tcPr()
        borders = tc_pr.find(qn("w:tcBorders"))
        if borders is None:
            borders = OxmlElement("w:tcBorders")
            tc_pr.append(borders)
        el = OxmlElement(f"w:{side}")
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:color"), "000000")
        borders.append(el)

    rows = table.rows
    for cell in rows[0].cells:
        border(cell, "top", 12)
        border(cell, "bottom", 6)
    for cell in rows[-1].cells:
        border(cell, "bottom", 12)


def to_docx(report: Report) -> bytes:
    """The report as a Word document (python-docx): headings, APA tables, figures, code."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Inches, Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(11)
    for kind, v in _numbered(report):
        if kind == "h1":
            doc.add_heading(v, level=0)
        elif kind in ("h2", "h3"):
            doc.add_heading(v, level=1 if kind == "h2" else 2)
        elif kind in ("p", "meta", "note"):
            para = doc.add_paragraph(v)
            if kind != "p":
                para.runs[0].italic = True
        elif kind == "methods":
            para = doc.add_paragraph(v)
            para.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        elif kind == "table":
            label, t = v
            doc.add_paragraph().add_run(label).bold = True
            doc.add_paragraph().add_run(t.title).italic = True
            frame = t.frame
            tab = doc.add_table(rows=len(frame) + 1, cols=len(frame.columns))
            for j, c in enumerate(frame.columns):
                cell = tab.cell(0, j)
                cell.text = str(c)
            for i, row in enumerate(frame.itertuples(index=False), start=1):
                for j, val in enumerate(row):
                    tab.cell(i, j).text = str(val)
            for row in tab.rows:
                for cell in row.cells:
                    for para in cell.paragraphs:
                        for run in para.runs:
                            run.font.size = Pt(9.5)
            _apa_borders(tab)
            if t.note:
                para = doc.add_paragraph()
                para.add_run("Note. ").italic = True
                para.add_run(t.note).font.size = Pt(9.5)
        elif kind == "figure":
            label, f = v
            doc.add_paragraph().add_run(label).bold = True
            doc.add_paragraph().add_run(f.title).italic = True
            doc.add_picture(io.BytesIO(f.png), width=Inches(6.3))
        elif kind == "code":
            lang, code = v
            doc.add_paragraph().add_run(lang).bold = True
            para = doc.add_paragraph()
            run = para.add_run(code.rstrip("\n"))
            run.font.name = "Courier New"
            run.font.size = Pt(8.5)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
