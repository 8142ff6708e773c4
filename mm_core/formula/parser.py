"""Recursive-descent parser: formula text -> :class:`~mm_core.formula.terms.Formula`.

Grammar (R's operator precedence, loosest first)::

    formula  := response '~' sum
    sum      := ['+'|'-'] prod (('+' | '-') prod)*
    prod     := inter (('*' | '/') inter)*
    inter    := power ((':' | '&') power)*
    power    := atom ['^' NUMBER]
    atom     := '0' | '1' | NAME | call | '(' sum ')' | '(' sum ('|'|'||') group ')'
              | 'zerocorr' '(' sum '|' group ')' | 'offset' '(' arith ')'
    group    := NAME (':' NAME)* ('/' NAME (':' NAME)*)*
    arith    := the usual + - * / ^ and unary minus over numbers, names and math calls
                (inside I(), function arguments and the response)

Only whitelisted functions are accepted (:data:`ALLOWED_FUNCTIONS`); nothing is evaluated.

Size limits keep every formula cheap to parse whatever its text: at most :data:`MAX_LENGTH`
characters, :data:`MAX_NESTING` levels of parentheses, function calls and signs,
:data:`MAX_EXPRESSION_DEPTH` operators in one arithmetic expression, interactions of at most
:data:`MAX_ORDER` columns (``^`` exponents included) and :data:`MAX_TERMS` fixed-effects terms
after ``*``, ``/``, ``:`` and ``^`` are expanded. Each limit is checked before the work it
bounds, so ``(a + b)^1000000000`` or ``(x0 + ... + x19)^20`` fail at once with the position of
the operator.

Example
-------
>>> parse_formula("y ~ a*b - a:b + (1 | g/h)").to_text()
'y ~ 1 + a + b + (1 | g) + (1 | g:h)'
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import FormulaError, FormulaTypeError
from .terms import BinOp, Call, Expr, Formula, Name, Number, RandomTerm, String, Term, UnaryOp
from .tokens import Token, tokenize

__all__ = [
    "ALLOWED_FUNCTIONS",
    "CODINGS",
    "MATH_FUNCTIONS",
    "MAX_EXPRESSION_DEPTH",
    "MAX_LENGTH",
    "MAX_NESTING",
    "MAX_ORDER",
    "MAX_TERMS",
    "parse_formula",
]

#: Longest formula text accepted (characters).
MAX_LENGTH = 20_000
#: Deepest nesting of parentheses, function calls and unary signs.
MAX_NESTING = 50
#: Deepest tree of one arithmetic expression (``I(a + b + ...)``: one level per operator).
MAX_EXPRESSION_DEPTH = 200
#: Most columns in one interaction term, and the largest exponent of ``(...)^k``.
MAX_ORDER = 10
#: Most fixed-effects terms a formula may expand to.
MAX_TERMS = 1000

#: Functions allowed inside arithmetic (``I()``, function arguments, the response).
MATH_FUNCTIONS = ("log", "log2", "log10", "exp", "sqrt", "abs", "abs2", "scale", "center")
#: Every function name the formula language knows.
ALLOWED_FUNCTIONS = ("I",) + MATH_FUNCTIONS + ("factor", "C", "offset", "cbind", "fulldummy",
                                               "zerocorr")
#: Coding names accepted as the second argument of ``C()``.
CODINGS = {"treatment": "treatment", "contr.treatment": "treatment", "sum": "sum",
           "contr.sum": "sum", "helmert": "helmert", "contr.helmert": "helmert"}
_ONE_ARG = set(MATH_FUNCTIONS) | {"I", "factor", "offset", "fulldummy"}


@dataclass
class _Part:
    """Intermediate result of the formula-side parser (a set of terms and extras)."""

    terms: list = field(default_factory=list)
    intercept: bool | None = None
    randoms: list = field(default_factory=list)
    offsets: list = field(default_factory=list)

    @property
    def pure(self) -> bool:
        return not self.randoms and not self.offsets and self.intercept is None


def parse_formula(text: str) -> Formula:
    """Parse a mixed-model formula.

    Parameters
    ----------
    text : str
        E.g. ``"reaction ~ 1 + days + (1 + days | subj)"``.

    Returns
    -------
    Formula

    Raises
    ------
    FormulaError
        With the character position of the problem.

    lme4 equivalent: the formula argument of ``lmer()``/``glmer()``.
    """
    if not isinstance(text, str):
        shown = repr(text)
        raise FormulaTypeError(f"the formula must be text such as 'y ~ 1 + x + (1 | g)', not "
                               f"{type(text).__name__} "
                               f"{shown if len(shown) <= 40 else shown[:37] + '...'}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is {len(text):,} characters long; at most "
                           f"{MAX_LENGTH:,} are accepted", text[:200] + " ...", MAX_LENGTH,
                           MAX_LENGTH + 1)
    return _Parser(text).parse()


def _part_parser(text: str, what: str, example: str) -> _Parser:
    """A parser over one part of a formula written alone (a response or a term), after the
    checks every such part gets: text of bounded length, not blank, balanced parentheses."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise FormulaTypeError(f"a {what} must be text of at most {MAX_LENGTH:,} characters such as {example}")
    p = _Parser(text)
    if not text.strip():
        raise p.error(f"the {what} is empty", 0, 1)
    p.check_parens()
    return p


