"""The Plan page's pure parts: the design form as engine objects, the power curve and table, and
the sandbox's true-against-estimated comparisons. No Streamlit here.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gui import engine
from gui.figures.charts_common import BLUE, GREEN, GREY, PALETTE, VERMILION, base_layout

#: Test choices shown to the user -> (kind, ddf).
TEST_CHOICES: dict[str, tuple[str, str]] = {
    "t test (Satterthwaite df)": ("t", "satterthwaite"),
    "t test (Kenward–Roger df)": ("t", "kenward-roger"),
    "Wald z test": ("t", "z"),
    "F test of the term (type III)": ("F", "satterthwaite"),
    "Likelihood-ratio test (model without the term)": ("LRT", ""),
}
#: The tests that apply to a GLMM (no small-sample degrees of freedom).
GLMM_TESTS = ["Wald z test", "Likelihood-ratio test (model without the term)"]
FAMILIES = ["gaussian", "binomial", "poisson"]
MAX_SANDBOX_ROWS = 20_000


class PlanInputError(ValueError):
    """A field of the Plan page's forms that cannot be used; the message names it."""


# ============================================================================ parsing the form
def parse_sizes(text: str, *, minimum: int = 1, what: str = "sizes") -> list[int]:
    """``"10, 20, 40"`` -> ``[10, 20, 40]``; a clear message for anything else."""
    parts = [p for p in re.split(r"[,\s;]+", str(text or "").strip()) if p]
    if not parts:
        raise PlanInputError(f"Give the {what} as whole numbers separated by commas, e.g. 10, 20, 40.")
    out = []
    for p in parts:
        if not re.fullmatch(r"\d+", p):
            raise PlanInputError(f"'{p}' in the {what} is not a whole number.")
        out.append(int(p))
    if len(out) > 12:
        raise PlanInputError(f"Give at most 12 {what} (got {len(out)}).")
    low = [v for v in out if v < minimum]
    if low:
        raise PlanInputError(f"The {what} must not be below the current design ({minimum}); got {low}.")
    return sorted(set(out))


def parse_values(text: str, what: str) -> list:
    """``"0, 1, 2"`` -> numbers; ``"control, drug"`` -> labels; at least two distinct values."""
    parts = [p.strip() for p in str(text or "").split(",") if p.strip()]
    if len(parts) < 2:
        raise PlanInputError(f"Give at least two values for {what}, separated by commas.")
    try:
        vals: list = [float(p) for p in parts]
        vals = [int(v) if v.is_integer() else v for v in vals]
    except ValueError:
        vals = parts
    if len(set(vals)) != len(vals):
        raise PlanInputError(f"The values of {what} repeat: {parts}.")
    return vals


@dataclass
class DesignForm:
    """What the design widgets hold (plain values, kept in session state between pages)."""

    group: str = "subj"
    n_groups: int = 8
    item: str = ""
    n_items: int = 0
    n_obs: int = 10
    between: str = "treat"
    between_values: str = "control, drug"
    within: str = ""
    within_values: str = "0, 1, 2, 3"
    response: str = "y"
    formula: str = ""
    family: str = "gaussian"

    def design(self) -> Any:
        name = _ident(self.group, "the grouping factor")
        groups = {name: int(self.n_groups)}
        if self.item.strip() and int(self.n_items) > 0:
            groups[_ident(self.item, "the crossed factor")] = int(self.n_items)
        between = {}
        if self.between.strip():
            between[_ident(self.between, "the between factor")] = (
                name, parse_values(self.between_values, f"'{self.between}'"))
        within = {}
        if self.within.strip():
            within[_ident(self.within, "the within factor")] = parse_values(self.within_values,
                                                                              f"'{self.within}'")
        try:
            return engine.StudyDesign(groups=groups, n_obs=int(self.n_obs), within=within, between=between)
        except engine.MixedModelError as e:
            raise PlanInputError(str(e)) from None

    def default_formula(self) -> str:
        fixed = ["1"] + [v.strip() for v in (self.between, self.within) if v.strip()]
        rand = [f"(1 | {self.group.strip()})"]
        if self.item.strip() and int(self.n_items) > 0:
            rand.append(f"(1 | {self.item.strip()})")
        return f"{self.response.strip() or 'y'} ~ " + " + ".join(fixed + rand)

    def formula_text(self) -> str:
        return self.formula.strip() or self.default_formula()


