"""The Plan page: pure builders (form parsing, power curve, sandbox figures) and AppTest runs of a
small power curve, the sandbox and bad input."""
from __future__ import annotations

import ast
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from gui.shell import state as gstate
from gui.views import plan_view as pv
from gui.views import tables
from mm_core import StudyDesign, TrueModel, fit, power

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PLAN = "pages/plan.py"


def test_plan_view_is_pure():
    tree = ast.parse((ROOT / "gui" / "views" / "plan_view.py").read_text())
    mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m.split(".")[0] == "streamlit" for m in mods)


# ============================================================================ pure parts
def test_parse_sizes():
    assert pv.parse_sizes("20, 10 40;10", minimum=8) == [10, 20, 40]
    with pytest.raises(pv.PlanInputError, match="must not be below the current design \\(8\\)"):
        pv.parse_sizes("4, 10", minimum=8)
    with pytest.raises(pv.PlanInputError, match="'ten' in the sizes is not a whole number"):
        pv.parse_sizes("ten")
    with pytest.raises(pv.PlanInputError, match="whole numbers separated by commas"):
        pv.parse_sizes("  ")
    assert pv.parse_values("0, 1, 2.5", "days") == [0, 1, 2.5]
    assert pv.parse_values("a, b", "cond") == ["a", "b"]
    with pytest.raises(pv.PlanInputError, match="at least two values"):
        pv.parse_values("a", "cond")


def test_form_to_engine_objects_and_back():
    form = pv.DesignForm(group="subj", n_groups=6, n_obs=4, between="treat", between_values="a, b",
                         within="days", within_values="0, 1")
    design = form.design()
    assert design.nobs == 48
    assert form.formula_text() == "y ~ 1 + treat + days + (1 | subj)"
    rows = pv.parameter_rows(design, form.formula_text(), "gaussian")
    assert list(rows["parameter"]) == ["(Intercept)", "treatb", "days", "(Intercept) | subj", "sigma"]
    rows.loc[rows["parameter"] == "treatb", "value"] = 2.0
    model = pv.true_model(form.formula_text(), "gaussian", rows)
    assert model.fixef["treatb"] == 2.0 and model.sd == {"subj": {"(Intercept)": 1.0}}
    kept = pv.parameter_rows(design, "y ~ 1 + treat + days + (1 + days | subj)", "gaussian", rows)
    assert kept.set_index("parameter").loc["treatb", "value"] == 2.0       # edits survive a new formula
    assert "(Intercept), days | subj" in set(kept["parameter"])
    with pytest.raises(pv.PlanInputError, match="must start with a letter"):
        pv.DesignForm(group="1 subj").design()
    with pytest.raises(pv.PlanInputError, match="does not fit the design"):
        pv.parameter_rows(design, "y ~ 1 + dose + (1 | subj)", "gaussian")


@pytest.fixture(scope="module")
def small_run():
    d = StudyDesign(groups={"subj": 6}, n_obs=4, between={"treat": ("subj", ["a", "b"])})
    m = TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"treatb": 1.5}, sd={"subj": 1}, sigma=1)
    return power(d, "treatb", params=m, n_sim=30, seed=1, workers=1, along="subj", sizes=[6, 12, 24])


def test_power_curve_figure(small_run):
    fig = pv.power_curve(small_run.table, target=0.8, along="subj")
    band, line = fig.data[0], fig.data[1]
    assert band.fill == "toself" and len(band.x) == 6
    np.testing.assert_allclose(line.y, small_run.table["power"])
    texts = [a.text for a in fig.layout.annotations]
    assert any("target 80%" in t for t in texts)
    assert fig.layout.xaxis.title.text == "levels of subj"
    shown = pv.power_table(small_run.table)
    assert shown["power"].tolist() == pytest.approx((small_run.table["power"] * 100).round(3).tolist())
    reach = pv.first_reaching(small_run.table, 0.5)
    assert reach == small_run.table.loc[small_run.table["power"] >= 0.5, "size"].min()
    assert f"first reached at size {reach:g}" in pv.power_summary(small_run, 0.5)
    assert "None of the sizes reaches the target 100%" in pv.power_summary(small_run, 1.0)


def test_sandbox_builders():
    d = StudyDesign(groups={"subj": 40}, n_obs=3)
    m = TrueModel("y ~ 1 + (1 | subj)", fixef={"(Intercept)": 2.0}, sd={"subj": 1.0}, sigma=2.0)
    from gui import engine
    data, effects = engine.simulate_with_effects(d, m, 5)
    res = fit(m.formula, data, reml=True)
    fixed = pv.sandbox_fixed(res, m)
    assert fixed.loc["(Intercept)", "true"] == 2.0
    var = pv.sandbox_variances(res, m)
    assert var["true sd"].tolist() == [1.0, 2.0]
    shrink = pv.shrinkage_frame(res, effects)
    assert len(shrink) == 40
    slope = np.polyfit(shrink["true"], shrink["estimate"], 1)[0]
    assert slope < 1                                        # conditional modes are shrunk
    fig = pv.shrinkage_plot(shrink)
    assert fig.data[0].name.startswith("no shrinkage")
    assert any("fitted slope" in (t.name or "") for t in fig.data)
    assert "shrinkage" in pv.shrinkage_note(shrink)
    assert len(pv.truth_vs_estimate(fixed, var).data) == 2


def test_csv_neutralises_formula_cells():
    out = tables.csv_safe(pd.DataFrame({"g": ["=cmd()", "ok"], "y": [-1.0, 2.0]}), index=False).decode()
    assert "'=cmd()" in out and "-1.0" in out


