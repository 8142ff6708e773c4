"""Uploads in every supported format, and what the app reads from the data before fitting."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from gui.files.io import UploadError, read_table
from gui.spec.data_design import (
    apply_column_types,
    column_table,
    default_spec,
    design_summary,
    families_for,
    grouping_candidates,
    relation,
    response_kind,
    response_kind_of_text,
    term_candidates,
)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return pd.DataFrame({"g": list("aabbcc"), "x": [1.0, 2, 3, 4, 5, 6], "y": [2.0, 3, 5, 4, 7, 9],
                         "n": [1, 0, 1, 1, 0, 1]})


def _bytes(df: pd.DataFrame, kind: str, tmp_path) -> bytes:
    if kind == "csv":
        return df.to_csv(index=False).encode()
    if kind == "tsv":
        return df.to_csv(index=False, sep="\t").encode()
    if kind == "xlsx":
        buf = io.BytesIO()
        df.to_excel(buf, index=False)
        return buf.getvalue()
    if kind == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf)
        return buf.getvalue()
    if kind == "feather":
        buf = io.BytesIO()
        df.to_feather(buf)
        return buf.getvalue()
    import pyreadstat

    path = tmp_path / f"d.{kind}"
    (pyreadstat.write_sav if kind == "sav" else pyreadstat.write_dta)(df, str(path))
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["csv", "tsv", "xlsx", "parquet", "feather", "sav", "dta"])
def test_every_upload_format(kind, small, tmp_path):
    df = read_table(f"data.{kind}", _bytes(small, kind, tmp_path))
    assert list(df.columns) == ["g", "x", "y", "n"]
    assert isinstance(df["g"].dtype, pd.CategoricalDtype)          # text -> categorical
    np.testing.assert_allclose(df["y"].astype(float), small["y"])


def test_semicolon_csv_is_sniffed():
    df = read_table("d.csv", b"g;y\na;1,5\nb;2\n")
    assert list(df.columns) == ["g", "y"]


@pytest.mark.parametrize("name,data,words", [
    ("empty.csv", b"", "empty"),
    ("one.csv", b"y\n1\n2\n", "only one column"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n", "same number of fields"),
    ("dup.csv", b"a,a\n1,2\n", "duplicate column"),
    ("bad.xlsx", b"not a workbook", "Excel"),
    ("bad.parquet", b"nope", "Parquet"),
    ("bad.sav", b"nope", "SPSS"),
    ("data.json", b"{}", "not supported"),
    ("bin.csv", b"\x00\x01\x02,\x00\n\x00,\x01", "binary"),
])
def test_bad_uploads_say_what_is_wrong(name, data, words):
    with pytest.raises(UploadError) as e:
        read_table(name, data)
    assert words.lower() in str(e.value).lower()
    assert name in str(e.value) or words in ("same number of fields", "binary")


def test_column_kinds_and_families(sleepstudy):
    assert response_kind(sleepstudy["reaction"]) == "positive"
    assert families_for("positive")[0] == "gaussian"
    assert response_kind(pd.Series(pd.Categorical(["Y", "N", "Y"]))) == "binary"
    assert families_for("binary") == ["binomial"]
    assert response_kind(pd.Series([0, 3, 1, 7])) == "count" and families_for("count")[0] == "poisson"
    ct = column_table(sleepstudy)
    assert list(ct["column"]) == ["subj", "days", "reaction"]
    assert ct.set_index("column").loc["subj", "type"] == "categorical"
    assert ct.set_index("column").loc["subj", "reference level"] == "S308"


def test_column_types_and_reference_level(sleepstudy):
    out = apply_column_types(sleepstudy, {"days": "categorical"}, {"days": "3"})
    assert isinstance(out["days"].dtype, pd.CategoricalDtype)
    assert list(out["days"].cat.categories)[:2] == ["3", "0"]
    back = apply_column_types(out, {"days": "numeric"}, {})
    assert back["days"].dtype.kind == "f"
    with pytest.raises(ValueError, match="subj"):
        apply_column_types(sleepstudy, {"subj": "numeric"}, {})


def test_candidates_and_default_models(sleepstudy):
    spec = default_spec(sleepstudy, "sleepstudy")
    assert spec.to_formula() == "reaction ~ 1 + days + (1 + days | subj)"
    assert "factor(days)" in term_candidates(sleepstudy, spec)
    assert "subj" in grouping_candidates(sleepstudy, spec)
    upl = default_spec(sleepstudy.rename(columns={"subj": "who"}))
    assert upl.random[0].group == "who" and upl.response == "reaction"


def test_nesting_and_crossing():
    from mm_core import datasets

    pastes = datasets.load("pastes")
    assert relation(pastes, "batch", "batch:cask") == "batch:cask nested in batch"
    pen = datasets.load("penicillin")
    assert relation(pen, "plate", "sample") == "crossed"
    ins = datasets.load("insteval")
    assert relation(ins, "s", "d") == "partially crossed"
    spec = default_spec(pen, "penicillin")
    ds = design_summary(pen, spec)
    assert list(ds["groups"]["levels"]) == [24, 6]
    assert ds["relations"]["relation"].tolist() == ["crossed"]


def test_within_group_variation_tells_which_slopes_are_estimable():
    from mm_core import datasets

    cbpp = datasets.load("cbpp")
    spec = default_spec(cbpp, "cbpp")
    within = design_summary(cbpp, spec)["within"].set_index("variable")
    assert within.loc["period", "random slope"] == "estimable"
    assert within.loc["size", "random slope"] == "estimable"
    d = pd.DataFrame({"g": list("aabb"), "between": [1, 1, 2, 2], "y": [1.0, 2, 3, 4]})
    spec.random[0].group = "g"
    spec.response = "y"
    w = design_summary(d, spec)["within"].set_index("variable")
    assert w.loc["between", "random slope"].startswith("not estimable")


def test_the_response_kind_reads_the_response_with_the_engines_parser():
    d = pd.DataFrame({"my y": [0, 1, 1], "c": [1.5, 2.0, 3.0], "a`b": [1, 2, 3]})
    assert response_kind_of_text("`my y`", d) == "binary" and response_kind_of_text("c", d) == "positive"
    assert response_kind_of_text("`a\\`b`", d) == "count"
    assert response_kind_of_text("cbind(s, n - s)", d) == "proportion"
    assert response_kind_of_text("log(c)", d) == response_kind_of_text("c +", d) == "continuous"