def _ident(text: str, what: str) -> str:
    t = str(text or "").strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", t):
        raise PlanInputError(f"The name of {what} must start with a letter and use letters, digits or _ "
                             f"(got '{t}').")
    return t


def with_response(frame: pd.DataFrame, formula: str) -> pd.DataFrame:
    """The design's ``frame`` with a placeholder 0/1 column for each column of the formula's
    response, so the formula can be materialized before any data are simulated.

    Raises :class:`mm_core.errors.FormulaError` when ``formula`` does not parse.
    """
    response = engine.parse_formula(formula).response
    return frame.assign(**{n.name: np.arange(len(frame)) % 2 for n in response.names()})


def parameter_rows(design: Any, formula: str, family: str, old: pd.DataFrame | None = None) -> pd.DataFrame:
    """The editable table of true values: fixed effects, standard deviations, correlations, σ.

    Values already in ``old`` (same kind and name) are kept; new rows start at 0 (intercept),
    0.5 (other fixed effects), 1 (standard deviations and σ) or 0 (correlations).
    """
    try:
        d = engine.materialize(formula, with_response(design.frame(), formula))
    except engine.MixedModelError as e:
        raise PlanInputError(f"The model formula does not fit the design: {e}") from None
    if not d.reterms:
        raise PlanInputError("The model formula needs a random-effects term such as (1 | subj).")
    rows = [("fixed effect", nm, 0.0 if nm == "(Intercept)" else 0.5) for nm in d.fixef_names]
    for t in d.reterms:
        rows += [("standard deviation", f"{nm} | {t.group}", 1.0) for nm in t.names]
        rows += [("correlation", f"{a}, {b} | {t.group}", 0.0)
                 for i, a in enumerate(t.names) for b in t.names[i + 1:]]
    if family == "gaussian":
        rows.append(("residual", "sigma", 1.0))
    out = pd.DataFrame(rows, columns=["kind", "parameter", "value"])
    if old is not None and len(old):
        prev = {(k, p): v for k, p, v in old[["kind", "parameter", "value"]].itertuples(index=False)}
        out["value"] = [prev.get((k, p), v) for k, p, v in out.itertuples(index=False)]
    return out


def true_model(formula: str, family: str, rows: pd.DataFrame, reml: bool = True) -> Any:
    """A :class:`mm_core.TrueModel` from the parameter table."""
    fixef: dict[str, float] = {}
    sd: dict[str, dict[str, float]] = {}
    corr: dict[str, dict[tuple[str, str], float]] = {}
    sigma: float | None = None
    for kind, name, value in rows[["kind", "parameter", "value"]].itertuples(index=False):
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise PlanInputError(f"The value of '{name}' is not a number.") from None
        if not math.isfinite(v):
            raise PlanInputError(f"The value of '{name}' must be a finite number.")
        if kind == "fixed effect":
            fixef[name] = v
        elif kind == "standard deviation":
            col, g = (s.strip() for s in name.rsplit("|", 1))
            sd.setdefault(g, {})[col] = v
        elif kind == "correlation":
            pair, g = (s.strip() for s in name.rsplit("|", 1))
            a, b = (s.strip() for s in pair.split(",", 1))
            corr.setdefault(g, {})[(a, b)] = v
        else:
            sigma = v
    return engine.TrueModel(formula, fixef=fixef, sd=sd, corr=corr, sigma=sigma, family=family,
                            reml=reml and family == "gaussian")


