"""Contrast codings equal R's contr.treatment / contr.sum / contr.helmert."""
from __future__ import annotations

import numpy as np
import pytest

from mm_core.contrasts import Helmert, Sum, Treatment, as_coding, contr_helmert, contr_sum, contr_treatment, level_label
from mm_core.errors import DataError

# printed by R 4.x: contr.helmert(5), contr.sum(4), contr.treatment(4, base = 2)
R_HELMERT_5 = [[-1, -1, -1, -1], [1, -1, -1, -1], [0, 2, -1, -1], [0, 0, 3, -1], [0, 0, 0, 4]]
R_SUM_4 = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, -1, -1]]
R_TREATMENT_4_BASE2 = [[1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize("got, expected", [
    (contr_helmert(5), R_HELMERT_5),
    (contr_helmert(2), [[-1], [1]]),
    (contr_helmert(3), [[-1, -1], [1, -1], [0, 2]]),
    (contr_sum(4), R_SUM_4),
    (contr_sum(2), [[1], [-1]]),
    (contr_treatment(4, 1), R_TREATMENT_4_BASE2),
    (contr_treatment(3), [[0, 0], [1, 0], [0, 1]]),
])
def test_matrices_equal_r(got, expected):
    np.testing.assert_array_equal(got, np.array(expected, dtype=float))


@pytest.mark.parametrize("coding, levels, matrix, names", [
    (Treatment(), ["a", "b", "c"], [[0, 0], [1, 0], [0, 1]], ["b", "c"]),
    (Treatment("b"), ["a", "b", "c"], [[1, 0], [0, 0], [0, 1]], ["a", "c"]),
    (Treatment("3+"), ["0", "1", "2", "3+"], [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]],
     ["0", "1", "2"]),
    (Sum(), ["a", "b", "c"], [[1, 0], [0, 1], [-1, -1]], ["1", "2"]),
    (Helmert(), ["a", "b", "c"], [[-1, -1], [1, -1], [0, 2]], ["1", "2"]),
])
def test_coding_matrix_and_names(coding, levels, matrix, names):
    m, n = coding.matrix(levels)
    np.testing.assert_array_equal(m, np.array(matrix, dtype=float))
    assert n == names


def test_sum_and_helmert_columns_sum_to_zero():
    for k in range(2, 8):
        assert np.allclose(contr_sum(k).sum(0), 0)
        assert np.allclose(contr_helmert(k).sum(0), 0)
        h = contr_helmert(k)
        assert np.allclose(h.T @ h, np.diag(np.diag(h.T @ h)))   # Helmert columns orthogonal


def test_treatment_resolve():
    assert Treatment().resolve(["x", "y"]) == Treatment("x")
    assert Treatment(2).resolve(["1", "2"]) == Treatment("2")
    assert Treatment(2.0).resolve(["1", "2"]) == Treatment("2")
    with pytest.raises(DataError, match="reference level 'z' is not one of the levels"):
        Treatment("z").resolve(["x", "y"])


@pytest.mark.parametrize("spec, expected", [
    ("treatment", Treatment()),
    ("contr.treatment", Treatment()),
    ("sum", Sum()),
    ("contr.sum", Sum()),
    ("Helmert", Helmert()),
    ("contr.helmert", Helmert()),
    (("treatment", "B"), Treatment("B")),
    ({"coding": "treatment", "reference": "B"}, Treatment("B")),
    ({"coding": "sum"}, Sum()),
    (Treatment("B"), Treatment("B")),
    (Sum(), Sum()),
])
def test_as_coding(spec, expected):
    assert as_coding(spec) == expected


@pytest.mark.parametrize("spec", ["poly", 3, ("sum", "B"), ("foo", "B"), None])
def test_as_coding_rejects(spec):
    with pytest.raises(ValueError):
        as_coding(spec)


@pytest.mark.parametrize("value, label", [
    ("a", "a"), (2, "2"), (2.0, "2"), (2.5, "2.5"), (True, "True"), (np.int64(7), "7"),
    (1e5, "1e+05"), (np.float64(0.1), "0.1"),
])
def test_level_label(value, label):
    assert level_label(value) == label


def test_str():
    assert str(Treatment()) == "treatment"
    assert str(Treatment("B")) == "treatment (reference B)"
    assert str(Sum()) == "sum" and str(Helmert()) == "helmert"
