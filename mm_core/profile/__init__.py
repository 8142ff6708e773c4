"""Profile likelihood of every parameter, and the confidence intervals it gives.

For a parameter ψ with estimate ψ̂ the signed square root of the likelihood-ratio statistic

    ζ(v) = sign(v − ψ̂) √(d(v) − d(ψ̂)),   d(v) = min over the other parameters of the deviance
                                                   with ψ held at v,

is close to a straight line in v when the Wald approximation is good; the ``level`` interval is
where |ζ| ≤ Φ⁻¹((1 + level)/2). As lme4's ``profile``/``confint(method = "profile")``:

* linear mixed models are profiled on the ML deviance (a REML fit is refitted by ML first);
  the covariance parameters are the standard deviations and correlations of the random effects
  and σ, and the deviance is ``log|L_θ|² − log|W| + n log(2πσ²) + r²(θ)/σ²`` with θ = λ(sd,
  cor)/σ, minimized by BOBYQA over the other standard deviations, correlations and σ. Holding σ
  fixed, the minimum is over θ directly; holding a fixed effect βⱼ fixed, the model is refitted
  with ``βⱼ xⱼ`` as an offset, σ profiled out analytically (the cross-products are updated, not
  recomputed);
* GLMMs without a dispersion parameter are profiled on the Laplace (or AGQ) deviance over
  (standard deviations, correlations, β), with PIRLS for the conditional modes.

Unlike lme4, which interpolates ζ with splines through about a dozen points per side, the
crossings ζ = ±z are found by Brent's method on ζ itself, so the interval ends are exact to the
optimizer's tolerance; the points walked to bracket them are kept for plots (``table``). A
standard deviation whose ζ never reaches −z before 0 gets the lower limit 0 (a correlation: ±1).

The package has one module per kind of parameter, as MixedModels.jl's ``profile/``: for linear
mixed models the standard deviations and correlations of the random effects
(:mod:`~mm_core.profile.varcomp`), the residual standard deviation
(:mod:`~mm_core.profile.sigma`) and the fixed effects (:mod:`~mm_core.profile.fixef`), which
:class:`~mm_core.profile.lmm_profiler.LmmProfiler` brings together; GLMMs, whose deviance is
minimized over all the other parameters at once, in :mod:`~mm_core.profile.glmm_profiler`.
What every profiler shares (the parameters of the fit, BOBYQA) is in
:mod:`~mm_core.profile.profiler`; the walk along ζ and its crossings in
:mod:`~mm_core.profile.driver`; the result type in :mod:`~mm_core.profile.result`.
"""
from __future__ import annotations

from .driver import profile
from .result import ProfileResult

__all__ = ["ProfileResult", "profile"]
