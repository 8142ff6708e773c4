"""The same model as code for mm_core (Python), lme4 (R) and MixedModels.jl (Julia).

Pure string building from a :class:`~gui.model_spec.ModelSpec`; no Streamlit.
"""
from __future__ import annotations

import re

from gui.model_spec import ModelSpec, canonical_link

_R_FAMILY = {"gaussian": "gaussian", "binomial": "binomial", "poisson": "poisson", "gamma": "Gamma",
             "inverse_gaussian": "inverse.gaussian"}
_JL_FAMILY = {"gaussian": "Normal()", "binomial": "Bernoulli()", "poisson": "Poisson()", "gamma": "Gamma()",
              "inverse_gaussian": "InverseGaussian()"}
_JL_LINK = {"logit": "LogitLink()", "probit": "ProbitLink()", "cloglog": "CloglogLink()", "log": "LogLink()",
            "identity": "IdentityLink()", "sqrt": "SqrtLink()", "inverse": "InverseLink()",
            "cauchit": "CauchitLink()", "1/mu^2": "InverseSquareLink()"}


def _data_line(dataset: str | None, lang: str) -> str:
    name = dataset or "mydata.csv"
    bundled = dataset and "." not in dataset
    if lang == "python":
        return f'data = datasets.load("{name}")' if bundled else f'data = pd.read_csv("{name}")'
    if lang == "r":
        return f'data <- read.csv("{name}.csv", stringsAsFactors = TRUE)' if bundled else \
            f'data <- read.csv("{name}", stringsAsFactors = TRUE)'
    return (f'data = MixedModels.dataset(:{name})' if bundled else f'data = CSV.read("{name}", DataFrame)')


def python_code(spec: ModelSpec, dataset: str | None = None) -> str:
    f = spec.to_formula()
    kw = spec.fit_kwargs()
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    head = "import mm_core\nfrom mm_core import datasets\n" if dataset and "." not in dataset else \
        "import pandas as pd\nimport mm_core\n"
    return (f"{head}\n{_data_line(dataset, 'python')}\n"
            f"result = mm_core.fit(\n    {f!r},\n    data,\n    {args},\n)\n"
            "print(result.summary())\nresult.ranef  # conditional modes by grouping factor\n")


def r_code(spec: ModelSpec, dataset: str | None = None) -> str:
    f = spec.to_formula()
    lines = ["library(lme4)", "", _data_line(dataset, "r")]
    if spec.family == "gaussian" and spec.effective_link == "identity":
        lines.append(f"m <- lmer({f},\n          data = data, REML = {'TRUE' if spec.reml else 'FALSE'})")
    else:
        fam = _R_FAMILY.get(spec.family, spec.family)
        link = spec.effective_link
        famtxt = f'{fam}(link = "{link}")' if link != canonical_link(spec.family) else f"{fam}"
        if spec.family == "gaussian":
            famtxt = f'gaussian(link = "{link}")'
        nagq = 0 if spec.fast else spec.n_agq
        lines.append(f"m <- glmer({f},\n           data = data, family = {famtxt}, nAGQ = {nagq})")
    lines += ["summary(m)", "ranef(m, condVar = TRUE)  # conditional modes", "lattice::dotplot(ranef(m))"]
    return "\n".join(lines) + "\n"


def julia_formula(spec: ModelSpec) -> str:
    """MixedModels.jl syntax: ``zerocorr(1 + x | g)`` for ``||``, ``&`` for interactions."""
    rhs = ["1" if spec.intercept else "0"] + [_jl_term(t) for t in spec.fixed]
    rhs += [f"offset({o})" for o in spec.offsets]
    for r in spec.random:
        parts = ["1" if r.intercept else "0"] + [_jl_term(s) for s in r.slopes]
        group = " & ".join(r.group.split(":"))
        term = f"({' + '.join(parts)} | {group})"
        if not r.correlated and len(r.columns) > 1:
            term = f"zerocorr{term}"
        rhs.append(term)
    resp = spec.response or "y"
    m = re.match(r"^cbind\((.+?),", resp.replace(" ", ""))
    if m:
        resp = f"({m.group(1)} / n)"
    return f"@formula({resp} ~ {' + '.join(rhs)})"


def _jl_term(t: str) -> str:
    t = re.sub(r"factor\(([^)]+)\)", r"\1", t)
    return " & ".join(p for p in t.split(":"))


def julia_code(spec: ModelSpec, dataset: str | None = None) -> str:
    f = julia_formula(spec)
    lines = ["using MixedModels, DataFrames" + ("" if dataset and "." not in dataset else ", CSV"), "",
             _data_line(dataset, "julia"), f"form = {f}"]
    factor_terms = [re.sub(r"factor\(([^)]+)\)", r"\1", t) for t in spec.fixed + [s for r in spec.random
                                                                                 for s in r.slopes]
                    if t.startswith("factor(")]
    contr = ""
    if factor_terms:
        contr = ", contrasts = Dict(" + ", ".join(f":{c} => DummyCoding()" for c in factor_terms) + ")"
    if spec.family == "gaussian" and spec.effective_link == "identity":
        lines.append(f"m = fit(MixedModel, form, data; REML = {'true' if spec.reml else 'false'}{contr})")
    else:
        fam = _JL_FAMILY.get(spec.family, "Normal()")
        link = spec.effective_link
        link_arg = f", {_JL_LINK[link]}" if link != canonical_link(spec.family) and link in _JL_LINK else ""
        extra = f"; nAGQ = {spec.n_agq}, fast = {'true' if spec.fast else 'false'}{contr}"
        if spec.response and spec.response.replace(" ", "").startswith("cbind("):
            extra += ", wts = data.n  # n = number of trials"
        lines.append(f"m = fit(MixedModel, form, data, {fam}{link_arg}{extra})")
    lines += ["println(m)", "ranef(m)  # conditional modes"]
    return "\n".join(lines) + "\n"


def all_code(spec: ModelSpec, dataset: str | None = None) -> dict[str, str]:
    return {"Python (mm_core)": python_code(spec, dataset), "R (lme4)": r_code(spec, dataset),
            "Julia (MixedModels.jl)": julia_code(spec, dataset)}
