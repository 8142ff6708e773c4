"""Hostile input to the engine: every case ends quickly with the engine's own error naming the
problem, or with the right result; formula text never runs as code.

The table ``CASES`` drives one parametrized test. Each case runs under a time limit (a SIGALRM
timer, so a hang fails the case instead of the suite) and asserts the error type and the words
that name the problem (column, rows, formula position), or checks the result. Injection attempts
write a sentinel file if any code ran; the test asserts that it does not exist.

The second part checks the hard cases against R (separation, hard starting values, custom
contrast matrices); the data sets and the R script that produced the reference numbers are in
``tests/reference/hostile/``.
"""
from __future__ import annotations

import importlib
import re
import signal
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mm_core import datasets, fit, parametric_bootstrap, parse_formula, predict
from mm_core.errors import DataError, FormulaError, MixedModelError, NotFittedError, SeparationWarning
from mm_core.formula.parser import MAX_NESTING, MAX_TERMS
from mm_core.predict import NewLevelError

glmm_module = importlib.import_module("mm_core.glmm")
HOSTILE_DIR = Path(__file__).resolve().parent.parent / "reference" / "hostile"
SL = datasets.load("sleepstudy")
CBPP = datasets.load("cbpp")
FORMULA = "reaction ~ 1 + days + (1 | subj)"


class CaseTimeout(BaseException):
    """A case ran past its time limit (a BaseException: no ``except Exception`` swallows it)."""


