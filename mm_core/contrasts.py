"""Contrast codings of categorical predictors (R's ``contr.treatment``, ``contr.sum``, ``contr.helmert``).

A coding turns a factor with ``k`` levels into ``k - 1`` columns of the model matrix. Each
coding class is a small frozen dataclass with one method, :meth:`matrix`, returning the
``k × (k-1)`` coding matrix (rows = levels, R's layout) and the column-name suffixes that
lme4 appends to the factor name.

Codings
-------
:class:`Treatment` ``(reference=None)``
    Dummy coding against a reference level (default: the first level). Suffixes are the
    other levels: ``livch1, livch2, livch3+``. R: ``contr.treatment`` / ``base=``.
:class:`Sum`
    Deviation coding: level ``j`` is the unit vector ``e_j``, the last level is all ``-1``.
    Suffixes ``1 .. k-1``. R: ``contr.sum``.
:class:`Helmert`
    Column ``j`` contrasts level ``j+1`` with the mean of the levels before it. Suffixes
    ``1 .. k-1``. R: ``contr.helmert``.
:class:`Custom` ``(matrix, levels=None, columns=None)``
    Any ``k × (k-1)`` matrix of the user's (R's ``contrasts = list(f = matrix)``, e.g.
    ``MASS::contr.sdif``): rows are levels, suffixes are the column names (``1 .. k-1``
    when the matrix has none).

Specifying a coding
-------------------
:func:`as_coding` accepts any of ``"treatment"``, ``"sum"``, ``"helmert"`` (also with R's
``contr.`` prefix), ``("treatment", "B")``, ``{"coding": "treatment", "reference": "B"}``, a
numpy array or a DataFrame holding a custom matrix (rows = levels), or a coding object, e.g.
``materialize(f, data, contrasts={"dept": "sum", "service": ("treatment", "Y")})``.
In a formula the same choices are written ``C(dept, sum)`` or ``C(service, treatment("Y"))``.

Example
-------
>>> Sum().matrix(["a", "b", "c"])[0]
array([[ 1.,  0.],
       [ 0.,  1.],
       [-1., -1.]])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataError

__all__ = [
    "Custom",
    "Helmert",
    "Sum",
    "Treatment",
    "as_coding",
    "contr_helmert",
    "contr_sum",
    "contr_treatment",
    "level_label",
]


def level_label(value) -> str:
    """Text of a level as R prints it (``2`` not ``2.0``; strings unchanged)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        from .formula.terms import format_number
        return format_number(float(value))
    return str(value)


def contr_treatment(n: int, base: int = 0) -> np.ndarray:
    """R's ``contr.treatment(n, base = base + 1)``: identity without column ``base``."""
    return np.delete(np.eye(n), base, axis=1)


def contr_sum(n: int) -> np.ndarray:
    """R's ``contr.sum(n)``: ``rbind(diag(n - 1), -1)``."""
    return np.vstack([np.eye(n - 1), -np.ones((1, n - 1))])


def contr_helmert(n: int) -> np.ndarray:
    """R's ``contr.helmert(n)``: column j has -1 in rows 0..j, j+1 in row j+1, 0 below."""
    m = np.zeros((n, n - 1))
    for j in range(n - 1):
        m[:j + 1, j] = -1.0
        m[j + 1, j] = j + 1.0
    return m


@dataclass(frozen=True)
class Treatment:
    """Treatment (dummy) coding against ``reference`` (None = first level).

    Fields
    ------
    reference : str or None
        Level used as baseline; its column is dropped.

    lme4 equivalent: ``contr.treatment`` (the default); ``reference`` = ``base``.

    Example
    -------
    >>> Treatment("b").matrix(["a", "b", "c"])[1]
    ['a', 'c']
    """

    reference: object = None
    name = "treatment"

    def resolve(self, levels) -> Treatment:
        """This coding with ``reference`` filled in (the first level if None)."""
        levels = list(levels)
        if self.reference is None:
            return Treatment(levels[0])
        ref = level_label(self.reference)
        if ref not in levels:
            raise DataError(f"reference level '{ref}' is not one of the levels "
                            f"({', '.join(levels[:20])}{', ...' if len(levels) > 20 else ''})")
        return Treatment(ref)

    def matrix(self, levels) -> tuple:
        levels = list(levels)
        base = levels.index(self.resolve(levels).reference)
        return contr_treatment(len(levels), base), [lv for i, lv in enumerate(levels)
                                                    if i != base]

    def __str__(self) -> str:
        return "treatment" if self.reference is None else f"treatment (reference {self.reference})"


@dataclass(frozen=True)
class Sum:
    """Sum-to-zero (deviation) coding; the last level gets -1 in every column.

    lme4 equivalent: ``contr.sum``. Column names ``f1, f2, ...``.
    """

    name = "sum"

    def resolve(self, levels) -> Sum:
        return self

    def matrix(self, levels) -> tuple:
        k = len(levels)
        return contr_sum(k), [str(j) for j in range(1, k)]

    def __str__(self) -> str:
        return "sum"


@dataclass(frozen=True)
class Helmert:
    """Helmert coding: each level against the mean of the earlier ones.

    lme4 equivalent: ``contr.helmert``. Column names ``f1, f2, ...``.
    """

    name = "helmert"

    def resolve(self, levels) -> Helmert:
        return self

    def matrix(self, levels) -> tuple:
        k = len(levels)
        return contr_helmert(k), [str(j) for j in range(1, k)]

    def __str__(self) -> str:
        return "helmert"


