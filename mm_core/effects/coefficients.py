"""t tests of the fixed-effects coefficients with denominator df (lmerTest's ``summary``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..results import labels
from .inference import check_fitted, check_level, inference, t_table

TEST_COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value", "lower", "upper"]


def fixef_tests(result, ddf=None, level: float = 0.95) -> pd.DataFrame:
    """Fixed-effects estimates with t (or z) tests and confidence intervals.

    Parameters
    ----------
    result : MixedModelResult
    ddf : {"satterthwaite", "kenward-roger", "asymptotic"}, optional
        Denominator df. Default Satterthwaite for linear mixed models, asymptotic (z tests,
        infinite df) for generalized ones. Kenward–Roger also adjusts the standard errors.
    level : float
        Confidence level of the intervals (t quantiles with the same df).

    Returns
    -------
    pandas.DataFrame
        Indexed by coefficient name: ``estimate, std_error, df, statistic, p_value, lower,
        upper``.

    Raises
    ------
    MixedModelError
        Unknown ``ddf``; Satterthwaite or Kenward–Roger for a GLMM; Kenward–Roger for an ML
        fit or a model above its size limit.

    Notes
    -----
    R equivalent: ``summary(lmerTest::lmer(...), ddf = "Satterthwaite")$coefficients``
    (``"Kenward-Roger"``), and ``confint(contest(m, diag(p), joint = FALSE))``.

    Examples
    --------
    >>> from mm_core import datasets, fit, fixef_tests
    >>> m = fit("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"), reml=True)
    >>> round(float(fixef_tests(m).loc["days", "df"]), 2)
    17.0
    """
    check_fitted(result)
    level = check_level(level)
    inf = inference(result, ddf)
    est, se, df = inf.t(np.eye(len(inf.beta)))
    cols = t_table(est, se, df, level)
    return pd.DataFrame({c: cols[c] for c in TEST_COLUMNS},
                        index=labels(result.fixef.index, "coefficient"),
                        columns=labels(TEST_COLUMNS))
