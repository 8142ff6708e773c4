"""Every page under AppTest: no data, sample data, fitted LMM and GLMM; the widget model and
the formula text round-trip; bad uploads and bad formulas show messages and keep the state."""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from gui.shell import state as gstate
from gui.spec.model_spec import ModelSpec

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGES = ["pages/data.py", "pages/explore.py", "pages/model.py", "pages/summary.py", "pages/random_effects.py",
         "pages/diagnostics.py", "pages/bootstrap.py", "pages/compare.py", "pages/effects.py"]
TIMEOUT = 120


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def problems(at: AppTest) -> list[str]:
    """Exceptions and error boxes on the page (both must be absent on a healthy page)."""
    return [f"exception: {e.value}" for e in at.exception] + [f"error: {e.value}" for e in at.error]


def visit(at: AppTest, path: str) -> AppTest:
    return at.switch_page(path).run()


def add_group_box(at: AppTest):
    """The "Add random effects for" selectbox (its key changes with every version of the model)."""
    return next(w for w in at.selectbox if w.label == "Add random effects for")


def n_charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


RE_VIEWS = ["Caterpillar", "QQ caterpillar", "Shrinkage", "Groups with fitted lines", "Table"]
DIAG_VIEWS = ["Residuals vs fitted", "Normal QQ", "Histogram", "Scale-location", "By group", "Leverage", "Table"]


def each_view(at: AppTest, key: str, views: list[str], widget: str = "radio") -> None:
    """Select every view of a page in turn: each renders a chart (or its table) without problems."""
    for view in views:
        getattr(at, widget)(key=key).set_value(view).run()
        assert not problems(at), (view, problems(at))
        if view == "Table":
            assert len(at.dataframe) >= 1, view
        else:
            assert n_charts(at) >= 1 or at.info, view


def primed(**kw) -> AppTest:
    at = new_app()
    gstate.prime(at.session_state, **kw)
    return at.run()


# --------------------------------------------------------------------- rendering
def test_first_run_preloads_sleepstudy_and_model():
    at = new_app().run()
    assert not problems(at)
    assert at.title[0].value == "Data"
    assert at.session_state[gstate.DATA_NAME] == "sleepstudy"
    assert len(at.dataframe) >= 1                                  # the sample data are shown
    assert at.session_state[gstate.SPEC].to_formula() == "reaction ~ 1 + days + (1 + days | subj)"


@pytest.mark.parametrize("path", PAGES)
def test_page_without_data(path, monkeypatch):
    monkeypatch.setenv(gstate.PRELOAD_ENV, "")
    at = new_app().run()
    assert at.session_state[gstate.DATA] is None
    visit(at, path)
    assert not problems(at), problems(at)
    assert at.title[0].value


@pytest.mark.parametrize("path", PAGES)
def test_page_with_sample_data(path):
    at = new_app().run()
    visit(at, path)
    assert not problems(at), problems(at)
    if path == "pages/explore.py":
        for view in ("Response by group", "Trellis", "Binary response", "Grouping factors", "Distributions"):
            at.radio(key="w.pref.ex.view").set_value(view).run()
            assert not problems(at), (view, problems(at))
            assert n_charts(at) >= 1 or at.info, view


def page_with_fit(path: str, rec, name: str) -> AppTest:
    at = primed(data=rec.data, name=name, spec=rec.spec, fits=[rec])
    visit(at, path)
    assert not problems(at), problems(at)
    return at


@pytest.mark.parametrize("path", PAGES)
def test_page_with_fitted_lmm(path, lmm_record):
    at = page_with_fit(path, lmm_record, "sleepstudy")
    if path == "pages/summary.py":
        values = {m.label: m.value for m in at.metric}
        assert values["Residual SD σ"] == "25.59"
        # mm_core.r_squared / icc (R² as in tests/reference/inference.json)
        assert (values["Marginal R²"], values["Conditional R²"], values["ICC (adjusted)"]) == ("0.288", "0.793",
                                                                                            "0.709")
        assert n_charts(at) >= 2                                      # coefficient plot, optimizer trace
        assert any("(Intercept)" in str(df.value.index.tolist()) for df in at.dataframe)
    if path == "pages/random_effects.py":
        assert n_charts(at) == 1                                      # the caterpillar
        each_view(at, "w.pref.re.view", RE_VIEWS)
    if path == "pages/diagnostics.py":
        each_view(at, "w.pref.diag.view.lmm", DIAG_VIEWS, widget="selectbox")
    if path == "pages/compare.py":
        assert any("fit 1" in str(df.value) for df in at.dataframe)


