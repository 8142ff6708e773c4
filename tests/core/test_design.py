"""materialize(): model matrices, names and random-effects terms as lme4 builds them.

Expected column names were produced by R 4.x / lme4 1.1 (``lFormula(...)$X`` and
``$reTrms$cnms``) on the same data.
"""
from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd
import pytest

from mm_core.contrasts import Helmert, Sum, Treatment
from mm_core.design import Design, ReTerm, materialize
from mm_core.errors import DataError, FormulaError
from mm_core.formula import parse_formula

try:
    from mm_core import datasets
    datasets.load("sleepstudy")
    HAVE_DATA = True
except Exception:  # pragma: no cover - the bundled data is not there yet
    HAVE_DATA = False

needs_data = pytest.mark.skipif(not HAVE_DATA, reason="bundled datasets not available")


@pytest.fixture(scope="module")
def grid():
    """All 24 combinations of f (a-d) x g (p-r) x e (u, v), with numeric x, z and group h."""
    rows = list(itertools.product("abcd", "pqr", "uv"))
    df = pd.DataFrame(rows, columns=["f", "g", "e"])
    n = len(df)
    df["x"] = np.linspace(-1.0, 2.0, n)
    df["z"] = np.linspace(1.0, 3.0, n) ** 2
    df["y"] = np.sin(np.arange(n))
    df["h"] = np.repeat(list("ABCDEF"), 4)
    df["k"] = np.tile([1, 2, 10, 3], 6)
    df["s"] = np.tile(["1", "10", "2"], 8)
    return df


# ----------------------------------------------------------------------------- names (R)
R_NAMES = [
    ("y ~ 1 + x", ["(Intercept)", "x"]),
    ("y ~ 0 + f + x", ["fa", "fb", "fc", "fd", "x"]),
    ("y ~ 0 + x + f", ["x", "fa", "fb", "fc", "fd"]),
    ("y ~ x:f", ["(Intercept)", "x:fa", "x:fb", "x:fc", "x:fd"]),
    ("y ~ f:x + g", ["(Intercept)", "gq", "gr", "fa:x", "fb:x", "fc:x", "fd:x"]),
    ("y ~ 0 + f:g", ["fa:gp", "fb:gp", "fc:gp", "fd:gp", "fa:gq", "fb:gq", "fc:gq", "fd:gq",
                     "fa:gr", "fb:gr", "fc:gr", "fd:gr"]),
    ("y ~ f + f:g", ["(Intercept)", "fb", "fc", "fd", "fa:gq", "fb:gq", "fc:gq", "fd:gq",
                     "fa:gr", "fb:gr", "fc:gr", "fd:gr"]),
    ("y ~ f/g", ["(Intercept)", "fb", "fc", "fd", "fa:gq", "fb:gq", "fc:gq", "fd:gq",
                 "fa:gr", "fb:gr", "fc:gr", "fd:gr"]),
    ("y ~ 0 + f + g", ["fa", "fb", "fc", "fd", "gq", "gr"]),
    ("y ~ e*x", ["(Intercept)", "ev", "x", "ev:x"]),
    ("y ~ e*g", ["(Intercept)", "ev", "gq", "gr", "ev:gq", "ev:gr"]),
    ("y ~ g:e + x", ["(Intercept)", "x", "gp:eu", "gq:eu", "gr:eu", "gp:ev", "gq:ev",
                     "gr:ev"]),
    ("y ~ x + I(x^2) + log(z) + sqrt(z) + exp(x) + abs(x)",
     ["(Intercept)", "x", "I(x^2)", "log(z)", "sqrt(z)", "exp(x)", "abs(x)"]),
    ("y ~ factor(k) + s", ["(Intercept)", "factor(k)2", "factor(k)3", "factor(k)10", "s10",
                           "s2"]),
    ("y ~ C(f, sum) + C(g, helmert)", ["(Intercept)", "C(f, sum)1", "C(f, sum)2", "C(f, sum)3",
                                       "C(g, helmert)1", "C(g, helmert)2"]),
    ('y ~ C(f, treatment("c"))', ["(Intercept)", 'C(f, treatment("c"))a',
                                  'C(f, treatment("c"))b', 'C(f, treatment("c"))d']),
    ("y ~ x:z + f:g:e", None),   # only checks that it builds; 1 + 1 + 24 columns
]


