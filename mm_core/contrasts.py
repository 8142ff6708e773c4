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

Specifying a coding
-------------------
:func:`as_coding` accepts any of ``"treatment"``, ``"sum"``, ``"helmert"`` (also with R's
``contr.`` prefix), ``("treatment", "B")``, ``{"coding": "treatment", "reference": "B"}`` or a
coding object, e.g. ``materialize(f, data, contrasts={"dept": "sum", "service": ("treatment", "Y")})``.
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

from .errors import DataError

__all__ = ["Treatment", "Sum", "Helmert", "as_coding", "contr_treatment", "contr_sum",
           "contr_helmert", "level_label"]


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

    def resolve(self, levels) -> "Treatment":
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

    def resolve(self, levels) -> "Sum":
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

    def resolve(self, levels) -> "Helmert":
        return self

    def matrix(self, levels) -> tuple:
        k = len(levels)
        return contr_helmert(k), [str(j) for j in range(1, k)]

    def __str__(self) -> str:
        return "helmert"


_BY_NAME = {"treatment": Treatment, "contr.treatment": Treatment, "sum": Sum,
            "contr.sum": Sum, "helmert": Helmert, "contr.helmert": Helmert}


def as_coding(spec) -> "Treatment | Sum | Helmert":
    """Turn a user specification into a coding object.

    Parameters
    ----------
    spec : str, tuple, dict or coding object
        ``"treatment"``/``"sum"``/``"helmert"`` (``"contr.sum"`` ...), ``("treatment", level)``,
        ``{"coding": name, "reference": level}``, or a :class:`Treatment`/:class:`Sum`/:class:`Helmert`.

    Raises
    ------
    ValueError
        For anything else (the message lists the accepted forms).
    """
    if isinstance(spec, (Treatment, Sum, Helmert)):
        return spec
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
    raise ValueError(f"unknown contrast coding {spec!r}; use 'treatment', 'sum', 'helmert' "
                     "or ('treatment', reference_level)")
