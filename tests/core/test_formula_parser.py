"""Parser of the formula language: syntax trees, term expansion, canonical text, errors."""
from __future__ import annotations

import pytest

from mm_core.errors import FormulaError
from mm_core.formula import (
    BinOp,
    Call,
    Formula,
    Name,
    Number,
    RandomTerm,
    String,
    Term,
    UnaryOp,
    parse_formula,
    parse_response,
    parse_term,
)


def T(*names):
    """Term of plain column names."""
    return Term(tuple(Name(n) for n in names))


# ----------------------------------------------------------------------------- trees
def test_simple_tree():
    f = parse_formula("reaction ~ 1 + days + (1 + days | subj)")
    assert f == Formula("", Name("reaction"), True, (T("days"),),
                        (RandomTerm((T("days"),), True, ("subj",), True),), ())
    assert f.text == "reaction ~ 1 + days + (1 + days | subj)"
    assert f.fixed[0].factors[0].pos == 15
    assert f.random[0].pos == 22
    assert f.random[0].group_pos == ((34, 38),)


@pytest.mark.parametrize("text, expected", [
    ("y ~ I(age^2)", Call("I", (BinOp("^", Name("age"), Number(2)),))),
    ("y ~ I(a + b * c)", Call("I", (BinOp("+", Name("a"), BinOp("*", Name("b"), Name("c"))),))),
    ("y ~ I((a + b) * c)",
     Call("I", (BinOp("*", BinOp("+", Name("a"), Name("b")), Name("c")),))),
    ("y ~ I(a - b - c)",
     Call("I", (BinOp("-", BinOp("-", Name("a"), Name("b")), Name("c")),))),
    ("y ~ I(-x^2)", Call("I", (UnaryOp("-", BinOp("^", Name("x"), Number(2))),))),
    ("y ~ I(2^3^2)", Call("I", (BinOp("^", Number(2), BinOp("^", Number(3), Number(2))),))),
    ("y ~ I(x^-1)", Call("I", (BinOp("^", Name("x"), UnaryOp("-", Number(1))),))),
    ("y ~ log(x / 2)", Call("log", (BinOp("/", Name("x"), Number(2)),))),
    ("y ~ sqrt(abs(x))", Call("sqrt", (Call("abs", (Name("x"),)),))),
    ("y ~ factor(period)", Call("factor", (Name("period"),))),
    ("y ~ C(dept, sum)", Call("C", (Name("dept"), Name("sum")))),
    ('y ~ C(dept, treatment("D02"))',
     Call("C", (Name("dept"), Call("treatment", (String("D02"),))))),
    ("y ~ C(k, treatment(2))", Call("C", (Name("k"), Call("treatment", (Number(2),))))),
    ("y ~ `my col`", Name("my col")),
    ("y ~ scale(x)", Call("scale", (Name("x"),))),
])
def test_factor_expression_trees(text, expected):
    f = parse_formula(text)
    assert len(f.fixed) == 1 and f.fixed[0].factors == (expected,)


@pytest.mark.parametrize("text, response", [
    ("y ~ x", Name("y")),
    ("log(y) ~ x", Call("log", (Name("y"),))),
    ("cbind(incidence, size - incidence) ~ 1",
     Call("cbind", (Name("incidence"), BinOp("-", Name("size"), Name("incidence"))))),
    ("y / n ~ x", BinOp("/", Name("y"), Name("n"))),
    ("factor(r2) ~ x", Call("factor", (Name("r2"),))),
])
def test_response(text, response):
    assert parse_formula(text).response == response


def test_offsets():
    f = parse_formula("y ~ x + offset(log(n)) + offset(z)")
    assert f.offsets == (Call("log", (Name("n"),)), Name("z"))
    assert f.fixed == (T("x"),)


def test_positions_not_compared():
    assert parse_formula("y~x+(1|g)") == parse_formula("y  ~  x  +  ( 1 | g )")
    assert Name("x", 3, 4) == Name("x")


def test_nodes_are_frozen():
    with pytest.raises(AttributeError):
        Name("x").name = "y"


