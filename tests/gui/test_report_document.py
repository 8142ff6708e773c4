"""The report (HTML and Word), its fixed-effects tests, and the results written back into the data."""
from __future__ import annotations

import io
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import mm_core
from gui import engine, report_document as rd, report_figures, tables
from gui.augmented_data import augmented_data, neutralise, to_bytes
from gui.fixef_table import fixef_table
from gui.state import BootRecord, FitRecord


class Tables(HTMLParser):
    """Every <table> of an HTML page as a list of rows of cell texts, and all paragraph texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.paragraphs: list[str] = []
        self.images = 0
        self._cell: list[str] | None = None
        self._p: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "p":
            self._p = []
        elif tag == "img" and dict(attrs).get("src", "").startswith("data:image/png;base64,"):
            self.images += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "p" and self._p is not None:
            self.paragraphs.append("".join(self._p))
            self._p = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._p is not None:
            self._p.append(data)


def parse_html(text: str) -> Tables:
    p = Tables()
    p.feed(text)
    return p


@pytest.fixture(scope="module")
def boot(lmm_record):
    return BootRecord(lmm_record.id, 30, 3, engine.parametric_bootstrap(lmm_record.result, 30, seed=3), 0.2)


@pytest.fixture(scope="module")
def glmm2(glmm_record):
    return FitRecord(**{**glmm_record.__dict__, "id": 2})


@pytest.fixture(scope="module")
def report(lmm_record, glmm2, boot):
    return rd.build([lmm_record, glmm2], {1: boot}, figures=(report_figures.CATERPILLAR,),
                    comparison=tables.compare_table([lmm_record, glmm2]),
                    render=lambda figs: [tiny_png() for _ in figs])


def tiny_png() -> bytes:
    """A valid 2 × 2 grey PNG (the figures' stand-in where Kaleido is not the subject)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80\x80" for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def fixef_rows(table: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row for row in table[1:]}


def test_html_has_the_fixed_effects_table_with_the_pages_numbers(report, lmm_record):
    page = parse_html(rd.to_html(report))
    fixed = [t for t in page.tables if t and t[0][:6] == ["Term", "Estimate", "SE", "df", "z", "p"]]
    assert len(fixed) == 2                                   # one per fit
    rows = fixef_rows(fixed[0])
    ct = lmm_record.result.coeftable                          # the Summary page's numbers
    # lme4: fixef(fm1) 251.405, 10.467; sqrt(diag(vcov)) 6.632, 1.502 (ML)
    assert rows["(Intercept)"][1] == tables.fmt_num(ct.loc["(Intercept)", "estimate"], 5) == "251.41"
    assert rows["days"][2] == tables.fmt_num(ct.loc["days", "std_error"], 4) == "1.502"
    assert rows["days"][4] == f"{ct.loc['days', 'z_value']:.2f}" and rows["days"][5] == "< .001"
    assert rows["days"][6] == f"[{tables.fmt_num(ct.loc['days', 'ci_lower'], 5)}, " \
                              f"{tables.fmt_num(ct.loc['days', 'ci_upper'], 5)}]"
    assert page.images == 2                                  # one caterpillar per fit (one grouping factor each)


def test_html_has_methods_data_variance_and_bootstrap(report):
    text = rd.to_html(report)
    page = parse_html(text)
    methods = [p for p in page.paragraphs if p.startswith("Fit 1 is a linear mixed model")]
    assert methods and "maximum likelihood (ML)" in methods[0] and "BOBYQA" in methods[0]
    assert "Wald z tests" in methods[0] and "18 levels of subj" in methods[0] and "not singular" in methods[0]
    glmm = next(p for p in page.paragraphs if p.startswith("Fit 2 is a generalized linear mixed model"))
    assert "Laplace approximation" in glmm and "treatment coding, reference level '1'" in glmm
    data = next(t for t in page.tables if t[0][0] == "Fit" and "Rows dropped" in t[0])
    assert data[1][2] == "180" and data[1][3] == "0" and data[1][4].startswith("subj: 18 levels")
    vc = next(t for t in page.tables if t[0][:4] == ["Group", "Name", "Variance", "Std. Dev."])
    assert vc[-1][0] == "Residual" and vc[-1][3] == "25.592"                     # lme4: sigma(fm1) 25.5918
    assert any(t[0][0] == "Parameter" and "Shortest 95% interval" in t[0] for t in page.tables)
    assert "library(lme4)" in text and "fit(MixedModel" in text and "mm_core.fit(" in text
    assert "<script" not in text.lower()


def test_user_text_is_escaped(lmm_record):
    evil = FitRecord(**{**lmm_record.__dict__, "data_name": "<script>alert(1)</script>"})
    text = rd.to_html(rd.build([evil]))
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_docx_has_the_same_tables_and_paragraph(report, lmm_record):
    from docx import Document

    doc = Document(io.BytesIO(rd.to_docx(report)))
    grids = [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]
    fixed = [g for g in grids if g[0][:6] == ["Term", "Estimate", "SE", "df", "z", "p"]]
    assert len(fixed) == 2 and fixef_rows(fixed[0])["(Intercept)"][1] == "251.41"
    paras = [p.text for p in doc.paragraphs]
    assert any(p.startswith("Fit 1 is a linear mixed model") and "BOBYQA" in p for p in paras)
    assert "Table 1" in paras and any(p.startswith("Figure") for p in paras)
    assert len(doc.inline_shapes) == 2


def test_figures_are_drawn_as_png_by_kaleido(lmm_record):
    if report_figures.browser_path() is None:
        pytest.skip("no chromium for Kaleido")
    figs = report_figures.figures(lmm_record, None, [report_figures.CATERPILLAR])
    pngs = report_figures.to_png([f for _, f in figs])
    assert len(pngs) == 1 and pngs[0].startswith(b"\x89PNG") and len(pngs[0]) > 10_000


def test_a_failing_renderer_leaves_a_report_without_figures(lmm_record):
    def broken(figs):
        raise RuntimeError("no browser")

    rep = rd.build([lmm_record], figures=report_figures.CHOICES, render=broken)
    assert "could not be drawn" in rep.figure_note and not rep.fits[0].figures
    assert "could not be drawn" in rd.to_html(rep)


def test_apa_p_values():
    assert [rd.apa_p(p) for p in (0.0004, 0.0234, 0.5, 1.0, np.nan)] == ["< .001", ".023", ".500", "1.000", ""]


# ------------------------------------------------------------------------ fixed-effects tests


def test_fixef_table_is_wald_z_without_engine_tests(lmm_record, monkeypatch):
    monkeypatch.delattr(mm_core, "fixef_tests", raising=False)
    ft = fixef_table(lmm_record.result)
    ct = lmm_record.result.coeftable
    assert ft.attrs["statistic"] == "z" and np.isinf(ft["df"]).all()
    np.testing.assert_array_equal(ft["statistic"], ct["z_value"])
    np.testing.assert_array_equal(ft["ci_lower"], ct["ci_lower"])


def test_fixef_table_takes_df_and_t_from_the_engine_when_it_has_them(lmm_record, monkeypatch):
    ct = lmm_record.result.coeftable

    def fixef_tests(res):
        out = pd.DataFrame({"estimate": ct["estimate"], "std_error": ct["std_error"], "df": [17.0, 17.0],
                            "t_value": ct["z_value"], "p_value": [1e-10, 3e-6]}, index=ct.index)
        out.attrs["method"] = "Satterthwaite"
        return out

    monkeypatch.setattr(mm_core, "fixef_tests", fixef_tests, raising=False)
    ft = fixef_table(lmm_record.result)
    assert ft.attrs == {"statistic": "t", "df_method": "Satterthwaite", "level": 0.95}
    assert ft.loc["days", "df"] == 17.0 and ft.loc["days", "p_value"] == 3e-6
    from scipy import stats

    q = stats.t.ppf(0.975, 17)
    assert ft.loc["days", "ci_upper"] == pytest.approx(ct.loc["days", "estimate"] + q * ct.loc["days", "std_error"])
    rep = rd.build([lmm_record])
    assert "Satterthwaite denominator degrees of freedom" in rep.fits[0].paragraph
    assert list(rep.fits[0].tables[0].frame.columns)[:5] == ["Term", "Estimate", "SE", "df", "t"]


# ------------------------------------------------------------------------ results into the data


def test_augmented_data_has_the_engines_numbers_and_empty_dropped_rows(sleepstudy):
    d = sleepstudy.copy()
    d.loc[[3, 50], "reaction"] = np.nan
    res = engine.fit("reaction ~ 1 + days + (1 + days | subj)", d)
    rec = FitRecord(1, None, res.formula, "sleepstudy", "k", d, res)
    out = augmented_data(rec)
    assert len(out) == 180 and list(out.columns[:3]) == ["subj", "days", "reaction"]
    assert not out.loc[[3, 50], ".used"].any() and out.loc[[3, 50], ".fitted":].isna().all().all()
    used = out[out[".used"]]
    np.testing.assert_array_equal(used[".fitted"], res.fitted)
    np.testing.assert_array_equal(used[".resid_pearson"], engine.residuals(res, "pearson"))
    np.testing.assert_array_equal(used[".cooksd"], engine.cooks_distance(res))
    np.testing.assert_array_equal(used[".leverage"], res.leverage)
    s309 = used[used["subj"] == "S309"]
    assert (s309[".ranef_subj_days"] == res.ranef["subj"].loc["S309", "days"]).all()


def test_augmented_glmm_has_quantile_residuals(glmm_record):
    out = augmented_data(glmm_record, leverage=False)
    assert ".resid_quantile" in out and ".resid_scaled" not in out
    q = out[".resid_quantile"]
    assert ((q >= 0) & (q <= 1)).all()


def test_csv_cells_are_neutralised_and_formats_read_back(glmm_record):
    df = pd.DataFrame({"name": pd.Categorical(["=HYPERLINK(1)", "+1", "ok", "@SUM(A1)"]), "x": [-1.0, 2, 3, 4]})
    text = to_bytes(df, "CSV").decode()
    assert "'=HYPERLINK(1)" in text and "'+1" in text and "'@SUM(A1)" in text and ",-1.0\n" in text
    assert neutralise(df)["x"].tolist() == [-1.0, 2, 3, 4]
    back = pd.read_excel(io.BytesIO(to_bytes(df, "Excel")))
    assert back["name"].tolist()[0] == "'=HYPERLINK(1)"
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(to_bytes(df, "Parquet"))), df)