@contextmanager
def time_limit(seconds: float):
    """Fail with :class:`CaseTimeout` when the block runs longer than ``seconds``."""
    def expire(signum, frame):
        raise CaseTimeout(f"the case ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass(frozen=True)
class Case:
    """One hostile input.

    ``run(sentinel)`` performs it (``sentinel`` is a path that only executed code would
    create); ``error`` is the expected exception type (None: it must succeed), ``words`` are
    regular expressions the message must contain, ``position`` asks a :class:`FormulaError` to
    carry the character position, ``check`` verifies the result (or the error), ``limit`` is
    seconds.
    """

    id: str
    run: Callable
    error: type | None = None
    words: tuple = ()
    position: bool = False
    check: Callable | None = None
    limit: float = 10.0


def sl(**columns) -> pd.DataFrame:
    return SL.assign(**columns)


def _inject(path: Path) -> str:
    return f"__import__('pathlib').Path('{path}').touch()"


_REF = {}


def reference_fit():
    if "sl" not in _REF:
        _REF["sl"] = fit(FORMULA, SL)
    return _REF["sl"]


def _same_as_reference(r):
    ref = reference_fit()
    np.testing.assert_allclose(r.beta, ref.beta, rtol=1e-6)
    assert r.objective == pytest.approx(ref.objective, rel=1e-9)


def _renamed(mapping: dict) -> pd.DataFrame:
    return SL.rename(columns=mapping)


def _dup_columns() -> pd.DataFrame:
    d = SL.copy()
    d.columns = ["subj", "days", "days"]
    return d


def _mixed_response() -> pd.DataFrame:
    d = SL.copy()
    d["reaction"] = d["reaction"].astype(object)
    d.loc[3, "reaction"] = "abc"
    d.loc[7, "reaction"] = "n/a"
    return d


def _one_level_per_row() -> pd.DataFrame:
    n = 20_000
    return pd.DataFrame({"y": np.random.default_rng(1).normal(size=n),
                         "id": np.arange(n).astype(str),
                         "g": np.repeat(np.arange(100).astype(str), n // 100)})


def _nan_objective_result():
    return replace(reference_fit(), objective=float("nan"))


def _pirls_never_converges(*args, **kwargs):
    raise glmm_module.PirlsError("PIRLS did not converge in 100 iterations")


def _canonical_start_failure(sentinel):
    d = SL.assign(y=(SL["reaction"] > 280).astype(int))
    real = glmm_module.pirls
    glmm_module.pirls = _pirls_never_converges
    try:
        return fit("y ~ days + (1 | subj)", d, family="binomial")
    finally:
        glmm_module.pirls = real


def _check_no_logit_advice(err):
    assert "try the canonical link 'logit'" not in str(err)


def _cancelled_huge_bootstrap(sentinel):
    m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    calls = []

    def progress(p):
        calls.append(p.done)
        return len(calls) < 3

    return parametric_bootstrap(m, 10**9, seed=1, workers=2, progress=progress)


def _check_cancelled(b):
    assert b.cancelled and b.n_requested == 10**9
    assert 1 <= b.n < 10**6 and b.n_failed == 0
    reps = b.fits["replicate"].to_numpy()
    assert np.all(np.diff(reps) > 0) and reps[-1] < 10**5    # early replicates, each once


def _scaled_predictor(r):
    ref = reference_fit()
    assert r.dropped_columns == ()
    assert r.fixef["days"] == pytest.approx(ref.fixef["days"] * 1e8, rel=1e-6)


def _collinear_dropped(r):
    assert "d2" in r.dropped_columns
    assert any("'d2'" in w for w in r.warnings)
    _same_as_reference(r)


def _long_formula_parses(f):
    assert len(f.fixed) == 300


CASES = [
    # ------------------------------------------------------------ formula size and nesting
    Case("huge-exponent", lambda s: fit("reaction ~ (days + subj)^1000000000 + (1 | subj)", SL),
         FormulaError, (r"exponent 1000000000", "too large"), position=True, limit=2),
    Case("power-20-of-20-columns",
         lambda s: parse_formula("y ~ (" + " + ".join(f"x{i}" for i in range(20)) + ")^20"),
         FormulaError, (r"exponent 20", "at most"), position=True, limit=2),
    Case("power-expanding-to-too-many-terms",
         lambda s: parse_formula("y ~ (" + " + ".join(f"x{i}" for i in range(20)) + ")^5"),
         FormulaError, (r"expands to", f"at most {MAX_TERMS:,}"), position=True, limit=2),
    Case("star-chain-of-20-columns",
         lambda s: parse_formula("y ~ " + " * ".join(f"x{i}" for i in range(20))),
         FormulaError, ("at most",), position=True, limit=2),
    Case("colon-product-of-sums",
         lambda s: parse_formula("y ~ (" + " + ".join(f"a{i}" for i in range(40)) + "):("
                                 + " + ".join(f"b{i}" for i in range(40)) + ")"),
         FormulaError, ("expands to",), position=True, limit=2),
    Case("deep-parentheses", lambda s: fit("reaction ~ " + "(" * 300 + "days" + ")" * 300, SL),
         FormulaError, (f"more than {MAX_NESTING} levels",), position=True, limit=2),
    Case("deep-parentheses-in-I", lambda s: parse_formula("y ~ I(" + "(" * 200 + "x" + ")" * 200
                                                          + ")"),
         FormulaError, ("nested more than",), position=True, limit=2),
    Case("deep-unary-minus", lambda s: parse_formula("y ~ I(" + "-" * 500 + "x)"),
         FormulaError, ("nested more than",), position=True, limit=2),
    Case("deep-power-tower", lambda s: parse_formula("y ~ I(x" + "^x" * 400 + ")"),
         FormulaError, ("nested",), position=True, limit=2),
    Case("long-arithmetic-chain", lambda s: parse_formula("y ~ I(" + " + ".join(["x"] * 2000)
                                                          + ")"),
         FormulaError, ("nested operations",), position=True, limit=2),
    Case("formula-too-long", lambda s: parse_formula("y ~ " + " + ".join(["x"] * 10_000)),
         FormulaError, ("characters long",), limit=2),
    Case("long-valid-formula",
         lambda s: parse_formula("y ~ " + " + ".join(f"x{i}" for i in range(300))),
         check=_long_formula_parses, limit=2),
    Case("infinite-exponent", lambda s: parse_formula("y ~ (a + b)^1e400"), FormulaError,
         ("whole number",), position=True, limit=2),
    Case("empty-formula", lambda s: fit("", SL), FormulaError, ("empty",), limit=2),
    Case("blank-formula", lambda s: fit("   ", SL), FormulaError, ("empty",), limit=2),
    Case("no-tilde", lambda s: fit("reaction days", SL), FormulaError, ("needs a '~'",),
         limit=2),
    Case("two-tildes", lambda s: fit("reaction ~ days ~ subj", SL), FormulaError,
         ("only one '~'",), position=True, limit=2),
    Case("unclosed-parenthesis", lambda s: fit("reaction ~ days + (1 | subj", SL),
         FormulaError, ("never closed",), position=True, limit=2),
    Case("stray-closing-parenthesis", lambda s: fit("reaction ~ days) + (1 | subj)", SL),
         FormulaError, ("no matching",), position=True, limit=2),
    Case("nul-character", lambda s: fit("reaction ~ days\x00 + (1 | subj)", SL), FormulaError,
         ("no meaning",), position=True, limit=2),
    Case("misspelled-column", lambda s: fit("reaction ~ dayz + (1 | subj)", SL), FormulaError,
         ("'dayz' not found", "did you mean 'days'"), position=True, limit=2),
    Case("response-not-in-data", lambda s: fit("score ~ days + (1 | subj)", SL), FormulaError,
         ("'score' not found",), position=True, limit=2),
    Case("very-long-unknown-name", lambda s: fit("reaction ~ " + "z" * 15_000, SL),
         FormulaError, ("not found", "15,000 characters"), limit=2),
    Case("nested-function-calls", lambda s: parse_formula("y ~ " + "log(" * 300 + "x" + ")" * 300),
         FormulaError, ("nested more than",), position=True, limit=2),
    # ------------------------------------------------------------ code injection
    Case("inject-import", lambda s: fit(f"reaction ~ {_inject(s)} + (1 | subj)", SL),
         FormulaError, ("unknown function '__import__'",), position=True, limit=2),
    Case("inject-in-response", lambda s: fit(f"{_inject(s)} ~ days + (1 | subj)", SL),
         FormulaError, ("unknown function",), position=True, limit=2),
    Case("inject-eval", lambda s: fit(f"reaction ~ eval(\"{_inject(s)}\") + (1 | subj)", SL),
         FormulaError, ("unknown function 'eval'",), position=True, limit=2),
    Case("inject-exec-in-I", lambda s: fit(f"reaction ~ I(exec('{s}')) + (1 | subj)", SL),
         FormulaError, ("unknown function 'exec'",), position=True, limit=2),
    Case("inject-backticks",
         lambda s: fit(f"reaction ~ `{_inject(s)}` + (1 | subj)", SL), FormulaError,
         ("not found",), position=True, limit=2),
    Case("inject-semicolon", lambda s: fit(f"reaction ~ days; {_inject(s)}", SL), FormulaError,
         ("';' has no meaning",), position=True, limit=2),
    Case("inject-lambda", lambda s: fit("reaction ~ (lambda: 0)() + (1 | subj)", SL),
         FormulaError, (), position=True, limit=2),
    Case("inject-dunder-attribute", lambda s: fit("reaction ~ days.__class__ + (1 | subj)", SL),
         FormulaError, ("'days.__class__' not found",), position=True, limit=2),
    Case("inject-braces", lambda s: fit("reaction ~ {days} + (1 | subj)", SL), FormulaError,
         ("'{' has no meaning",), position=True, limit=2),
    Case("inject-subscript", lambda s: fit("reaction ~ days[0] + (1 | subj)", SL),
         FormulaError, ("'\\[' has no meaning",), position=True, limit=2),
    Case("inject-percent-operator", lambda s: fit("reaction ~ days %in% subj", SL),
         FormulaError, ("'%in%' is not supported",), position=True, limit=2),
    Case("inject-in-contrast-level",
         lambda s: fit(f"reaction ~ C(subj, treatment(\"{_inject(s)}\")) + (1 | subj)", SL),
         FormulaError, ("reference level",), position=True, limit=5),
    # ------------------------------------------------------------ the formula argument itself
    Case("formula-is-a-number", lambda s: fit(12345, SL), FormulaError,
         ("must be text", "12345"), limit=2),
    Case("formula-is-none", lambda s: fit(None, SL), FormulaError, ("must be text",), limit=2),
    Case("formula-is-a-list", lambda s: fit([FORMULA], SL), FormulaError, ("must be text",),
         limit=2),
    Case("parse-formula-of-none", lambda s: parse_formula(None), FormulaError,
         ("must be text", "NoneType"), limit=2),
    # ------------------------------------------------------------ odd but valid names
    Case("unicode-column-names",
         lambda s: fit("größe ~ 1 + zeit + (1 | gruppe)",
                       _renamed({"reaction": "größe", "days": "zeit", "subj": "gruppe"})),
         check=_same_as_reference),
    Case("names-with-spaces-and-punctuation",
         lambda s: fit("`reaction time (ms)` ~ 1 + `days, since start` + (1 | `subject id`)",
                       _renamed({"reaction": "reaction time (ms)",
                                 "days": "days, since start", "subj": "subject id"})),
         check=_same_as_reference),
    Case("emoji-and-reserved-names",
         lambda s: fit("`😴` ~ 1 + `if` + (1 | `NULL`)",
                       _renamed({"reaction": "😴", "days": "if", "subj": "NULL"})),
         check=_same_as_reference),
    Case("numbers-as-column-labels",
         lambda s: fit("`2` ~ 1 + `1` + (1 | `0`)", SL.set_axis([0, 1, 2], axis=1)),
         check=lambda r: np.testing.assert_allclose(r.beta, reference_fit().beta, rtol=1e-6)),
    Case("number-and-text-labels-that-collide",
         lambda s: fit("`2` ~ 1 + `1` + (1 | `0`)", SL.set_axis([0, "0", 2], axis=1)),
         DataError, ("repeated column name", "'0' at positions 1, 2"), limit=2),
    # ------------------------------------------------------------ the table
    Case("data-is-a-dict", lambda s: fit(FORMULA, {"reaction": [1, 2]}), DataError,
         ("must be a table", "dict"), limit=2),
    Case("data-is-none", lambda s: fit(FORMULA, None), DataError, ("must be a table",),
         limit=2),
    Case("empty-table", lambda s: fit(FORMULA, SL.iloc[:0]), DataError, ("no rows",), limit=2),
    Case("table-without-columns", lambda s: fit(FORMULA, SL.iloc[:, :0]), FormulaError,
         ("no columns",), limit=2),
    Case("duplicated-column-names", lambda s: fit(FORMULA, _dup_columns()), DataError,
         ("repeated column name", "'days'", "positions 2, 3"), limit=2),
    Case("all-nan-response", lambda s: fit(FORMULA, sl(reaction=np.nan)), DataError,
         ("no rows left", "'reaction' \\(180 missing\\)"), limit=2),
    Case("all-nan-predictor", lambda s: fit(FORMULA, sl(days=np.nan)), DataError,
         ("no rows left", "'days'"), limit=2),
    Case("infinite-predictor",
         lambda s: fit(FORMULA, sl(days=np.where(SL.index == 5, np.inf, SL["days"]))),
         DataError, ("'days'", "1 infinite value"), limit=2),
    Case("negative-infinite-response",
         lambda s: fit(FORMULA, sl(reaction=np.where(SL.index < 3, -np.inf, SL["reaction"]))),
         DataError, ("'reaction'", "3 infinite values"), limit=2),
    Case("log-of-negative", lambda s: fit("reaction ~ log(days - 5) + (1 | subj)", SL),
         DataError, ("log\\(days - 5\\)", "missing or infinite"), limit=2),
    Case("constant-response", lambda s: fit(FORMULA, sl(reaction=5.0)), DataError,
         ("same value \\(5\\)", "nothing to model"), limit=5),
    Case("tiny-variance-response", lambda s: fit(FORMULA, sl(reaction=1 + SL["reaction"] * 1e-12)),
         DataError, ("'reaction'", "varies very little"), limit=5),
    Case("response-mixing-numbers-and-text", lambda s: fit(FORMULA, _mixed_response()),
         DataError, ("mixes numbers and text", "rows 4 \\('abc'\\), 8 \\('n/a'\\)"), limit=2),
    Case("numbers-stored-as-text", lambda s: fit(FORMULA, sl(reaction=SL["reaction"].astype(str))),
         DataError, ("numbers stored as text",), limit=2),
    Case("huge-response", lambda s: fit(FORMULA, sl(reaction=SL["reaction"] * 1e300)),
         DataError, ("response 'reaction'", "large", "[Rr]escale"), limit=2),
    Case("huge-predictor", lambda s: fit(FORMULA, sl(days=SL["days"] * 1e300)), DataError,
         ("predictor column 'days'", "large"), limit=2),
    Case("tiny-predictor", lambda s: fit(FORMULA, sl(days=SL["days"] * 1e-300)), DataError,
         ("predictor column 'days'", "small"), limit=2),
    Case("predictor-scaled-by-1e8-is-kept", lambda s: fit(FORMULA, sl(days=SL["days"] * 1e-8)),
         check=_scaled_predictor),
    Case("collinear-predictor-dropped-by-name",
         lambda s: fit("reaction ~ 1 + days + d2 + (1 | subj)", sl(d2=SL["days"] * 2)),
         check=_collinear_dropped),
    Case("dates-as-predictor", lambda s: fit("reaction ~ when + (1 | subj)",
                                             sl(when=pd.Timestamp("2024-01-01"))),
         DataError, ("'when'", "dates or times"), limit=2),
    Case("one-level-factor", lambda s: fit("reaction ~ f + (1 | subj)", sl(f="a")), DataError,
         ("'f' has only one level",), limit=2),
    Case("one-level-grouping-factor", lambda s: fit("reaction ~ days + (1 | g)", sl(g="a")),
         DataError, ("grouping factor 'g' has only one level",), limit=2),
    Case("text-column-in-arithmetic", lambda s: fit("reaction ~ I(subj * 2) + (1 | subj)", SL),
         FormulaError, ("'subj' is categorical",), position=True, limit=2),
    Case("one-random-effect-per-row",
         lambda s: fit("reaction ~ days + (1 | row)", sl(row=np.arange(180).astype(str))),
         DataError, ("180 random effects", "allow_more_random_effects"), limit=5),
    Case("factor-with-a-level-per-row-as-fixed-effect",
         lambda s: fit("y ~ id + (1 | g)", _one_level_per_row()), FormulaError,
         ("20,000 columns", "at most 1,000", "\\(1 \\| id\\)"), position=True, limit=5),
    Case("factor-with-a-level-per-row-in-a-random-term",
         lambda s: fit("y ~ 1 + (0 + id | g)", _one_level_per_row()), FormulaError,
         ("random-effects term would have 20,000 columns", "at most 100"), position=True,
         limit=5),
    # ------------------------------------------------------------ weights
    Case("weights-of-wrong-length", lambda s: fit(FORMULA, SL, weights=np.ones(10)), DataError,
         ("10 values", "180 rows"), limit=2),
    Case("negative-weights", lambda s: fit(FORMULA, SL, weights=-np.ones(180)), DataError,
         ("non-negative",), limit=2),
    Case("weights-column-missing", lambda s: fit(FORMULA, SL, weights="w"), DataError,
         ("weights column 'w' not found",), limit=2),
    Case("all-zero-weights", lambda s: fit(FORMULA, SL, weights=np.zeros(180)), DataError,
         ("all weights are zero",), limit=2),
    # ------------------------------------------------------------ options
    Case("unknown-keyword-lmm", lambda s: fit(FORMULA, SL, foo=1), MixedModelError,
         ("'foo'", "Valid options: family, link, reml", "maxeval"), limit=2),
    Case("unknown-keyword-glmm",
         lambda s: fit("incidence ~ period + (1 | herd)", CBPP, family="poisson", foo=1),
         MixedModelError, ("'foo'", "Valid options: family, link, reml", "maxeval"), limit=2),
    Case("keyword-in-capitals", lambda s: fit(FORMULA, SL, REML=True), MixedModelError,
         ("'REML'", "did you mean 'reml'"), limit=2),
    Case("negative-maxeval", lambda s: fit(FORMULA, SL, maxeval=-1), MixedModelError,
         ("maxeval must be a positive number",), limit=2),
    Case("unknown-family", lambda s: fit(FORMULA, SL, family="tweedie"), MixedModelError,
         ("unknown family 'tweedie'",), limit=2),
    Case("unknown-link", lambda s: fit(FORMULA, SL, family="poisson", link="foo"),
         MixedModelError, ("unknown link 'foo'",), limit=2),
    Case("reml-as-text", lambda s: fit(FORMULA, SL, reml="yes"), MixedModelError,
         ("reml must be True or False",), limit=2),
    Case("progress-not-callable", lambda s: fit(FORMULA, SL, progress=5), MixedModelError,
         ("progress must be a function",), limit=2),
    Case("weights-as-a-dict", lambda s: fit(FORMULA, SL, weights={"a": 1}), DataError,
         ("weights must be a column name or one number per row",), limit=2),
    Case("weights-as-a-matrix", lambda s: fit(FORMULA, SL, weights=np.ones((180, 2))),
         DataError, ("1-dimensional",), limit=2),
    Case("weights-column-of-text", lambda s: fit(FORMULA, SL, weights="subj"), DataError,
         ("weights column 'subj'", "non-negative"), limit=2),
    Case("n-agq-for-an-lmm", lambda s: fit(FORMULA, SL, n_agq=5), MixedModelError,
         ("n_agq applies to generalized",), limit=2),
    Case("contrasts-not-a-dict", lambda s: fit(FORMULA, SL, contrasts=["sum"]), DataError,
         ("contrasts must be a dictionary",), limit=2),
    Case("unknown-contrast-coding",
         lambda s: fit("reaction ~ subj + (1 | days)", SL, contrasts={"subj": "fancy"}),
         DataError, ("unknown contrast coding 'fancy'",), limit=2),
    Case("contrast-matrix-with-wrong-rows",
         lambda s: fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", CBPP,
                       family="binomial", contrasts={"period": np.ones((3, 3))}),
         DataError, ("3 rows", "4 levels"), limit=5),
    Case("contrast-matrix-rank-deficient",
         lambda s: fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", CBPP,
                       family="binomial", contrasts={"period": np.array(
                           [[1., 0, 1], [0, 1, 1], [0, 0, 0], [0, 0, 0]])}),
         DataError, ("linearly dependent",), limit=5),
    Case("contrast-matrix-with-unknown-level-labels",
         lambda s: fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", CBPP,
                       family="binomial", contrasts={"period": pd.DataFrame(
                           np.eye(4)[:, 1:], index=["1", "2", "3", "9"])}),
         DataError, ("'9'", "not levels"), limit=5),
    Case("contrast-matrix-with-text",
         lambda s: fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", CBPP,
                       family="binomial", contrasts={"period": np.array([["a"] * 3] * 4)}),
         DataError, ("numbers only",), limit=5),
    # ------------------------------------------------------------ predict and summary
    Case("predict-with-text-where-numbers-were-fitted",
         lambda s: predict(reference_fit(), sl(days=np.where(SL.index == 2, "two",
                                                              SL["days"].astype(str)))),
         DataError, ("column 'days' holds numbers", "row 3 \\('two'\\)"), limit=2),
    Case("predict-with-numbers-as-text",
         lambda s: predict(reference_fit(), sl(days=SL["days"].astype(str))), DataError,
         ("column 'days'", "numbers stored as text"), limit=2),
    Case("predict-without-a-column", lambda s: predict(reference_fit(), SL[["subj"]]),
         DataError, ("newdata has no column 'days'",), limit=2),
    Case("predict-on-a-dict", lambda s: predict(reference_fit(), {"days": [1]}),
         MixedModelError, ("must be a table",), limit=2),
    Case("predict-unseen-fixed-level",
         lambda s: predict(fit("reaction ~ f + (1 | subj)", sl(f=np.where(SL.days > 4, "a", "b"))),
                           pd.DataFrame({"f": ["c"], "subj": ["S308"]})),
         NewLevelError, ("'c'",), limit=5),
    Case("summary-of-a-nan-objective", lambda s: _nan_objective_result().summary(),
         NotFittedError, ("objective is nan", "not usable"), limit=2),
    # ------------------------------------------------------------ GLMM starts and advice
    Case("poisson-identity-link-negative-means",
         lambda s: fit("y ~ x + (1 | g)", pd.DataFrame({
             "y": np.random.default_rng(3).poisson(np.maximum(10 - 2 * np.linspace(0, 10, 200),
                                                              0.01)),
             "x": np.linspace(0, 10, 200), "g": np.repeat(list("abcdefghij"), 20)}),
             family="poisson", link="identity"),
         DataError, ("poisson means must be positive", "identity link",
                     "canonical link 'log'"), limit=10),
    Case("canonical-link-start-failure-gives-no-link-advice", _canonical_start_failure,
         DataError, ("starting values", "separation or extreme scales"),
         check=_check_no_logit_advice, limit=5),
    Case("binomial-response-outside-0-1",
         lambda s: fit("reaction ~ days + (1 | subj)", SL, family="binomial"), DataError,
         ("values outside \\[0, 1\\]",), limit=5),
    # ------------------------------------------------------------ bootstrap
    Case("bootstrap-of-a-billion-cancels-at-once", _cancelled_huge_bootstrap,
         check=_check_cancelled, limit=60),
    Case("bootstrap-count-not-an-integer",
         lambda s: parametric_bootstrap(reference_fit(), 1.5, seed=1), MixedModelError,
         ("positive integer",), limit=5),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path):
    sentinel = tmp_path / "code-ran"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with time_limit(case.limit):
            if case.error is None:
                result = case.run(sentinel)
            else:
                with pytest.raises(case.error) as info:
                    case.run(sentinel)
    assert not sentinel.exists(), "formula text was executed"
    if case.error is None:
        if case.check is not None:
            case.check(result)
        return
    err = info.value
    assert isinstance(err, MixedModelError), f"{type(err).__name__} is not an engine error"
    text = str(err)
    for word in case.words:
        assert re.search(word, text), f"{word!r} not in message: {text}"
    if case.position:
        assert isinstance(err, FormulaError) and err.pos is not None, "no formula position"
        assert 0 <= err.pos <= len(err.formula)
    if case.check is not None:
        case.check(err)


