"""mm_core: linear and generalized linear mixed models in Python, with lme4's numbers.

The public surface::

    fit(formula, data, *, family="gaussian", link=None, reml=False, n_agq=1, fast=False,
        weights=None, contrasts=None, progress=None) -> MixedModelResult
    lmm(...), glmm(...)               thin wrappers of fit
    parse_formula(text) -> Formula    the formula language (no eval)
    power(fit_or_design, test, *, n_sim, seed, along=None, sizes=None, ...) -> PowerResult
    simulate_design(StudyDesign, TrueModel, seed) -> DataFrame   data from known true values
    datasets.load(name)               the bundled example data
    fixef_tests, anova, emmeans, emtrends, pairwise
                                      df-corrected tests, marginal means, contrasts

Example
-------
>>> from mm_core import datasets, fit
>>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
>>> round(m.objective, 3)
1751.939
"""
from __future__ import annotations

from . import datasets
from .api import fit, glmm, lmm
from .bootstrap import BootstrapResult, parametric_bootstrap
from .design import Design, ReTerm, materialize
from .diagnostics import (
                     QuantileResiduals,
                     ShrinkageData,
                     caterpillar,
                     cooks_distance,
                     icc,
                     leverage,
                     qq_caterpillar,
                     quantile_residuals,
                     r_squared,
                     residuals,
                     shrinkage,
)
from .effects import EMMeans, anova, emmeans, emtrends, fixef_tests, pairwise
from .errors import (
                     ConvergenceWarning,
                     DataError,
                     FitCancelled,
                     FormulaError,
                     MixedModelError,
                     NotFittedError,
                     SeparationWarning,
                     SingularFitWarning,
)
from .formula import Formula, parse_formula
from .intervals import confint, wald_intervals
from .lmm import LinearMixedModel
from .lrt import DifferentDataError, LRTResult, NotNestedError, likelihood_ratio_test
from .notes import NOTE_CODES, Note, note_code
from .optimize import OptSummary, Progress
from .power_analysis import (
                     CoefficientTest,
                     LikelihoodRatioTest,
                     PowerResult,
                     StudyDesign,
                     TermTest,
                     TrueModel,
                     power,
                     simulate_design,
)
from .predict import NewLevelError, predict
from .profile import ProfileResult, profile
from .results import MixedModelResult
from .simulate import simulate

__all__ = [
                     "NOTE_CODES",
                     "BootstrapResult",
                     "CoefficientTest",
                     "ConvergenceWarning",
                     "DataError",
                     "Design",
                     "DifferentDataError",
                     "EMMeans",
                     "FitCancelled",
                     "Formula",
                     "FormulaError",
                     "LRTResult",
                     "LikelihoodRatioTest",
                     "LinearMixedModel",
                     "MixedModelError",
                     "MixedModelResult",
                     "NewLevelError",
                     "NotFittedError",
                     "NotNestedError",
                     "Note",
                     "OptSummary",
                     "PowerResult",
                     "ProfileResult",
                     "Progress",
                     "QuantileResiduals",
                     "ReTerm",
                     "SeparationWarning",
                     "ShrinkageData",
                     "SingularFitWarning",
                     "StudyDesign",
                     "TermTest",
                     "TrueModel",
                     "anova",
                     "caterpillar",
                     "confint",
                     "cooks_distance",
                     "datasets",
                     "emmeans",
                     "emtrends",
                     "fit",
                     "fixef_tests",
                     "glmm",
                     "icc",
                     "leverage",
                     "likelihood_ratio_test",
                     "lmm",
                     "materialize",
                     "note_code",
                     "pairwise",
                     "parametric_bootstrap",
                     "parse_formula",
                     "power",
                     "predict",
                     "profile",
                     "qq_caterpillar",
                     "quantile_residuals",
                     "r_squared",
                     "residuals",
                     "shrinkage",
                     "simulate",
                     "simulate_design",
                     "wald_intervals",
]
