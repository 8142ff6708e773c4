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
from .design import Design, ReTerm, materialize
from .errors import (ConvergenceWarning, DataError, FitCancelled, FormulaError, MixedModelError,
                     NotFittedError, SeparationWarning, SingularFitWarning)
from .formula import Formula, parse_formula
from .lmm import LinearMixedModel
from .notes import NOTE_CODES, Note, note_code
from .optimize import OptSummary, Progress
from .results import MixedModelResult
from .simulate import simulate
from .bootstrap import BootstrapResult, parametric_bootstrap
from .lrt import DifferentDataError, LRTResult, NotNestedError, likelihood_ratio_test
from .profile import ProfileResult, profile
from .intervals import confint, wald_intervals
from .predict import NewLevelError, predict
from .diagnostics import (QuantileResiduals, ShrinkageData, caterpillar, cooks_distance, icc,
                          leverage, qq_caterpillar, quantile_residuals, r_squared, residuals,
                          shrinkage)
from .power_analysis import (CoefficientTest, LikelihoodRatioTest, PowerResult, StudyDesign, TermTest,
                    TrueModel, power, simulate_design)
from .effects import EMMeans, anova, emmeans, emtrends, fixef_tests, pairwise

__all__ = ["fit", "lmm", "glmm", "parse_formula", "Formula", "materialize", "Design", "ReTerm",
           "LinearMixedModel", "MixedModelResult", "OptSummary", "Progress", "datasets",
           "Note", "NOTE_CODES", "note_code",
           "simulate", "parametric_bootstrap", "BootstrapResult", "likelihood_ratio_test",
           "LRTResult", "profile", "ProfileResult", "confint", "wald_intervals", "predict",
           "residuals", "quantile_residuals", "QuantileResiduals", "leverage", "cooks_distance",
           "r_squared", "icc", "shrinkage", "ShrinkageData", "caterpillar", "qq_caterpillar",
           "power", "PowerResult", "simulate_design", "StudyDesign", "TrueModel",
           "CoefficientTest", "TermTest", "LikelihoodRatioTest",
           "MixedModelError", "FormulaError", "DataError", "FitCancelled", "NotFittedError",
           "NotNestedError", "DifferentDataError", "NewLevelError",
           "ConvergenceWarning", "SingularFitWarning", "SeparationWarning",
           "fixef_tests", "anova", "emmeans", "emtrends", "EMMeans", "pairwise"]