def make_test(kind_label: str, name: str) -> Any:
    kind, ddf = TEST_CHOICES[kind_label]
    if kind == "t":
        return engine.CoefficientTest(name, ddf)
    if kind == "F":
        return engine.TermTest(name, ddf)
    return engine.LikelihoodRatioTest(name)


def fit_terms(result: Any) -> dict[str, list[str]]:
    """Fixed-effects terms of a fit -> their coefficients (intercept excluded)."""
    d = result.design
    names = set(result.fixef.index)
    out: dict[str, list[str]] = {}
    for nm, term in zip(d.fixef_names, d.fixef_terms):
        if nm in names and nm != "(Intercept)":
            out.setdefault(term, []).append(nm)
    return out


# ============================================================================ power: figure, table
def power_curve(table: pd.DataFrame, *, target: float = 0.8, along: str | None = None,
                level: float = 0.05, title: str = "") -> go.Figure:
    """Power against size with its 95 % Clopper–Pearson band and the target power line."""
    t = table.sort_values("size")
    x = t["size"].to_numpy(float)
    xs = [float(v) for v in x]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]),
                             y=np.concatenate([t["upper"], t["lower"].to_numpy()[::-1]]),
                             fill="toself", fillcolor="rgba(0,114,178,0.18)", line={"width": 0}, mode="lines",
                             hoverinfo="skip", name="95% interval"))
    fig.add_trace(go.Scatter(x=xs, y=[float(v) for v in t["power"]], mode="lines+markers", name="power",
                             line={"color": BLUE, "width": 2.5}, marker={"size": 8},
                             customdata=np.column_stack([t["lower"], t["upper"], t["n_sim"]]),
                             hovertemplate="size %{x}<br>power %{y:.1%}<br>95%% interval "
                                           "%{customdata[0]:.1%} – %{customdata[1]:.1%}<br>"
                                           "%{customdata[2]} simulations<extra></extra>"))
    fig.add_hline(y=target, line={"color": VERMILION, "dash": "dash"},
                  annotation_text=f"target {target:.0%}", annotation_position="top left")
    fig.add_hline(y=level, line={"color": GREY, "dash": "dot"},
                  annotation_text=f"α = {level:g}", annotation_position="bottom right")
    reach = first_reaching(table, target)
    if reach is not None:
        fig.add_vline(x=reach, line={"color": GREEN, "dash": "dot"},
                      annotation_text=f"reaches {target:.0%} at {reach:g}", annotation_position="bottom right")
    base_layout(fig, title or "Power curve", height=440)
    _legend(fig)
    fig.update_xaxes(title_text=f"levels of {along}" if along and along != "observations"
                     else ("observations per cell" if along else "observations"))
    fig.update_yaxes(title_text="power", range=[0, 1.02], tickformat=".0%")
    return fig


