"""The app's single doorway to :mod:`mm_core`, plus plain-language error messages.

The engine's functions the app uses are re-exported here, so every GUI module names one
module.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# the bootstrap and power runs with the engine's own chunking: tasks of 1, 2, 4, … replicates and a
# progress call every quarter second; a cancel stops running tasks after their current replicate
# fixed-effects inference (Summary and Effects pages); fixed_structure: factors and covariates as emmeans sees them
from mm_core import (  # noqa: F401 - re-exported  # noqa: F401 - re-exported
    BootstrapResult,
    MixedModelResult,
    anova,
    caterpillar,
    cooks_distance,
    emmeans,
    emtrends,
    fit,
    fixef_tests,
    icc,
    likelihood_ratio_test,
    materialize,
    pairwise,
    parametric_bootstrap,
    parse_formula,
    predict,
    qq_caterpillar,
    quantile_residuals,
    r_squared,
    residuals,
    shrinkage,
)
from mm_core.contrasts import Treatment, level_label  # noqa: F401 - a level's text as R prints it (2, not 2.0)
from mm_core.diagnostics import ppoints  # noqa: F401 - R's ppoints, as the qq-caterpillar uses it
from mm_core.effects.model_terms import fixed_structure  # noqa: F401 - re-exported
from mm_core.errors import FitCancelled, FormulaError, MixedModelError  # noqa: F401 - re-exported
from mm_core.families import FAMILY_NAMES, family_name, get_family  # noqa: F401 - names, aliases, links
from mm_core.formula import (  # noqa: F401 - the formula's syntax tree and its parts read alone
    Call,
    Expr,
    Formula,
    Name,
    Term,
    parse_response,
    parse_term,
    quote_name,
)
from mm_core.notes import note_code  # noqa: F401 - re-exported
from mm_core.power_analysis import (  # noqa: F401
    CoefficientTest,
    LikelihoodRatioTest,
    StudyDesign,
    TermTest,
    TrueModel,
    power,
    simulate_with_effects,
)


def is_user_error(e: BaseException | None) -> bool:
    return isinstance(e, (MixedModelError, ValueError)) and not isinstance(e, (KeyError, IndexError))


def error_message(e: BaseException | None, what: str = "fit") -> str:
    """Plain text for an exception: the engine's own message for user errors."""
    if e is None:
        return f"The {what} failed."
    if isinstance(e, FormulaError):
        return f"Formula problem: {e.message}" + (f" (at character {e.pos + 1})" if e.pos is not None else "")
    if isinstance(e, MixedModelError):
        return f"The {what} could not be done: {e}"
    if isinstance(e, MemoryError):
        return f"The {what} ran out of memory; try a simpler model or fewer rows."
    if isinstance(e, ValueError):
        return f"The {what} could not be done: {e}"
    return f"The {what} failed unexpectedly ({type(e).__name__}: {str(e)[:300]})."


def level_labels(s: pd.Series) -> pd.Series:
    """Each value's level label as the engine and R write it (:func:`mm_core.contrasts.level_label`:
    ``2`` not ``2.0``, ``True``, text unchanged); None where the value is missing."""
    codes, uniques = pd.factorize(s)
    labels = np.array([level_label(u) for u in np.asarray(uniques, dtype=object)] + [None], dtype=object)
    return pd.Series(labels[codes], index=s.index, name=s.name)
