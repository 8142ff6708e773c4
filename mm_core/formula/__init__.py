"""The model-formula language of :mod:`mm_core` (lme4 / MixedModels.jl syntax).

``parse_formula(text)`` returns a :class:`Formula`, a frozen syntax tree that knows its
columns and renders back to canonical text; :func:`mm_core.design.materialize` turns it
into model matrices. Nothing is ever evaluated as code: only the functions in
:data:`ALLOWED_FUNCTIONS` exist.

Example
-------
>>> f = parse_formula("reaction ~ days + (days | subj)")
>>> f.to_text()
'reaction ~ 1 + days + (1 + days | subj)'
>>> sorted(f.columns)
['days', 'reaction', 'subj']
"""
from __future__ import annotations

from .parser import ALLOWED_FUNCTIONS, MATH_FUNCTIONS, parse_formula, parse_response, parse_term
from .terms import (
                    BinOp,
                    Call,
                    Expr,
                    Formula,
                    Name,
                    Number,
                    RandomTerm,
                    String,
                    Term,
                    UnaryOp,
                    format_number,
                    quote_name,
)
from .tokens import Token, tokenize

__all__ = [
                    "ALLOWED_FUNCTIONS",
                    "MATH_FUNCTIONS",
                    "BinOp",
                    "Call",
                    "Expr",
                    "Formula",
                    "Name",
                    "Number",
                    "RandomTerm",
                    "String",
                    "Term",
                    "Token",
                    "UnaryOp",
                    "format_number",
                    "parse_formula",
                    "parse_response",
                    "parse_term",
                    "quote_name",
                    "tokenize",
]