@dataclass(frozen=True)
class Custom:
    """A coding matrix given by the user: one row per level, one column per contrast.

    Fields
    ------
    values : tuple of tuple of float
        The ``k × (k-1)`` matrix, rows in the order of ``levels`` (or of the factor's levels
        when ``levels`` is None).
    levels : tuple of str or None
        Row labels (from a DataFrame's index); rows are matched to the factor's levels by them.
    columns : tuple of str or None
        Column names, used as suffixes of the coefficient names (``period2-1``); ``1 .. k-1``
        when None.

    lme4 equivalent: ``contrasts = list(f = M)`` with any matrix ``M``, such as
    ``MASS::contr.sdif(4)`` (successive differences).

    Example
    -------
    >>> import numpy as np
    >>> sdif = np.array([[-3, -2, -1], [1, -2, -1], [1, 2, -1], [1, 2, 3]]) / 4
    >>> Custom.from_matrix(sdif, columns=["2-1", "3-2", "4-3"]).matrix(["a", "b", "c", "d"])[1]
    ['2-1', '3-2', '4-3']
    """

    values: tuple
    levels: tuple | None = None
    columns: tuple | None = None
    name = "custom"

    @classmethod
    def from_matrix(cls, m, levels=None, columns=None) -> Custom:
        """Build from a numpy array or a DataFrame (index = levels, columns = names)."""
        if isinstance(m, pd.DataFrame):
            levels = [level_label(v) for v in m.index] if levels is None and not \
                isinstance(m.index, pd.RangeIndex) else levels
            columns = [str(c) for c in m.columns] if columns is None and not \
                isinstance(m.columns, pd.RangeIndex) else columns
            m = m.to_numpy()
        try:
            a = np.asarray(m, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("a contrast matrix must hold numbers only") from None
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
            raise ValueError(f"a contrast matrix needs one row per level and at least one "
                             f"column; this one has shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("a contrast matrix must hold finite numbers only")
        if columns is not None and len(columns) != a.shape[1]:
            raise ValueError(f"{len(columns)} column names for a contrast matrix of "
                             f"{a.shape[1]} columns")
        return cls(tuple(map(tuple, a.tolist())),
                   None if levels is None else tuple(level_label(v) for v in levels),
                   None if columns is None else tuple(str(c) for c in columns))

    def resolve(self, levels) -> Custom:
        """The coding with its rows matched to ``levels``, checked to be usable."""
        levels = [str(v) for v in levels]
        a = np.asarray(self.values, dtype=float)
        k = len(levels)
        if a.shape[0] != k:
            raise DataError(f"the contrast matrix has {a.shape[0]} rows but the factor has {k} "
                            f"levels ({', '.join(levels[:20])}{', ...' if k > 20 else ''}); "
                            "give one row per level")
        if self.levels is not None:
            if sorted(self.levels) != sorted(levels):
                extra = [v for v in self.levels if v not in levels][:5]
                missing = [v for v in levels if v not in self.levels][:5]
                raise DataError("the contrast matrix's rows are labelled "
                                + (f"with {', '.join(map(repr, extra))} that are not levels"
                                   if extra else "")
                                + ("; " if extra and missing else "")
                                + (f"without the level(s) {', '.join(map(repr, missing))}"
                                   if missing else ""))
            order = [self.levels.index(v) for v in levels]
            a = a[order]
        if a.shape[1] != k - 1:
            raise DataError(f"the contrast matrix has {a.shape[1]} column"
                            f"{'s' if a.shape[1] != 1 else ''}; a factor with {k} levels needs "
                            f"{k - 1}")
        if np.linalg.matrix_rank(np.column_stack([np.ones(k), a])) < k:
            raise DataError("the contrast matrix's columns, together with a constant column, "
                            "are linearly dependent: they cannot separate all the levels")
        return Custom(tuple(map(tuple, a.tolist())), tuple(levels), self.columns)

    def matrix(self, levels) -> tuple:
        r = self.resolve(levels)
        a = np.asarray(r.values, dtype=float)
        suffix = list(self.columns) if self.columns else [str(j) for j in range(1, a.shape[1] + 1)]
        return a, suffix

    def __str__(self) -> str:
        return "custom"


_BY_NAME = {"treatment": Treatment, "contr.treatment": Treatment, "sum": Sum,
            "contr.sum": Sum, "helmert": Helmert, "contr.helmert": Helmert}


def as_coding(spec) -> Treatment | Sum | Helmert | Custom:
    """Turn a user specification into a coding object.

    Parameters
    ----------
    spec : str, tuple, dict, array, DataFrame or coding object
        ``"treatment"``/``"sum"``/``"helmert"`` (``"contr.sum"`` ...), ``("treatment", level)``,
        ``{"coding": name, "reference": level}``, a custom matrix (numpy array, or a DataFrame
        whose index holds the levels and whose columns name the contrasts), or a
        :class:`Treatment`/:class:`Sum`/:class:`Helmert`/:class:`Custom`.

    Raises
    ------
    ValueError
        For anything else (the message lists the accepted forms).
    """
    if isinstance(spec, (Treatment, Sum, Helmert, Custom)):
        return spec
    if isinstance(spec, (np.ndarray, pd.DataFrame)):
        return Custom.from_matrix(spec)
    reference = None
    if isinstance(spec, dict):
        spec, reference = spec.get("coding", "treatment"), spec.get("reference")
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        spec, reference = spec
    if isinstance(spec, str) and spec.lower() in _BY_NAME:
        cls = _BY_NAME[spec.lower()]
        if cls is Treatment:
            return Treatment(reference)
        if reference is not None:
            raise ValueError(f"the {spec} coding takes no reference level")
        return cls()
    shown = repr(spec)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ValueError(f"unknown contrast coding {shown}; use 'treatment', 'sum', 'helmert', "
                     "('treatment', reference_level) or a matrix with one row per level")
