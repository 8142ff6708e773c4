"""The result object: immutable, picklable, complete; progress reporting and cancellation."""
from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

import mm_core
from mm_core.errors import FitCancelled


@pytest.fixture(scope="module")
def sleep_fit():
    return mm_core.fit("reaction ~ 1 + days + (1 + days | subj)", mm_core.datasets.load("sleepstudy"))


def test_pickle_round_trip(sleep_fit):
    _ = sleep_fit.ranef_sd  # a lazily computed field travels too
    back = pickle.loads(pickle.dumps(sleep_fit))
    assert back.objective == sleep_fit.objective
    np.testing.assert_array_equal(back.theta, sleep_fit.theta)
    np.testing.assert_allclose(back.ranef_sd["subj"], sleep_fit.ranef_sd["subj"])
    np.testing.assert_allclose(back.leverage, sleep_fit.leverage)
    assert back.model.objective(back.theta) == pytest.approx(back.objective)


def test_immutable(sleep_fit):
    with pytest.raises(dataclasses.FrozenInstanceError):
        sleep_fit.sigma = 1.0


def test_contract_fields(sleep_fit):
    m = sleep_fit
    assert list(m.coeftable.columns) == ["estimate", "std_error", "z_value", "p_value",
                                         "ci_lower", "ci_upper"]
    assert list(m.varcorr.columns[:4]) == ["group", "name", "variance", "sd"]
    assert m.varcorr["group"].tolist() == ["subj", "subj", "Residual"]
    assert m.varcorr.loc[1, "corr:(Intercept)"] == pytest.approx(0.0813, abs=1e-3)
    assert m.aicc == pytest.approx(m.aic + 2 * 6 * 7 / (180 - 7))
    assert m.ranef["subj"].shape == (18, 2) and m.ranef_sd["subj"].shape == (18, 2)
    assert m.fitted.shape == m.residuals.shape == m.leverage.shape == (180,)
    trace = m.optsum.trace
    assert trace.columns.tolist()[:3] == ["evaluation", "stage", "objective"]
    assert len(trace) == m.optsum.evaluations + m.optsum.check_evaluations
    assert (trace["stage"] == "optimize").sum() == m.optsum.evaluations
    assert trace["objective"].min() == pytest.approx(m.objective)
    assert m.optsum.converged and m.optsum.verdict == "converged"
    np.testing.assert_allclose(m.residuals_of("scaled"), m.residuals / m.sigma)
    text = m.summary()
    assert "25.59" in text and "days" in text and "subj" in text


def test_progress_and_cancel():
    seen = []
    data = mm_core.datasets.load("sleepstudy")
    mm_core.fit("reaction ~ 1 + days + (1 + days | subj)", data, progress=seen.append)
    assert seen and seen[-1].evaluations >= 1 and np.isfinite(seen[0].objective)
    with pytest.raises(FitCancelled):
        mm_core.fit("reaction ~ 1 + days + (1 + days | subj)", data,
                    progress=lambda info: info.evaluations < 5)


def test_the_result_knows_its_formula_response_and_design(sleep_fit):
    m = sleep_fit
    assert m.response_name == "reaction" == m.design.response_name
    assert [t.label for t in m.parsed_formula.fixed] == ["days"] and m.parsed_formula.groups == ("subj",)
    assert m.design.reterms[0].levels == list(m.ranef["subj"].index)
    assert m.grouping_columns == {"subj": ("subj",)}
    p = mm_core.fit("strength ~ 1 + (1 | batch/cask)", mm_core.datasets.load("pastes"))
    assert p.grouping_columns == {"batch": ("batch",), "batch:cask": ("batch", "cask")}
    assert set(p.grouping_columns) == set(p.ranef)
    g = mm_core.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", mm_core.datasets.load("cbpp"),
                    family="binomial")
    assert g.response_name == "cbind(incidence, size - incidence)"
    assert g.parsed_formula.response.func == "cbind" and g.design is g.model.design
    back = pickle.loads(pickle.dumps(g))
    assert back.design.response_name == g.response_name and back.design is back.model.design