@pytest.mark.parametrize("formula, names", R_NAMES)
def test_fixed_names_as_r(grid, formula, names):
    d = materialize(formula, grid)
    if names is not None:
        assert d.fixef_names == names
    assert d.X.shape == (len(grid), len(d.fixef_names))
    assert len(d.fixef_terms) == len(d.fixef_names)


def test_interaction_values(grid):
    d = materialize("y ~ f*x", grid)
    X = d.X
    col = d.fixef_names.index("fc:x")
    np.testing.assert_allclose(X[:, col], (grid.f == "c") * grid.x)
    assert d.fixef_terms == ["(Intercept)", "f", "f", "f", "x", "f:x", "f:x", "f:x"]


def test_terms_ordered_by_degree(grid):
    d = materialize("y ~ f:g + x + e", grid)
    assert d.fixef_names[:4] == ["(Intercept)", "x", "ev", "fa:gp"]
    assert next(t for t in d.fixef_terms if ":" in t) == "f:g"


def test_arithmetic_values(grid):
    d = materialize("y ~ I(x^2) + log(z) + abs2(x) + log10(z) + log2(z) + exp(x)", grid)
    X = d.X
    np.testing.assert_allclose(X[:, 1], grid.x ** 2)
    np.testing.assert_allclose(X[:, 2], np.log(grid.z))
    np.testing.assert_allclose(X[:, 3], grid.x ** 2)
    np.testing.assert_allclose(X[:, 4], np.log10(grid.z))
    np.testing.assert_allclose(X[:, 5], np.log2(grid.z))
    np.testing.assert_allclose(X[:, 6], np.exp(grid.x))


def test_scale_and_center_like_r():
    df = pd.DataFrame({"y": [1.0, 2, 3, 4, 5], "x": [1.0, 2, 4, 8, np.nan],
                       "w": [1.0, 2, 3, np.nan, 5]})
    d = materialize("y ~ scale(x) + center(x)", df)
    x = np.array([1.0, 2, 4, 8])
    np.testing.assert_allclose(d.X[:, 1], (x - x.mean()) / x.std(ddof=1))
    np.testing.assert_allclose(d.X[:, 2], x - x.mean())
    # as in R's model.frame, scale() uses the whole column, before rows are dropped for w
    d = materialize("y ~ scale(x) + w", df)
    np.testing.assert_allclose(d.X[:, 1], ((x - x.mean()) / x.std(ddof=1))[[0, 1, 2]])


# ----------------------------------------------------------------------------- datasets
@needs_data
def test_sleepstudy():
    df = datasets.load("sleepstudy")
    d = materialize("reaction ~ 1 + days + (1 + days | subj)", df)
    assert isinstance(d, Design) and d.nobs == 180
    assert d.fixef_names == ["(Intercept)", "days"]
    np.testing.assert_array_equal(d.X[:, 1], df["days"].to_numpy(float))
    np.testing.assert_array_equal(d.y, df["reaction"].to_numpy(float))
    (re,) = d.reterms
    assert isinstance(re, ReTerm)
    assert (re.group, re.nlevels, re.names) == ("subj", 18, ["(Intercept)", "days"])
    assert re.levels[:3] == ["S308", "S309", "S310"]
    assert re.z.shape == (2, 180) and re.refs.dtype == np.int32
    np.testing.assert_array_equal(re.theta_mask, [[True, False], [True, True]])
    assert re.ntheta == 3 and re.q == 36
    assert d.response_levels is None and d.trials is None and d.offset is None
    assert d.n_dropped == 0 and list(d.rows) == list(range(180))