def _legend(fig: go.Figure) -> None:
    fig.update_layout(showlegend=True, legend={"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0})


def first_reaching(table: pd.DataFrame, target: float) -> float | None:
    """Smallest size whose estimated power reaches the target (None if none does)."""
    ok = table.loc[table["power"] >= target, "size"]
    return float(ok.min()) if len(ok) else None


def power_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table as shown: percentages, plain column names."""
    out = pd.DataFrame({"size": table["size"], "observations": table["nobs"],
                        "simulations": table["n_sim"], "power": table["power"] * 100,
                        "lower 95%": table["lower"] * 100, "upper 95%": table["upper"] * 100,
                        "failed fits %": table["failed"] * 100, "singular fits %": table["singular"] * 100})
    if "estimate_mean" in table:
        out["true effect"] = table["true_value"]
        out["mean estimate"] = table["estimate_mean"]
        out["SD of estimates"] = table["estimate_sd"]
        out["mean SE"] = table["std_error_mean"]
    if table["mean_df"].notna().any():
        out["mean df"] = table["mean_df"]
    return out.round(3)


def power_summary(result: Any, target: float) -> str:
    """One plain sentence on the curve."""
    reach = first_reaching(result.table, target)
    t = result.table
    best = t.iloc[-1]
    text = (f"{result.test.label}, α = {result.level:g}: power {best['power']:.0%} "
            f"(95% interval {best['lower']:.0%}–{best['upper']:.0%}) at size {best['size']:g}.")
    if reach is not None:
        text += f" The target {target:.0%} is first reached at size {reach:g}."
    else:
        text += f" None of the sizes reaches the target {target:.0%}."
    if result.cancelled:
        text += f" The run was stopped: {result.n_done} simulations were kept."
    return text


# ============================================================================ the sandbox
def sandbox_fixed(result: Any, truth: Any) -> pd.DataFrame:
    """True against estimated fixed effects with 95 % Wald intervals."""
    ct = result.coeftable
    true = pd.Series({nm: float(truth.fixef.get(nm, 0.0)) for nm in ct.index})
    out = pd.DataFrame({"true": true, "estimate": ct["estimate"], "std_error": ct["std_error"],
                        "lower": ct["ci_lower"], "upper": ct["ci_upper"]})
    out["covered"] = (out["lower"] <= out["true"]) & (out["true"] <= out["upper"])
    out.index.name = "coefficient"
    return out


def sandbox_variances(result: Any, truth: Any) -> pd.DataFrame:
    """True against estimated standard deviations (random effects and residual)."""
    rows = []
    for _, r in result.varcorr.iterrows():
        if r["group"] == "Residual":
            rows.append(("residual", "sigma", truth.sigma, r["sd"]))
            continue
        given = (truth.sd or {}).get(r["group"], {})
        tv = given.get(r["name"], math.nan) if isinstance(given, dict) else float(given)
        rows.append((r["group"], r["name"], tv, r["sd"]))
    return pd.DataFrame(rows, columns=["group", "name", "true sd", "estimated sd"])


def shrinkage_frame(result: Any, effects: dict) -> pd.DataFrame:
    """True random effects against the fit's conditional modes, per group, level and column."""
    rows = []
    for g, true in effects.items():
        est = result.ranef.get(g)
        if est is None:
            continue
        for col in true.columns:
            if col not in est.columns:
                continue
            e = est[col].reindex([str(lvl) for lvl in true.index])
            for lvl, tv, ev in zip(true.index, true[col].to_numpy(), e.to_numpy()):
                rows.append((g, col, str(lvl), float(tv), float(ev)))
    return pd.DataFrame(rows, columns=["group", "column", "level", "true", "estimate"])


def truth_vs_estimate(fixed: pd.DataFrame, variances: pd.DataFrame) -> go.Figure:
    """Fixed effects and standard deviations: true values (crosses) and estimates (dots, intervals)."""
    fig = go.Figure()
    names = list(fixed.index) + [f"sd {g}: {n}" if g != "residual" else "sigma"
                                 for g, n in zip(variances["group"], variances["name"])]
    est = list(fixed["estimate"]) + list(variances["estimated sd"])
    true = list(fixed["true"]) + list(variances["true sd"])
    err_hi = list(fixed["upper"] - fixed["estimate"]) + [0.0] * len(variances)
    err_lo = list(fixed["estimate"] - fixed["lower"]) + [0.0] * len(variances)
    fig.add_trace(go.Scatter(x=est, y=names, mode="markers", name="estimate",
                             marker={"color": BLUE, "size": 10},
                             error_x={"type": "data", "array": err_hi, "arrayminus": err_lo, "thickness": 1.5}))
    fig.add_trace(go.Scatter(x=true, y=names, mode="markers", name="true value",
                             marker={"color": VERMILION, "symbol": "x", "size": 12}))
    base_layout(fig, "True values and estimates", "95% Wald intervals of the fixed effects",
                height=max(280, 90 + 40 * len(names)))
    _legend(fig)
    fig.update_yaxes(autorange="reversed")
    return fig


def shrinkage_plot(frame: pd.DataFrame) -> go.Figure:
    """Conditional modes against the true random effects, with the identity line: shrinkage made
    visible (the modes lie closer to 0 than the truth, a fitted slope below 1)."""
    fig = go.Figure()
    lim = float(np.nanmax(np.abs(frame[["true", "estimate"]].to_numpy()))) if len(frame) else 1.0
    lim = lim * 1.1 or 1.0
    fig.add_trace(go.Scatter(x=[-lim, lim], y=[-lim, lim], mode="lines", name="no shrinkage (y = x)",
                             line={"color": GREY, "dash": "dash"}))
    for i, ((g, col), part) in enumerate(frame.groupby(["group", "column"], sort=False)):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=part["true"], y=part["estimate"], mode="markers", name=f"{col} | {g}",
                                 text=part["level"], marker={"color": color, "size": 8, "opacity": 0.8},
                                 hovertemplate="%{text}<br>true %{x:.3g}<br>estimate %{y:.3g}<extra></extra>"))
        if len(part) > 2 and np.ptp(part["true"]) > 0:
            slope, icept = (float(v) for v in np.polyfit(part["true"], part["estimate"], 1))
            lo, hi = float(part["true"].min()), float(part["true"].max())
            fig.add_trace(go.Scatter(x=[lo, hi], y=[icept + slope * lo, icept + slope * hi], mode="lines",
                                     name=f"fitted slope {slope:.2f} ({col} | {g})",
                                     line={"color": color, "width": 1.5}))
    base_layout(fig, "Random effects: true values and conditional modes",
                "a fitted slope below the identity line's: estimates shrunk towards 0", height=520)
    _legend(fig)
    fig.update_xaxes(title_text="true random effect", range=[-lim, lim], constrain="domain")
    fig.update_yaxes(title_text="conditional mode (estimate)", range=[-lim, lim], scaleanchor="x")
    return fig