def test_there_are_enough_cases():
    assert len(CASES) >= 50


# ============================================================================ checked against R
# Reference numbers from tests/reference/hostile/make_hostile_reference.R, run here with
# R 4.2.2 Patched (2022-11-10 r83330), lme4 1.1.31, glmmTMB 1.1.5, MASS 7.3.58.2.

def _hostile_csv(name: str) -> pd.DataFrame:
    d = pd.read_csv(HOSTILE_DIR / name)
    for col in ("f", "g", "subj"):
        if col in d:
            d[col] = d[col].astype(str)
    return d


# lme4's tests/testthat/test-glmer.R, "complete separation case":
#   set.seed(101)
#   d <- data.frame(y=rbinom(1000,size=1,p=0.5), x=runif(1000),
#                   f=factor(rep(1:20,each=50)), x2=rep(0:1,c(999,1)))
#   glmer(y~x+x2+(1|f), data=d, family=binomial,
#         control=glmerControl(check.conv.hess="ignore", check.conv.grad="ignore"))
#   -> fixef -0.10036800204 0.03549108654 -28.36824874222; logLik -691.599612416
#   update(., family=binomial(link="probit"))
#   -> fixef -0.06288985294 0.02224055730 -7.11698068443; logLik -691.599607853
# lme4's own test checks the first two coefficients to 1e-4 and x2 < -10 (logit), < -4 (probit):
# x2 has no finite estimate, so where it stops is arbitrary.
SEPARATION = {
    "logit": dict(beta=[-0.10036800204, 0.03549108654], loglik=-691.599612416, x2_below=-10),
    "probit": dict(beta=[-0.06288985294, 0.02224055730], loglik=-691.599607853, x2_below=-4),
}


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_separation_is_fitted_as_lme4_does_with_a_warning(link):
    ref = SEPARATION[link]
    with time_limit(60), pytest.warns(SeparationWarning, match="Separation.*'x2'"):
        r = fit("y ~ x + x2 + (1 | f)", _hostile_csv("separation.csv"), family="binomial",
                link=link)
    np.testing.assert_allclose(r.fixef[["(Intercept)", "x"]], ref["beta"], atol=1e-4)
    assert r.fixef["x2"] < ref["x2_below"]
    # the likelihood is flat in x2 out there: both stop at the same log-likelihood
    assert r.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    assert r.is_singular                                       # as lme4: boundary (singular) fit
    assert any("Separation" in w and "'x2'" in w for w in r.warnings)
    assert not any("canonical link" in w for w in r.warnings)