@needs_data
def test_sleepstudy_factor_days_lhs():
    d = materialize("reaction ~ 1 + days + (1 + factor(days) | subj)",
                    datasets.load("sleepstudy"))
    re = d.reterms[0]
    assert re.names == ["(Intercept)"] + [f"factor(days){k}" for k in range(1, 10)]
    assert re.theta_mask.sum() == 55
    assert re.z.sum() == 342


@needs_data
def test_insteval_service_dept():
    df = datasets.load("insteval")
    t0 = time.perf_counter()
    d = materialize("y ~ 1 + service*dept + (1|s) + (1|d) + (1|dept:service)", df)
    assert time.perf_counter() - t0 < 5
    depts = ["D02", "D03", "D04", "D05", "D06", "D07", "D08", "D09", "D10", "D11", "D12",
             "D14", "D15"]
    assert d.fixef_names == (["(Intercept)", "serviceY"] + [f"dept{x}" for x in depts]
                             + [f"serviceY:dept{x}" for x in depts])
    j = d.fixef_names.index("serviceY:deptD02")
    np.testing.assert_array_equal(d.X[:, j], ((df.service == "Y") & (df.dept == "D02")))
    assert [r.group for r in d.reterms] == ["s", "d", "dept:service"]
    assert [r.nlevels for r in d.reterms] == [2972, 1128, 28]
    assert d.reterms[2].levels[:3] == ["D01:N", "D01:Y", "D02:N"]
    assert d.contrasts == {"service": Treatment("N"), "dept": Treatment("D01")}


@needs_data
def test_contra():
    d = materialize("use ~ 1 + age + I(age^2) + livch + urban + (1|dist)",
                    datasets.load("contra"))
    assert d.fixef_names == ["(Intercept)", "age", "I(age^2)", "livch1", "livch2", "livch3+",
                             "urbanY"]
    assert d.response_levels == ["N", "Y"]
    assert d.y.sum() == 759                       # R: sum(use == "Y")
    assert d.factor_levels["livch"] == ["0", "1", "2", "3+"]
    assert d.reterms[0].nlevels == 60


@needs_data
def test_cbpp():
    df = datasets.load("cbpp")
    d = materialize("cbind(incidence, size - incidence) ~ 1 + factor(period) + (1|herd)", df)
    assert d.fixef_names == ["(Intercept)", "factor(period)2", "factor(period)3",
                             "factor(period)4"]
    assert d.response_name == "cbind(incidence, size - incidence)"
    np.testing.assert_allclose(d.trials, df["size"])
    np.testing.assert_allclose(d.y, df["incidence"] / df["size"])
    assert d.reterms[0].levels == [str(i) for i in range(1, 16)]


@needs_data
def test_pastes_nested():
    d = materialize("strength ~ 1 + (1|batch/cask)", datasets.load("pastes"))
    assert [(r.group, r.nlevels) for r in d.reterms] == [("batch", 10), ("batch:cask", 30)]
    assert d.reterms[1].levels[:4] == ["A:a", "A:b", "A:c", "B:a"]


# ----------------------------------------------------------------------------- grouping
def test_numeric_grouping_sorted_numerically():
    df = pd.DataFrame({"y": np.arange(6.0), "herd": [10, 2, 1, 10, 2, 1]})
    re = materialize("y ~ 1 + (1 | herd)", df).reterms[0]
    assert re.levels == ["1", "2", "10"]
    np.testing.assert_array_equal(re.refs, [2, 1, 0, 2, 1, 0])


def test_text_grouping_sorted_as_strings():
    df = pd.DataFrame({"y": np.arange(6.0), "g": ["10", "2", "1", "10", "2", "1"]})
    assert materialize("y ~ (1 | g)", df).reterms[0].levels == ["1", "10", "2"]


