"""The widget model (ModelSpec) and formula text: both directions, through the engine's parser."""
from __future__ import annotations

import pytest

from gui.engine import parse_formula
from gui.spec.data_design import simple_parse
from gui.spec.model_spec import ModelSpec, RandomSpec
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
    spec = simple_parse("reaction ~ 1 + days + (1 + days | subj)")
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
    spec = simple_parse("reaction ~ 1 + days + (1 + days || subj)")
    assert "mm_core.fit(" in python_code(spec, "sleepstudy") and "datasets.load(\"sleepstudy\")" in python_code(
        spec, "sleepstudy")
    assert "lmer(reaction ~ 1 + days + (1 + days || subj)" in r_code(spec, "sleepstudy")
    assert "zerocorr(1 + days | subj)" in julia_code(spec, "sleepstudy")
    g = simple_parse("cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)")
    g.family = "binomial"
    assert "glmer(" in r_code(g, "cbpp") and "family = binomial" in r_code(g, "cbpp")
    assert "Bernoulli()" in julia_code(g, "cbpp")
