"""Bad input to the LMM: each case raises (or reports) a message that names the problem."""
from __future__ import annotations

import numpy as np
import pytest

import mm_core
from mm_core.errors import DataError, FormulaError, MixedModelError


@pytest.fixture()
def sleep():
    return mm_core.datasets.load("sleepstudy")


def test_missing_values_are_dropped_and_counted(sleep):
    df = sleep.copy()
    df.loc[[3, 17, 40], "reaction"] = np.nan
    df.loc[[5], "days"] = np.nan
    df["unused"] = np.nan  # a column the model does not use never drops rows
    m = mm_core.fit("reaction ~ 1 + days + (1 + days | subj)", df)
    assert m.nobs == 176 and m.n_dropped == 4
    assert 5 not in m.rows and 3 not in m.rows and len(m.rows) == 176
    note = next(w for w in m.warnings if "missing" in w)
    assert "4 of 180 rows" in note and "'reaction' (3)" in note and "'days' (1)" in note


def test_non_numeric_response(sleep):
    df = sleep.assign(reaction=sleep["reaction"].astype(str) + "ms")
    with pytest.raises(DataError, match="reaction"):
        mm_core.fit("reaction ~ 1 + days + (1 | subj)", df)


def test_grouping_factor_with_one_level(sleep):
    df = sleep.assign(one="A")
    with pytest.raises(DataError, match="'one' has only one level"):
        mm_core.fit("reaction ~ 1 + days + (1 | one)", df)


def test_fewer_observations_than_random_effects(sleep):
    with pytest.raises(DataError, match=r"180 random effects.*180 observations"):
        mm_core.fit("reaction ~ 1 + factor(days) + (1 + factor(days) | subj)", sleep)
    # explicitly allowed, as lme4's check.nobs.vs.nRE = "ignore"
    m = mm_core.fit("reaction ~ 1 + days + (1 | subj)", sleep, allow_more_random_effects=True)
    assert m.nobs == 180


def test_constant_and_collinear_columns_are_dropped_by_name(sleep):
    df = sleep.assign(const=3.0, days2=2 * sleep["days"] + 1)
    m = mm_core.fit("reaction ~ 1 + days + const + days2 + (1 | subj)", df)
    assert list(m.fixef.index) == ["(Intercept)", "days"]
    assert m.dropped_columns == ("const", "days2")
    assert any("'const', 'days2'" in w for w in m.warnings)
    ref = mm_core.fit("reaction ~ 1 + days + (1 | subj)", sleep)
    assert m.objective == pytest.approx(ref.objective, abs=1e-8)


def test_infinite_values(sleep):
    df = sleep.astype({"days": float})
    df.loc[[1, 2], "days"] = np.inf
    with pytest.raises(DataError, match=r"days.*2"):
        mm_core.fit("reaction ~ 1 + days + (1 | subj)", df)


def test_formula_without_random_effects(sleep):
    with pytest.raises(DataError, match="use a linear model"):
        mm_core.fit("reaction ~ 1 + days", sleep)


def test_empty_table(sleep):
    with pytest.raises(DataError, match="no rows"):
        mm_core.fit("reaction ~ 1 + days + (1 | subj)", sleep.iloc[:0])


def test_unknown_column_has_position_and_suggestion(sleep):
    with pytest.raises(FormulaError) as e:
        mm_core.fit("reaction ~ 1 + dayz + (1 | subj)", sleep)
    assert e.value.pos == 15 and "did you mean 'days'" in e.value.message


def test_reml_for_glmm_and_agq_for_lmm_are_refused(sleep):
    with pytest.raises(MixedModelError, match="n_agq"):
        mm_core.fit("reaction ~ 1 + days + (1 | subj)", sleep, n_agq=5)


def test_prior_weights(sleep):
    w = np.where(sleep["days"] < 5, 1.0, 2.0)
    m = mm_core.fit("reaction ~ 1 + days + (1 | subj)", sleep, weights=w)
    # m <- lmer(reaction ~ days + (1|subj), d, weights = ifelse(d$days < 5, 1, 2), REML = FALSE)
    assert m.objective == pytest.approx(1814.36668064, abs=1e-6)          # deviance(m)
    np.testing.assert_allclose(m.fixef, [251.15424386, 10.55866601], rtol=1e-8)  # fixef(m)
    with pytest.raises(DataError, match="non-negative"):
        mm_core.fit("reaction ~ 1 + days + (1 | subj)", sleep, weights=-w)
    with pytest.raises(DataError, match="180 rows"):
        mm_core.fit("reaction ~ 1 + days + (1 | subj)", sleep, weights=w[:10])