@pytest.mark.parametrize("path", PAGES)
def test_page_with_fitted_glmm(path, glmm_record):
    at = page_with_fit(path, glmm_record, "cbpp")
    if path == "pages/diagnostics.py":
        assert n_charts(at) == 3                                      # simulated residuals first
        each_view(at, "w.pref.diag.view.glmm", ["Simulated residuals"] + DIAG_VIEWS, widget="selectbox")
    if path == "pages/random_effects.py":
        each_view(at, "w.pref.re.view", RE_VIEWS)
    if path == "pages/summary.py":
        labels = {m.label for m in at.metric}
        assert "Residual SD σ" not in labels and "Marginal R²" in labels          # R² on the latent scale


# ----------------------------------------------------------------- model builder
def model_page() -> AppTest:
    at = new_app().run()
    return visit(at, "pages/model.py")


def formula_box(at: AppTest):
    return at.text_area(key="w.m.formula")


def test_widgets_build_the_formula():
    at = model_page()
    at.button(key="w.clear_model").click().run()
    assert at.session_state[gstate.SPEC].fixed == [] and at.session_state[gstate.SPEC].random == []
    at.selectbox(key="w.m.response").select("reaction").run()
    at.multiselect(key="w.m.mains").select("days").run()
    add_group_box(at).select("subj").run()
    at.multiselect(key="w.m.re0.slopes").select("days").run()
    assert not problems(at), problems(at)
    assert formula_box(at).value == "reaction ~ 1 + days + (1 + days | subj)"
    at.checkbox(key="w.m.re0.correlated").uncheck().run()
    assert formula_box(at).value == "reaction ~ 1 + days + (1 + days || subj)"
    at.checkbox(key="w.m.intercept").uncheck().run()
    assert formula_box(at).value == "reaction ~ 0 + days + (1 + days || subj)"


def test_formula_text_updates_the_widgets():
    at = model_page()
    formula_box(at).input("reaction ~ days + (days || subj)").run()
    assert not problems(at), problems(at)
    assert at.multiselect(key="w.m.mains").value == ["days"]
    assert at.multiselect(key="w.m.re0.slopes").value == ["days"]
    assert at.checkbox(key="w.m.re0.correlated").value is False
    assert at.checkbox(key="w.m.re0.intercept").value is True
    formula_box(at).input("reaction ~ 1 + factor(days) + (1 | subj)").run()
    assert at.multiselect(key="w.m.mains").value == ["factor(days)"]
    assert at.multiselect(key="w.m.re0.slopes").value == []
    # and back again: the widgets' model written out is the canonical formula
    at.multiselect(key="w.m.mains").unselect("factor(days)").select("days").run()
    assert formula_box(at).value == "reaction ~ 1 + days + (1 | subj)"


def test_widget_model_and_formula_round_trip_for_nested_and_crossed():
    at = new_app().run()
    at.selectbox(key="w.data.dataset").select("pastes").run()
    at.button(key="w.data.load").click().run()
    visit(at, "pages/model.py")
    formula_box(at).input("strength ~ 1 + (1 | batch/cask)").run()
    assert not problems(at)
    groups = [at.selectbox(key=f"w.m.re{i}.group").value for i in range(2)]
    assert groups == ["batch", "batch:cask"]
    assert at.session_state[gstate.SPEC].to_formula() == "strength ~ 1 + (1 | batch) + (1 | batch:cask)"
    ds = [df.value for df in at.dataframe]
    assert any("cask nested in batch" in str(d.to_dict()) or "batch:cask nested in batch" in str(d.to_dict())
               for d in ds)


def test_bad_formula_shows_position_and_keeps_state():
    at = model_page()
    before = at.session_state[gstate.SPEC].to_formula()
    formula_box(at).input("reaction ~ days + (1 | subj").run()
    assert not at.exception
    assert at.error, "a formula error must be shown"
    assert "character" in at.error[0].value
    assert at.session_state[gstate.SPEC].to_formula() == before      # widgets keep the last valid model
    assert at.button(key="w.fit").disabled
    # switching pages keeps the text and the message
    visit(at, "pages/data.py")
    visit(at, "pages/model.py")
    assert formula_box(at).value == "reaction ~ days + (1 | subj"
    assert at.error
    formula_box(at).input("reaction ~ days + (1 | subjj)").run()     # parses; the column check is the fit's
    assert not at.error or "subjj" in at.error[0].value


def test_unknown_column_in_formula_reports_the_fit_error_and_keeps_state():
    at = model_page()
    formula_box(at).input("reaction ~ dayz + (1 | subj)").run()
    at.button(key="w.fit").click().run()
    assert not at.exception
    assert at.error and "dayz" in at.error[0].value
    assert at.session_state[gstate.FITS] == []
    assert at.session_state[gstate.DATA_NAME] == "sleepstudy"


