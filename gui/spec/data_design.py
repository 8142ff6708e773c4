"""What the data allow before any fit: column kinds, families, candidate terms, nesting.

Pure pandas/numpy, no Streamlit. Used by the Data, Explore and Model pages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gui import engine
from gui.engine import level_labels, quote_name
from gui.spec.model_spec import ModelSpec, RandomSpec, term_parts

# ---------------------------------------------------------------- column kinds


def is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s) \
        or pd.api.types.is_bool_dtype(s)


def column_kind(s: pd.Series) -> str:
    """'categorical' or 'numeric' (what the app treats the column as)."""
    return "categorical" if is_categorical(s) else "numeric"


def response_kind(s: pd.Series) -> str:
    """'binary', 'count', 'continuous' or 'categorical' (a factor with more than two levels)."""
    x = s.dropna()
    if is_categorical(s):
        return "binary" if x.nunique() == 2 else "categorical"
    if len(x) == 0:
        return "continuous"
    vals = x.to_numpy(dtype=float)
    if np.all(np.isin(vals, (0.0, 1.0))):
        return "binary"
    if np.all(vals >= 0) and np.all(np.floor(vals) == vals):
        return "count" if np.median(vals) < 50 else "count-large"
    return "positive" if np.all(vals > 0) else "continuous"


def families_for(kind: str) -> list[str]:
    """Families a response of this kind allows, the natural one first (the engine's names)."""
    return {
        "binary": ["binomial"],
        "count": ["poisson", "gaussian"],
        "count-large": ["gaussian", "poisson"],
        "continuous": ["gaussian"],
        "positive": ["gaussian", "Gamma", "inverse.gaussian"],
        "proportion": ["binomial"],
        "categorical": [],
    }.get(kind, ["gaussian"])


def response_kind_of_text(response: str, data: pd.DataFrame) -> str:
    """Kind of a response written as formula text (a column, a quoted `column` or ``cbind(s, f)``),
    read by the engine's parser; an expression such as ``log(y)`` is continuous."""
    if response in data.columns:
        return response_kind(data[response])
    try:
        expr = engine.parse_response(response)
    except engine.FormulaError:
        return "continuous"
    if isinstance(expr, engine.Name) and expr.name in data.columns:
        return response_kind(data[expr.name])
    return "proportion" if isinstance(expr, engine.Call) and expr.func == "cbind" else "continuous"


_KIND_WORDS = {"binary": "binary (two values)", "count": "a count", "count-large": "a count",
               "continuous": "continuous", "positive": "continuous and positive",
               "proportion": "a proportion (successes, failures)", "categorical": "a factor"}


def family_for_response(spec: ModelSpec, data: pd.DataFrame, previous: str | None) -> tuple[ModelSpec, str]:
    """Re-derive the family and link when the response changed from ``previous`` to ``spec.response``.

    A response of another kind (binary, count, continuous, ...) gets its natural family with
    the canonical link; a family the new response does not allow is replaced the same way.
    Returns the spec (unchanged when the response or its kind did not change) and a sentence
    saying what changed ("" when nothing did), so a Poisson model never silently outlives
    its count response.
    """
    if not spec.response or spec.response == previous:
        return spec, ""
    kind = response_kind_of_text(spec.response, data)
    fams = families_for(kind)
    if not fams:
        return spec, ""
    old_kind = response_kind_of_text(previous, data) if previous else None
    if spec.family in fams and kind == old_kind:
        return spec, ""
    family = fams[0]
    if family == spec.family:
        return spec, ""
    new = spec.with_(family=family, link=None)
    return new, (f"The response {spec.response} is {_KIND_WORDS.get(kind, kind)}: the family is now {family} "
                 f"with the {new.effective_link} link (it was {spec.family} for {previous or 'no response'}). "
                 "Choose another family under Response and family if you mean it.")


def family_problem(spec: ModelSpec, data: pd.DataFrame) -> str:
    """Why the family does not suit the response ("" when it does)."""
    if not spec.response:
        return ""
    kind = response_kind_of_text(spec.response, data)
    fams = families_for(kind)
    if kind == "categorical":
        return (f"the response {spec.response} is a factor with more than two levels; "
                "choose a numeric or binary response")
    if fams and spec.family not in fams:
        return (f"the {spec.family} family does not suit the response {spec.response}, which is "
                f"{_KIND_WORDS.get(kind, kind)}; choose {' or '.join(fams)}")
    return ""


def column_table(data: pd.DataFrame) -> pd.DataFrame:
    """One row per column: kind, missing values, distinct values, levels or range."""
    rows = []
    for c in data.columns:
        s = data[c]
        kind = column_kind(s)
        if kind == "categorical":
            levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(
                s.dropna().astype(str).unique())
            shown = ", ".join(map(str, levels[:8])) + (f", … ({len(levels)} levels)" if len(levels) > 8 else "")
            ref = str(levels[0]) if levels else ""
        else:
            shown = f"{s.min():.4g} … {s.max():.4g}" if s.notna().any() else "all missing"
            ref = ""
        rows.append({"column": c, "type": kind, "missing": int(s.isna().sum()), "distinct": int(s.nunique()),
                     "levels / range": shown, "reference level": ref})
    return pd.DataFrame(rows)


def apply_column_types(data: pd.DataFrame, types: dict[str, str], references: dict[str, str]) -> pd.DataFrame:
    """Copy of ``data`` with the user's column types and reference levels applied.

    A categorical column becomes a pandas Categorical (sorted levels, reference first); a
    numeric column is converted with ``pd.to_numeric`` and a clear error if it cannot be.
    """
    out = data.copy()
    for col, kind in types.items():
        if col not in out.columns:
            continue
        s = out[col]
        if kind == "categorical" and not isinstance(s.dtype, pd.CategoricalDtype):
            vals = s.dropna()
            if pd.api.types.is_numeric_dtype(vals) and np.all(np.floor(vals) == vals):
                vals = vals.astype("int64")
                cats = sorted(vals.unique())
                out[col] = pd.Categorical(s.map(lambda v: None if pd.isna(v) else str(int(v))),
                                          categories=[str(c) for c in cats])
            else:
                out[col] = pd.Categorical(s.map(lambda v: None if pd.isna(v) else str(v)))
        elif kind == "numeric" and is_categorical(s):
            conv = pd.to_numeric(s.astype(object), errors="coerce")
            bad = s.notna() & conv.isna()
            if bad.any():
                example = s[bad].iloc[0]
                raise ValueError(f"column '{col}' cannot be numeric: value '{example}' is not a number "
                                 f"({int(bad.sum())} such rows)")
            out[col] = conv.astype(float)
    for col, ref in references.items():
        if col in out.columns and isinstance(out[col].dtype, pd.CategoricalDtype):
            cats = list(out[col].cat.categories)
            if ref in cats and cats[0] != ref:
                out[col] = out[col].cat.reorder_categories([ref] + [c for c in cats if c != ref])
    return out


def normalise_upload(data: pd.DataFrame) -> pd.DataFrame:
    """Make text columns categorical (as the bundled datasets are) and names strings."""
    out = data.copy()
    out.columns = [str(c).strip() for c in out.columns]
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_bool_dtype(s) or ((s.dtype == object or pd.api.types.is_string_dtype(s)) \
                and not isinstance(s.dtype, pd.CategoricalDtype)):
            out[c] = pd.Categorical(s.map(lambda v: None if pd.isna(v) else str(v)))
    return out


# ------------------------------------------------------------- model widgets


def categorical_columns(data: pd.DataFrame) -> list[str]:
    return [c for c in data.columns if is_categorical(data[c])]


def grouping_candidates(data: pd.DataFrame, spec: ModelSpec | None = None) -> list[str]:
    """Grouping factors offered: categorical columns, pairwise interactions, those of the spec."""
    cats = [c for c in categorical_columns(data) if not spec or c != spec.response]
    out = list(cats)
    if len(cats) <= 6:
        out += [f"{a}:{b}" for i, a in enumerate(cats) for b in cats[i + 1:]]
    if spec:
        out += [r.group for r in spec.random if r.group not in out]
    return out


def term_candidates(data: pd.DataFrame, spec: ModelSpec | None = None) -> list[str]:
    """Main-effect terms offered: every column but the response; ``factor(x)`` for few-valued numbers."""
    resp = spec.response if spec else None
    out = []
    for c in data.columns:
        if c == resp:
            continue
        out.append(quote_name(c))
        s = data[c]
        if not is_categorical(s) and 2 <= s.nunique() <= 12:
            out.append(f"factor({quote_name(c)})")
    if spec:
        extra = list(spec.fixed) + [s for r in spec.random for s in r.slopes]
        out += [t for t in extra if t not in out and len(term_parts(t)) == 1]
    return out


def interaction_candidates(mains: list[str], spec: ModelSpec | None = None) -> list[str]:
    out = [f"{a}:{b}" for i, a in enumerate(mains) for b in mains[i + 1:]]
    if spec:
        out += [t for t in spec.fixed if len(term_parts(t)) > 1 and t not in out]
    return out


def default_spec(data: pd.DataFrame, name: str | None = None) -> ModelSpec:
    """A sensible first model for a dataset (the textbook one for the bundled datasets)."""
    known = {
        "sleepstudy": "reaction ~ 1 + days + (1 + days | subj)",
        "dyestuff": "yield ~ 1 + (1 | batch)",
        "dyestuff2": "yield ~ 1 + (1 | batch)",
        "penicillin": "diameter ~ 1 + (1 | plate) + (1 | sample)",
        "pastes": "strength ~ 1 + (1 | batch) + (1 | batch:cask)",
        "insteval": "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)",
        "verbagg": "r2 ~ 1 + anger + gender + btype + situ + mode + (1 | subj) + (1 | item)",
        "contra": "use ~ 1 + age + urban + livch + (1 | dist)",
        "cbpp": "cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)",
        "grouseticks": "ticks ~ 1 + year + cheight + (1 | brood) + (1 | location)",
    }
    families = {"verbagg": "binomial", "contra": "binomial", "cbpp": "binomial", "grouseticks": "poisson"}
    if name in known:
        return ModelSpec.from_text(known[name], ModelSpec(family=families.get(name, "gaussian")))
    cats = categorical_columns(data)
    nums = [c for c in data.columns if c not in cats]
    response = nums[-1] if nums else None
    group = max(cats, key=lambda c: data[c].nunique()) if cats else None
    spec = ModelSpec(response=None if response is None else quote_name(response),
                     random=[] if group is None else [RandomSpec(group)])
    if response:
        kind = response_kind(data[response])
        fams = families_for(kind)
        spec.family = fams[0] if fams else "gaussian"
    return spec


# ------------------------------------------------------ column settings for generated code


@dataclass(frozen=True)
class FactorSetting:
    """A column of the model that the app treats as categorical, as generated code must set it.

    Fields
    ------
    name : str
        Column name.
    reference : str or None
        Reference level (the first category) when the column's coding shapes coefficients
        (a fixed effect or random slope); None for a column used only to group.
    numeric_codes : bool
        The file holds the column as whole numbers (subject 1, 2, 3), not text.
    levels : tuple of str
        The categories in the app's order, reference first (for coded columns).
    """

    name: str
    reference: str | None
    numeric_codes: bool
    levels: tuple = ()


def factor_settings(spec: ModelSpec, data: pd.DataFrame | None, raw: pd.DataFrame | None = None
                    ) -> list[FactorSetting]:
    """The categorical columns of the model in the app's working ``data`` (``raw``: as loaded),
    in the order of the data's columns; [] when the model is incomplete."""
    if data is None or not spec.response:
        return []
    try:
        parsed = engine.parse_formula(spec.to_formula())
    except Exception:
        return []
    coded = {n.name for t in parsed.fixed for n in t.names()}
    coded |= {n.name for r in parsed.random for t in r.terms for n in t.names()}
    out = []
    for c in data.columns:
        s = data[c]
        if c not in parsed.columns or not isinstance(s.dtype, pd.CategoricalDtype):
            continue
        source = raw[c] if raw is not None and c in raw.columns else s
        numeric = pd.api.types.is_numeric_dtype(source) and bool(np.all(np.mod(source.dropna(), 1) == 0))
        cats = tuple(str(v) for v in s.cat.categories)
        is_coded = c in coded and bool(cats)
        out.append(FactorSetting(str(c), cats[0] if is_coded else None, bool(numeric), cats if is_coded else ()))
    return out


# ------------------------------------------------------------ design summary


def group_codes(data: pd.DataFrame, group: str) -> pd.Series:
    """Level labels of a grouping factor, ``a:b`` meaning the observed combinations: the labels of
    the fit's random effects (``result.ranef[group].index``, lme4's ``ranef`` row names)."""
    cols = group.split(":")
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"column '{missing[0]}' not found")
    if len(cols) == 1:
        return level_labels(data[cols[0]])
    parts = [level_labels(data[c]) for c in cols]
    out = parts[0]
    for p in parts[1:]:
        out = out + ":" + p
    return out.where(data[cols].notna().all(axis=1), None)