def test_categorical_keeps_order_and_drops_unused():
    g = pd.Categorical(["z", "a", "m", "z"], categories=["z", "m", "a", "unused"])
    df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": g})
    assert materialize("y ~ (1 | g)", df).reterms[0].levels == ["z", "m", "a"]
    assert materialize("y ~ g", df).fixef_names == ["(Intercept)", "gm", "ga"]


def test_interaction_grouping(grid):
    re = materialize("y ~ (1 | f:g)", grid).reterms[0]
    assert re.group == "f:g" and re.nlevels == 12
    assert re.levels[:4] == ["a:p", "a:q", "a:r", "b:p"]
    codes = pd.Series(re.levels)[re.refs].to_numpy()
    np.testing.assert_array_equal(codes, (grid.f + ":" + grid.g).to_numpy())


def test_nested_grouping(grid):
    d = materialize("y ~ (1 + x | f/g)", grid)
    assert [(r.group, r.nlevels, r.names) for r in d.reterms] == [
        ("f", 4, ["(Intercept)", "x"]), ("f:g", 12, ["(Intercept)", "x"])]


def test_random_lhs_factors(grid):
    d = materialize("y ~ 1 + x + (0 + f | h)", grid)
    assert d.reterms[0].names == ["fa", "fb", "fc", "fd"]
    d = materialize("y ~ 1 + x + (f | h)", grid)
    assert d.reterms[0].names == ["(Intercept)", "fb", "fc", "fd"]
    d = materialize("y ~ 1 + (1 + fulldummy(f) | h)", grid)
    assert d.reterms[0].names == ["(Intercept)", "fa", "fb", "fc", "fd"]
    np.testing.assert_array_equal(d.reterms[0].z[1:].sum(0), np.ones(len(grid)))


def test_z_values(grid):
    re = materialize("y ~ (1 + x | h)", grid).reterms[0]
    np.testing.assert_array_equal(re.z[0], np.ones(len(grid)))
    np.testing.assert_array_equal(re.z[1], grid.x)
    assert re.z.flags.c_contiguous and re.z.dtype == np.float64


@pytest.mark.parametrize("formula, names, mask", [
    ("y ~ (1 + x | h)", ["(Intercept)", "x"], [[1, 0], [1, 1]]),
    ("y ~ (1 + x || h)", ["(Intercept)", "x"], [[1, 0], [0, 1]]),
    ("y ~ zerocorr(1 + x + z | h)", ["(Intercept)", "x", "z"], np.eye(3)),
    ("y ~ (1 | h) + (0 + x | h)", ["(Intercept)", "x"], [[1, 0], [0, 1]]),
    ("y ~ (1 + x | h) + (0 + z | h)", ["(Intercept)", "x", "z"],
     [[1, 0, 0], [1, 1, 0], [0, 0, 1]]),
    ("y ~ (1 | h) + (0 + x + z | h)", ["(Intercept)", "x", "z"],
     [[1, 0, 0], [0, 1, 0], [0, 1, 1]]),
    ("y ~ (0 + x || h) + (1 + z | h)", ["x", "(Intercept)", "z"],
     [[1, 0, 0], [0, 1, 0], [0, 1, 1]]),
])
def test_theta_masks_and_amalgamation(grid, formula, names, mask):
    d = materialize(formula, grid)
    (re,) = d.reterms
    assert re.names == names
    np.testing.assert_array_equal(re.theta_mask, np.array(mask, dtype=bool))
    assert re.z.shape == (len(names), len(grid))


def test_amalgamation_keeps_first_position(grid):
    d = materialize("y ~ (1 | h) + (1 | g) + (0 + x | h)", grid)
    assert [(r.group, r.names) for r in d.reterms] == [("h", ["(Intercept)", "x"]),
                                                       ("g", ["(Intercept)"])]


def test_duplicate_random_columns(grid):
    text = "y ~ (1 + x | h) + (x | h)"
    with pytest.raises(FormulaError, match="appears twice") as exc:
        materialize(text, grid)
    assert (exc.value.pos, exc.value.end) == (18, 25)