# A Poisson factor level whose counts are all zero (poisson_zero_level.csv): glmer stops with
# "Downdated VtV is not positive definite"; glmmTMB(y ~ f + (1 | subj), family = poisson):
#   fixef -21.00085216 22.11781359 (sum 1.116961427); logLik -281.955470099; sd(subj) 1.5e-05
# The level-"a" mean diverges to 0: the intercept and fb run off together, their sum (the log
# mean of level "b") and the likelihood are determined.
def test_poisson_level_of_zeros_is_fitted_with_a_separation_warning():
    d = _hostile_csv("poisson_zero_level.csv")
    with time_limit(60), pytest.warns(SeparationWarning, match="'\\(Intercept\\)'.*'fb'"):
        r = fit("y ~ f + (1 | subj)", d, family="poisson")
    assert r.fixef.sum() == pytest.approx(1.116961427, abs=1e-5)
    assert r.fixef["(Intercept)"] < -15
    assert r.loglik == pytest.approx(-281.955470099, abs=1e-6)
    assert r.varcorr["sd"].iloc[0] < 1e-3


# glmmTMB(y ~ x + (1|g), family=Gamma(link="log")) on gamma_shape01.csv (shape 0.1):
#   fixef 1.116984952 1.067569741; sigma 3.102727575; logLik 834.62719857; sd(g) 0.5319155251
# glmmTMB's Laplace approximation uses the exact Hessian of the inner problem, ours (as lme4's)
# the expected information of PIRLS; with a non-canonical link the two differ. The exact
# likelihood (our 25-point quadrature) is close to glmmTMB's: it is checked at 1e-2 (β, sd)
# and 2e-3 (σ), the Laplace fit at a tenth of a standard error.
GAMMA_TMB = dict(beta=[1.116984952, 1.067569741], sigma=3.102727575, sd=0.5319155251,
                 loglik=834.62719857)