# ----------------------------------------------------------------------------- expansion
@pytest.mark.parametrize("text, labels, intercept", [
    ("y ~ x", ["x"], True),
    ("y ~ 1", [], True),
    ("y ~ 0", [], False),
    ("y ~ 0 + x", ["x"], False),
    ("y ~ -1 + x", ["x"], False),
    ("y ~ x - 1", ["x"], False),
    ("y ~ x + 0", ["x"], False),
    ("y ~ 0 + x + 1", ["x"], True),
    ("y ~ a*b", ["a", "b", "a:b"], True),
    ("y ~ a:b", ["a:b"], True),
    ("y ~ a&b", ["a:b"], True),
    ("y ~ (a + b)*c", ["a", "b", "c", "a:c", "b:c"], True),
    ("y ~ (a + b)*(c + d)", ["a", "b", "c", "d", "a:c", "a:d", "b:c", "b:d"], True),
    ("y ~ a*b*c", ["a", "b", "a:b", "c", "a:c", "b:c", "a:b:c"], True),
    ("y ~ (a + b + c)^2", ["a", "b", "c", "a:b", "a:c", "b:c"], True),
    ("y ~ a/b", ["a", "a:b"], True),
    ("y ~ (a + b)/c", ["a", "b", "a:b:c"], True),
    ("y ~ a*b - a:b", ["a", "b"], True),
    ("y ~ a + a + a:a", ["a"], True),
    ("y ~ b:a + a", ["b:a", "a"], True),          # R orders a term's factors by first appearance
    ("y ~ a + b:a", ["a", "a:b"], True),
    ("y ~ a:b + b:a", ["a:b"], True),
    ("y ~ service*dept", ["service", "dept", "service:dept"], True),
    ("y ~ x + I(x^2) + log(z)", ["x", "I(x^2)", "log(z)"], True),
    ("y ~ factor(k):x", ["factor(k):x"], True),
    ("y ~ -x", [], True),
])
def test_fixed_expansion(text, labels, intercept):
    f = parse_formula(text)
    assert [t.label for t in f.fixed] == labels
    assert f.intercept is intercept


@pytest.mark.parametrize("text, expected", [
    ("y ~ (1 | g)", [("1", ("g",), True)]),
    ("y ~ (x | g)", [("1 + x", ("g",), True)]),
    ("y ~ (1 + x | g)", [("1 + x", ("g",), True)]),
    ("y ~ (0 + x | g)", [("0 + x", ("g",), True)]),
    ("y ~ (-1 + x | g)", [("0 + x", ("g",), True)]),
    ("y ~ (x - 1 | g)", [("0 + x", ("g",), True)]),
    ("y ~ (x || g)", [("1 + x", ("g",), False)]),
    ("y ~ zerocorr(1 + x | g)", [("1 + x", ("g",), False)]),
    ("y ~ zerocorr(x || g)", [("1 + x", ("g",), False)]),
    ("y ~ (1 | a:b)", [("1", ("a", "b"), True)]),
    ("y ~ (1 | a&b)", [("1", ("a", "b"), True)]),
    ("y ~ (1 | a/b)", [("1", ("a",), True), ("1", ("a", "b"), True)]),
    ("y ~ (1 | a/b/c)", [("1", ("a",), True), ("1", ("a", "b"), True),
                         ("1", ("a", "b", "c"), True)]),
    ("y ~ (x | a/b)", [("1 + x", ("a",), True), ("1 + x", ("a", "b"), True)]),
    ("y ~ (1 | factor(herd))", [("1", ("herd",), True)]),
    ("y ~ (a*b | g)", [("1 + a + b + a:b", ("g",), True)]),
    ("y ~ (0 + fulldummy(f) | g)", [("0 + fulldummy(f)", ("g",), True)]),
    ("y ~ (1 | s) + (1 | d) + (1 | dept:service)",
     [("1", ("s",), True), ("1", ("d",), True), ("1", ("dept", "service"), True)]),
    ("y ~ (1 | `my group`)", [("1", ("my group",), True)]),
])
def test_random_terms(text, expected):
    f = parse_formula(text)
    assert [(r.lhs_text(), r.group, r.correlated) for r in f.random] == expected