# ============================================================================ AppTest
def _wait(at: AppTest, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while at.session_state[gstate.JOB] is not None and time.time() < deadline:
        time.sleep(0.3)
        at.run()


def problems(at: AppTest) -> list[str]:
    return [f"exception: {e.value}" for e in at.exception] + [f"error: {e.value}" for e in at.error]


def plan_app(**prime) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if prime:
        gstate.prime(at.session_state, **prime)
    at.run()
    return at.switch_page(PLAN).run()


def test_power_curve_from_a_design_runs_with_progress():
    at = plan_app()
    assert not problems(at)
    at.radio(key="w.pref.plan.source").set_value("a study design").run()
    at.number_input(key="w.plan.n_groups").set_value(6).run()
    at.text_input(key="w.plan.sizes").set_value("6, 12").run()
    at.number_input(key="w.plan.n_sim").set_value(20).run()
    at.button(key="w.plan.run").click().run()
    _wait(at)
    assert not problems(at), problems(at)
    rec = at.session_state[gstate.POWER]
    assert list(rec.result.table["size"]) == [6, 12] and rec.result.n_done == 40
    assert len(at.get("plotly_chart")) == 1
    assert any("Power run done" in s.value for s in at.success)
    assert len(at.get("download_button")) >= 2                      # table and replicate data


def test_power_curve_from_a_fit(lmm_record):
    at = plan_app(data=lmm_record.data, name="sleepstudy", spec=lmm_record.spec, fits=[lmm_record])
    at.selectbox(key="w.plan.test").set_value("Wald z test").run()
    at.number_input(key=f"w.plan.eff.{lmm_record.id}.days").set_value(3.0).run()
    at.text_input(key="w.plan.sizes").set_value("18, 24").run()
    at.number_input(key="w.plan.n_sim").set_value(10).run()
    at.button(key="w.plan.run").click().run()
    _wait(at)
    assert not problems(at), problems(at)
    r = at.session_state[gstate.POWER].result
    assert list(r.table["size"]) == [18, 24] and r.table["true_value"].tolist() == [3.0, 3.0]


@pytest.mark.parametrize("sizes, message", [("4, 10", "must not be below the current design"),
                                            ("ten", "is not a whole number")])
def test_bad_sizes_get_a_message(sizes, message):
    at = plan_app()
    at.radio(key="w.pref.plan.source").set_value("a study design").run()
    at.text_input(key="w.plan.sizes").set_value(sizes).run()
    at.button(key="w.plan.run").click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state[gstate.JOB] is None


def test_design_without_replication_gets_a_message():
    at = plan_app()
    at.radio(key="w.pref.plan.source").set_value("a study design").run()
    at.number_input(key="w.plan.n_obs").set_value(1).run()
    at.button(key="w.plan.run").click().run()
    assert not at.exception
    assert any("no replication" in e.value for e in at.error), [e.value for e in at.error]


def test_sandbox_generates_fits_and_generates_again():
    at = plan_app()
    at.button_group(key="w.pref.plan.mode").set_value("Sandbox").run()
    assert not problems(at), problems(at)
    at.button(key="w.plan.generate").click().run()
    assert not problems(at), problems(at)
    first = at.session_state[gstate.SANDBOX]
    assert len(first.data) == 80 and len(at.get("plotly_chart")) == 2
    at.button(key="w.plan.again").click().run()
    second = at.session_state[gstate.SANDBOX]
    assert second.seed == first.seed + 1
    assert not np.allclose(second.data["y"], first.data["y"])
    assert not problems(at), problems(at)


def test_cancel_keeps_the_finished_simulations():
    at = plan_app()
    at.radio(key="w.pref.plan.source").set_value("a study design").run()
    at.text_input(key="w.plan.sizes").set_value("8, 16, 32").run()
    at.number_input(key="w.plan.n_sim").set_value(5000).run()
    at.button(key="w.plan.run").click().run()
    job = at.session_state[gstate.JOB]
    assert job is not None and job.kind == "power"
    deadline = time.time() + 60
    while not job.snapshot().get("done") and time.time() < deadline:    # some simulations first
        time.sleep(0.2)
    at.button(key="cancel.power").click().run()
    _wait(at)
    assert not problems(at), problems(at)
    r = at.session_state[gstate.POWER].result
    assert r.cancelled and 0 < r.n_done < 15000
    assert any("finished simulations are shown" in w.value for w in at.warning)


def test_plan_page_without_data(monkeypatch):
    monkeypatch.setenv(gstate.PRELOAD_ENV, "")
    at = plan_app()
    assert not problems(at), problems(at)
    assert at.title[0].value == "Plan"
    assert any("No fitted model yet" in i.value for i in at.info)      # the fit source says how
    at.radio(key="w.pref.plan.source").set_value("a study design").run()
    assert not problems(at), problems(at)                              # a design needs no data


def test_power_from_a_glmm_fit_offers_its_tests(glmm_record):
    at = plan_app(data=glmm_record.data, name="cbpp", spec=glmm_record.spec, fits=[glmm_record])
    assert at.selectbox(key="w.plan.test").options == pv.GLMM_TESTS
    at.text_input(key="w.plan.sizes").set_value("15, 20").run()
    at.number_input(key="w.plan.n_sim").set_value(10).run()
    at.button(key="w.plan.run").click().run()
    _wait(at)
    assert not problems(at), problems(at)
    r = at.session_state[gstate.POWER].result
    assert list(r.table["size"]) == [15, 20] and r.table["failed"].max() < 0.5