# glmmTMB(y ~ x + (1|g), family=gaussian(link="sqrt")) on gaussian_sqrt_neg.csv (8 negative y;
# glmer stops with "PIRLS loop resulted in NaN value"):
#   fixef 1.0209886820 0.5205920226; sigma 0.9857749853; logLik -265.857806993; sd 0.2251866058
SQRT_TMB = dict(beta=[1.0209886820, 0.5205920226], sigma=0.9857749853, sd=0.2251866058,
                loglik=-265.857806993)


def test_gamma_log_link_with_shape_0_1_starts_and_fits():
    d = _hostile_csv("gamma_shape01.csv")
    with time_limit(60), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lap = fit("y ~ x + (1 | g)", d, family="gamma", link="log")
        agq = fit("y ~ x + (1 | g)", d, family="gamma", link="log", n_agq=25)
    assert lap.converged and agq.converged
    se = lap.coeftable["std_error"].to_numpy()
    assert np.all(np.abs(lap.beta - GAMMA_TMB["beta"]) < 0.1 * se)
    np.testing.assert_allclose(agq.beta, GAMMA_TMB["beta"], atol=1e-2)
    assert agq.sigma == pytest.approx(GAMMA_TMB["sigma"], rel=2e-3)
    assert agq.varcorr["sd"].iloc[0] == pytest.approx(GAMMA_TMB["sd"], abs=1e-2)
    assert agq.loglik == pytest.approx(GAMMA_TMB["loglik"], abs=0.1)