def test_random_term_properties():
    f = parse_formula("y ~ x + (0 + fulldummy(f) | a:b)")
    r = f.random[0]
    assert r.group_label == "a:b"
    assert r.fulldummy == ("f",)
    assert r.columns == {"a", "b", "f"}
    assert f.groups == ("a:b",)


@pytest.mark.parametrize("text, columns", [
    ("y ~ x", {"y", "x"}),
    ("cbind(s, n - s) ~ 1 + factor(p) + (1 | h)", {"s", "n", "p", "h"}),
    ("y ~ C(x, sum) + offset(log(w)) + (z || a/b)", {"y", "x", "w", "z", "a", "b"}),
    ('y ~ C(x, treatment("B"))', {"y", "x"}),
    ("y ~ I(a^2) + (1 | `my g`)", {"y", "a", "my g"}),
])
def test_columns(text, columns):
    assert parse_formula(text).columns == columns


# ----------------------------------------------------------------------------- round trip
ROUND_TRIP = [
    ("y ~ x", "y ~ 1 + x"),
    ("y~1", "y ~ 1"),
    ("y ~ 0", "y ~ 0"),
    ("y ~ -1 + x", "y ~ 0 + x"),
    ("reaction ~ 1 + days + (1 + days | subj)", "reaction ~ 1 + days + (1 + days | subj)"),
    ("reaction ~ days + (days | subj)", "reaction ~ 1 + days + (1 + days | subj)"),
    ("reaction ~ days + (days || subj)", "reaction ~ 1 + days + (1 + days || subj)"),
    ("reaction ~ days + zerocorr(days | subj)", "reaction ~ 1 + days + (1 + days || subj)"),
    ("reaction ~ 1 + days + (1|subj) + (0 + days|subj)",
     "reaction ~ 1 + days + (1 | subj) + (0 + days | subj)"),
    ("y ~ 1 + service*dept + (1|s) + (1|d) + (1|dept:service)",
     "y ~ 1 + service + dept + service:dept + (1 | s) + (1 | d) + (1 | dept:service)"),
    ("use ~ 1 + age + I(age^2) + livch + urban + (1|dist)",
     "use ~ 1 + age + I(age^2) + livch + urban + (1 | dist)"),
    ("use ~ 1 + age + I(age ^ 2) + livch + urban + (1 + urban | dist)",
     "use ~ 1 + age + I(age^2) + livch + urban + (1 + urban | dist)"),
    ("cbind(incidence, size-incidence) ~ 1 + factor(period) + (1|herd)",
     "cbind(incidence, size - incidence) ~ 1 + factor(period) + (1 | herd)"),
    ("strength ~ 1 + (1|batch/cask)", "strength ~ 1 + (1 | batch) + (1 | batch:cask)"),
    ("strength ~ 1 + (1|batch) + (1|batch:cask)",
     "strength ~ 1 + (1 | batch) + (1 | batch:cask)"),
    ("diameter ~ 1 + (1|plate) + (1|sample)", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)",
     "r2 ~ 1 + anger + gender + btype + situ + (1 | subj) + (1 | item)"),
    ("ticks ~ year + scale(height) + (1|index) + (1|brood) + (1|location)",
     "ticks ~ 1 + year + scale(height) + (1 | index) + (1 | brood) + (1 | location)"),
    ("log(y) ~ (a+b)^2", "log(y) ~ 1 + a + b + a:b"),
    ("y ~ a/b", "y ~ 1 + a + a:b"),
    ("y ~ x + offset(log(n)) + (1|g)", "y ~ 1 + x + offset(log(n)) + (1 | g)"),
    ("y ~ C(f,sum) + C(g, contr.helmert)", "y ~ 1 + C(f, sum) + C(g, contr.helmert)"),
    ("y ~ C(f, treatment('B'))", 'y ~ 1 + C(f, treatment("B"))'),
    ("y ~ I(-x^2) + I((a+b)*c) + I(a-(b-c)) + I(x/2) + I(2^-1)",
     "y ~ 1 + I(-x^2) + I((a + b) * c) + I(a - (b - c)) + I(x/2) + I(2^-1)"),
    ("y ~ I(x*1e5) + I(x*0.5)", "y ~ 1 + I(x * 1e+05) + I(x * 0.5)"),
    ("`my y` ~ `my col` + (1|`a b`:c)", "`my y` ~ 1 + `my col` + (1 | `a b`:c)"),
    ("y ~ (0 + fulldummy(f) | g)", "y ~ 1 + (0 + fulldummy(f) | g)"),
    ("y ~ 1 + (1 + factor(days) | subj)", "y ~ 1 + (1 + factor(days) | subj)"),
    ("y ~ b:a + a", "y ~ 1 + b:a + a"),
    ("y ~ abs2(x) + center(x) + exp(x) + log2(x) + log10(x) + sqrt(x)",
     "y ~ 1 + abs2(x) + center(x) + exp(x) + log2(x) + log10(x) + sqrt(x)"),
    ("y/n ~ x", "y/n ~ 1 + x"),
    ("y ~ (x + z | g/h)", "y ~ 1 + (1 + x + z | g) + (1 + x + z | g:h)"),
]