def parse_response(text: str) -> Expr:
    """Parse the left side of a formula written alone: a column (``"reaction"``, ``"`my y`"``),
    an expression (``"log(y)"``) or ``"cbind(successes, failures)"``.

    Raises
    ------
    FormulaError
        For text that is not one response expression, with the character position.

    lme4 equivalent: ``formula(m)[[2]]``.

    Examples
    --------
    >>> parse_response("cbind(incidence, size - incidence)").func
    'cbind'
    """
    p = _part_parser(text, "response", "'y' or 'cbind(s, f)'")
    response = p.parse_response()
    if p.tok.kind != "end":
        raise p.unexpected(p.tok, "the response must be a single column or expression")
    return response


def parse_term(text: str) -> Term:
    """Parse one fixed-effects term written alone, as a term label reads (``"factor(days)"``,
    ``"`my x`"``, ``"service:dept"``, ``"I(age^2)"``).

    Raises
    ------
    FormulaError
        For text that is not exactly one term (several terms, a random-effects term, an
        offset, an intercept), with the character position of the problem.

    lme4 equivalent: an element of ``attr(terms(f), "term.labels")`` read back.

    Examples
    --------
    >>> t = parse_term("factor(days)")
    >>> t.label, sorted(t.columns)
    ('factor(days)', ['days'])
    """
    p = _part_parser(text, "term", "'factor(days)'")
    part = p.parse_sum()
    if p.tok.kind != "end":
        raise p.unexpected(p.tok)
    if len(part.terms) != 1 or not part.pure:
        raise p.error("expected a single term such as 'x', 'factor(x)' or 'a:b'", 0, len(text))
    return part.terms[0]



