"""Inference on the fixed effects: df-corrected t and F tests, marginal means and contrasts.

The numbers of lmerTest, pbkrtest, car and emmeans, computed from a fitted
:class:`mm_core.MixedModelResult`:

* :func:`fixef_tests`: the coefficient table with Satterthwaite, Kenward–Roger or asymptotic df;
* :func:`anova`: type III, II or I F tests of the model's terms (Wald chi-square for GLMMs);
* :func:`emmeans`, :func:`emtrends`: marginal means and slopes over emmeans' reference grid;
* :func:`pairwise`: their pairwise comparisons with Tukey, Holm or Bonferroni adjustment.

Modules: :mod:`.model_terms` (the fixed part as factors, covariates and terms),
:mod:`.grid` (the reference grid), :mod:`.satterthwaite`, :mod:`.kenward_roger`,
:mod:`.inference` (the df methods behind every table), :mod:`.coefficients`,
:mod:`.hypotheses` (type I/II/III contrast matrices), :mod:`.anova`, :mod:`.emmeans`,
:mod:`.pairwise`.
"""
from __future__ import annotations

from .anova import anova
from .coefficients import fixef_tests
from .emmeans import EMMeans, emmeans, emtrends
from .grid import ReferenceGrid, reference_grid
from .pairwise import pairwise

__all__ = [
           "EMMeans",
           "ReferenceGrid",
           "anova",
           "emmeans",
           "emtrends",
           "fixef_tests",
           "pairwise",
           "reference_grid",
]
