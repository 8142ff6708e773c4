"""Exceptions and warnings raised by :mod:`mm_core`.

Every error a user can cause derives from :class:`MixedModelError` (itself a
``ValueError``), so a caller such as the app can catch one type and show the
message, which always names the problem: the column, the row count, or the
character position in the formula.
"""
from __future__ import annotations

#: Characters of a formula shown around the position of an error.
_SHOWN = 100


class MixedModelError(ValueError):
    """Base class of every user-facing error of the engine."""


class FormulaError(MixedModelError):
    """A formula that cannot be parsed or does not fit the data.

    Fields
    ------
    message : str
        Plain-language description ("column 'dayz' not found; did you mean 'days'?").
    formula : str
        The formula text as given.
    pos : int or None
        0-based character position of the offending token in ``formula``.
    end : int or None
        0-based position one past the offending token (``pos + len(token)``).
    """

    def __init__(self, message: str, formula: str = "", pos: int | None = None,
                 end: int | None = None) -> None:
        self.message = message
        self.formula = formula
        self.pos = pos
        self.end = end if end is not None else (None if pos is None else pos + 1)
        super().__init__(self._render())

    def _render(self) -> str:
        if self.pos is None or not self.formula:
            return self.message
        text, pos = self.formula, self.pos
        width = max(1, min((self.end or pos + 1) - pos, 60))
        left = ""
        if len(text) > _SHOWN:                # a window around the position of a long formula
            start = max(0, min(pos - _SHOWN // 2, len(text) - _SHOWN))
            left = "..." if start > 0 else ""
            right = "..." if start + _SHOWN < len(text) else ""
            text, pos = left + text[start:start + _SHOWN] + right, pos - start + len(left)
            width = max(1, min(width, len(text) - pos))
        caret = " " * pos + "^" * width
        return f"{self.message} (at position {self.pos + 1})\n  {text}\n  {caret}"

    def __reduce__(self):  # keep the fields through pickling (process pools)
        return (type(self), (self.message, self.formula, self.pos, self.end))


class FormulaTypeError(FormulaError, TypeError):
    """The formula is not text (nor a parsed formula); also a ``TypeError``."""


class DataError(MixedModelError):
    """The data cannot support the model (bad response, one-level factor, empty table, ...)."""


class NotFittedError(MixedModelError):
    """A result was requested from a model that has not been fitted (or whose fit failed)."""


class ConvergenceWarning(UserWarning):
    """The optimizer or PIRLS stopped without meeting its convergence criteria."""


class SingularFitWarning(UserWarning):
    """The fit is singular: some variance is estimated as zero or some correlation as ±1."""


class SeparationWarning(UserWarning):
    """Some fitted means are numerically 0 or 1: a fixed effect diverges (separation)."""


class FitCancelled(MixedModelError):
    """The caller's progress callback asked the fit (or bootstrap) to stop."""