def relation(data: pd.DataFrame, a: str, b: str) -> str:
    """'b nested in a', 'a nested in b', 'crossed', 'partially crossed' (or 'identical')."""
    ga, gb = group_codes(data, a), group_codes(data, b)
    ok = ga.notna() & gb.notna()
    pairs = pd.DataFrame({"a": ga[ok], "b": gb[ok]}).drop_duplicates()
    na, nb = pairs["a"].nunique(), pairs["b"].nunique()
    a_per_b = pairs.groupby("b")["a"].nunique()
    b_per_a = pairs.groupby("a")["b"].nunique()
    if (a_per_b <= 1).all() and (b_per_a <= 1).all():
        return "identical"
    if (a_per_b <= 1).all():
        return f"{b} nested in {a}" if nb > na else f"{a} nested in {b}"
    if (b_per_a <= 1).all():
        return f"{a} nested in {b}"
    if len(pairs) == na * nb:
        return "crossed"
    return "partially crossed"


def crosstab(data: pd.DataFrame, a: str, b: str, max_levels: int = 60) -> pd.DataFrame:
    """Counts of observations for each pair of levels (first ``max_levels`` of each)."""
    ga, gb = group_codes(data, a), group_codes(data, b)
    tab = pd.crosstab(ga, gb)
    return tab.iloc[:max_levels, :max_levels]