def test_no_random_terms_is_fine(grid):
    d = materialize("y ~ x", grid)
    assert d.reterms == []


# ----------------------------------------------------------------------------- contrasts
def test_contrasts_argument(grid):
    d = materialize("y ~ f + g", grid, contrasts={"f": "sum", "g": ("treatment", "q")})
    assert d.fixef_names == ["(Intercept)", "f1", "f2", "f3", "gp", "gr"]
    assert d.contrasts == {"f": Sum(), "g": Treatment("q")}
    rows = {lv: d.X[(grid.f == lv).to_numpy()][0, 1:4] for lv in "abcd"}
    np.testing.assert_array_equal(np.array([rows[lv] for lv in "abcd"]),
                                  [[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, -1, -1]])
    np.testing.assert_array_equal(d.X[:, 4], grid.g == "p")


def test_contrasts_objects_and_labels(grid):
    d = materialize("y ~ f + factor(k)", grid,
                    contrasts={"f": Helmert(), "factor(k)": Treatment(10)})
    assert d.fixef_names == ["(Intercept)", "f1", "f2", "f3", "factor(k)1", "factor(k)2",
                             "factor(k)3"]
    assert d.contrasts == {"f": Helmert(), "factor(k)": Treatment("10")}
    assert d.factor_levels == {"f": list("abcd"), "factor(k)": ["1", "2", "3", "10"]}


def test_formula_coding_wins(grid):
    d = materialize("y ~ C(f, helmert)", grid, contrasts={"f": "sum"})
    assert d.contrasts == {"C(f, helmert)": Helmert()}
    np.testing.assert_array_equal(d.X[(grid.f == "d").to_numpy()][0, 1:], [0, 0, 3])


def test_reference_level_in_formula(grid):
    d = materialize('y ~ C(k, treatment(10))', grid)
    assert d.fixef_names == ["(Intercept)", "C(k, treatment(10))1", "C(k, treatment(10))2",
                             "C(k, treatment(10))3"]
    with pytest.raises(FormulaError, match="reference level 'x' is not one") as exc:
        materialize('y ~ C(f, treatment("x"))', grid)
    assert (exc.value.pos, exc.value.end) == (19, 22)


def test_reference_level_in_argument(grid):
    with pytest.raises(DataError, match=r"contrasts for 'f'.*reference level 'x'"):
        materialize("y ~ f", grid, contrasts={"f": ("treatment", "x")})
    with pytest.raises(DataError, match="unknown contrast coding"):
        materialize("y ~ f", grid, contrasts={"f": "poly"})


# ----------------------------------------------------------------------------- response
def test_two_level_response_and_success_level():
    df = pd.DataFrame({"r": ["N", "Y", "Y", "N"], "x": [1.0, 2, 3, 4]})
    d = materialize("r ~ x", df)
    assert d.response_levels == ["N", "Y"]
    np.testing.assert_array_equal(d.y, [0, 1, 1, 0])
    d = materialize("r ~ x", df, success_level="N")
    assert d.response_levels == ["Y", "N"]
    np.testing.assert_array_equal(d.y, [1, 0, 0, 1])
    with pytest.raises(DataError, match="success level 'maybe'"):
        materialize("r ~ x", df, success_level="maybe")


def test_bool_response_and_predictor():
    df = pd.DataFrame({"r": [True, False, True, False], "b": [True, True, False, False],
                       "x": [1.0, 2, 3, 4]})
    d = materialize("r ~ b + x", df)
    assert d.response_levels == ["False", "True"]
    np.testing.assert_array_equal(d.y, [1, 0, 1, 0])
    assert d.fixef_names == ["(Intercept)", "bTrue", "x"]
    np.testing.assert_array_equal(d.X[:, 1], df.b)


