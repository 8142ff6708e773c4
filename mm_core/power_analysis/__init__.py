"""Power analysis and data generation by simulation (simr's ``powerSim`` / ``powerCurve``).

The parts:

* :mod:`~mm_core.power_analysis.design`: :class:`StudyDesign` (grouping factors, crossing and nesting,
  observations per cell, within and between factors), :class:`TrueModel` (a formula and the
  true values of its parameters) and :func:`simulate_design` (one data set from them);
* :mod:`~mm_core.power_analysis.hypothesis`: the tests applied to each simulated data set
  (:class:`CoefficientTest`, :class:`TermTest`, :class:`LikelihoodRatioTest`) and where their
  small-sample degrees of freedom come from;
* :mod:`~mm_core.power_analysis.run`: :func:`power`, which simulates, refits and tests in parallel;
* :mod:`~mm_core.power_analysis.result`: :class:`PowerResult`, power per size with its interval and
  every simulation.

Example
-------
>>> from mm_core.power_analysis import StudyDesign, TrueModel, CoefficientTest, power
>>> d = StudyDesign(groups={"subj": 8}, n_obs=10, between={"treat": ("subj", ["a", "b"])})
>>> m = TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"treatb": 1.5}, sd={"subj": 1},
...               sigma=1)
>>> r = power(d, CoefficientTest("treatb"), params=m, n_sim=50, seed=1, workers=1,
...           along="subj", sizes=[8, 16])
>>> list(r.table["size"])
[8, 16]
"""
from .design import OBSERVATIONS, StudyDesign, TrueModel, simulate_design, simulate_with_effects
from .hypothesis import CoefficientTest, LikelihoodRatioTest, TermTest
from .result import PowerResult
from .run import power

__all__ = [
                     "OBSERVATIONS",
                     "CoefficientTest",
                     "LikelihoodRatioTest",
                     "PowerResult",
                     "StudyDesign",
                     "TermTest",
                     "TrueModel",
                     "power",
                     "simulate_design",
                     "simulate_with_effects",
]
