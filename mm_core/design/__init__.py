"""The design of a mixed model: its types and the materializer that builds them from data.

Modules
-------
reterm
    :class:`ReTerm`, the random-effects term (grouping codes and levels, its columns of Z, θ's
    positions and bounds, λ(θ), its blocks of Z and ZΛ, its share of the linear predictor), and
    :class:`TermLayout`, a term's place in Z and in θ with the terms in lme4's fitting order
    (:func:`fitting_order`, :func:`term_layouts`).
matrices
    :class:`Design`, the numeric form of a model: fixed-effects matrix, response, terms, rows.
spec
    :class:`ModelSpec`, what a fit learnt from its data (levels, codings, ``scale()`` and
    ``center()`` state) to build the same columns on new rows.
materializer
    :func:`materialize`: table + formula → :class:`Design` (R's ``model.frame`` and
    ``model.matrix``, lme4's ``lFormula``); :class:`Materializer` for new rows.

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.5, 1, 2, 3], "g": list("abab")})
>>> d = materialize("y ~ 1 + x + (1 | g)", df)
>>> d.fixef_names, d.reterms[0].group, d.reterms[0].levels
(['(Intercept)', 'x'], 'g', ['a', 'b'])
"""
from __future__ import annotations

from .materializer import (
    MAGNITUDE_LIMITS,
    MAX_DESIGN_CELLS,
    MAX_FIXED_COLUMNS,
    MAX_RANDOM_COLUMNS,
    Materializer,
    NewLevelError,
    check_column_names,
    column_kind,
    level_labels,
    materialize,
    text_column_names,
)
from .matrices import Design, interaction_columns
from .reterm import ReTerm, TermLayout, fitting_order, term_layouts
from .spec import ModelSpec, Standardization

__all__ = [
    "MAGNITUDE_LIMITS",
    "MAX_DESIGN_CELLS",
    "MAX_FIXED_COLUMNS",
    "MAX_RANDOM_COLUMNS",
    "Design",
    "Materializer",
    "ModelSpec",
    "NewLevelError",
    "ReTerm",
    "Standardization",
    "TermLayout",
    "check_column_names",
    "column_kind",
    "fitting_order",
    "interaction_columns",
    "level_labels",
    "materialize",
    "term_layouts",
    "text_column_names",
]