def design_summary(data: pd.DataFrame, spec: ModelSpec) -> dict[str, pd.DataFrame]:
    """Tables for the Model page: grouping factors, their relations, within-group variation.

    ``groups``: group, levels, observations per level (min/median/max).
    ``relations``: every pair of grouping factors and whether nested, crossed or partially crossed.
    ``within``: for each candidate covariate and grouping factor whether it varies within
    groups (so a random slope can be estimated) or is constant within every group.
    """
    groups = [r.group for r in spec.random]
    groups = list(dict.fromkeys(groups))
    grows: list[dict[str, Any]] = []
    rrows: list[dict[str, str]] = []
    wrows: list[dict[str, str]] = []
    for g in groups:
        try:
            codes = group_codes(data, g)
        except KeyError as e:
            grows.append({"grouping factor": g, "levels": None, "obs per level": str(e).strip("'\"")})
            continue
        counts = codes.value_counts()
        grows.append({"grouping factor": g, "levels": int(counts.size),
                      "obs per level": f"{counts.min()} – {int(counts.median())} – {counts.max()}"
                      if counts.size else "—"})
    valid = [g for g in groups if all(c in data.columns for c in g.split(":"))]
    for i, a in enumerate(valid):
        for b in valid[i + 1:]:
            rrows.append({"factor 1": a, "factor 2": b, "relation": relation(data, a, b)})
    covs = [c for c in data.columns if c != spec.response and c not in {x for g in valid for x in g.split(":")}]
    for g in valid:
        codes = group_codes(data, g)
        for c in covs:
            s = data[c]
            k = level_labels(s) if is_categorical(s) else s
            n_within = pd.DataFrame({"g": codes, "x": k}).dropna().groupby("g", observed=True)["x"].nunique()
            varies = int((n_within > 1).sum())
            wrows.append({"grouping factor": g, "variable": c,
                          "varies within": f"{varies} of {len(n_within)} groups",
                          "random slope": "estimable" if varies > 0 else "not estimable (constant within groups)"})
    return {"groups": pd.DataFrame(grows), "relations": pd.DataFrame(rrows), "within": pd.DataFrame(wrows)}
