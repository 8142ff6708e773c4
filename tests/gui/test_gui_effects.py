"""gui.views.effects: the predictors, grids, words and notes the Summary and Effects pages build on, on
real fits (no Streamlit). The engine's numbers are tested against R in tests/core/test_effects*.py."""
from __future__ import annotations

import pickle

import numpy as np

from gui.views import effects


def test_predictors_name_factors_by_their_data_column(lmm_factor_record, contra_record, lmm_record):
    p = effects.predictors(lmm_factor_record)
    assert p.factors == {"days": [str(d) for d in range(10)]} and p.covariates == [] and p.terms == ["factor(days)"]
    p = effects.predictors(contra_record)
    assert p.factors == {"urban": ["N", "Y"], "livch": ["0", "1", "2", "3+"]}
    assert p.covariates == ["age"] and p.variables == ["urban", "livch", "age"]
    assert p.terms == ["age", "urban", "livch", "urban:livch"]
    assert effects.predictors(lmm_record).variables == ["days"]


def test_ddf_choices_follow_the_model():
    class R:
        def __init__(self, is_lmm, reml):
            self.is_lmm, self.reml = is_lmm, reml

    assert effects.ddf_choices(R(True, True)) == ["satterthwaite", "kenward-roger", "asymptotic"]
    assert effects.ddf_choices(R(True, False)) == ["satterthwaite", "asymptotic"]        # pbkrtest needs REML
    assert effects.ddf_choices(R(False, False)) == ["asymptotic"]


def test_interactions_decide_whether_slopes_differ(contra_record):
    assert not effects.interacts(contra_record, "age", "urban")
    assert not effects.interacts(contra_record, "age", None)
    assert "no interaction of age with urban" in effects.slope_note(contra_record, "age", "urban")


def test_words_for_the_scales(glmm_record, contra_record, lmm_record):
    w = effects.scales(glmm_record.result)
    assert (w.link, w.response, w.ratio) == ("log odds", "probability", "odds ratio")
    assert effects.response_label(glmm_record, "response") == "probability of incidence"
    assert effects.response_label(contra_record, "link") == "log odds of use = Y"
    assert effects.response_label(lmm_record) == "reaction"
    assert effects.estimate_label(glmm_record.result, "link") == "Log odds"
    assert effects.estimate_label(lmm_record.result, "response") == "Estimate"


def test_grid_observed_data_and_averaging_note(contra_record, sleepstudy, lmm_record):
    grid = effects.covariate_grid(lmm_record, "days")
    assert len(grid) == effects.GRID_POINTS and grid[0] == 0 and grid[-1] == 9
    obs = effects.observed(contra_record, "livch", "urban")
    assert list(obs.columns) == ["livch", "urban", "y"] and len(obs) == 1934
    assert set(obs["livch"]) == {"0", "1", "2", "3+"} and set(obs["y"]) == {0.0, 1.0}
    assert effects.observed(lmm_record, "days")["y"].tolist() == sleepstudy["reaction"].tolist()
    note = effects.averaging_note(contra_record, ["livch"])
    assert note.startswith("Predictions averaged with equal weights over urban; at age = ")
    assert note.endswith(" (the mean).")
    assert effects.averaging_note(contra_record, ["livch", "urban", "age"]) == ""


def test_means_are_small_picklable_tables(contra_record):
    m = effects.means(contra_record, ["livch"], by=["urban"], scale="response", adjust="holm")
    assert m.columns == ("livch", "urban") and m.by == ("urban",) and m.ratio
    assert len(m.table) == 8 and len(m.pairs) == 12
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.table["estimate"], m.table["estimate"])
    assert len(pickle.dumps(m)) < 20_000                      # tables only, not the fit
    one = effects.means(contra_record, ["urban"], by=["livch"])
    assert len(one.pairs) == 4                                 # one comparison per livch level
    slope = effects.trends(contra_record, "age", [])
    assert slope.pairs is None and len(slope.table) == 1