def test_gaussian_sqrt_link_with_negative_responses_starts_and_fits():
    d = _hostile_csv("gaussian_sqrt_neg.csv")
    assert (d["y"] < 0).sum() == 8
    with time_limit(60):
        r = fit("y ~ x + (1 | g)", d, family="gaussian", link="sqrt")
    assert r.converged
    se = r.coeftable["std_error"].to_numpy()
    assert np.all(np.abs(r.beta - SQRT_TMB["beta"]) < 0.05 * se)
    assert r.sigma == pytest.approx(SQRT_TMB["sigma"], rel=1e-3)
    assert r.varcorr["sd"].iloc[0] == pytest.approx(SQRT_TMB["sd"], rel=2e-2)
    assert r.loglik == pytest.approx(SQRT_TMB["loglik"], abs=0.05)


# glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial,
#       contrasts = list(period = contr.sdif(4)))
#   fixef -2.3233010498 -0.9919292961 -0.1362880782 -0.4515302390
#   se    0.2212755146 0.3031501885 0.3759028186 0.4779470876; logLik -92.0265663889
# ... contrasts = list(period = cbind(c(-3,-1,1,3), c(1,-1,-1,1), c(-1,3,-3,1)))
#   fixef -2.32330212093 -0.24377535999 0.13510281932 -0.05854443892
# lme4's PIRLS tolerance moves its cbpp optimum by a few 1e-4 and adds up to 1.3 % noise to its
# Hessian (see test_glmm_vs_lme4.py): β at 1e-3, standard errors at 2e-2, and the exact
# equivalence with our treatment-coded fit (the same model) at 1e-4.
SDIF4 = pd.DataFrame([[-0.75, -0.5, -0.25], [0.25, -0.5, -0.25], [0.25, 0.5, -0.25],
                      [0.25, 0.5, 0.75]], index=["1", "2", "3", "4"],
                     columns=["2-1", "3-2", "4-3"])
