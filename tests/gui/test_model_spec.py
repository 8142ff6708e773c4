"""The widget model (ModelSpec) and formula text: both directions, through the engine's parser."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from gui import engine
from gui.engine import parse_formula, quote_name
from gui.spec.data_design import interaction_candidates, term_candidates
from gui.spec.model_spec import FAMILIES, ModelSpec, RandomSpec, canonical_link, links_for, term_parts
from gui.views.codegen import julia_code, python_code, r_code

# text as typed -> canonical text written back by ModelSpec.to_formula()
ROUND_TRIP = {
    "reaction ~ 1 + days + (1 + days | subj)": "reaction ~ 1 + days + (1 + days | subj)",
    "reaction ~ days + (days | subj)": "reaction ~ 1 + days + (1 + days | subj)",
    "reaction ~ days + (days || subj)": "reaction ~ 1 + days + (1 + days || subj)",
    "reaction ~ 1 + days + (1 | subj) + (0 + days | subj)": "reaction ~ 1 + days + (1 + days || subj)",
    "reaction ~ 0 + days + (0 + days | subj)": "reaction ~ 0 + days + (0 + days | subj)",
    "strength ~ 1 + (1 | batch/cask)": "strength ~ 1 + (1 | batch) + (1 | batch:cask)",
    "diameter ~ 1 + (1 | plate) + (1 | sample)": "diameter ~ 1 + (1 | plate) + (1 | sample)",
    "y ~ service*dept + (1|s) + (1|d)": "y ~ 1 + service + dept + service:dept + (1 | s) + (1 | d)",
    "cbind(incidence, size - incidence) ~ 1 + factor(period) + (1|herd)":
        "cbind(incidence, size - incidence) ~ 1 + factor(period) + (1 | herd)",
    "use ~ 1 + age + I(age^2) + livch + urban + (1|dist)": "use ~ 1 + age + I(age^2) + livch + urban + (1 | dist)",
    "y ~ x + offset(log(t)) + (1 | g)": "y ~ 1 + x + offset(log(t)) + (1 | g)",
}


@pytest.mark.parametrize("text,canonical", ROUND_TRIP.items())
def test_formula_to_spec_to_formula(text, canonical):
    spec = ModelSpec.from_formula(parse_formula(text))
    assert spec.to_formula() == canonical
    # the canonical text parses to the same model, and to the same spec again
    assert str(parse_formula(canonical)) == str(parse_formula(spec.to_formula()))
    assert ModelSpec.from_formula(parse_formula(canonical)).to_formula() == canonical


def test_from_formula_fields_and_base_options():
    base = ModelSpec(family="binomial", link="probit", n_agq=5, fast=True)
    spec = ModelSpec.from_formula(parse_formula("r2 ~ anger + (1 | subj) + (1 | item)"), base=base)
    assert spec.response == "r2" and spec.fixed == ["anger"] and spec.intercept
    assert [r.group for r in spec.random] == ["subj", "item"]
    assert (spec.family, spec.link, spec.n_agq, spec.fast) == ("binomial", "probit", 5, True)
    assert spec.fit_kwargs() == {"family": "binomial", "link": "probit", "n_agq": 5, "fast": True}


def test_fit_kwargs_and_description():
    spec = ModelSpec.from_text("reaction ~ 1 + days + (1 + days | subj)")
    assert spec.fit_kwargs() == {"family": "gaussian", "reml": True}          # the app's default: REML
    spec.reml = False
    assert spec.fit_kwargs()["reml"] is False
    text = " ".join(spec.describe())
    assert "random intercept and random slope of days for each level of subj, correlated" in text.lower()


def test_spec_dict_round_trip_and_copy_independence():
    spec = ModelSpec(response="y", fixed=["x"], random=[RandomSpec("g", True, ["x"], False)])
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec
    c = spec.copy()
    c.random[0].slopes.append("z")
    assert spec.random[0].slopes == ["x"]


def test_non_syntactic_names_are_quoted():
    spec = ModelSpec(response="reaction time", fixed=["`day count`"], random=[RandomSpec("subject id")])
    assert spec.to_formula() == "reaction time ~ 1 + `day count` + (1 | `subject id`)"


def test_code_panel_texts():
    spec = ModelSpec.from_text("reaction ~ 1 + days + (1 + days || subj)")
    assert "mm_core.fit(" in python_code(spec, "sleepstudy") and "datasets.load(\"sleepstudy\")" in python_code(
        spec, "sleepstudy")
    assert "lmer(reaction ~ 1 + days + (1 + days || subj)" in r_code(spec, "sleepstudy")
    assert "zerocorr(1 + days | subj)" in julia_code(spec, "sleepstudy")
    g = ModelSpec.from_text("cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)")
    g.family = "binomial"
    assert "glmer(" in r_code(g, "cbpp") and "family = binomial" in r_code(g, "cbpp")
    assert "Bernoulli()" in julia_code(g, "cbpp")


# column names every language must quote: non-ASCII, space, both quotes, a backtick, an operator
ODD = {"resp": "Größe", "space": "my x", "quotes": "it's \"q\"", "tick": "a`b", "plus": "a+b", "group": "é id"}


def odd_spec() -> ModelSpec:
    fixed = [quote_name(ODD[k]) for k in ("space", "quotes", "tick")] + [f"factor({quote_name(ODD['plus'])})"]
    return ModelSpec(response=quote_name(ODD["resp"]), fixed=fixed, random=[RandomSpec(ODD["group"])])


def test_odd_names_use_the_engines_quoting_and_fit():
    spec = odd_spec()
    text = spec.to_formula()
    assert text == ("Größe ~ 1 + `my x` + `it's \"q\"` + `a\\`b` + factor(`a+b`) + (1 | `é id`)")
    assert parse_formula(text).columns == set(ODD.values())
    assert ModelSpec.from_text(text).to_formula() == text
    rng = np.random.default_rng(1)
    data = pd.DataFrame({ODD["group"]: pd.Categorical(np.repeat(list("abcdef"), 8)),
                         **{ODD[k]: rng.normal(size=48) for k in ("resp", "space", "quotes", "tick")},
                         ODD["plus"]: np.tile([1, 2], 24)})
    res = engine.fit(text, data)
    assert f"factor({quote_name(ODD['plus'])})2" in res.fixef.index and res.nobs == 48


def test_odd_names_in_python_code_are_one_string_literal_the_engine_reads():
    code = python_code(odd_spec(), "my data.csv")
    calls = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)]
    call = next(n for n in calls if isinstance(n.func, ast.Attribute) and n.func.attr == "fit")
    assert parse_formula(call.args[0].value).columns == set(ODD.values())


def test_odd_names_in_julia_code_are_var_strings():
    code = julia_code(odd_spec(), "my data.csv")
    assert ('@formula(var"Größe" ~ 1 + var"my x" + var"it\'s \\"q\\"" + var"a`b" + var"a+b" + (1 | var"é id"))'
            in code)
    assert 'contrasts = Dict(Symbol("a+b") => DummyCoding())' in code


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_odd_names_in_r_code_parse_to_the_columns(tmp_path):
    code = r_code(odd_spec(), "my data.csv")
    (tmp_path / "m.R").write_text(code, encoding="utf-8")
    script = ('e <- parse(file = commandArgs(TRUE)[1], encoding = "UTF-8"); '
              'fit <- Filter(function(x) is.call(x) && identical(x[[2]], as.name("m")), e)[[1]]; '
              'writeLines(all.vars(fit[[3]][[2]]), stdout(), useBytes = TRUE)')
    out = subprocess.run(["Rscript", "-e", script, str(tmp_path / "m.R")], capture_output=True, timeout=120,
                         env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    assert out.returncode == 0, out.stderr.decode()
    assert set(out.stdout.decode("utf-8").splitlines()) == set(ODD.values())


@pytest.mark.parametrize("given, canonical, r_family, jl_family", [
    ("gamma", "Gamma", "family = Gamma(link = \"log\")", "Gamma(), LogLink()"),
    ("inverse_gaussian", "inverse.gaussian", "family = inverse.gaussian(link = \"log\")",
     "InverseGaussian(), LogLink()"),
    ("Gamma", "Gamma", "family = Gamma(link = \"log\")", "Gamma(), LogLink()"),
])
def test_family_names_are_the_engines_in_every_spelling(given, canonical, r_family, jl_family):
    spec = ModelSpec.from_text("reaction ~ days + (1 | subj)", ModelSpec(family=given, link="log"))
    assert spec.family == canonical == engine.get_family(given).name
    assert ModelSpec.from_dict({**spec.to_dict(), "family": given}).family == canonical
    assert r_family in r_code(spec, "sleepstudy") and jl_family in julia_code(spec, "sleepstudy")
    assert spec.fit_kwargs()["family"] == canonical


def test_links_and_defaults_are_the_engines():
    for fam in FAMILIES:
        f = engine.get_family(fam)
        assert links_for(fam) == f.allowed_links and canonical_link(fam) == f.default_link
    assert FAMILIES == ("binomial", "poisson", "gaussian", "Gamma", "inverse.gaussian")
    assert ModelSpec(family="inverse.gaussian").effective_link == "1/mu^2"


def test_a_column_whose_name_holds_a_colon_is_a_main_effect_not_an_interaction():
    spec = ModelSpec.from_text("y ~ `x:y` + a + a:factor(b) + (1 | g)")
    assert spec.fixed == ["`x:y`", "a", "a:factor(b)"]
    assert [term_parts(t) for t in spec.fixed] == [["`x:y`"], ["a"], ["a", "factor(b)"]]
    data = pd.DataFrame({"y": [1.0, 2.0], "x:y": [1.0, 3.0], "a": [0.5, 1.0], "b": [1, 2], "g": ["u", "v"]})
    assert "`x:y`" in term_candidates(data, spec) and interaction_candidates(["a", "`x:y`"], spec) == \
        ["a:`x:y`", "a:factor(b)"]