def test_factor_of_numeric_response():
    df = pd.DataFrame({"r": [0, 1, 1, 0, 1], "x": [1.0, 2, 3, 4, 5]})
    d = materialize("factor(r) ~ x", df)
    assert d.response_levels == ["0", "1"]
    d = materialize("r ~ x", df)
    assert d.response_levels is None
    np.testing.assert_array_equal(d.y, df.r)


def test_response_expression_and_offset():
    df = pd.DataFrame({"y": [1.0, 2, 4, 8], "n": [1.0, 2, 3, 4], "w": [0.5, 0.5, 1, 1]})
    d = materialize("log(y) ~ 1 + offset(log(n)) + offset(w)", df)
    np.testing.assert_allclose(d.y, np.log(df.y))
    np.testing.assert_allclose(d.offset, np.log(df.n) + df.w)
    assert d.response_name == "log(y)"


@pytest.mark.parametrize("frame, formula, fragment", [
    (pd.DataFrame({"r": ["a", "b", "c"], "x": [1.0, 2, 3]}), "r ~ x",
     "response 'r' is not numeric"),
    (pd.DataFrame({"r": pd.Categorical(["a", "b", "c"]), "x": [1.0, 2, 3]}), "r ~ x",
     "response 'r' is categorical with 3 levels"),
    (pd.DataFrame({"r": ["a", "a", "a"], "x": [1.0, 2, 3]}), "r ~ x",
     "response 'r' has the single value 'a'"),
    (pd.DataFrame({"s": [1, 0, 2], "f": [1, 0, 3], "x": [1.0, 2, 3]}),
     "cbind(s, f) ~ x", "1 row has zero trials"),
    (pd.DataFrame({"s": [1, -1, 2], "f": [1, 3, 3], "x": [1.0, 2, 3]}),
     "cbind(s, f) ~ x", "negative count"),
    (pd.DataFrame({"y": [1.0, 0, 3], "x": [1.0, 2, 3]}), "log(y) ~ x",
     "'log(y)' is missing or infinite in 1 of the rows"),
])
def test_response_errors(frame, formula, fragment):
    with pytest.raises(DataError, match=None) as exc:
        materialize(formula, frame)
    assert fragment in str(exc.value)


# ----------------------------------------------------------------------------- rows
def test_missing_values_dropped_and_counted():
    df = pd.DataFrame({
        "y": [1.0, np.nan, 3, 4, 5, 6],
        "x": [1.0, 2, None, 4, 5, 6],
        "g": ["a", "b", "a", None, "b", "a"],
        "unused": [np.nan] * 6,
    })
    d = materialize("y ~ x + (1 | g)", df)
    assert d.n_dropped == 3
    assert d.dropped_by_column == {"y": 1, "x": 1, "g": 1}
    np.testing.assert_array_equal(d.rows, [0, 4, 5])
    np.testing.assert_array_equal(d.y, [1, 5, 6])
    assert d.reterms[0].levels == ["a", "b"]


def test_unused_levels_dropped_after_na():
    df = pd.DataFrame({"y": [1.0, 2, np.nan, 4], "f": ["a", "b", "c", "a"]})
    d = materialize("y ~ f", df)
    assert d.fixef_names == ["(Intercept)", "fb"]
    assert d.factor_levels == {"f": ["a", "b"]}


def test_formula_object_and_zero_columns():
    df = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("abab")})
    d = materialize(parse_formula("y ~ 0 + (1 | g)"), df)
    assert d.X.shape == (4, 0) and d.fixef_names == []