@pytest.mark.parametrize("text, canonical", ROUND_TRIP)
def test_round_trip(text, canonical):
    f = parse_formula(text)
    assert f.to_text() == canonical
    assert str(f) == canonical
    again = parse_formula(canonical)
    assert again == f
    assert again.to_text() == canonical


def test_term_and_random_to_text():
    f = parse_formula("y ~ a*b + (x || g)")
    assert [t.to_text() for t in f.fixed] == ["a", "b", "a:b"]
    assert f.random[0].to_text() == "(1 + x || g)"
    assert RandomTerm((), True, ("g",)).to_text() == "(1 | g)"


def test_programmatic_formula_renders():
    f = Formula("", Name("y"), True, (T("x"), T("x", "f")),
                (RandomTerm((T("x"),), False, ("g",), False),), (Name("w"),))
    text = f.to_text()
    assert text == "y ~ 1 + x + x:f + offset(w) + (0 + x || g)"
    assert parse_formula(text) == f


# ----------------------------------------------------------------------------- errors
ERRORS = [
    # text, pos, end, message fragment
    ("", 0, 1, "the formula is empty"),
    ("y x", 0, 3, "needs a '~'"),
    ("~ x", 0, 1, "nothing before '~'"),
    ("y ~", 2, 3, "nothing after '~'"),
    ("y ~ x ~ z", 6, 7, "only one '~'"),
    ("y ~ (x + z", 4, 5, "'(' is never closed"),
    ("y ~ log(x", 7, 8, "'(' is never closed"),
    ("y ~ x + z)", 9, 10, "')' has no matching '('"),
    ("y ~ x +", 6, 7, "'+' is not followed by anything"),
    ("y ~ x + (z *)", 11, 12, "'*' is not followed by anything"),
    ("y ~ x +* z", 7, 8, "'*' cannot follow '+'"),
    ("y ~ * x", 4, 5, "'*' needs something on its left"),
    ("y ~ x x", 6, 7, "missing operator before 'x'"),
    ("y ~ ()", 4, 6, "empty parentheses"),
    ("y ~ foo(x)", 4, 7, "unknown function 'foo'; allowed: I, log"),
    ("y ~ x + poly(x, 2)", 8, 12, "unknown function 'poly'"),
    ("y ~ x | g", 6, 7, "'|' can only be used inside parentheses"),
    ("y ~ x + (1 | g) | h", 16, 17, "'|' can only be used inside parentheses"),
    ("y ~ I(x | g)", 8, 9, "'|' can only be used inside parentheses"),
    ("y ~ (x | )", 7, 8, "needs a grouping factor after '|'"),
    ("y ~ (x || )", 7, 9, "needs a grouping factor after '||'"),
    ("y ~ ( | g)", 6, 7, "nothing before '|'"),
    ("y ~ (0 | g)", 7, 8, "has no columns"),
    ("y ~ (1 | 2)", 9, 10, "grouping factor must be a column name"),
    ("y ~ (1 | log(g))", 9, 12, "grouping factor must be a column name"),
    ("y ~ (1 | g:)", 10, 11, "':' is not followed by anything"),
    ("y ~ ((1|g) | h)", 11, 12, "cannot be nested"),
    ("y ~ (1|g):x", 9, 10, "cannot be combined with ':'"),
    ("y ~ x*(1|g)", 5, 6, "cannot be combined with '*'"),
    ("y ~ zerocorr(x)", 4, 12, "zerocorr() needs a random-effect term"),
    ("y ~ x + 2", 8, 9, "a number (2) can only be used inside I()"),
    ("y ~ x^z", 6, 7, "'^' in a formula needs a whole number"),
    ("y ~ log(x, 2)", 4, 7, "log() takes exactly one argument (got 2)"),
    ("y ~ log()", 4, 7, "log() takes exactly one argument (got 0)"),
    ("cbind(s) ~ x", 0, 5, "cbind() takes two arguments"),
    ("y ~ cbind(a, b)", 4, 9, "cbind() is only allowed as the response"),
    ("y ~ factor(x + 1)", 11, 16, "factor() needs a column name"),
    ("y ~ I(factor(x))", 6, 12, "factor() cannot be used inside arithmetic"),
    ("y ~ I(a:b)", 7, 8, "':' is not an arithmetic operator"),
    ("y ~ C(x, foo)", 9, 12, "coding in C() must be one of"),
    ("y ~ C(x, sum(1))", 9, 12, "takes no reference level"),
    ("y ~ C(x, treatment(b))", 19, 20, "reference level in quotes"),
    ('y ~ x + "B"', 8, 11, "quoted text"),
    ("y ~ x, z", 5, 6, "',' is only allowed between function arguments"),
    ("y ~ .", 4, 5, "'.' (all other columns) is not supported"),
    ("y ~ offset(x) * z", 14, 15, "offset() cannot be combined"),
    ("y ~ x - (1|g)", 6, 7, "can be removed with '-'"),
    ("y ~ (offset(x) | g)", 15, 16, "offset() cannot be used inside a random-effect term"),
    ("y | w ~ x", 2, 3, "'|' can only be used inside parentheses"),
    ("y ~ (1 | g/2)", 11, 12, "cannot follow '/'"),
]


