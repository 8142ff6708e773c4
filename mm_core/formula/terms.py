"""Syntax tree of a parsed model formula.

All nodes are frozen dataclasses. Character positions (``pos``, ``end``) and the original
text are kept for error messages but excluded from equality, so a formula and the
re-parse of its canonical text (:meth:`Formula.to_text`) compare equal.

Expressions (the pieces a term is made of)
-----------------------------------------
:class:`Name`, :class:`Number`, :class:`String`, :class:`Call`, :class:`BinOp`,
:class:`UnaryOp`. ``to_text()`` renders them as R's ``deparse`` does, which is also how
lme4 spells model-matrix column names (``I(age^2)``, ``size - incidence``).

Model structure
---------------
:class:`Term` (an interaction of one or more expressions), :class:`RandomTerm`
(``(1 + days | subj)``) and :class:`Formula`.

Example
-------
>>> from mm_core.formula import parse_formula
>>> f = parse_formula("y ~ service*dept + (1|s)")
>>> [t.label for t in f.fixed]
['service', 'dept', 'service:dept']
>>> str(f)
'y ~ 1 + service + dept + service:dept + (1 | s)'
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from .tokens import is_syntactic_name

__all__ = [
    "BinOp",
    "Call",
    "Expr",
    "Formula",
    "Name",
    "Number",
    "RandomTerm",
    "String",
    "Term",
    "UnaryOp",
    "format_number",
    "quote_name",
]


def format_number(x: float) -> str:
    """Render a number as R's ``as.character`` / ``deparse`` does (``2``, ``0.5``, ``1e+05``)."""
    x = float(x)
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    d = Decimal(format(x, ".15g"))
    fixed = format(d, "f")
    if "." in fixed:
        fixed = fixed.rstrip("0").rstrip(".")
    mant, exp = format(x, ".14e").split("e")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    sci = f"{mant}e{exp[0]}{exp[1:].lstrip('0').rjust(2, '0')}"
    return fixed if len(fixed) <= len(sci) else sci


def quote_name(name: str) -> str:
    """``name`` as it must be written in a formula: backticks unless it is syntactic."""
    return name if is_syntactic_name(name) else f"`{name}`"


# --------------------------------------------------------------------- expressions
class _Node:
    """Behaviour shared by expression nodes."""

    def to_text(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def __str__(self) -> str:
        return self.to_text()

    def names(self) -> Iterator[Name]:
        """Yield every :class:`Name` node that refers to a data column."""
        return iter(())

    @property
    def columns(self) -> set:
        """Set of data column names the expression uses."""
        return {n.name for n in self.names()}

    @property
    def _prec(self) -> int:
        """Binding strength when rendered inside arithmetic (5: an atom, never parenthesised)."""
        return 5


@dataclass(frozen=True)
class Name(_Node):
    """A column name (``days``, `` `my col` ``); lme4: a variable in the model frame.

    Fields
    ------
    name : str
        The column name without backticks.
    pos, end : int
        Span in the formula text (-1 when built programmatically); not compared.
    """

    name: str
    pos: int = field(default=-1, compare=False)
    end: int = field(default=-1, compare=False)

    def to_text(self) -> str:
        return quote_name(self.name)

    def names(self):
        yield self


@dataclass(frozen=True)
class Number(_Node):
    """A numeric literal (``2`` in ``I(age^2)``).

    Fields
    ------
    value : float
    pos, end : int
        Span in the formula text; not compared.
    """

    value: float
    pos: int = field(default=-1, compare=False)
    end: int = field(default=-1, compare=False)

    def to_text(self) -> str:
        return format_number(self.value)


@dataclass(frozen=True)
class String(_Node):
    """A quoted level name, only used as in ``C(x, treatment("B"))``.

    Fields
    ------
    value : str
    pos, end : int
        Span in the formula text; not compared.
    """

    value: str
    pos: int = field(default=-1, compare=False)
    end: int = field(default=-1, compare=False)

    def to_text(self) -> str:
        return '"' + self.value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Call(_Node):
    """A call of a whitelisted function: ``log(x)``, ``I(age^2)``, ``factor(period)``, ``C(x, sum)``.

    Fields
    ------
    func : str
        Function name (``"log"``, ``"I"``, ``"factor"``, ``"C"``, ``"cbind"``, ``"fulldummy"``, ...).
    args : tuple of Expr
        Arguments. For ``C`` the second argument is the coding (``Name("sum")`` or
        ``Call("treatment", (String("B"),))``) and is not a column.
    pos, end : int
        Span of the whole call in the formula text; not compared.
    """

    func: str
    args: tuple
    pos: int = field(default=-1, compare=False)
    end: int = field(default=-1, compare=False)

    def to_text(self) -> str:
        return f"{self.func}({', '.join(a.to_text() for a in self.args)})"

    def names(self):
        if self.func == "treatment":
            return
        args = self.args[:1] if self.func == "C" else self.args
        for a in args:
            yield from a.names()


_BIN_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}


