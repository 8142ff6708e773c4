"""Tokenizer of the model-formula language.

:func:`tokenize` splits formula text such as ``"reaction ~ 1 + days + (1 + days | subj)"``
into a flat list of :class:`Token` objects, each remembering its character position so
that every later error can point at the offending spot.

Token kinds
-----------
``name``
    A column or function name: letters (any alphabet), digits, ``.`` and ``_``, not
    starting with a digit (``days``, ``log10``, ``contr.sum``), or any text between backticks
    (`` `my col` ``). ``text`` holds the name without backticks.
``number``
    A decimal literal: ``1``, ``0``, ``2.5``, ``.5``, ``1e-3``.
``string``
    A quoted level name, ``"B"`` or ``'B'`` (only meaningful in ``treatment("B")``);
    ``text`` holds the content without quotes.
``op``
    One of ``~ + - * / ^ : & | ||``.
``(`` ``)`` ``,``
    Parentheses and the argument separator (kind equals text).
``end``
    Marks the end of the text (``pos == len(text)``).

Example
-------
>>> [t.text for t in tokenize("y ~ log(x) + (1|g)")]
['y', '~', 'log', '(', 'x', ')', '+', '(', '1', '|', 'g', ')', '']
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FormulaError

__all__ = ["Token", "is_syntactic_name", "tokenize"]


@dataclass(frozen=True)
class Token:
    """One lexical unit of a formula.

    Fields
    ------
    kind : str
        ``"name"``, ``"number"``, ``"string"``, ``"op"``, ``"("``, ``")"``, ``","`` or ``"end"``.
    text : str
        The token's text (names and strings without their quotes).
    pos : int
        0-based position of the token's first character in the formula.
    end : int
        0-based position one past the token's last character (includes quotes).
    """

    kind: str
    text: str
    pos: int
    end: int = -1

    def __post_init__(self) -> None:
        if self.end < 0:
            object.__setattr__(self, "end", self.pos + max(1, len(self.text)))


_NAME = re.compile(r"[^\W\d][\w.]*|\.(?!\d)[\w.]*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SYNTACTIC = re.compile(r"^(?:[^\W\d_]|\.(?!\d))[\w.]*$")
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE",
             "FALSE", "NULL", "Inf", "NaN", "NA", "in"}
_SINGLE = {"~", "+", "-", "*", "/", "^", ":", "&"}


def is_syntactic_name(name: str) -> bool:
    """True if ``name`` can be written without backticks (R's rule for syntactic names)."""
    return bool(_SYNTACTIC.match(name)) and name not in _RESERVED


def tokenize(text: str) -> list[Token]:
    """Split formula ``text`` into tokens; the last token has kind ``"end"``.

    Raises
    ------
    FormulaError
        For a character that has no meaning in a formula, or an unclosed backtick or quote.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "`" or ch in "\"'":
            close = text.find(ch, i + 1)
            what = "backtick" if ch == "`" else "quote"
            if close < 0:
                raise FormulaError(f"this {what} is never closed", text, i, n)
            body = text[i + 1:close]
            if ch == "`" and not body.strip():
                raise FormulaError("empty name between backticks", text, i, close + 1)
            tokens.append(Token("name" if ch == "`" else "string", body, i, close + 1))
            i = close + 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            assert m is not None  # a digit, or "." and a digit, always starts a number
            tokens.append(Token("number", m.group(), i, m.end()))
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m:
            tokens.append(Token("name", m.group(), i, m.end()))
            i = m.end()
            continue
        if ch == "|":
            if text.startswith("||", i):
                tokens.append(Token("op", "||", i, i + 2))
                i += 2
            else:
                tokens.append(Token("op", "|", i, i + 1))
                i += 1
            continue
        if ch in _SINGLE:
            tokens.append(Token("op", ch, i, i + 1))
            i += 1
            continue
        if ch in "(),":
            tokens.append(Token(ch, ch, i, i + 1))
            i += 1
            continue
        if ch == "%":
            close = text.find("%", i + 1)
            op = text[i:close + 1] if close > 0 else "%"
            raise FormulaError(f"the operator '{op}' is not supported in formulas", text, i,
                               i + len(op))
        raise FormulaError(f"the character '{ch}' has no meaning in a formula", text, i, i + 1)
    tokens.append(Token("end", "", n, n + 1))
    return tokens
