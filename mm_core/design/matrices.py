"""The numeric form of a mixed model: fixed-effects matrix, response and random-effects terms."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .spec import ModelSpec

__all__ = ["Design", "interaction_columns"]


@dataclass(frozen=True)
class Design:
    """Numeric form of a mixed model on the rows it uses.

    Fields
    ------
    X : ndarray of float64, shape (n, p)
        Fixed-effects model matrix (full rank is *not* guaranteed; the fitter pivots).
    fixef_names : list of str
        Column names of ``X`` in lme4's spelling (``"(Intercept)"``, ``"serviceY:deptD02"``).
    fixef_terms : list of str
        For each column of ``X``, the label of the formula term it came from (``"service:dept"``).
    y : ndarray of float64, shape (n,)
        Response. A two-level categorical response is coded 0/1 (1 = ``success_level``);
        ``cbind(s, f)`` gives the proportion ``s / (s + f)``.
    response_name : str
        The response as written (``"reaction"``, ``"cbind(incidence, size - incidence)"``).
    response_levels : list of str or None
        For a categorical response, its two levels (failure first, success second).
    trials : ndarray or None
        ``s + f`` for a ``cbind`` response, else None.
    offset : ndarray or None
        Sum of the ``offset()`` terms, else None.
    reterms : list of ReTerm
        Random-effects terms in formula order (one per grouping factor).
    rows : ndarray of int
        Positions (0-based, ``iloc``) of the rows of the input table that were used.
    spec : ModelSpec
        The formula with the levels, codings and ``scale()`` / ``center()`` state of the fit,
        which build the same columns on new rows.
    n_dropped : int
        Rows dropped because a used column was missing there.
    dropped_by_column : dict
        Column name -> number of missing values among the table's rows.

    Examples
    --------
    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> d = materialize("reaction ~ 1 + days + (1 + days | subj)", datasets.load("sleepstudy"))
    >>> d.X.shape, d.nobs, [t.group for t in d.reterms]
    ((180, 2), 180, ['subj'])
    """

    X: np.ndarray
    fixef_names: list
    fixef_terms: list
    y: np.ndarray
    response_name: str
    response_levels: list | None
    trials: np.ndarray | None
    offset: np.ndarray | None
    reterms: list
    rows: np.ndarray
    spec: ModelSpec
    n_dropped: int = 0
    dropped_by_column: dict = field(default_factory=dict)

    @property
    def nobs(self) -> int:
        return self.y.shape[0]

    @property
    def formula(self):
        """The parsed :class:`~mm_core.formula.Formula`."""
        return self.spec.formula

    @property
    def contrasts(self) -> dict:
        """Fixed-part factor -> coding used (``"treatment"``, ``"sum"``, ``"helmert"``) with its
        reference level."""
        return self.spec.contrasts

    @property
    def factor_levels(self) -> dict:
        """Fixed-part factor (term label) -> its levels."""
        return self.spec.factor_levels


def interaction_columns(a: np.ndarray, a_names: list, b: np.ndarray, b_names: list) -> tuple:
    """Columns of the interaction of two column blocks, in R's order (the first factor varies
    fastest): every product ``a[:, i] * b[:, j]`` named ``"a_i:b_j"``."""
    n = a.shape[0]
    cols = (a[:, :, None] * b[:, None, :]).transpose(0, 2, 1).reshape(n, -1)
    return cols, [f"{x}:{y}" for y in b_names for x in a_names]