@dataclass(frozen=True)
class BinOp(_Node):
    """Arithmetic ``left op right`` inside ``I()``, a function or the response (``size - incidence``).

    Fields
    ------
    op : str
        One of ``+ - * / ^``.
    left, right : Expr
    pos : int
        Position of the operator; not compared.
    """

    op: str
    left: _Node
    right: _Node
    pos: int = field(default=-1, compare=False)

    @property
    def _prec(self) -> int:
        return _BIN_PREC[self.op]

    def to_text(self) -> str:
        p = self._prec
        left, right = self.left.to_text(), self.right.to_text()
        if self.op == "^":
            if self.left._prec <= p:
                left = f"({left})"
            if self.right._prec < 3:
                right = f"({right})"
        else:
            if self.left._prec < p:
                left = f"({left})"
            if self.right._prec <= p:
                right = f"({right})"
        sep = " " if self.op in ("+", "-", "*") else ""
        return f"{left}{sep}{self.op}{sep}{right}"

    def names(self):
        yield from self.left.names()
        yield from self.right.names()


@dataclass(frozen=True)
class UnaryOp(_Node):
    """Unary minus (or plus) inside arithmetic: ``I(-x)``.

    Fields
    ------
    op : str
        ``"-"`` or ``"+"``.
    operand : Expr
    pos : int
        Position of the sign; not compared.
    """

    op: str
    operand: _Node
    pos: int = field(default=-1, compare=False)

    @property
    def _prec(self) -> int:
        return 3

    def to_text(self) -> str:
        inner = self.operand.to_text()
        if self.operand._prec < 3:
            inner = f"({inner})"
        return f"{self.op}{inner}"

    def names(self):
        yield from self.operand.names()


Expr = Name | Number | String | Call | BinOp | UnaryOp


# --------------------------------------------------------------------- model structure
@dataclass(frozen=True)
class Term:
    """One model term: a single expression or an interaction of several (R's term label).

    Fields
    ------
    factors : tuple of Expr
        The interacting expressions, in R's variable order (first appearance in the
        formula); ``("service", "dept")`` for ``service:dept``.

    lme4 equivalent: an element of ``attr(terms(f), "term.labels")``.

    Example
    -------
    >>> Term((Name("service"), Name("dept"))).label
    'service:dept'
    """

    factors: tuple

    @property
    def label(self) -> str:
        """R's term label, factors joined by ``:`` (``"service:dept"``)."""
        return ":".join(f.to_text() for f in self.factors)

    @property
    def degree(self) -> int:
        return len(self.factors)

    def to_text(self) -> str:
        return self.label

    def __str__(self) -> str:
        return self.label

    def names(self):
        for f in self.factors:
            yield from f.names()

    @property
    def columns(self) -> set:
        return {n.name for n in self.names()}