CBPP_FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _sdif(k: int) -> np.ndarray:
    """MASS::contr.sdif(k) without its column names."""
    m = np.zeros((k, k - 1))
    for j in range(k - 1):
        m[:j + 1, j] = -(k - j - 1) / k
        m[j + 1:, j] = (j + 1) / k
    return m


def test_custom_contrast_matrix_matches_lme4_contr_sdif():
    np.testing.assert_allclose(_sdif(4), SDIF4.to_numpy())
    r = fit(CBPP_FORMULA, CBPP, family="binomial", contrasts={"period": SDIF4})
    assert list(r.fixef.index) == ["(Intercept)", "period2-1", "period3-2", "period4-3"]
    np.testing.assert_allclose(r.beta, [-2.3233010498, -0.9919292961, -0.1362880782,
                                        -0.4515302390], atol=1e-3)
    np.testing.assert_allclose(r.coeftable["std_error"],
                               [0.2212755146, 0.3031501885, 0.3759028186, 0.4779470876],
                               rtol=2e-2)
    assert r.loglik >= -92.0265663889 - 1e-6
    # the same model as treatment coding: β_treatment = M β_sdif with M = [1 C; 0 ...]
    t = fit(CBPP_FORMULA, CBPP, family="binomial")
    C = SDIF4.to_numpy()
    M = np.column_stack([np.ones(4), C])                  # cell means = M β
    cells_sdif = M @ r.beta
    cells_treat = t.beta[0] + np.concatenate([[0.0], t.beta[1:]])
    np.testing.assert_allclose(cells_sdif, cells_treat, atol=1e-4)
    assert r.loglik == pytest.approx(t.loglik, abs=1e-6)