def _power_terms(m: int, k: int) -> int:
    """Upper bound on the terms of ``(t1 + ... + tm)^k``: the sum of C(m, j) for j <= k."""
    total, c = 0, 1
    for j in range(1, k + 1):
        c = c * (m - j + 1) // j
        total += c
        if total > MAX_TERMS:
            break
    return total


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[Token] = tokenize(text)
        self.i = 0
        self.var_order: dict[str, int] = {}
        self.level = 0                       # current nesting (parentheses, calls, signs)
        self.depth: dict[int, int] = {}      # id(expression node) -> depth of its tree

    # ------------------------------------------------------------------ helpers
    def error(self, message: str, pos: int, end: int | None = None) -> FormulaError:
        return FormulaError(message, self.text, pos, end)

    def err_tok(self, message: str, tok: Token) -> FormulaError:
        return self.error(message, tok.pos, tok.end)

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def advance(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def expect_close(self, what: str) -> Token:
        t = self.tok
        if t.kind == ")":
            return self.advance()
        if t.kind == "op" and t.text in (":", "&") and what.endswith("()"):
            raise self.err_tok(f"'{t.text}' is not an arithmetic operator; inside {what} "
                               "use + - * / ^", t)
        raise self.unexpected(t, f"expected ')' to close the '(' of {what}")

    def unexpected(self, t: Token, hint: str = "") -> FormulaError:
        """Error for a token that cannot appear where it is."""
        prev = self.toks[self.i - 1] if self.i > 0 else None
        if (t.kind == "op" and t.text == "|") or (t.kind == "op" and t.text == "||"):
            return self.err_tok(f"'{t.text}' can only be used inside parentheses, as in "
                                "(1 | group)", t)
        if t.kind == "op" and t.text == "~":
            return self.err_tok("a formula can have only one '~'", t)
        if t.kind in ("name", "number", "string", "(") and prev is not None \
                and prev.kind in ("name", "number", ")"):
            shown = t.text if t.kind != "(" else "("
            return self.err_tok(f"missing operator before '{shown}' (use '+' to add a term)", t)
        if t.kind == ",":
            return self.err_tok("',' is only allowed between function arguments", t)
        if t.kind == "string":
            return self.err_tok("quoted text is only allowed in C(x, treatment(\"level\"))", t)
        msg = f"unexpected '{t.text}'" if t.kind != "end" else "the formula ends too early"
        return self.err_tok(msg + (f"; {hint}" if hint else ""), t)

    def operand_error(self) -> FormulaError:
        """Error when an operand was expected but the current token cannot start one."""
        t = self.tok
        prev = self.toks[self.i - 1] if self.i > 0 else None
        if t.kind == "op" and t.text in ("|", "||"):
            if prev is not None and prev.kind == "(":
                return self.err_tok(f"nothing before '{t.text}': a random-effect term needs "
                                    "columns on its left, e.g. (1 | group)", t)
            return self.unexpected(t)
        if t.kind == "string":
            return self.unexpected(t)
        if prev is not None and prev.kind == "op" and prev.text != "~":
            if t.kind in ("end", ")", ","):
                return self.err_tok(f"'{prev.text}' is not followed by anything", prev)
            return self.err_tok(f"'{t.text}' cannot follow '{prev.text}'", t)
        if prev is not None and prev.kind == "(" and t.kind == ")":
            return self.error("empty parentheses", prev.pos, t.end)
        if prev is not None and prev.kind == "," and t.kind in (")", ","):
            return self.err_tok("missing argument after ','", prev)
        if t.kind == "op":
            return self.err_tok(f"'{t.text}' needs something on its left", t)
        return self.unexpected(t)

    def enter(self, tok: Token) -> None:
        """Count one more level of nesting at ``tok``; refuse beyond :data:`MAX_NESTING`."""
        self.level += 1
        if self.level > MAX_NESTING:
            raise self.err_tok(f"the formula is nested more than {MAX_NESTING} levels deep "
                               "(parentheses, function calls or signs); simplify it", tok)

    def leave(self) -> None:
        self.level -= 1

    def node(self, cls, pos_tok: Token, *args, children=()):
        """Build an expression node, refusing trees deeper than :data:`MAX_EXPRESSION_DEPTH`."""
        obj = cls(*args)
        d = 1 + max((self.depth.get(id(c), 1) for c in children), default=0)
        if d > MAX_EXPRESSION_DEPTH:
            raise self.err_tok(f"this expression has more than {MAX_EXPRESSION_DEPTH} nested "
                               "operations; simplify it or compute the column in the data",
                               pos_tok)
        self.depth[id(obj)] = d
        for c in children:                    # keep the children alive with their ids
            self.depth.setdefault(id(c), 1)
        return obj

    def check_terms(self, count: int, op: Token, order: int = 0) -> None:
        """Refuse an expansion to more than :data:`MAX_TERMS` terms, or of order above
        :data:`MAX_ORDER`, before building it."""
        if order > MAX_ORDER:
            raise self.err_tok(f"this interaction involves {order} columns; at most "
                               f"{MAX_ORDER} can interact in one term", op)
        if count > MAX_TERMS:
            raise self.err_tok(f"'{op.text}' here expands to {count:,} terms or more; a formula "
                               f"may have at most {MAX_TERMS:,}. Write the interactions you "
                               "need explicitly, e.g. (a + b + c)^2", op)

    def register(self, expr) -> None:
        self.var_order.setdefault(expr.to_text(), len(self.var_order))

    def make_term(self, factors) -> Term:
        uniq: dict[str, object] = {}
        for f in factors:
            uniq.setdefault(f.to_text(), f)
        keys = sorted(uniq, key=lambda k: self.var_order.get(k, 1 << 30))
        return Term(tuple(uniq[k] for k in keys))

    @staticmethod
    def add_terms(terms: list, more) -> list:
        out = list(terms)
        seen = set(out)
        for t in more:
            if t not in seen:
                seen.add(t)
                out.append(t)
        return out

    # ------------------------------------------------------------------ top level
    def parse(self) -> Formula:
        if not self.text.strip():
            raise self.error("the formula is empty; write it as 'response ~ predictors', "
                             "e.g. 'y ~ 1 + x'", 0, max(1, len(self.text)))
        self.check_parens()
        tildes = [t for t in self.toks if t.kind == "op" and t.text == "~"]
        if not tildes:
            raise self.error("the formula needs a '~' between the response and the predictors, "
                             "e.g. 'y ~ 1 + x'", 0, len(self.text))
        if len(tildes) > 1:
            raise self.err_tok("a formula can have only one '~'", tildes[1])
        if self.tok is tildes[0]:
            raise self.err_tok("nothing before '~': put the response column on the left, "
                               "e.g. 'y ~ 1 + x'", tildes[0])
        response = self.parse_response()
        if self.tok is not tildes[0]:
            raise self.unexpected(self.tok, "the response must be a single column or expression")
        self.advance()
        if self.tok.kind == "end":
            raise self.err_tok("nothing after '~': add the predictors, e.g. 'y ~ 1 + x' "
                               "(or 'y ~ 1' for an intercept only)", tildes[0])
        part = self.parse_sum()
        if self.tok.kind != "end":
            raise self.unexpected(self.tok)
        return Formula(self.text, response, part.intercept is not False, tuple(part.terms),
                       tuple(part.randoms), tuple(part.offsets))

    def check_parens(self) -> None:
        stack: list[Token] = []
        for t in self.toks:
            if t.kind == "(":
                stack.append(t)
                if len(stack) > MAX_NESTING:
                    raise self.err_tok(f"the parentheses are nested more than {MAX_NESTING} "
                                       "levels deep; simplify the formula", t)
            elif t.kind == ")":
                if not stack:
                    raise self.err_tok("this ')' has no matching '('", t)
                stack.pop()
        if stack:
            raise self.err_tok("this '(' is never closed", stack[-1])

    def parse_response(self):
        t = self.tok
        if t.kind == "name" and self.toks[self.i + 1].kind == "(":
            if t.text == "cbind":
                return self.parse_call(allowed={"cbind"})
            if t.text == "factor":
                return self.parse_call(allowed={"factor"})
        return self.parse_arith()

    # ------------------------------------------------------------------ formula side
    def parse_sum(self) -> _Part:
        if self.at_op("+", "-"):
            sign = self.advance()
            part = self.parse_prod()
            if sign.text == "-":
                part = self.minus(_Part(), part, sign)
        else:
            part = self.parse_prod()
        while self.at_op("+", "-"):
            op = self.advance()
            right = self.parse_prod()
            self.check_terms(len(part.terms) + len(right.terms), op)
            part = self.plus(part, right) if op.text == "+" else self.minus(part, right, op)
        return part

    def plus(self, a: _Part, b: _Part) -> _Part:
        return _Part(self.add_terms(a.terms, b.terms),
                     b.intercept if b.intercept is not None else a.intercept,
                     a.randoms + b.randoms, a.offsets + b.offsets)

    def minus(self, a: _Part, b: _Part, op: Token) -> _Part:
        if b.randoms or b.offsets:
            raise self.err_tok("only ordinary terms, '1' or '0' can be removed with '-'", op)
        intercept = a.intercept if b.intercept is None else (not b.intercept)
        removed = set(b.terms)
        return _Part([t for t in a.terms if t not in removed], intercept, a.randoms, a.offsets)

    def parse_prod(self) -> _Part:
        part = self.parse_inter()
        while self.at_op("*", "/"):
            op = self.advance()
            right = self.parse_inter()
            self.require_pure(part, right, op)
            self.check_terms((len(part.terms) + 1) * (len(right.terms) + 1), op,
                             self.order(part) + self.order(right))
            if op.text == "*":
                cross = [self.make_term(s.factors + t.factors) for s in part.terms
                         for t in right.terms]
                part = _Part(self.add_terms(self.add_terms(part.terms, right.terms), cross))
            else:
                allf = tuple(f for s in part.terms for f in s.factors)
                nest = [self.make_term(allf + t.factors) for t in right.terms]
                part = _Part(self.add_terms(part.terms, nest))
        return part

    def parse_inter(self) -> _Part:
        part = self.parse_power()
        while self.at_op(":", "&"):
            op = self.advance()
            right = self.parse_power()
            self.require_pure(part, right, op)
            self.check_terms(len(part.terms) * len(right.terms), op,
                             self.order(part) + self.order(right))
            part = _Part(self.add_terms([], [self.make_term(s.factors + t.factors)
                                             for s in part.terms for t in right.terms]))
        return part

    def parse_power(self) -> _Part:
        part = self.parse_atom()
        if self.at_op("^"):
            op = self.advance()
            t = self.tok
            if t.kind != "number" or not math.isfinite(float(t.text)) \
                    or float(t.text) != int(float(t.text)) or float(t.text) < 1:
                raise self.err_tok("'^' in a formula needs a whole number, as in (a + b + c)^2; "
                                   "for a power of a column use I(x^2)", t if t.kind != "end"
                                   else op)
            self.advance()
            self.require_pure(part, _Part(), op)
            k = int(float(t.text))
            if k > MAX_ORDER:
                raise self.err_tok(f"the exponent {t.text} is too large: '^' builds the "
                                   f"interactions up to that order, and at most {MAX_ORDER} "
                                   "columns can interact in one term", t)
            factors = {f.to_text() for s_ in part.terms for f in s_.factors}
            k = min(k, len(factors))          # higher powers add no new term
            self.check_terms(_power_terms(len(part.terms), k), op)
            result = list(part.terms)
            for _ in range(k - 1):
                result = self.add_terms(result, [self.make_term(s.factors + b.factors)
                                                 for s in result for b in part.terms])
            part = _Part(result)
        return part

    @staticmethod
    def order(part: _Part) -> int:
        """Largest number of columns in one term of ``part``."""
        return max((t.degree for t in part.terms), default=0)

    def require_pure(self, a: _Part, b: _Part, op: Token) -> None:
        for p in (a, b):
            if p.randoms:
                raise self.err_tok(f"a random-effect term like (1 | g) cannot be combined "
                                   f"with '{op.text}'", op)
            if p.offsets:
                raise self.err_tok(f"offset() cannot be combined with '{op.text}'", op)
            if p.intercept is not None:
                raise self.err_tok(f"'1' or '0' cannot be combined with '{op.text}'", op)

    def parse_atom(self) -> _Part:
        self.enter(self.tok)
        try:
            return self._parse_atom()
        finally:
            self.leave()

    def _parse_atom(self) -> _Part:
        t = self.tok
        if t.kind == "number":
            self.advance()
            value = float(t.text)
            if value in (0.0, 1.0):
                return _Part(intercept=value == 1.0)
            raise self.err_tok(f"a number ({t.text}) can only be used inside I(), "
                               f"e.g. I({t.text} * x)", t)
        if t.kind == "name":
            if self.toks[self.i + 1].kind == "(":
                return self.parse_formula_call()
            self.advance()
            if t.text == ".":
                raise self.err_tok("'.' (all other columns) is not supported; name the "
                                   "columns", t)
            node = Name(t.text, t.pos, t.end)
            self.register(node)
            return _Part([Term((node,))])
        if t.kind == "(":
            return self.parse_paren()
        raise self.operand_error()

    def parse_paren(self) -> _Part:
        opener = self.advance()
        if self.tok.kind == ")":
            raise self.error("empty parentheses", opener.pos, self.tok.end)
        inner = self.parse_sum()
        if self.at_op("|", "||"):
            return _Part(randoms=self.finish_random(opener, inner, self.tok.text == "|"))
        self.expect_close("this group")
        return inner

    def finish_random(self, opener: Token, lhs: _Part, correlated: bool) -> list:
        bar = self.advance()
        if lhs.randoms:
            raise self.err_tok("random-effect terms cannot be nested inside each other", bar)
        if lhs.offsets:
            raise self.err_tok("offset() cannot be used inside a random-effect term", bar)
        intercept = lhs.intercept is not False
        if not intercept and not lhs.terms:
            raise self.err_tok("this random-effect term has no columns: '0' removes the "
                               "intercept and nothing else is left", bar)
        if self.tok.kind == ")":
            raise self.err_tok(f"a random-effect term needs a grouping factor after "
                               f"'{bar.text}', e.g. (1 | subject)", bar)
        chain = [self.parse_group_part()]
        while self.at_op("/"):
            self.advance()
            if self.tok.kind != "name":
                raise self.operand_error() if self.tok.kind != "(" else \
                    self.err_tok("the grouping factor must be a column name", self.tok)
            chain.append(self.parse_group_part())
        self.expect_close("this random-effect term")
        out, names, spans = [], (), ()
        for part_names, part_spans in chain:
            names, spans = names + part_names, spans + part_spans
            out.append(RandomTerm(tuple(lhs.terms), intercept, names, correlated,
                                  opener.pos, spans))
        return out

    def parse_group_part(self) -> tuple:
        names, spans = [], []
        while True:
            t = self.tok
            if t.kind == "name" and t.text == "factor" and self.toks[self.i + 1].kind == "(":
                call = self.parse_call(allowed={"factor"})
                arg = call.args[0]
                if not isinstance(arg, Name):
                    raise self.error("factor() of a grouping factor needs a column name",
                                     call.pos, call.end)
                names.append(arg.name)
                spans.append((arg.pos, arg.end))
            elif t.kind == "name" and self.toks[self.i + 1].kind != "(":
                self.advance()
                names.append(t.text)
                spans.append((t.pos, t.end))
            elif t.kind in ("end", ")") or t.kind == "op":
                raise self.operand_error()
            else:
                raise self.err_tok("the grouping factor must be a column name, "
                                   "an interaction a:b or a nesting a/b", t)
            if not self.at_op(":", "&"):
                return tuple(names), tuple(spans)
            self.advance()

    def parse_formula_call(self) -> _Part:
        t = self.tok
        if t.text == "zerocorr":
            self.advance()
            opener = self.advance()
            if self.tok.kind == ")":
                raise self.error("empty parentheses", opener.pos, self.tok.end)
            inner = self.parse_sum()
            if not self.at_op("|", "||"):
                raise self.error("zerocorr() needs a random-effect term inside, "
                                 "e.g. zerocorr(1 + x | g)", t.pos, t.end)
            return _Part(randoms=self.finish_random(opener, inner, False))
        if t.text == "cbind":
            raise self.err_tok("cbind() is only allowed as the response (left of '~')", t)
        call = self.parse_call(allowed=set(ALLOWED_FUNCTIONS) - {"cbind", "zerocorr"})
        if call.func == "offset":
            return _Part(offsets=[call.args[0]])
        self.register(call)
        return _Part([Term((call,))])

    # ------------------------------------------------------------------ calls / arithmetic
    def parse_call(self, allowed: set) -> Call:
        name = self.advance()
        func = name.text
        if func not in ALLOWED_FUNCTIONS:
            raise self.err_tok(f"unknown function '{func}'; allowed: "
                               f"{', '.join(ALLOWED_FUNCTIONS)}", name)
        if func not in allowed:
            raise self.err_tok(self.misplaced(func), name)
        self.advance()
        args: list[Expr] = []
        spans: list[tuple[int, int]] = []
        if self.tok.kind != ")":
            while True:
                start = self.tok.pos
                if func == "C" and len(args) == 1:
                    args.append(self.parse_coding())
                else:
                    args.append(self.parse_arith())
                spans.append((start, self.toks[self.i - 1].end))
                if self.tok.kind == ",":
                    self.advance()
                    continue
                break
        close = self.expect_close(f"{func}()")
        n = len(args)
        if func in _ONE_ARG and n != 1:
            raise self.err_tok(f"{func}() takes exactly one argument (got {n})", name)
        if func == "cbind" and n != 2:
            raise self.err_tok(f"cbind() takes two arguments, successes and failures "
                               f"(got {n}), e.g. cbind(s, n - s)", name)
        if func == "C" and n not in (1, 2):
            raise self.err_tok(f"C() takes a column and optionally a coding (got {n} "
                               "arguments)", name)
        if func in ("factor", "C", "fulldummy") and not isinstance(args[0], Name):
            raise self.error(f"{func}() needs a column name, e.g. {func}(x)", *spans[0])
        return self.node(Call, name, func, tuple(args), name.pos, close.end, children=args)

    @staticmethod
    def misplaced(func: str) -> str:
        if func == "cbind":
            return "cbind() is only allowed as the response (left of '~')"
        if func in ("factor", "C", "fulldummy"):
            return f"{func}() cannot be used inside arithmetic; use it as a term on its own"
        if func == "offset":
            return "offset() must be a term of its own on the right of '~'"
        if func == "zerocorr":
            return "zerocorr() must wrap a random-effect term, e.g. zerocorr(1 + x | g)"
        return f"{func}() cannot be used here"

    def parse_coding(self):
        t = self.tok
        if t.kind == "name" and t.text in CODINGS:
            self.advance()
            if self.tok.kind != "(":
                return Name(t.text, t.pos, t.end)
            if CODINGS[t.text] != "treatment":
                raise self.err_tok(f"{t.text} takes no reference level; only treatment(\"level\")"
                                   " does", t)
            self.advance()
            ref = self.tok
            if ref.kind == "string":
                arg = String(ref.text, ref.pos, ref.end)
            elif ref.kind == "number":
                arg = Number(float(ref.text), ref.pos, ref.end)
            else:
                raise self.err_tok('treatment() takes the reference level in quotes, '
                                   'e.g. treatment("B")', ref if ref.kind != ")" else t)
            self.advance()
            close = self.expect_close("treatment()")
            return Call("treatment", (arg,), t.pos, close.end)
        raise self.err_tok("the coding in C() must be one of treatment, sum, helmert "
                           "or treatment(\"level\")", t)

    def parse_arith(self):
        left = self.parse_mul()
        while self.at_op("+", "-"):
            op = self.advance()
            right = self.parse_mul()
            left = self.node(BinOp, op, op.text, left, right, op.pos, children=(left, right))
        return left

    def parse_mul(self):
        left = self.parse_unary()
        while self.at_op("*", "/"):
            op = self.advance()
            right = self.parse_unary()
            left = self.node(BinOp, op, op.text, left, right, op.pos, children=(left, right))
        return left

    def parse_unary(self):
        self.enter(self.tok)
        try:
            if self.at_op("-", "+"):
                op = self.advance()
                operand = self.parse_unary()
                return self.node(UnaryOp, op, op.text, operand, op.pos, children=(operand,))
            return self.parse_pow()
        finally:
            self.leave()

    def parse_pow(self):
        base = self.parse_arith_atom()
        if self.at_op("^"):
            op = self.advance()
            exponent = self.parse_unary()
            return self.node(BinOp, op, "^", base, exponent, op.pos, children=(base, exponent))
        return base

    def parse_arith_atom(self):
        t = self.tok
        if t.kind == "number":
            self.advance()
            return Number(float(t.text), t.pos, t.end)
        if t.kind == "name":
            if self.toks[self.i + 1].kind == "(":
                return self.parse_call(allowed=set(MATH_FUNCTIONS) | {"I"})
            self.advance()
            return Name(t.text, t.pos, t.end)
        if t.kind == "(":
            opener = self.advance()
            if self.tok.kind == ")":
                raise self.error("empty parentheses", opener.pos, self.tok.end)
            inner = self.parse_arith()
            if self.at_op(":", "&"):
                raise self.err_tok(f"'{self.tok.text}' is not an arithmetic operator; "
                                   "inside I() and functions use + - * / ^", self.tok)
            self.expect_close("this group")
            return inner
        raise self.operand_error()
