"""The tests a power analysis applies to each simulated data set.

* :class:`CoefficientTest`: the t test of one fixed effect, with Satterthwaite or
  Kenward–Roger denominator degrees of freedom, or the Wald z test;
* :class:`TermTest`: the type III F test of a fixed-effects term (all its coefficients);
* :class:`LikelihoodRatioTest`: the likelihood-ratio test against the model without a term.

Small-sample degrees of freedom come from one function, :func:`small_sample_test`: it uses the
engine's ``mm_core.fixef_tests`` and ``mm_core.anova`` (lmerTest's numbers) when the engine has
them, and otherwise the closed form that holds for one random intercept in a balanced design
(:func:`balanced_stratum_df`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..errors import MixedModelError

__all__ = ["CoefficientTest", "TermTest", "LikelihoodRatioTest", "as_test", "small_sample_test",
           "balanced_stratum_df", "DDF_METHODS"]

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
    ``fixed("x", "f")``. Without the engine's ``mm_core.anova`` the statistic is the Wald F of
    the term's coefficients, the type III test for a term not contained in an interaction.
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
def balanced_stratum_df(design, columns: list) -> float:
    """Satterthwaite (= Kenward–Roger) df of coefficients in a balanced random-intercept design.

    With one random intercept ``(1 | g)`` (ℓ levels, ``m`` observations each, ``n = ℓ m``),
    generalized least squares equals ordinary least squares, ``β̂ⱼ = aⱼᵀy`` with
    ``aⱼ = X(XᵀX)⁻¹eⱼ``, and ``Var(β̂ⱼ) = (σ² + mτ²)‖P_B aⱼ‖² + σ²‖(I − P_B)aⱼ‖²`` (``P_B``
    averages within levels). When the within part vanishes (a between-level coefficient) the
    REML estimate of this variance is a multiple of the mean square between levels on
    ``ℓ − rank(P_B X)`` degrees of freedom; when the between part vanishes (a within-level
    coefficient), a multiple of ``σ̂²`` on ``n − ℓ − rank((I − P_B) X)``. A multiple of a
    scaled χ² has Satterthwaite df equal to its own df, so these are Satterthwaite's (and
    Kenward–Roger's) values exactly: lmerTest's and pbkrtest's numbers whenever τ̂² > 0.
    Coefficients that mix both strata (e.g. an intercept under treatment coding of a
    within-level factor) have no such closed form.

    Raises
    ------
    MixedModelError
        Any other design (more or vector-valued random-effects terms, unbalanced levels,
        columns mixing both strata).
    """
    need = ("Satterthwaite and Kenward–Roger degrees of freedom are available here for one "
            "random intercept in a balanced design; use the Wald z test (ddf='z') or a "
            "likelihood-ratio test")
    terms = design.reterms
    if len(terms) != 1 or terms[0].ncols != 1 or not np.allclose(terms[0].z, 1.0):
        raise MixedModelError(need + " (the model has other random effects)")
    t = terms[0]
    ell = t.nlevels
    counts = np.bincount(t.refs, minlength=ell)
    if counts.min() != counts.max():
        raise MixedModelError(need + f" (the levels of '{t.group}' have different numbers of "
                                     "observations)")
    from ..femat import independent_columns
    keep = independent_columns(design.X)
    X = np.asarray(design.X, float)[:, keep]
    names = [design.fixef_names[j] for j in keep]

    def between_part(A):              # P_B A: level means, repeated on the level's rows
        means = np.zeros((ell,) + A.shape[1:])
        np.add.at(means, t.refs, A)
        return (means / counts[0])[t.refs]

    # β̂ = Aᵀy with A = X (XᵀX)⁻¹ (GLS = OLS in a balanced design); Var(β̂ⱼ) =
    # (σ² + mτ²)‖P_B aⱼ‖² + σ²‖(I − P_B) aⱼ‖²: a pure stratum when one part vanishes
    A = X @ np.linalg.inv(X.T @ X)
    AB = between_part(A)
    XB = between_part(X)
    nb, nw = np.linalg.norm(AB, axis=0), np.linalg.norm(A - AB, axis=0)
    tol = 1e-9 * np.maximum(nb + nw, 1e-300)
    cols = [names.index(c) for c in columns]
    if all(nw[j] <= tol[j] for j in cols):
        return float(ell - np.linalg.matrix_rank(XB))
    if all(nb[j] <= tol[j] for j in cols):
        return float(design.nobs - ell - np.linalg.matrix_rank(X - XB))
    raise MixedModelError(need + f" (the columns {columns} vary both between and within the "
                                 f"levels of '{t.group}')")


def _engine(name: str):
    import mm_core
    return getattr(mm_core, name, None)


def engine_has_small_sample_tests() -> bool:
    """Does the engine compute Satterthwaite / Kenward–Roger tests on fitted models?"""
    return _engine("fixef_tests") is not None and _engine("anova") is not None


def small_sample_test(test, design, *, fixef_names, beta=None, std_error=None, vcov=None,
                      result=None, df=None) -> tuple:
    """``(statistic, df, p_value)`` of a t or F test; the one place where their df come from.

    Parameters
    ----------
    test : CoefficientTest or TermTest
    design : Design
        The model matrices of the simulated data set's size.
    fixef_names : list of str
        Names of the estimated coefficients (order of ``beta``).
    beta, std_error, vcov : ndarray
        Estimates, their standard errors and covariance (``vcov`` for F tests of several
        columns).
    result : MixedModelResult, optional
        The refit, when the engine's ``fixef_tests`` / ``anova`` compute the test.
    df : float, optional
        The balanced-design df computed once for the design (:func:`balanced_stratum_df`).

    Notes
    -----
    With ``ddf="z"`` the statistic is compared with the normal (t) or χ²/r (F) distribution.
    Otherwise the engine's ``mm_core.fixef_tests(result, ddf=...)`` /
    ``mm_core.anova(result, type=3, ddf=...)`` give the test when they exist (``result`` is
    needed); else ``df`` (:func:`balanced_stratum_df`) is used with the Wald statistic.
    """
    coef = isinstance(test, CoefficientTest)
    if result is not None and test.ddf != "z":
        if coef:
            row = _engine("fixef_tests")(result, ddf=test.ddf).loc[test.coefficient]
            return float(row["statistic"]), float(row["df"]), float(row["p_value"])
        row = _engine("anova")(result, type=3, ddf=test.ddf).loc[test.term]
        return float(row["f_value"]), float(row["den_df"]), float(row["p_value"])
    dfv = math.inf if test.ddf == "z" else float(df)
    if coef:
        j = fixef_names.index(test.coefficient)
        t = beta[j] / std_error[j]
        p = 2 * (stats.norm.sf(abs(t)) if math.isinf(dfv) else stats.t.sf(abs(t), dfv))
        return float(t), dfv, float(p)
    cols = term_columns(design, fixef_names, test.term)
    b = np.asarray(beta)[cols]
    # one coefficient: F = t²; several: the Wald form with their covariance
    V = (np.diag(np.asarray(std_error)[cols] ** 2) if len(cols) == 1
         else np.asarray(vcov)[np.ix_(cols, cols)])
    r = len(cols)
    F = float(b @ np.linalg.solve(V, b)) / r
    p = stats.chi2.sf(F * r, r) if math.isinf(dfv) else stats.f.sf(F, r, dfv)
    return F, dfv, float(p)


def term_columns(design, fixef_names, term: str) -> list:
    """Positions (in ``fixef_names``) of the estimated coefficients of a fixed-effects term."""
    labels = dict(zip(design.fixef_names, design.fixef_terms))
    cols = [j for j, nm in enumerate(fixef_names) if labels.get(nm) == term]
    if not cols:
        terms = sorted({lab for lab in design.fixef_terms if lab and lab != "(Intercept)"})
        raise MixedModelError(f"unknown fixed-effects term '{term}'; the model's terms are "
                              f"{', '.join(terms)}")
    return cols
