"""Hostile input through the app (AppTest): bad files of every format the uploader accepts,
injection attempts in file names, column names, cells and formulas, and two sessions side by
side.

Every case checks four things: the clear message (the words that name the problem), that no
code ran (payloads would create a marker file if anything executed them), that the case ends
within its time limit (``LIMIT`` seconds, enforced by an alarm, and AppTest's own per-run
limit), and that the session's data and fits survive.
"""
from __future__ import annotations

import ast
import io
import json
import pickle
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from gui.files import io as gio
from gui.shell import state as gstate
from gui.views.codegen import all_code
from gui.views.tables import csv_safe

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
LIMIT = 60          # seconds per case, whatever happens inside
RUN_LIMIT = 30      # seconds per script run


@pytest.fixture(autouse=True)
def time_limit():
    """Fail a case that runs longer than ``LIMIT`` seconds instead of hanging the suite."""
    def stop(signum, frame):
        raise TimeoutError(f"the case ran longer than its {LIMIT} s limit")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def marker(tmp_path) -> Path:
    """A file that exists only if some payload was executed."""
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a payload was executed"


class Evil:
    """Unpickling this runs code (it would create the marker file)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


# --------------------------------------------------------------------- helpers
def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=RUN_LIMIT).run()
    assert at.session_state[gstate.DATA_NAME] == "sleepstudy"
    return at


def fitted_app() -> AppTest:
    """sleepstudy loaded and its default model fitted once (fit 1)."""
    at = app()
    at.switch_page("pages/model.py").run()
    at.button(key="w.fit").click().run()
    assert len(at.session_state[gstate.FITS]) == 1, [e.value for e in at.error]
    at.switch_page("pages/data.py").run()
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    return at.file_uploader(key="w.data.upload").set_value((name, data, "application/octet-stream")).run()


def texts(at: AppTest, kind: str = "error") -> str:
    return " | ".join(str(e.value) for e in getattr(at, kind))


def survives(at: AppTest, fits: int = 1) -> None:
    """No traceback; the data and the fits of the session are still there."""
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[gstate.DATA_NAME] == "sleepstudy"
    assert at.session_state[gstate.DATA].shape == (180, 3)
    assert len(at.session_state[gstate.FITS]) == fits


def fails_with(at: AppTest, *words: str) -> None:
    msg = texts(at)
    assert msg, "no error message was shown"
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"g": np.repeat(list("abcdef"), 5), "x": np.tile(np.arange(5.0), 6),
                         "y": rng.normal(size=30).round(3)})


def as_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    bio = io.BytesIO()
    if fmt == "xlsx":
        df.to_excel(bio, index=False)
    elif fmt == "parquet":
        df.to_parquet(bio, index=False)
    elif fmt in ("arrow", "feather"):
        df.to_feather(bio)
    elif fmt in ("sav", "dta"):
        import tempfile

        import pyreadstat

        with tempfile.NamedTemporaryFile(suffix="." + fmt) as tmp:
            (pyreadstat.write_sav if fmt == "sav" else pyreadstat.write_dta)(df, tmp.name)
            return Path(tmp.name).read_bytes()
    else:
        return df.to_csv(index=False, sep="\t" if fmt == "tsv" else ",").encode()
    return bio.getvalue()


# ------------------------------------------------------------------- bad files
FORMATS = ["csv", "tsv", "txt", "xlsx", "parquet", "arrow", "feather", "sav", "dta"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file_of_every_format(fmt):
    at = fitted_app()
    upload(at, f"empty.{fmt}", b"")
    fails_with(at, "empty." + fmt, "is empty")
    survives(at)


@pytest.mark.parametrize("fmt", ["xlsx", "parquet", "arrow", "sav", "dta"])
def test_truncated_binary_file(fmt):
    data = as_bytes(frame(), fmt)
    at = fitted_app()
    upload(at, f"cut.{fmt}", data[: len(data) // 2])
    fails_with(at, f"cut.{fmt}")
    assert "Upload failed" in texts(at) and "previous data are kept" in texts(at)
    survives(at)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "txt"])
def test_binary_junk_named_as_text(fmt):
    junk = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    at = fitted_app()
    upload(at, f"junk.{fmt}", junk)
    fails_with(at, f"junk.{fmt}", "binary")
    survives(at)


def test_csv_content_with_an_excel_extension():
    at = fitted_app()
    upload(at, "table.xlsx", as_bytes(frame(), "csv"))
    fails_with(at, "table.xlsx", "not an Excel workbook", ".csv")
    survives(at)


def test_excel_content_with_a_csv_extension():
    at = fitted_app()
    upload(at, "table.csv", as_bytes(frame(), "xlsx"))
    fails_with(at, "table.csv", "Excel workbook")
    survives(at)


@pytest.mark.parametrize("name", ["model.parquet", "model.feather", "model.csv", "model.xlsx"])
def test_pickle_in_disguise_is_never_unpickled(name, marker):
    at = fitted_app()
    upload(at, name, pickle.dumps(Evil(marker)))
    fails_with(at, name)
    survives(at)


def test_unsupported_extension(marker):
    """The uploader offers only the supported types; a file that gets through anyway is refused."""
    with pytest.raises(gio.UploadError, match=r"'data\.pkl': files of type \.pkl are not supported; use one of \.csv"):
        gio.read_table("data.pkl", pickle.dumps(Evil(marker)))


def test_file_larger_than_the_limit(monkeypatch):
    monkeypatch.setattr(gio, "MAX_BYTES", 4096)
    at = fitted_app()
    upload(at, "big.csv", b"g,y\n" + b"a,1\n" * 5000)
    fails_with(at, "big.csv", "the app reads files up to 4.0 KB")
    survives(at)


def test_too_many_rows_and_columns(monkeypatch):
    monkeypatch.setattr(gio, "MAX_ROWS", 20)
    monkeypatch.setattr(gio, "MAX_COLUMNS", 2)
    at = fitted_app()
    upload(at, "wide.csv", as_bytes(frame(), "csv"))
    fails_with(at, "wide.csv", "3 columns", "at most 2")
    monkeypatch.setattr(gio, "MAX_COLUMNS", 100)
    upload(at, "long.csv", as_bytes(frame(), "csv"))
    fails_with(at, "long.csv", "30 rows", "at most 20")
    survives(at)


@pytest.mark.parametrize("name,data,words", [
    ("dup.csv", b"a,a,b\n1,2,x\n3,4,y\n", ["duplicate column names: a"]),
    ("blank.csv", b",y,g\n1,2,x\n3,4,y\n", ["column without a name"]),
    ("one.csv", b"only\n1\n2\n", ["only one column", "delimiter"]),
    ("header.csv", b"g,y\n", ["no data rows"]),
    ("tick.csv", b"`y,g\n1,a\n2,b\n", ["backtick", "rename"]),
    ("newline.csv", b'"a\nb",g\n1,x\n2,y\n', ["control character", "rename"]),
    ("ragged.csv", b"g,y\n1,2\n3,4,5,6\n", ["same number of fields"]),
])
def test_bad_column_layouts(name, data, words):
    at = fitted_app()
    upload(at, name, data)
    fails_with(at, name, *words)
    survives(at)


def test_duplicate_names_in_an_excel_header():
    df = frame()
    df.columns = ["g", "y", "y"]
    at = fitted_app()
    upload(at, "dup.xlsx", as_bytes(df, "xlsx"))
    fails_with(at, "dup.xlsx", "duplicate column names: y")
    survives(at)


# ------------------------------------------------------- files that must load
@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-8-sig"])
def test_other_text_encodings_load(encoding):
    summer = "\u00e9t\u00e9"
    text = "site,caf\u00e9,y\n" + "".join(f"{summer if i % 2 else 'hiver'},{i},{i * 0.5}\n" for i in range(12))
    at = app()
    upload(at, f"{encoding}.csv", text.encode(encoding))
    assert not at.exception and not at.error, texts(at)
    df = at.session_state[gstate.DATA]
    assert list(df.columns) == ["site", "caf\u00e9", "y"]
    assert set(df["site"].astype(str)) == {"\u00e9t\u00e9", "hiver"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_a_good_file(fmt):
    at = app()
    upload(at, f"good.{fmt}", as_bytes(frame(), fmt))
    assert not at.exception and not at.error, texts(at)
    assert at.session_state[gstate.DATA].shape == (30, 3)
    assert any(f"Loaded 'good.{fmt}'" in s.value for s in at.success)


def test_odd_but_legal_column_names_fit_and_quote():
    df = frame()
    df.columns = ["group id", "(Intercept)", "my score|y"]
    at = app()
    upload(at, "odd.csv", as_bytes(df, "csv"))
    assert not at.error, texts(at)
    spec = at.session_state[gstate.SPEC]
    assert spec.to_formula() == "`my score|y` ~ 1 + (1 | `group id`)"
    at.switch_page("pages/model.py").run()
    at.button(key="w.fit").click().run()
    assert not at.exception and not at.error, texts(at)
    rec = at.session_state[gstate.FITS][-1]
    assert rec.result.nobs == 30 and rec.result.reml


# ------------------------------------------------------------------ injection
EVIL_NAME = 'x.csv"); __import__("pathlib").Path("{m}").touch(); ("x.csv'


def test_injection_in_the_file_name_stays_a_string(marker):
    name = EVIL_NAME.format(m=marker)
    at = app()
    upload(at, name, as_bytes(frame(), "csv"))
    assert at.session_state[gstate.DATA_NAME] == name
    at.switch_page("pages/model.py").run()
    codes = {c.language: c.value for c in at.code if c.language in ("python", "r", "julia")}
    tree = ast.parse(codes["python"])                   # valid Python, and the name is one string
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "read_csv"]
    assert len(calls) == 1 and isinstance(calls[0].args[0], ast.Constant) and calls[0].args[0].value == name
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "__import__"]
    assert 'read.csv("x.csv\\"); __import__(\\"pathlib\\")' in codes["r"]
    assert 'CSV.read("x.csv\\"); __import__(\\"pathlib\\")' in codes["julia"]


def test_injection_in_column_names_is_quoted_in_every_language(marker):
    evil = f'a"); __import__("pathlib").Path("{marker}").touch(); ("'
    df = frame()
    df.columns = ["g", evil, "y"]
    at = app()
    upload(at, "cols.csv", as_bytes(df, "csv"))
    assert not at.error, texts(at)
    at.switch_page("pages/model.py").run()
    at.text_area(key="w.m.formula").input(f"y ~ 1 + `{evil}` + (1 | g)").run()
    assert not at.error, texts(at)
    at.button(key="w.fit").click().run()
    assert not at.exception and not at.error, texts(at)
    res = at.session_state[gstate.FITS][-1].result
    codes = all_code(at.session_state[gstate.SPEC], "cols.csv")
    tree = ast.parse(codes["Python (mm_core)"])
    fit_call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "fit")
    assert isinstance(fit_call.args[0], ast.Constant) and evil in fit_call.args[0].value
    assert f"`{evil}`" in codes["R (lme4)"]                      # R: a backtick-quoted name
    assert 'var"a\\"); __import__(\\"pathlib\\")' in codes["Julia (MixedModels.jl)"]
    assert len(res.fixef) == 2


def test_formula_injection_cells_are_neutralised_in_downloads():
    df = pd.DataFrame({"g": list("abcabc"), "note": ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "ok", "x"],
                       "=HYPERLINK(\"http://evil\")": [1.0, -2.0, 3, 4, 5, 6]})
    at = app()
    upload(at, "cells.csv", as_bytes(df, "csv"))
    assert not at.error, texts(at)
    out = csv_safe(at.session_state[gstate.DATA], index=False).decode()
    lines = out.splitlines()
    assert lines[0].startswith('g,note,"\'=HYPERLINK(')         # the header cell too
    assert "'=cmd|' /C calc'!A0" in out and "'+1+1" in out and "'-2+3" in out and "'@SUM(A1)" in out
    assert ",-2.0" in out                                   # numbers stay numbers


def test_markdown_and_html_in_names_and_cells_are_shown_as_text():
    name = "**bold** [click](http://evil.example) <script>alert(1)</script>.csv"
    df = pd.DataFrame({"<b>g</b>": ["**a**", "[l](http://x)", ":red[r]"] * 4, "y": np.arange(12.0)})
    at = app()
    upload(at, name, as_bytes(df, "csv"))
    assert not at.error, texts(at)
    shown = [str(e.value) for e in at.subheader] + [str(e.value) for e in at.caption] + \
        [str(e.value) for e in at.success] + [str(e.value) for e in at.markdown]
    joined = "\n".join(shown)
    assert "\\*\\*bold\\*\\* \\[click\\](http\\://evil.example) \\<script\\>" in joined
    assert "**bold**" not in joined and "<script>" not in joined and "[click](" not in joined
    at.switch_page("pages/model.py").run()
    joined = "\n".join(str(e.value) for e in at.markdown)
    assert "<b>g</b>" not in joined


# -------------------------------------------------------------------- formulas
BAD_FORMULAS = [
    ('reaction ~ __import__("os").system("touch {m}") + (1 | subj)', ["Formula problem"]),
    ("reaction ~ days + (1 | subj", ["Formula problem at character"]),
    ("   ", ["The formula is empty"]),
    ("reaction ~ days + (1 | subj) **x**", ["Formula problem"]),
    ('eval("1") ~ 1 + (1 | subj)', ["Formula problem", "eval"]),
    ("reaction ~ days + (1 | subj); import os", ["Formula problem"]),
    ("reaction ~ " + "(" * 400 + "days" + ")" * 400 + " + (1 | subj)", ["Formula problem"]),
    ("reaction ~ " + " + ".join(["days"] * 3000) + " + (1 | subj)", []),
]


@pytest.mark.parametrize("text,words", BAD_FORMULAS, ids=[f"f{i}" for i in range(len(BAD_FORMULAS))])
def test_bad_formula_typed_in_the_box(text, words, marker):
    at = fitted_app()
    at.switch_page("pages/model.py").run()
    before = at.session_state[gstate.SPEC].to_formula()
    at.text_area(key="w.m.formula").input(text.format(m=marker)).run()
    assert not at.exception, [e.value for e in at.exception]
    if words:
        fails_with(at, *words)
        assert at.session_state[gstate.SPEC].to_formula() == before     # the last valid model stays
        assert at.button(key="w.fit").disabled
    survives(at)


def test_unknown_column_is_named_and_the_fit_list_is_kept():
    at = fitted_app()
    at.switch_page("pages/model.py").run()
    at.text_area(key="w.m.formula").input("reaction ~ days + nosuch + (1 | subj)").run()
    at.button(key="w.fit").click().run()
    fails_with(at, "nosuch")
    survives(at)


# ---------------------------------------------------------- the model built
def test_a_changed_response_re_derives_the_family():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"subject": np.repeat([f"s{i}" for i in range(12)], 4), "time": np.tile(np.arange(4.0), 12),
                       "score": rng.normal(50, 5, 48).round(2), "errors": rng.poisson(2, 48)})
    at = app()
    upload(at, "trial.csv", as_bytes(df, "csv"))
    assert at.session_state[gstate.SPEC].family == "poisson"           # counts: a Poisson model
    at.switch_page("pages/model.py").run()
    at.text_area(key="w.m.formula").input("score ~ 1 + time + (1 + time | subject)").run()
    spec = at.session_state[gstate.SPEC]
    assert (spec.family, spec.effective_link, spec.reml) == ("gaussian", "identity", True)
    assert "the family is now gaussian" in texts(at, "info")
    assert at.button(key="w.fit").label == "Fit Gaussian LMM (REML)"
    at.button(key="w.fit").click().run()
    res = at.session_state[gstate.FITS][-1].result
    assert res.family == "gaussian" and res.reml


def test_a_family_that_does_not_suit_the_response_cannot_be_fitted():
    at = app()
    spec = at.session_state[gstate.SPEC].with_(family="poisson")
    gstate.prime(at.session_state, data=at.session_state[gstate.DATA], name="sleepstudy", spec=spec)
    at.switch_page("pages/model.py").run()
    assert at.button(key="w.fit").disabled
    message = "poisson family does not suit the response reaction, which is continuous and positive"
    assert message in texts(at, "caption")


def test_reml_is_the_default_and_ml_one_click_away():
    at = app()
    at.switch_page("pages/model.py").run()
    assert at.toggle(key="w.m.reml").value is True
    assert at.button(key="w.fit").label == "Fit Gaussian LMM (REML)"
    at.toggle(key="w.m.reml").set_value(False).run()
    assert at.button(key="w.fit").label == "Fit Gaussian LMM (ML)"
    at.button(key="w.fit").click().run()
    assert at.session_state[gstate.FITS][-1].result.reml is False


def test_add_random_effects_adds_each_group_once():
    at = app()
    at.selectbox(key="w.data.dataset").set_value("contra").run()
    at.button(key="w.data.load").click().run()
    at.switch_page("pages/model.py").run()
    at.button(key="w.clear_model").click().run()
    box = next(w for w in at.selectbox if w.label == "Add random effects for")
    stale = box.key
    box.set_value("dist").run()
    at.multiselect(key="w.m.re0.slopes").set_value(["urban"]).run()
    assert at.session_state[gstate.SPEC].to_formula() == "use ~ 1 + (1 + urban | dist)"
    box = next(w for w in at.selectbox if w.label == "Add random effects for")
    assert box.key != stale and box.value is None and "dist" not in box.options
    at.toggle(key="w.m.fast").set_value(True).run()
    assert at.session_state[gstate.SPEC].to_formula() == "use ~ 1 + (1 + urban | dist)"


def test_treat_as_categorical_survives_a_page_visit():
    df = frame()
    df["g"] = np.repeat(np.arange(1, 7), 5)                     # numeric codes
    at = app()
    upload(at, "codes.csv", as_bytes(df, "csv"))
    at.multiselect(key="w.data.categorical").set_value(["g"]).run()
    at.switch_page("pages/model.py").run()
    at.switch_page("pages/data.py").run()
    assert at.multiselect(key="w.data.categorical").value == ["g"]
    at.multiselect(key="w.data.categorical").set_value(["g", "x"]).run()
    data = at.session_state[gstate.DATA]
    assert isinstance(data["g"].dtype, pd.CategoricalDtype) and isinstance(data["x"].dtype, pd.CategoricalDtype)


# ------------------------------------------------------------ session isolation
def test_two_sessions_do_not_see_each_others_data_or_fits():
    a, b = app(), app()
    upload(a, "private.csv", as_bytes(frame(), "csv"))
    a.switch_page("pages/model.py").run()
    a.button(key="w.fit").click().run()
    assert a.session_state[gstate.DATA_NAME] == "private.csv" and len(a.session_state[gstate.FITS]) == 1
    b.run()
    survives(b, fits=0)
    b.switch_page("pages/compare.py").run()
    assert "private" not in " ".join(str(e.value) for e in b.selectbox) + texts(b, "markdown")


def test_two_sessions_keep_their_own_cached_results():
    """Both sessions have a fit 1 of the same data, of different models:
    each Summary shows its own R², so no cached result crossed over."""
    a, b = app(), app()
    for at, formula in ((a, "reaction ~ 1 + days + (1 + days | subj)"), (b, "reaction ~ 1 + (1 | subj)")):
        at.switch_page("pages/model.py").run()
        at.text_area(key="w.m.formula").input(formula).run()
        at.button(key="w.fit").click().run()
        assert at.session_state[gstate.FITS][-1].id == 1
    assert a.session_state[gstate.DATA_KEY] == b.session_state[gstate.DATA_KEY]
    assert a.session_state[gstate.FITS][0].key != b.session_state[gstate.FITS][0].key
    r2 = {}
    for name, at in (("a", a), ("b", b)):
        at.switch_page("pages/summary.py").run()
        assert not at.exception
        r2[name] = next(m.value for m in at.metric if m.label == "Marginal R²")
    assert r2["b"] == "0.000" and r2["a"] != r2["b"]


# ------------------------------------------------------------------- Compare
def fit_formula(at: AppTest, formula: str, *, reml: bool = True) -> None:
    at.switch_page("pages/model.py").run()
    at.text_area(key="w.m.formula").input(formula).run()
    if at.toggle(key="w.m.reml").value != reml:
        at.toggle(key="w.m.reml").set_value(reml).run()
    n = len(at.session_state[gstate.FITS])
    at.button(key="w.fit").click().run()
    assert len(at.session_state[gstate.FITS]) == n + 1, texts(at)


def lrt_tables(at: AppTest) -> list:
    return [d for d in at.dataframe if "chisq" in [str(c).lower() for c in d.value.columns]]


def test_ml_and_reml_of_one_formula_get_the_advice_to_refit_with_ml():
    at = app()
    fit_formula(at, "reaction ~ 1 + days + (1 | subj)", reml=True)
    fit_formula(at, "reaction ~ 1 + days + (1 | subj)", reml=False)
    at.switch_page("pages/compare.py").run()
    assert not at.exception and not at.error, texts(at)
    info = texts(at, "info")
    assert "same model, fitted once by REML and once by ML" in info and "fit each of them with ML" in info
    assert "compare AIC" not in info and not lrt_tables(at)
    assert "REML criteria compare only REML fits" in texts(at, "warning")     # the IC chart's caveat


def test_a_test_that_needs_ml_refits_waits_for_a_click():
    at = app()
    fit_formula(at, "reaction ~ 1 + (1 | subj)")
    fit_formula(at, "reaction ~ 1 + days + (1 | subj)")
    at.switch_page("pages/compare.py").run()
    assert not lrt_tables(at) and "refitted by ML first" in texts(at, "info")
    at.button(key="w.cmp.refit").click().run()
    assert not at.exception and not at.error, texts(at)
    (table,) = lrt_tables(at)
    assert float(table.value["chisq"].iloc[1]) > 100                # days matters a lot
    assert "REML fits were refitted by maximum likelihood" in texts(at, "warning")


def test_information_criteria_of_different_responses_or_rows_are_flagged():
    at = app()
    fit_formula(at, "reaction ~ 1 + days + (1 | subj)", reml=False)
    fit_formula(at, "log(reaction) ~ 1 + days + (1 | subj)", reml=False)
    at.switch_page("pages/compare.py").run()
    warn = texts(at, "warning")
    assert "AIC and BIC compare only fits of the same response to the same rows" in warn
    assert "response log(reaction)" in warn
    assert "different responses" in texts(at, "info") and not lrt_tables(at)


# ----------------------------------------------------------------- bootstrap
@pytest.mark.slow
def test_bootstrap_of_a_slow_glmm_moves_at_once_and_cancels_keeping_replicates():
    """contra with a random slope refits at about one replicate a second: the bar moves from the
    first replicates, and Cancel ends the run keeping the finished ones."""
    from gui import engine
    from gui.background import workers
    from gui.files.io import frame_hash
    from gui.spec.model_spec import ModelSpec
    from mm_core import datasets

    workers.warm_up()
    data = datasets.load("contra")
    spec = ModelSpec.from_text("use ~ 1 + age + urban + (1 + urban | dist)")
    spec.family = "binomial"
    res = engine.fit(spec.to_formula(), data, **spec.fit_kwargs())
    rec = gstate.FitRecord(id=1, spec=spec, formula=spec.to_formula(), data_name="contra", data_key=frame_hash(data),
                           data=data, result=res, seconds=1.0)
    at = AppTest.from_file(APP, default_timeout=RUN_LIMIT)
    gstate.prime(at.session_state, data=data, name="contra", spec=spec, fits=[rec])
    at.run()
    at.switch_page("pages/bootstrap.py").run()
    at.button(key="w.boot.run").click().run()
    job = at.session_state[gstate.JOB]
    assert job is not None and job.total == 200
    while job.running and job.snapshot().get("done", 0) < 2:      # the bar moves from the first replicates
        job.wait(0.1)
    done = job.snapshot()["done"]
    assert 2 <= done < 200
    job.cancel()                                                   # what the Cancel button does
    job.wait(30)
    assert not job.running
    at.run()
    assert not at.exception and not at.error, texts(at)
    boot = at.session_state[gstate.BOOTS][1]
    kept = boot.result.n
    assert boot.result.cancelled and done <= kept < 200
    assert f"cancelled: {kept} of 200 replicates were kept" in texts(at, "warning")
    assert len(at.session_state[gstate.FITS]) == 1


# ----------------------------------------------------------- presentation mode
def test_presentation_mode_enlarges_type_and_charts():
    at = app()
    at.switch_page("pages/explore.py").run()
    size = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"].get("font", {}).get("size")
    at.toggle(key=gstate.widget_key("presentation")).set_value(True).run()
    assert not at.exception and not at.error, texts(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert spec["font"]["size"] >= 1.5 * (size or 12)
    at.switch_page("pages/data.py").run()                       # the choice holds on every page
    assert at.toggle(key=gstate.widget_key("presentation")).value is True
    assert any("font-size: 21px" in str(h.proto) for h in at.get("html"))


# ------------------------------------------------------------ generated code
def test_generated_python_code_reproduces_the_apps_coefficients(tmp_path, monkeypatch):
    """Numeric subject codes marked categorical and a non-default reference level: the Python
    code of the Model page, run on the uploaded file, gives the app's coefficients."""
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"subject": np.repeat(np.arange(101, 113), 6), "dose": np.tile(["high", "low", "mid"], 24),
                       "t": np.tile(np.arange(6.0), 12)})
    df["y"] = (10 + 2 * (df["dose"] == "low") - 1.5 * (df["dose"] == "mid") + 0.3 * df["t"]
               + np.repeat(rng.normal(0, 1, 12), 6) + rng.normal(0, 0.5, len(df))).round(4)
    name = "dose study.csv"
    (tmp_path / name).write_bytes(as_bytes(df, "csv"))
    at = app()
    upload(at, name, as_bytes(df, "csv"))
    at.multiselect(key="w.data.categorical").set_value(["subject", "dose"]).run()
    at.selectbox(key="w.data.ref_factor").set_value("dose").run()
    at.selectbox(key="w.data.ref_level").set_value("mid").run()
    at.switch_page("pages/model.py").run()
    at.text_area(key="w.m.formula").input("y ~ 1 + dose + t + (1 | subject)").run()
    at.button(key="w.fit").click().run()
    assert not at.error, texts(at)
    app_fixef = at.session_state[gstate.FITS][-1].result.fixef
    assert list(app_fixef.index) == ["(Intercept)", "dosehigh", "doselow", "t"]     # reference: mid
    code = next(c.value for c in at.code if c.language == "python")
    assert 'factor("dose", "mid")' in code and 'factor("subject", codes=True)' in code
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code.replace("result.ranef", "None"), "generated.py", "exec"), scope)
    fixef = scope["result"].fixef
    assert list(fixef.index) == list(app_fixef.index)
    np.testing.assert_allclose(fixef.to_numpy(), app_fixef.to_numpy(), rtol=1e-6)
    r_code = next(c.value for c in at.code if c.language == "r")
    assert 'data[["dose"]] <- relevel(factor(data[["dose"]]), ref = "mid")' in r_code
    jl = next(c.value for c in at.code if c.language == "julia")
    assert 'data[!, "dose"] = categorical(data[!, "dose"]; levels = ["mid", "high", "low"])' in jl


