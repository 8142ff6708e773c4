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
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

import mm_core
from mm_core import datasets, fit, parametric_bootstrap, parse_formula, predict
from mm_core.errors import (DataError, FormulaError, MixedModelError, NotFittedError,
                            SeparationWarning)
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

    def progress(done, elapsed):
        calls.append(done)
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
         FormulaError, ("not found",), limit=2),
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