# ============================================================================ small helpers
def default_sizes(current: int) -> str:
    """A first power curve: the current size, then 1.5, 2, 3 and 4 times it."""
    vals = sorted({int(current), *(round(current * f) for f in (1.5, 2, 3, 4))})
    return ", ".join(str(v) for v in vals)


def tested_coefficients(test: engine.CoefficientTest | engine.TermTest | engine.LikelihoodRatioTest,
                        terms: dict[str, list[str]]) -> list[str]:
    """The coefficients whose true values matter for a test (the coefficient, or the term's)."""
    if isinstance(test, engine.CoefficientTest):
        return [test.coefficient]
    return list(terms.get(test.term if isinstance(test, engine.TermTest) else test.drop, []))


def design_terms(design: Any, formula: str) -> dict[str, list[str]]:
    """Fixed-effects terms of a model on a design -> their coefficients (intercept excluded)."""
    d = engine.materialize(formula, with_response(design.frame(), formula))
    out: dict[str, list[str]] = {}
    for nm, term in zip(d.fixef_names, d.fixef_terms):
        if nm != "(Intercept)":
            out.setdefault(term, []).append(nm)
    return out


def check_design(design: Any, model: Any) -> None:
    """The engine's checks of a design and its true values (no replication, bad values), quickly."""
    engine.simulate_with_effects(design, model, 0)


def shrinkage_note(frame: pd.DataFrame) -> str:
    """How much the conditional modes are shrunk, in words."""
    parts = []
    for (g, col), part in frame.groupby(["group", "column"], sort=False):
        if len(part) > 2 and np.ptp(part["true"]) > 0:
            slope = float(np.polyfit(part["true"], part["estimate"], 1)[0])
            sd_t, sd_e = float(part["true"].std()), float(part["estimate"].std())
            parts.append(f"{col} | {g}: estimates vary with SD {sd_e:.3g} against {sd_t:.3g} for the true "
                         f"effects; fitted slope {slope:.2f}")
    return ("; ".join(parts) + ". A slope below 1 is shrinkage: levels with little information are pulled "
            "towards the average.") if parts else ""