@dataclass(frozen=True)
class RandomTerm:
    """A random-effects term ``(lhs | group)``.

    Fields
    ------
    terms : tuple of Term
        The left-hand side terms other than the intercept (``days`` in ``(1 + days | subj)``);
        may contain ``fulldummy(f)`` factors.
    intercept : bool
        Whether the left side has an intercept (implied unless ``0 +`` / ``- 1``).
    group : tuple of str
        Column names of the grouping factor; several for an interaction ``a:b``.
        ``(1 | a/b)`` is expanded by the parser into two terms, groups ``("a",)`` and ``("a", "b")``.
    correlated : bool
        False for ``(x || g)`` and ``zerocorr(x | g)``: a diagonal λ.
    pos : int
        Position of the term's opening parenthesis (or ``zerocorr``); not compared.
    group_pos : tuple of (int, int)
        Span of each group name in the text; not compared.

    lme4 equivalent: one element of ``findbars(formula)``.

    Example
    -------
    >>> RandomTerm((Term((Name("days"),)),), True, ("subj",), True).to_text()
    '(1 + days | subj)'
    """

    terms: tuple
    intercept: bool
    group: tuple
    correlated: bool = True
    pos: int = field(default=-1, compare=False)
    group_pos: tuple = field(default=(), compare=False)

    @property
    def group_label(self) -> str:
        """Name of the grouping factor (``"subj"``, ``"batch:cask"``)."""
        return ":".join(self.group)

    @property
    def fulldummy(self) -> tuple:
        """Column names wrapped in ``fulldummy()`` on the left side."""
        return tuple(f.args[0].to_text() for t in self.terms for f in t.factors
                     if isinstance(f, Call) and f.func == "fulldummy")

    def lhs_text(self) -> str:
        parts = ["1" if self.intercept else "0"] + [t.to_text() for t in self.terms]
        return " + ".join(parts)

    def to_text(self) -> str:
        bar = "|" if self.correlated else "||"
        group = ":".join(quote_name(g) for g in self.group)
        return f"({self.lhs_text()} {bar} {group})"

    def __str__(self) -> str:
        return self.to_text()

    @property
    def columns(self) -> set:
        out = set(self.group)
        for t in self.terms:
            out |= t.columns
        return out


@dataclass(frozen=True)
class Formula:
    """A parsed mixed-model formula.

    Fields
    ------
    text : str
        The text it was parsed from (not compared).
    response : Expr
        Left side: a column, an expression (``log(y)``) or ``cbind(s, f)``.
    intercept : bool
        Whether the fixed part has an intercept.
    fixed : tuple of Term
        Fixed-effects terms in written order, ``*`` / ``/`` / ``^`` expanded, duplicates
        and removed (``- a:b``) terms dropped; the intercept is not a term.
    random : tuple of RandomTerm
        Random-effects terms in written order (nesting ``a/b`` expanded).
    offsets : tuple of Expr
        Arguments of the ``offset()`` terms.

    lme4 equivalent: the formula given to ``lmer``/``glmer``; ``nobars()`` gives the
    fixed part, ``findbars()`` the random part.

    Example
    -------
    >>> from mm_core.formula import parse_formula
    >>> f = parse_formula("reaction ~ days + (days | subj)")
    >>> f.to_text()
    'reaction ~ 1 + days + (1 + days | subj)'
    """

    text: str = field(compare=False)
    response: _Node
    intercept: bool
    fixed: tuple
    random: tuple = ()
    offsets: tuple = ()

    def to_text(self) -> str:
        """Canonical text; parsing it gives a formula equal to this one."""
        parts = ["1" if self.intercept else "0"]
        parts += [t.to_text() for t in self.fixed]
        parts += [f"offset({o.to_text()})" for o in self.offsets]
        parts += [r.to_text() for r in self.random]
        return f"{self.response.to_text()} ~ {' + '.join(parts)}"

    def __str__(self) -> str:
        return self.to_text()

    @property
    def response_name(self) -> str:
        return self.response.to_text()

    def names(self):
        """Yield every column :class:`Name` node (response, fixed, offsets, random left sides)."""
        yield from self.response.names()
        for t in self.fixed:
            yield from t.names()
        for o in self.offsets:
            yield from o.names()
        for r in self.random:
            for t in r.terms:
                yield from t.names()

    @property
    def columns(self) -> set:
        """Set of all data column names the formula uses (including grouping factors)."""
        out = {n.name for n in self.names()}
        for r in self.random:
            out |= set(r.group)
        return out

    @property
    def groups(self) -> tuple:
        """Distinct grouping-factor names in order of appearance (``("subj",)``)."""
        seen = []
        for r in self.random:
            if r.group_label not in seen:
                seen.append(r.group_label)
        return tuple(seen)
