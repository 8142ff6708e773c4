"""Plain-language notes on a fit, each with a stable code.

A fit's ``warnings`` (and the ``notes`` of likelihood-ratio tests and profiles) are
:class:`Note` objects: strings (they print, compare and search as
their text) that also carry a ``code`` saying what kind of note they are, so that a program
decides what to do about a note by its code, never by its wording.

Codes
-----
``"singular"``
    A variance component is estimated as zero or a correlation as ±1 (lme4's ``isSingular``).
``"convergence"``
    The optimizer stopped before the convergence checks were met (budget used up, gradient
    too large, optimizer failure).
``"missing_rows"``
    Rows with missing values in the model's variables were left out.
``"redundant_columns"``
    Fixed-effects columns that are linear combinations of others were dropped.
``"separation"``
    Fitted means reach 0 or 1: a fixed effect diverges (complete or quasi-complete separation).
``"response"``
    The response has values the family models only approximately (non-integer counts).
``"continuous_counts"``
    The Poisson log-likelihood uses lgamma(y + 1) for non-integer counts.
``"standard_errors"``
    The standard errors' Hessian was not usable, or disagrees with the penalized
    least-squares approximation.
``"refit_ml"``
    REML fits were refitted by maximum likelihood (likelihood-ratio tests, profiles).
``"boundary_test"``
    A likelihood-ratio test of a variance component, whose null value is on the boundary.
``"reml_criterion"``
    Likelihood-ratio tests compare REML criteria (REML fits with the same fixed effects).
``"not_optimum"``
    Profiling found a lower deviance than the fit's: the fit had not reached the optimum.

Examples
--------
>>> n = Note("singular", "The fit is singular.")
>>> n.code, n == "The fit is singular.", "singular" in n
('singular', True, True)
"""
from __future__ import annotations

__all__ = ["NOTE_CODES", "Note", "note_code"]

#: The codes a fit's notes carry (see the module docstring).
NOTE_CODES = frozenset({"singular", "convergence", "missing_rows", "redundant_columns",
                        "separation", "response", "continuous_counts", "standard_errors",
                        "refit_ml", "boundary_test", "reml_criterion", "not_optimum"})


class Note(str):
    """A note's text with its ``code``: ``Note(code, text)``.

    Behaves as the string ``text`` everywhere (printing, equality, ``in``, formatting);
    ``code`` is one of :data:`NOTE_CODES`. Immutable and picklable.

    Raises
    ------
    ValueError
        For a code not in :data:`NOTE_CODES`.

    Notes
    -----
    R equivalent: the ``optinfo$conv$lme4$messages`` and ``warnings`` of an lme4 fit, which
    carry no codes.

    Examples
    --------
    >>> str(Note("convergence", "The optimizer used its whole budget."))
    'The optimizer used its whole budget.'
    """

    code: str

    def __new__(cls, code: str, text: str) -> Note:
        if code not in NOTE_CODES:
            raise ValueError(f"unknown note code {code!r}; known codes are "
                             f"{', '.join(sorted(NOTE_CODES))}")
        self = super().__new__(cls, text)
        object.__setattr__(self, "code", code)
        return self

    def __setattr__(self, name, value):
        raise AttributeError("a Note is immutable")

    def __reduce__(self):
        return (Note, (self.code, str(self)))

    def __repr__(self) -> str:
        return f"Note({self.code!r}, {str(self)!r})"


def note_code(note) -> str | None:
    """The code of a note (None for a plain string without one).

    Examples
    --------
    >>> note_code(Note("separation", "Fitted probabilities reach 0 or 1.")), note_code("text")
    ('separation', None)
    """
    return getattr(note, "code", None)