@pytest.mark.parametrize("frame, formula, fragment", [
    (pd.DataFrame({"y": [], "x": []}), "y ~ x", "the table has no rows"),
    (pd.DataFrame({"y": [1.0, np.nan], "x": [np.nan, 2.0]}), "y ~ x",
     "no rows left: every row has a missing value"),
    (pd.DataFrame({"y": [1.0, 2, 3], "x": [1.0, np.inf, -np.inf]}), "y ~ x",
     "column 'x' has 2 infinite values"),
    (pd.DataFrame({"y": [1.0, 2, 3], "g": ["a", "a", "a"]}), "y ~ (1 | g)",
     "grouping factor 'g' has only one level; a random effect needs at least two"),
    (pd.DataFrame({"y": [1.0, 2, 3], "g": ["a", "a", "b"], "h": ["u", "u", "u"]}),
     "y ~ (1 | g) + (1 | h)", "grouping factor 'h' has only one level"),
    (pd.DataFrame({"y": [1.0, 2, 3], "f": ["a", "a", "a"]}), "y ~ f",
     "'f' has only one level ('a')"),
    (pd.DataFrame({"y": [1.0, 2, 3], "x": [-1.0, 2, 3]}), "y ~ sqrt(x)",
     "'sqrt(x)' is missing or infinite in 1 of the rows"),
    (pd.DataFrame({"y": [1.0, 2, 3], "t": pd.to_datetime(["2020-01-01"] * 3)}), "y ~ t",
     "column 't' holds dates"),
])
def test_data_errors(frame, formula, fragment):
    with pytest.raises(DataError) as exc:
        materialize(formula, frame)
    assert fragment in str(exc.value)


@pytest.mark.parametrize("columns, formula, pos, end, message", [
    (["days", "reaction", "subj"], "reaction ~ dayz + (1|subj)", 11, 15,
     "column 'dayz' not found; did you mean 'days'?"),
    (["Days", "dais", "y"], "y ~ days", 4, 8, "column 'days' not found; did you mean 'Days'?"),
    (["days", "y", "subj"], "y ~ days + (1|subjekt)", 14, 21,
     "column 'subjekt' not found; did you mean 'subj'?"),
    (["a", "y"], "y ~ log(qqqq)", 8, 12, "column 'qqqq' not found; the table's columns are "
     "'a', 'y'"),
    (["a", "y"], "y ~ a + (1 | a:`my g`)", 15, 21,
     "column 'my g' not found; the table's columns are 'a', 'y'"),
    (["a", "b"], "yy ~ a", 0, 2, "column 'yy' not found; the table's columns are 'a', 'b'"),
])
def test_unknown_column(columns, formula, pos, end, message):
    df = pd.DataFrame({c: [1.0, 2.0] for c in columns})
    with pytest.raises(FormulaError) as exc:
        materialize(formula, df)
    assert exc.value.message == message
    assert (exc.value.pos, exc.value.end) == (pos, end)


@pytest.mark.parametrize("formula, pos, end, fragment", [
    ("y ~ I(f^2)", 6, 7, "column 'f' is categorical (text), so it cannot be used in arithmetic"),
    ("y ~ (0 + fulldummy(x) | f)", 9, 21, "fulldummy() needs a categorical column"),
])
def test_formula_errors_against_data(grid, formula, pos, end, fragment):
    with pytest.raises(FormulaError) as exc:
        materialize(formula, grid)
    assert fragment in exc.value.message
    assert (exc.value.pos, exc.value.end) == (pos, end)


def test_model_spec_keeps_levels_codings_and_scale_state():
    df = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "x": [1.0, 2, 4, 8, 16, np.nan],
                       "f": list("abcabc"), "h": list("uvuvuv"), "g": list("ppqqrr")})
    d = materialize("y ~ scale(x) + center(x) + C(f, sum) + (1 + h | g)", df)
    x = np.array([1.0, 2, 4, 8, 16])
    assert d.spec.transforms["scale(x)"].center == pytest.approx(x.mean(), rel=1e-15)
    assert d.spec.transforms["scale(x)"].scale == pytest.approx(x.std(ddof=1), rel=1e-15)
    assert d.spec.transforms["center(x)"].scale is None
    # the columns coded as factors in X and in the random-effects term, with their levels
    assert d.spec.levels == {"f": ["a", "b", "c"], "h": ["u", "v"]}
    assert d.spec.contrasts == d.contrasts == {"C(f, sum)": Sum()}
    assert d.spec.formula is d.formula