# ----------------------------------------------------------------------- uploads
def test_bad_upload_shows_message_and_keeps_data():
    at = new_app().run()
    at.file_uploader(key="w.data.upload").set_value(("broken.csv", b"only_one_column\n1\n2\n", "text/csv")).run()
    assert not at.exception
    assert at.error and "broken.csv" in at.error[0].value
    assert at.session_state[gstate.DATA_NAME] == "sleepstudy"
    assert len(at.session_state[gstate.DATA]) == 180
    at.file_uploader(key="w.data.upload").set_value(("data.xlsx", b"not an excel file", "application/vnd.ms-excel")
                                                    ).run()
    assert at.error and "Excel" in at.error[0].value
    assert at.session_state[gstate.DATA_NAME] == "sleepstudy"


def test_good_upload_replaces_data_and_model():
    csv = "g,x,y\n" + "\n".join(f"{'abc'[i % 3]},{i},{i * 0.5 + (i % 3)}" for i in range(30))
    at = new_app().run()
    at.file_uploader(key="w.data.upload").set_value(("mine.csv", csv.encode(), "text/csv")).run()
    assert not problems(at), problems(at)
    assert at.session_state[gstate.DATA_NAME] == "mine.csv"
    assert at.session_state[gstate.DATA].shape == (30, 3)
    assert at.session_state[gstate.SPEC].random[0].group == "g"
    assert any("Loaded 'mine.csv'" in s.value for s in at.success)


def test_column_type_and_reference_level():
    at = new_app().run()
    at.multiselect(key="w.data.categorical").select("days").run()
    assert not problems(at), problems(at)
    df = at.session_state[gstate.DATA]
    assert isinstance(df["days"].dtype, pd.CategoricalDtype)
    at.selectbox(key="w.data.ref_factor").select("days").run()
    at.selectbox(key="w.data.ref_level").select("9").run()
    assert next(iter(at.session_state[gstate.DATA]["days"].cat.categories)) == "9"
    assert at.session_state[gstate.DATA_RAW]["days"].dtype.kind in "if"      # the raw data are untouched


# -------------------------------------------------------------------------- fits
def test_fit_button_fits_and_every_result_page_shows_it():
    at = model_page()
    at.button(key="w.fit").click().run()
    assert not problems(at), problems(at)
    fits = at.session_state[gstate.FITS]
    assert len(fits) == 1 and abs(fits[0].result.sigma - 25.5918) < 1e-3
    assert any("Fit 1 done" in s.value for s in at.success)
    visit(at, "pages/summary.py")
    assert {m.label: m.value for m in at.metric}["Residual SD σ"] == "25.59"
    # a second, simpler fit, then a likelihood-ratio test on Compare
    visit(at, "pages/model.py")
    at.multiselect(key="w.m.re0.slopes").unselect("days").run()
    at.button(key="w.fit").click().run()
    assert len(at.session_state[gstate.FITS]) == 2
    visit(at, "pages/compare.py")
    assert not problems(at), problems(at)
    assert any("chisq" in [c.lower() for c in df.value.columns] or "Chisq" in str(df.value.columns)
               for df in at.dataframe)


def test_code_panel_shows_three_languages():
    at = model_page()
    codes = [c.value for c in at.code]
    assert any("mm_core.fit(" in c for c in codes)
    assert any("lmer(reaction ~ 1 + days + (1 + days | subj)" in c and "REML = TRUE" in c for c in codes)
    assert any("@formula(reaction ~ 1 + days + (1 + days | subj))" in c for c in codes)


def test_bootstrap_runs_with_progress(lmm_record):
    at = primed(data=lmm_record.data, name="sleepstudy", spec=lmm_record.spec, fits=[lmm_record])
    visit(at, "pages/bootstrap.py")
    at.number_input(key="w.boot.n").set_value(50).run()
    at.button(key="w.boot.run").click().run()
    deadline = time.time() + 120
    while at.session_state[gstate.JOB] is not None and time.time() < deadline:
        time.sleep(0.3)
        at.run()
    assert not problems(at), problems(at)
    boot = at.session_state[gstate.BOOTS][lmm_record.id]
    assert boot.n == 50
    assert n_charts(at) >= 1
    assert len(at.dataframe) >= 2                                     # intervals and all replicates


def test_state_survives_page_switches():
    at = model_page()
    formula_box(at).input("reaction ~ days + (1 | subj)").run()
    for p in PAGES:
        visit(at, p)
    visit(at, "pages/model.py")
    assert formula_box(at).value == "reaction ~ days + (1 | subj)"
    assert at.session_state[gstate.SPEC].to_formula() == "reaction ~ 1 + days + (1 | subj)"
    assert ModelSpec.from_text(at.session_state[gstate.SPEC].to_formula()).random[0].group == "subj"