@pytest.mark.parametrize("text, pos, end, fragment", ERRORS)
def test_errors(text, pos, end, fragment):
    with pytest.raises(FormulaError) as exc:
        parse_formula(text)
    err = exc.value
    assert fragment in err.message
    assert (err.pos, err.end) == (pos, end)
    assert err.formula == text
    assert "^" in str(err) or not text


def test_parse_requires_text():
    with pytest.raises(TypeError):
        parse_formula(None)


@pytest.mark.parametrize("text, label, columns", [
    ("factor(days)", "factor(days)", {"days"}), ("`my x`", "`my x`", {"my x"}),
    ("service:dept", "service:dept", {"service", "dept"}), ("I(age^2)", "I(age^2)", {"age"}),
    ("Größe", "Größe", {"Größe"}), ("`a\\`b`", "`a\\`b`", {"a`b"}),
])
def test_parse_term_reads_a_term_label_back(text, label, columns):
    t = parse_term(text)
    assert (t.label, t.columns) == (label, columns)


@pytest.mark.parametrize("text, fragment", [
    ("a + b", "single term"), ("(1 | g)", "single term"), ("0 + x", "single term"),
    ("offset(x)", "single term"), ("my group", "missing operator"), ("", "empty"),
])
def test_parse_term_refuses_anything_but_one_term(text, fragment):
    with pytest.raises(FormulaError) as exc:
        parse_term(text)
    assert fragment in exc.value.message


def test_parse_response_reads_a_left_side_alone():
    assert parse_response("`my y`") == Name("my y")
    assert parse_response("cbind(incidence, size - incidence)").func == "cbind"
    assert parse_response("log(y)").to_text() == "log(y)"
    for text, fragment in [("", "empty"), ("a b", "missing operator"), ("y + (1 | g)", "")]:
        with pytest.raises(FormulaError) as exc:
            parse_response(text)
        assert fragment in exc.value.message