def test_custom_contrast_matrix_without_names_and_levels_in_another_order():
    cm = np.array([[-3., 1, -1], [-1, -1, 3], [1, -1, -3], [3, 1, 1]])
    r = fit(CBPP_FORMULA, CBPP, family="binomial", contrasts={"period": cm})
    assert list(r.fixef.index) == ["(Intercept)", "period1", "period2", "period3"]
    np.testing.assert_allclose(r.beta, [-2.32330212093, -0.24377535999, 0.13510281932,
                                        -0.05854443892], atol=1e-3)
    # a DataFrame's rows are matched to the levels by label, whatever their order
    shuffled = SDIF4.iloc[[2, 0, 3, 1]]
    a = fit(CBPP_FORMULA, CBPP, family="binomial", contrasts={"period": SDIF4})
    b = fit(CBPP_FORMULA, CBPP, family="binomial", contrasts={"period": shuffled})
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
    assert list(b.fixef.index) == list(a.fixef.index)


# lmer(Reaction ~ fd + (1 | Subject), sleepstudy, REML = FALSE,
#      contrasts = list(fd = contr.sdif(10)))   with fd = factor(Days)
#   fixef 298.5078916667 7.8439500000 0.8661444444 17.6301111111 5.6574111111 19.8690333333
#         3.6598000000 6.5723277778 17.8789222222 14.2217166667
#   se    8.794956976, then 10.180168413 for every difference; logLik -895.167482985
def test_custom_contrast_matrix_in_an_lmm_matches_lme4():
    r = fit("reaction ~ factor(days) + (1 | subj)", SL,
            contrasts={"factor(days)": _sdif(10)})
    np.testing.assert_allclose(r.beta, [298.5078916667, 7.8439500000, 0.8661444444,
                                        17.6301111111, 5.6574111111, 19.8690333333,
                                        3.6598000000, 6.5723277778, 17.8789222222,
                                        14.2217166667], rtol=1e-7)
    np.testing.assert_allclose(r.coeftable["std_error"], [8.794956976] + [10.180168413] * 9,
                               rtol=1e-5)
    assert r.loglik == pytest.approx(-895.167482985, abs=1e-6)
    # prediction on new data codes the factor with the same matrix: the day means
    new = pd.DataFrame({"days": [0, 9], "subj": ["S308", "S308"]})
    cells = np.column_stack([np.ones(10), _sdif(10)]) @ r.beta
    np.testing.assert_allclose(predict(r, new, re_form="NA"), cells[[0, 9]], rtol=1e-10)
    np.testing.assert_allclose(cells[[0, 9]], SL.groupby("days")["reaction"].mean()[[0, 9]],
                               rtol=1e-7)


# ============================================================================ bootstrap of a GLMM
CONTRA_SLOPE = "use ~ 1 + urban + age + livch + (1 + urban | dist)"


def _count_evaluations(monkeypatch):
    """Count the Laplace objective evaluations (optimizer steps and derivative checks)."""
    calls = [0]
    for cls in (glmm_module.GlmmObjective, glmm_module._Displaced):
        real = cls.__call__

        def counting(self, x, _real=real):
            calls[0] += 1
            return _real(self, x)

        monkeypatch.setattr(cls, "__call__", counting)
    return calls


def test_glmm_replicate_costs_a_fraction_of_a_fresh_fit(monkeypatch):
    """A replicate warm-starts at the fit's (θ, β), whitened by its Hessian; it needs far fewer
    objective evaluations than a fresh fit of the same data, and reaches the same optimum."""
    from mm_core.bootstrap import make_replicator
    from mm_core.simulate import replicate_rng
    contra = datasets.load("contra")
    m = fit(CONTRA_SLOPE, contra, family="binomial")
    calls = _count_evaluations(monkeypatch)
    rep = make_replicator(m)
    replicate_evals, fresh_evals = [], []
    for j in range(3):
        calls[0] = 0
        row = rep(j, 2024)
        replicate_evals.append(calls[0])
        y = rep.sim.draw(replicate_rng(2024, j))
        calls[0] = 0
        levels = list(contra["use"].cat.categories)
        fresh = fit(CONTRA_SLOPE, contra.assign(use=np.where(y > 0.5, levels[1], levels[0])),
                    family="binomial")
        fresh_evals.append(calls[0])
        assert row[0] == pytest.approx(fresh.objective, abs=1e-3)
        se = fresh.coeftable["std_error"].to_numpy()
        assert np.all(np.abs(row[3:3 + len(se)] - fresh.beta) < 0.01 * se)
    # measured here: about 65 evaluations per replicate against 170 for a fresh fit, and a
    # replicate takes about a quarter of a fresh fit's time
    assert sum(replicate_evals) < 0.5 * sum(fresh_evals)


def test_glmm_bootstrap_with_a_random_slope_reports_early_and_cancels_keeping_replicates():
    m = fit(CONTRA_SLOPE, datasets.load("contra"), family="binomial")
    seen = []
    cancel_at = []

    def progress(p):
        seen.append(p.done)
        if p.done >= 2:
            cancel_at.append(time.perf_counter())
            return False
        return True

    with time_limit(60):
        b = parametric_bootstrap(m, 10_000, seed=5, workers=1, progress=progress)
        stopped = time.perf_counter()
    assert b.cancelled and b.n >= 2 and b.n_failed == 0
    assert seen[0] <= 2                        # the bar moves from the first replicates
    assert b.fits["replicate"].tolist() == list(range(b.n))
    assert stopped - cancel_at[0] < 30         # generous: the bound here is one replicate
