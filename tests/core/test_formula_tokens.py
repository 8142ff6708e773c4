"""Tokenizer of the formula language: kinds, texts, positions and lexical errors."""
from __future__ import annotations

import pytest

from mm_core.errors import FormulaError
from mm_core.formula import Token, parse_formula, quote_name, tokenize
from mm_core.formula.tokens import is_syntactic_name


def kinds_texts_pos(text):
    return [(t.kind, t.text, t.pos) for t in tokenize(text)]


@pytest.mark.parametrize("text, expected", [
    ("y ~ x", [("name", "y", 0), ("op", "~", 2), ("name", "x", 4), ("end", "", 5)]),
    ("y~1+x", [("name", "y", 0), ("op", "~", 1), ("number", "1", 2), ("op", "+", 3),
               ("name", "x", 4), ("end", "", 5)]),
    ("(1|g)", [("(", "(", 0), ("number", "1", 1), ("op", "|", 2), ("name", "g", 3),
               (")", ")", 4), ("end", "", 5)]),
    ("(x||g)", [("(", "(", 0), ("name", "x", 1), ("op", "||", 2), ("name", "g", 4),
                (")", ")", 5), ("end", "", 6)]),
    ("a:b&c*d/e^2", [("name", "a", 0), ("op", ":", 1), ("name", "b", 2), ("op", "&", 3),
                     ("name", "c", 4), ("op", "*", 5), ("name", "d", 6), ("op", "/", 7),
                     ("name", "e", 8), ("op", "^", 9), ("number", "2", 10), ("end", "", 11)]),
    ("`my col` + x", [("name", "my col", 0), ("op", "+", 9), ("name", "x", 11),
                      ("end", "", 12)]),
    ("log10(x.1_b)", [("name", "log10", 0), ("(", "(", 5), ("name", "x.1_b", 6),
                      (")", ")", 11), ("end", "", 12)]),
    ("2.5 .5 1e-3 10", [("number", "2.5", 0), ("number", ".5", 4), ("number", "1e-3", 7),
                        ("number", "10", 12), ("end", "", 14)]),
    ('C(x, treatment("B"))', [("name", "C", 0), ("(", "(", 1), ("name", "x", 2), (",", ",", 3),
                              ("name", "treatment", 5), ("(", "(", 14), ("string", "B", 15),
                              (")", ")", 18), (")", ")", 19), ("end", "", 20)]),
    ("-1", [("op", "-", 0), ("number", "1", 1), ("end", "", 2)]),
    ("  ", [("end", "", 2)]),
    ("âge ~ x", [("name", "âge", 0), ("op", "~", 4), ("name", "x", 6), ("end", "", 7)]),
])
def test_tokens(text, expected):
    assert kinds_texts_pos(text) == expected


@pytest.mark.parametrize("text, index, pos, end", [
    ("`my col` + x", 0, 0, 8),       # span includes the backticks
    ("y ~ x||g", 3, 5, 7),
    ('treatment("B")', 2, 10, 13),
    ("log10(x)", 0, 0, 5),
])
def test_token_spans(text, index, pos, end):
    tok = tokenize(text)[index]
    assert (tok.pos, tok.end) == (pos, end)


def test_token_is_frozen_dataclass():
    tok = Token("name", "x", 3)
    assert tok.end == 4
    with pytest.raises(AttributeError):
        tok.text = "y"


@pytest.mark.parametrize("text, pos, end, fragment", [
    ("y ~ x $ z", 6, 7, "character '$'"),
    ("y ~ x ; z", 6, 7, "character ';'"),
    ("y ~ `my col + x", 4, 15, "backtick is never closed"),
    ('y ~ C(x, treatment("B))', 19, 23, "quote is never closed"),
    ("y ~ x %in% z", 6, 10, "'%in%' is not supported"),
    ("y ~ `` + x", 4, 6, "empty name"),
])
def test_token_errors(text, pos, end, fragment):
    with pytest.raises(FormulaError) as exc:
        tokenize(text)
    err = exc.value
    assert (err.pos, err.end) == (pos, end)
    assert fragment in err.message
    assert err.formula == text


@pytest.mark.parametrize("name, ok", [
    ("days", True), ("x.1", True), (".x", True), ("âge", True), ("my col", False),
    ("1x", False), ("_x", False), (".1x", False), ("if", False), ("a-b", False),
])
def test_is_syntactic_name(name, ok):
    assert is_syntactic_name(name) is ok


@pytest.mark.parametrize("name, written", [
    ("days", "days"), ("Größe", "Größe"), ("âge", "âge"), ("my col", "`my col`"), ("a+b", "`a+b`"),
    ("if", "`if`"), ('x"y', '`x"y`'), ("it's", "`it's`"), ("a`b", "`a\\`b`"), ("a\\b", "`a\\\\b`"),
    ("é x`\\", "`é x\\`\\\\`"),
])
def test_quote_name_round_trips_through_the_tokenizer(name, written):
    # R reads `a\`b` as the name a`b and `a\\b` as a\b (R 4.x: all.vars(y ~ `a\`b`) is "a`b")
    assert quote_name(name) == written
    tokens = tokenize(f"{written} ~ 1")
    assert (tokens[0].kind, tokens[0].text, tokens[0].end) == ("name", name, len(written))
    assert parse_formula(f"{written} ~ x + (1 | {written})").random[0].group == (name,)


def test_a_backslash_before_another_character_stays_in_the_name():
    assert tokenize("`a\\nb` ~ 1")[0].text == "a\\nb"
