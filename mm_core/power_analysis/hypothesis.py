"""The tests a power analysis applies to each simulated data set.

* :class:`CoefficientTest`: the t test of one fixed effect, with Satterthwaite or
  Kenward–Roger denominator degrees of freedom, or the Wald z test;
* :class:`TermTest`: the type III F test of a fixed-effects term (all its coefficients);
* :class:`LikelihoodRatioTest`: the likelihood-ratio test against the model without a term.

Small-sample degrees of freedom come from one function, :func:`small_sample_test`: the
engine's :func:`mm_core.fixef_tests` and :func:`mm_core.anova` (lmerTest's and pbkrtest's
numbers) on each refitted data set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..effects import anova, fixef_tests
from ..errors import MixedModelError

__all__ = [
    "DDF_METHODS",
    "CoefficientTest",
    "LikelihoodRatioTest",
    "TermTest",
    "as_test",
    "small_sample_test",
]

#: Denominator degrees of freedom: names accepted, and the canonical spelling.
DDF_METHODS = {"satterthwaite": "satterthwaite", "kenward-roger": "kenward-roger",
               "kenward_roger": "kenward-roger", "kr": "kenward-roger", "z": "z",
               "wald": "z", "normal": "z", "none": "z"}


def _ddf(ddf) -> str:
    key = str(ddf).strip().lower()
    if key not in DDF_METHODS:
        raise MixedModelError(f"unknown degrees-of-freedom method {ddf!r}; use 'satterthwaite', "
                              "'kenward-roger' or 'z'")
    return DDF_METHODS[key]


@dataclass(frozen=True)
class CoefficientTest:
    """t test of one fixed effect (H₀: the coefficient is 0).

    Parameters
    ----------
    coefficient : str
        Coefficient name in lme4's spelling (``"treatdrug"``, ``"days"``).
    ddf : {"satterthwaite", "kenward-roger", "z"}
        Denominator degrees of freedom of the t statistic; ``"z"`` compares it with the normal
        distribution (the Wald z test of lme4's summary).

    Notes
    -----
    lmerTest's ``summary(m, ddf = "Satterthwaite")`` row of the coefficient; simr's
    ``fixed("x", "t")`` (simr uses Satterthwaite through lmerTest as well).
    """

    coefficient: str
    ddf: str = "satterthwaite"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ddf", _ddf(self.ddf))

    @property
    def label(self) -> str:
        kind = {"satterthwaite": "t test, Satterthwaite df", "kenward-roger":
                "t test, Kenward–Roger df", "z": "Wald z test"}[self.ddf]
        return f"{self.coefficient}: {kind}"


@dataclass(frozen=True)
class TermTest:
    """Type III F test of a fixed-effects term (H₀: all its coefficients are 0).

    Parameters
    ----------
    term : str
        Term label as the formula writes it (``"treat"``, ``"treat:days"``).
    ddf : {"satterthwaite", "kenward-roger", "z"}
        Denominator degrees of freedom; ``"z"`` gives the Wald χ² test divided by its df.

    Notes
    -----
    lmerTest's ``anova(m, type = 3, ddf = "Satterthwaite")`` row of the term; simr's
    ``fixed("x", "f")``. With ``ddf="z"`` the statistic is the Wald F of the term's
    coefficients (χ²/r), the type III test for a term not contained in an interaction.
    """

    term: str
    ddf: str = "satterthwaite"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ddf", _ddf(self.ddf))

    @property
    def label(self) -> str:
        return f"{self.term}: F test (type III, {self.ddf} df)"


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """Likelihood-ratio test of the model against the model without a term.

    Parameters
    ----------
    drop : str
        A fixed-effects term label (``"treat"``) or a grouping factor (``"item"``: its
        random-effects term) to remove for the smaller model.

    Notes
    -----
    Both models are fitted by maximum likelihood, as lme4's ``anova(m0, m1)`` refits them;
    simr's ``compare(. ~ . - x)`` / ``fixed("x", "lr")``. For a dropped variance component the
    χ² reference is conservative (the null value is on the boundary).
    """

    drop: str

    @property
    def label(self) -> str:
        return f"likelihood-ratio test without {self.drop}"


def as_test(test):
    """A test object from itself or a coefficient name (its Satterthwaite t test)."""
    if isinstance(test, (CoefficientTest, TermTest, LikelihoodRatioTest)):
        return test
    if isinstance(test, str) and test.strip():
        return CoefficientTest(test.strip())
    raise MixedModelError("the test must be a coefficient name, CoefficientTest, TermTest or "
                          f"LikelihoodRatioTest, not {test!r}")


# ============================================================================ degrees of freedom
def small_sample_test(test, design, *, fixef_names, beta=None, std_error=None, vcov=None,
                      result=None) -> tuple:
    """``(statistic, df, p_value)`` of a t or F test; the one place where their df come from.

    Parameters
    ----------
    test : CoefficientTest or TermTest
    design : Design
        The model matrices of the simulated data set's size.
    fixef_names : list of str
        Names of the estimated coefficients (order of ``beta``).
    beta, std_error, vcov : ndarray
        Estimates, their standard errors and covariance (``vcov`` for z tests of several
        columns).
    result : MixedModelResult, optional
        The refit; needed for Satterthwaite and Kenward–Roger df.

    Notes
    -----
    Satterthwaite and Kenward–Roger tests are the rows of ``mm_core.fixef_tests(result,
    ddf=...)`` / ``mm_core.anova(result, type=3, ddf=...)`` (lmerTest's ``summary`` and
    ``anova``). With ``ddf="z"`` the Wald statistic of ``beta`` is compared with the normal (t)
    or χ²/r (F) distribution, without a full refit.
    """
    coef = isinstance(test, CoefficientTest)
    if test.ddf != "z":
        if result is None:
            raise MixedModelError(f"the {test.ddf} df of '{test.label}' need the refitted model")
        if coef:
            row = fixef_tests(result, ddf=test.ddf).loc[test.coefficient]
            return float(row["statistic"]), float(row["df"]), float(row["p_value"])
        row = anova(result, type=3, ddf=test.ddf).loc[test.term]
        return float(row["f_value"]), float(row["den_df"]), float(row["p_value"])
    if coef:
        j = fixef_names.index(test.coefficient)
        t = beta[j] / std_error[j]
        return float(t), math.inf, float(2 * stats.norm.sf(abs(t)))
    cols = term_columns(design, fixef_names, test.term)
    b = np.asarray(beta)[cols]
    # one coefficient: F = t²; several: the Wald form with their covariance
    V = (np.diag(np.asarray(std_error)[cols] ** 2) if len(cols) == 1
         else np.asarray(vcov)[np.ix_(cols, cols)])
    r = len(cols)
    F = float(b @ np.linalg.solve(V, b)) / r
    return F, math.inf, float(stats.chi2.sf(F * r, r))


def term_columns(design, fixef_names, term: str) -> list:
    """Positions (in ``fixef_names``) of the estimated coefficients of a fixed-effects term."""
    labels = dict(zip(design.fixef_names, design.fixef_terms))
    cols = [j for j, nm in enumerate(fixef_names) if labels.get(nm) == term]
    if not cols:
        terms = sorted({lab for lab in design.fixef_terms if lab and lab != "(Intercept)"})
        raise MixedModelError(f"unknown fixed-effects term '{term}'; the model's terms are "
                              f"{', '.join(terms)}")
    return cols
