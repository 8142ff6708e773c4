"""Model checking: residuals, simulation-based quantile residuals, influence, R², ICC, and the
data behind shrinkage, caterpillar and normal-quantile caterpillar plots.

Everything here is a pure function of a fitted result returning numbers (arrays, tables or
small frozen records); the app draws them. One module per topic:

* :mod:`~mm_core.diagnostics.residuals`: residuals of every type (lme4's ``residuals(m, type)``);
* :mod:`~mm_core.diagnostics.simulated_residuals`: DHARMa's scaled quantile residuals and their
  tests;
* :mod:`~mm_core.diagnostics.influence`: leverage and Cook's distance;
* :mod:`~mm_core.diagnostics.variance_partition`: marginal and conditional R², and the ICC;
* :mod:`~mm_core.diagnostics.conditional_modes`: shrinkage and caterpillar plots' data.
"""
from __future__ import annotations

from .conditional_modes import ShrinkageData, caterpillar, ppoints, qq_caterpillar, shrinkage
from .influence import cooks_distance, leverage
from .residuals import residuals
from .simulated_residuals import QuantileResiduals, SimulationTest, quantile_residuals
from .variance_partition import icc, r_squared

__all__ = [
    "QuantileResiduals",
    "ShrinkageData",
    "SimulationTest",
    "caterpillar",
    "cooks_distance",
    "icc",
    "leverage",
    "ppoints",
    "qq_caterpillar",
    "quantile_residuals",
    "r_squared",
    "residuals",
    "shrinkage",
]