def test_response_decides_the_family_and_link_choices():
    rows = "\n".join(f"{'abcd'[i % 4]},{i % 7},{'yes' if i % 3 else 'no'},{i % 5}" for i in range(40))
    at = new_app().run()
    at.file_uploader(key="w.data.upload").set_value(("b.csv", ("g,x,ok,k\n" + rows).encode(), "text/csv")).run()
    visit(at, "pages/model.py")
    at.selectbox(key="w.m.response").select("ok").run()
    assert not problems(at), problems(at)
    assert at.selectbox(key="w.m.family").value == "binomial"
    assert at.selectbox(key="w.m.family").options == ["binomial"]
    assert at.selectbox(key="w.m.link").value == "logit"
    at.selectbox(key="w.m.link").select("probit").run()
    assert at.session_state[gstate.SPEC].fit_kwargs()["link"] == "probit"
    assert at.number_input(key="w.m.nagq").value == 1                 # GLMM options replace REML
    at.selectbox(key="w.m.response").select("k").run()                # counts: Poisson first
    assert at.selectbox(key="w.m.family").value == "poisson"
    assert at.selectbox(key="w.m.link").value == "log"
    at.button(key="w.fit").click().run()
    assert not at.exception
    fits = at.session_state[gstate.FITS]
    assert fits and fits[-1].result.family == "poisson"


def test_clear_my_data_keeps_the_app_usable(lmm_record):
    at = primed(data=lmm_record.data, name="sleepstudy", spec=lmm_record.spec, fits=[lmm_record])
    at.button(key="w.data.clear").click().run()
    assert at.session_state[gstate.DATA] is None
    assert not problems(at), problems(at)
    for path in PAGES:
        visit(at, path)
        assert not problems(at), (path, problems(at))
    assert len(at.session_state[gstate.FITS]) == 1                    # fits stay until removed on Compare


def test_model_page_offers_and_fits_the_engines_family_names(sleepstudy):
    """A positive response offers Gamma and inverse.gaussian under the engine's (R's) names, with
    the engine's links; a model saved with the old spelling "gamma" shows and fits as Gamma."""
    spec = ModelSpec.from_text("reaction ~ 1 + days + (1 | subj)", ModelSpec(family="gamma", link="log"))
    at = primed(data=sleepstudy, name="sleepstudy", spec=spec)
    visit(at, "pages/model.py")
    assert not problems(at), problems(at)
    assert at.selectbox(key="w.m.family").options == ["gaussian", "Gamma", "inverse.gaussian"]
    assert at.selectbox(key="w.m.family").value == "Gamma"
    assert at.selectbox(key="w.m.link").options == ["inverse", "log", "identity"]
    assert at.button(key="w.fit").label == "Fit Gamma GLMM (log link)"
    at.selectbox(key="w.m.family").select("inverse.gaussian").run()
    assert at.selectbox(key="w.m.link").value == "1/mu^2" and at.session_state[gstate.SPEC].link is None
    at.selectbox(key="w.m.link").select("log").run()
    at.button(key="w.fit").click().run()
    assert not problems(at), problems(at)
    assert at.session_state[gstate.FITS][-1].result.family == "inverse.gaussian"


def test_random_effects_page_labels_float_groups_as_the_engine(sleepstudy):
    """A grouping column of floats: the page's levels are the engine's labels (1, 2, ...), and the
    group panels find every level's rows."""
    from gui import engine
    from gui.files.io import frame_hash

    d = sleepstudy.assign(subj=sleepstudy["subj"].cat.codes.astype(float) + 1.0)
    spec = ModelSpec.from_text("reaction ~ 1 + days + (1 + days | subj)", ModelSpec(reml=False))
    res = engine.fit(spec.to_formula(), d, **spec.fit_kwargs())
    rec = gstate.FitRecord(id=1, spec=spec, formula=spec.to_formula(), data_name="floats", data_key=frame_hash(d),
                           data=d, result=res, seconds=0.1)
    at = page_with_fit("pages/random_effects.py", rec, "floats")
    at.radio(key="w.pref.re.view").set_value("Groups with fitted lines").run()
    assert not problems(at), problems(at)
    levels = at.multiselect(key="w.re.levels.subj.1").options
    assert sorted(levels, key=float) == [str(i) for i in range(1, 19)]
    panels = json.loads(at.get("plotly_chart")[0].proto.spec)
    observed = [t for t in panels["data"] if t["name"] == "observed"]
    def n_points(v) -> int:                  # plotly writes arrays as lists or as typed base64 data
        return len(np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])) if isinstance(v, dict) else len(v)

    assert observed and all(n_points(t["y"]) == 10 for t in observed)      # every panel has its 10 days
    assert panels["layout"]["title"]["text"].startswith("reaction against")
