"""What a fit learnt from its data besides the numbers: levels, codings and transform state.

A :class:`ModelSpec` is kept with every :class:`~mm_core.design.Design` so that the same formula
gives the same columns on new rows: categorical columns are coded against the levels of the fit
(whatever levels, and in whatever order, the new rows hold) with the fit's contrasts, and
``scale(x)`` / ``center(x)`` subtract the training mean and divide by the training standard
deviation instead of recomputing them from the new rows. This is formulaic's ``ModelSpec``, and
what R keeps in a model's ``terms`` (``predvars`` through ``makepredictcall``) and ``xlevels``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ModelSpec", "Standardization"]


@dataclass(frozen=True)
class Standardization:
    """The state of a ``scale()`` or ``center()`` term: the mean subtracted and the standard
    deviation divided by (None for ``center()``).

    Examples
    --------
    >>> import numpy as np
    >>> Standardization(2.0, 4.0).apply(np.array([2.0, 6.0])).tolist()
    [0.0, 1.0]
    """

    center: float
    scale: float | None = None

    @classmethod
    def of(cls, values: np.ndarray, func: str) -> Standardization:
        """The state of ``func`` (``"scale"`` or ``"center"``) over the non-missing ``values``,
        as R's ``scale(x, center = TRUE, scale = func == "scale")``."""
        return cls(float(np.nanmean(values)),
                   float(np.nanstd(values, ddof=1)) if func == "scale" else None)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The transformed values: ``(values − center) / scale``."""
        out = values - self.center
        if self.scale is not None:
            out = out / self.scale
        return out


@dataclass(frozen=True)
class ModelSpec:
    """The formula of a fit with the data-dependent state needed to build its columns again.

    Fields
    ------
    formula : Formula
        The parsed formula.
    levels : dict
        Column name -> levels (observed in the fit, R's order) of every column coded as a
        factor in the fixed-effects matrix or in a random-effects term's columns.
    contrasts : dict
        Fixed-part factor (term label, ``"dept"``, ``"factor(period)"``) -> the
        :class:`~mm_core.contrasts.Coding` used, with its reference level.
    factor_levels : dict
        Fixed-part factor (term label) -> its levels.
    transforms : dict
        ``scale()`` / ``center()`` expression as written in canonical form (``"scale(days)"``)
        -> its :class:`Standardization` on the fitted data.

    Notes
    -----
    R equivalent: ``attr(terms(m), "predvars")`` and ``m@frame``'s ``xlevels`` and
    ``contrasts``, which ``predict(m, newdata)`` uses.

    Examples
    --------
    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> d = materialize("reaction ~ 1 + scale(days) + (1 | subj)", datasets.load("sleepstudy"))
    >>> state = d.spec.transforms["scale(days)"]
    >>> state.center, round(state.scale, 4)
    (4.5, 2.8803)
    """

    formula: object
    levels: dict = field(default_factory=dict)
    contrasts: dict = field(default_factory=dict)
    factor_levels: dict = field(default_factory=dict)
    transforms: dict = field(default_factory=dict)