def test_links_in_level_names_are_not_live_in_charts():
    df = pd.DataFrame({"g": np.repeat(['<a href="http://evil.example">click</a>', "b", "c"], 6),
                       "y": np.arange(18.0), "x": np.tile(np.arange(6.0), 3)})
    at = app()
    upload(at, "links.csv", as_bytes(df, "csv"))
    at.switch_page("pages/explore.py").run()
    assert not at.exception and not at.error, texts(at)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert specs and any("&lt;a href" in s for s in specs)
    assert not any(re.search(r"<a\s", json.loads(s).__repr__()) for s in specs)


def test_bombs_are_refused_before_they_unpack(monkeypatch):
    """An Excel zip whose contents unpack beyond the limit, and a Parquet file whose footer
    declares more rows than the app accepts, are refused from their headers."""
    monkeypatch.setattr(gio, "MAX_UNPACKED", 2048)
    at = fitted_app()
    upload(at, "bomb.xlsx", as_bytes(frame(), "xlsx"))
    fails_with(at, "bomb.xlsx", "unpacks to", "more than the 2.0 KB")
    monkeypatch.setattr(gio, "MAX_ROWS", 10)
    upload(at, "rows.parquet", as_bytes(frame(), "parquet"))
    fails_with(at, "rows.parquet", "30 rows", "at most 10 rows")
    survives(at)