def test_each_interval_has_the_level_of_its_page(lmm_record, boot):
    rep = rd.build([lmm_record], {1: boot}, boot_level=0.9, ranef_level=0.8, figures=(report_figures.CATERPILLAR,),
                   render=lambda figs: [tiny_png() for _ in figs])
    heads = {t.title: list(t.frame.columns) for t in rep.fits[0].tables}
    assert "95% CI" in heads["Fixed effects"]
    assert "Shortest 90% interval" in heads["Parametric bootstrap intervals"]
    assert "80% prediction intervals" in rep.fits[0].figures[0].title
    assert "covering 90% of the replicates" in rep.fits[0].paragraph


def test_failing_engine_tests_fall_back_to_wald_and_say_so(lmm_record, monkeypatch):
    def fixef_tests(res):
        raise mm_core.MixedModelError("no df for this model")

    monkeypatch.setattr(mm_core, "fixef_tests", fixef_tests, raising=False)
    ft = fixef_table(lmm_record.result)
    assert ft.attrs["statistic"] == "z" and "no df for this model" in ft.attrs["df_method"]


def test_excel_is_offered_only_where_a_sheet_holds_the_rows():
    from gui.augmented_data import EXCEL_MAX_ROWS, formats_for

    assert formats_for(180) == ["CSV", "Excel", "Parquet"]
    assert formats_for(EXCEL_MAX_ROWS + 1) == ["CSV", "Parquet"]