def test_code_for_the_page_names_the_fit_s_factors(contra_record, lmm_factor_record):
    inf = effects.code_inference(contra_record, ddf="kenward-roger", specs=("livch",))
    assert inf.ddf == "asymptotic"                            # a GLMM
    assert inf.factors == {"urban": ["N", "Y"], "livch": ["0", "1", "2", "3+"]}
    assert effects.code_inference(lmm_factor_record, ddf="kenward-roger").ddf == "kenward-roger"


def _record(name: str, formula: str, **kw):
    from gui import engine
    from gui.shell.state import FitRecord
    from mm_core import datasets

    data = datasets.load(name)
    return FitRecord(id=9, spec=None, formula=formula, data_name=name, data_key=name, data=data,
                     result=engine.fit(formula, data, **kw))


def test_predictors_of_transformed_covariates_and_slopes_by_factor():
    rec = _record("sleepstudy", "reaction ~ 1 + log(days + 1) + (1 | subj)")
    p = effects.predictors(rec)
    assert p.covariates == ["days"] and p.factors == {} and p.terms == ["log(days + 1)"]
    grid = effects.prediction_grid(rec, "days")                  # predictions over days, through log(days + 1)
    assert len(grid) == effects.GRID_POINTS and grid["estimate"].is_monotonic_increasing
    rec = _record("contra", "use ~ 1 + age * urban + livch + (1 | dist)", family="binomial")
    assert effects.predictors(rec).crossed == frozenset({("age", "urban")})
    assert effects.interacts(rec, "age", "urban") and not effects.interacts(rec, "age", "livch")
    slopes = effects.trends(rec, "age", ["urban"])
    assert list(slopes.table["urban"]) == ["N", "Y"] and len(slopes.pairs) == 1
    assert "at each level of urban" in effects.slope_note(rec, "age", "urban")


def test_kenward_roger_beyond_the_engine_s_limit_falls_back_to_satterthwaite_with_the_reason():
    import pandas as pd

    from gui import engine
    from gui.shell.state import FitRecord

    rng = np.random.default_rng(20261202)
    g = np.repeat(np.arange(3100), 2)                              # 3,100 random intercepts
    x = rng.normal(size=g.size)
    data = pd.DataFrame({"g": pd.Categorical(g.astype(str)), "x": x,
                         "y": 1 + 0.5 * x + rng.normal(size=3100)[g] + rng.normal(size=g.size)})
    res = engine.fit("y ~ 1 + x + (1 | g)", data, reml=True)
    rec = FitRecord(id=1, spec=None, formula="", data_name="", data_key="", data=data, result=res)
    ddf, why = effects.usable_ddf(rec, "kenward-roger")
    assert ddf == "satterthwaite"
    assert "Kenward–Roger is limited" in why and why.endswith("The tables show Satterthwaite df instead.")
    assert effects.usable_ddf(rec, "satterthwaite") == ("satterthwaite", "")


def test_the_python_code_of_the_page_runs_and_gives_the_page_s_numbers(contra_record):
    from gui.views import codegen

    inf = effects.code_inference(contra_record, ddf="asymptotic", anova_type=3, specs=("livch",), by=("urban",),
                                 grid=("age", "urban"), at={"age": [-10.0, 0.0, 10.0]}, scale="response",
                                 adjust="holm")
    code = codegen.python_code(contra_record.spec, "contra", inf)
    code = code.replace("print(result.summary())", "")
    env: dict = {}
    exec(compile(code, "<generated>", "exec"), env)               # the code panel's text, as a user runs it
    shown = effects.means(contra_record, ["livch"], by=["urban"], scale="response", adjust="holm")
    np.testing.assert_allclose(env["means"].table["estimate"], shown.table["estimate"], rtol=1e-6)
    assert "mm_core.pairwise(means, adjust='holm')" in code and "at={'age': [-10, 0, 10]}" in code
