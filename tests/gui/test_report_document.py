"""The report (HTML and Word), its fixed-effects tests, and the results written back into the data."""
from __future__ import annotations

import io
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import mm_core
from gui import engine
from gui.shell.state import BootRecord, FitRecord
from gui.views import effects, report_figures, tables
from gui.views import report_document as rd
from gui.views.augmented_data import augmented_data, neutralise, to_bytes

# lmerTest on the ML fit of sleepstudy (R 4.2.2 Patched, lme4 1.1.31, lmerTest 3.1.3):
#   m <- lmer(Reaction ~ 1 + Days + (1 + Days | Subject), sleepstudy, REML = FALSE)
#   summary(m, ddf = "Satterthwaite")$coefficients; anova(m, type = 3)
#   s <- summary(m)$coefficients; q <- qt(0.975, s[, "df"]); cbind(s[, 1] - q * s[, 2], s[, 1] + q * s[, 2])
LMERTEST_ML = pd.DataFrame({"estimate": [251.4051048485, 10.4672859596], "std_error": [6.63212274219, 1.50223021383],
                            "df": [18.0011347664, 18.0001769285], "statistic": [37.90718516851, 6.96783080464],
                            "p_value": [1.26375193752e-18, 1.65222790512e-06],
                            "lower": [237.47159496546, 7.31121961747], "upper": [265.3386147315, 13.6233523017]},
                           index=["(Intercept)", "days"])
LMERTEST_ML_ANOVA_DAYS = {"sum_sq": 31798.05029, "den_df": 18.00017693, "f_value": 48.55067, "p_value": 1.6522e-06}


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


def test_html_has_the_fixed_effects_table_with_the_pages_numbers(report, lmm_record, glmm2):
    page = parse_html(rd.to_html(report))
    fixed = [t for t in page.tables if t and t[0][:6] == ["Term", "Estimate", "SE", "df", "t", "p"]]
    assert len(fixed) == 1                                   # the LMM: t tests with Satterthwaite df
    rows = fixef_rows(fixed[0])
    ft = effects.fixef_tests(lmm_record, "satterthwaite")    # the Summary page's numbers
    pd.testing.assert_frame_equal(ft, mm_core.fixef_tests(lmm_record.result, ddf="satterthwaite"))
    assert rows["(Intercept)"][1] == tables.fmt_num(ft.loc["(Intercept)", "estimate"], 5) == "251.41"
    assert rows["days"][2] == tables.fmt_num(ft.loc["days", "std_error"], 4) == "1.502"
    assert rows["days"][3] == f"{ft.loc['days', 'df']:.1f}" == "18.0"                     # lmerTest: 18.00018
    assert rows["days"][4] == f"{ft.loc['days', 'statistic']:.2f}" == "6.97"               # lmerTest: 6.96783
    assert rows["days"][5] == "< .001"
    assert rows["days"][6] == f"[{tables.fmt_num(ft.loc['days', 'lower'], 5)}, " \
                              f"{tables.fmt_num(ft.loc['days', 'upper'], 5)}]" == "[7.3112, 13.623]"
    glmm = [t for t in page.tables if t and t[0][:6] == ["Term", "Estimate", "SE", "df", "z", "p"]]
    assert len(glmm) == 1                                    # the GLMM: Wald z tests, as its Summary page
    zt = mm_core.fixef_tests(glmm2.result, ddf="asymptotic")
    assert fixef_rows(glmm[0])["period2"][4] == f"{zt.loc['period2', 'statistic']:.2f}" \
        == f"{glmm2.result.coeftable.loc['period2', 'z_value']:.2f}"
    assert page.images == 2                                  # one caterpillar per fit (one grouping factor each)


def test_report_tests_are_the_summary_pages_and_lmertests(lmm_record):
    tests = rd.fixef_tests(lmm_record)
    assert tests.ddf == "satterthwaite" and tests.why == "" and tests.statistic == "t"
    pd.testing.assert_frame_equal(tests.table, mm_core.fixef_tests(lmm_record.result, ddf="satterthwaite"))
    got = tests.table[LMERTEST_ML.columns]
    np.testing.assert_allclose(got["estimate"], LMERTEST_ML["estimate"], rtol=1e-5)
    for col in ("std_error", "df", "statistic"):
        np.testing.assert_allclose(got[col], LMERTEST_ML[col], rtol=2e-3, err_msg=col)
    np.testing.assert_allclose(got["p_value"], LMERTEST_ML["p_value"], rtol=2e-3, atol=1e-6)  # the effects tolerance
    np.testing.assert_allclose(got[["lower", "upper"]], LMERTEST_ML[["lower", "upper"]], atol=1e-4 * 300)
    # an ML fit has no Kenward–Roger (pbkrtest needs REML): the Summary page offers Satterthwaite
    assert rd.fixef_tests(lmm_record, rd.Inference(ddf="kenward-roger")).ddf == "satterthwaite"
    z = rd.fixef_tests(lmm_record, rd.Inference(ddf="asymptotic"))
    np.testing.assert_allclose(z.table["statistic"], lmm_record.result.coeftable["z_value"], rtol=1e-10)
    assert np.isinf(z.table["df"]).all() and z.statistic == "z"


def test_report_has_the_anova_table_and_names_the_df_method(lmm_record, glmm2):
    rep = rd.build([lmm_record, glmm2])
    lmm, glmm = rep.fits
    anova = next(t for t in lmm.tables if t.title == "Tests of the model's terms")
    a = mm_core.anova(lmm_record.result, type=3, ddf="satterthwaite")
    for col, want in LMERTEST_ML_ANOVA_DAYS.items():
        assert a.loc["days", col] == pytest.approx(want, rel=2e-3, abs=1e-6 if col == "p_value" else 0), col
    row = anova.frame.set_index("Term").loc["days"]
    assert row["Pr(>F)"] == "< .001"                                                  # APA, as the other tables
    assert row["F value"] == f"{a.loc['days', 'f_value']:.3f}" and row["DenDF"] == "18"    # lmerTest: 48.551, 18.0002
    assert "type III" in lmm.paragraph and "Satterthwaite denominator degrees of freedom" in lmm.paragraph
    assert "Type III F tests with Satterthwaite denominator df" in anova.note
    g_anova = next(t for t in glmm.tables if t.title == "Tests of the model's terms")
    chisq = mm_core.anova(glmm2.result, type=3)
    assert list(g_anova.frame.columns) == ["Term", "Chisq", "Df", "Pr(>Chisq)"]
    assert g_anova.frame.set_index("Term").loc["period", "Chisq"] == f"{chisq.loc['period', 'chisq']:.3f}"
    assert "Wald z tests" in glmm.paragraph and "Wald χ² tests" in glmm.paragraph
    two = rd.build([lmm_record], inference=rd.Inference(anova_type=2))
    assert "type II " in two.fits[0].paragraph and two.fits[0].tables[3].note.startswith("Type II F tests")


def test_report_has_the_effects_pages_marginal_means(lmm_record, glmm2):
    choice = {"x": "period", "lines": None, "compare": "within", "scale": "response", "level": 0.95,
              "adjust": "holm"}
    slope = {"x": "days", "lines": None, "compare": "within", "scale": "link", "level": 0.9, "adjust": "tukey"}
    rep = rd.build([lmm_record, glmm2], inference=rd.Inference(effects={glmm2.id: choice, lmm_record.id: slope}))
    m = effects.shown_means(glmm2, ddf="asymptotic", **choice)      # what the Effects page shows
    means = next(t for t in rep.fits[1].tables if t.title == "Estimated marginal means of period")
    assert list(means.frame["period"]) == ["1", "2", "3", "4"]
    assert list(means.frame["Probability"]) == [tables.fmt_num(v, 5) for v in m.table["estimate"]]
    pairs = next(t for t in rep.fits[1].tables if t.title == "Pairwise comparisons of the means")
    assert list(pairs.frame["contrast"]) == list(m.pairs["contrast"].astype(str))
    assert pairs.frame.columns[1] == "Ratio" and "odds ratios" in pairs.note and "Holm" in pairs.note
    assert "Holm-adjusted pairwise comparisons" in rep.fits[1].paragraph
    slopes = next(t for t in rep.fits[0].tables if t.title == "Slope of days")
    tr = mm_core.emtrends(lmm_record.result, [], "days", ddf="satterthwaite", level=0.9).table
    assert slopes.frame.loc[0, "Slope"] == tables.fmt_num(tr["estimate"].iloc[0], 5)
    assert slopes.frame.loc[0, "90% lower"] == tables.fmt_num(tr["lower"].iloc[0], 5)
    assert not any(t.title.startswith("Estimated marginal") for t in rd.build([glmm2]).fits[0].tables)


def test_html_has_methods_data_variance_and_bootstrap(report):
    text = rd.to_html(report)
    page = parse_html(text)
    methods = [p for p in page.paragraphs if p.startswith("Fit 1 is a linear mixed model")]
    assert methods and "maximum likelihood (ML)" in methods[0] and "BOBYQA" in methods[0]
    assert "t tests with Satterthwaite denominator degrees of freedom" in methods[0]
    assert "18 levels of subj" in methods[0] and "not singular" in methods[0]
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
    html_tables = parse_html(rd.to_html(report)).tables
    for stat in ("t", "z"):
        fixed = [g for g in grids if g[0][:6] == ["Term", "Estimate", "SE", "df", stat, "p"]]
        assert fixed == [t for t in html_tables if t and t[0][:6] == ["Term", "Estimate", "SE", "df", stat, "p"]]
        assert len(fixed) == 1
        if stat == "t":
            assert fixef_rows(fixed[0])["(Intercept)"][1] == "251.41" and fixef_rows(fixed[0])["days"][3] == "18.0"
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


def test_failing_df_fall_back_as_on_the_summary_page_and_say_so(lmm_record, monkeypatch):
    real = engine.fixef_tests

    def fixef_tests(res, ddf="satterthwaite", **kw):
        if ddf != "asymptotic":
            raise mm_core.MixedModelError("no df for this model.")
        return real(res, ddf=ddf, **kw)

    monkeypatch.setattr(engine, "fixef_tests", fixef_tests)
    assert effects.usable_ddf(lmm_record, "satterthwaite")[0] == "asymptotic"
    rep = rd.build([lmm_record])
    fixed = rep.fits[0].tables[0]
    assert list(fixed.frame.columns)[:5] == ["Term", "Estimate", "SE", "df", "z"]
    assert "no df for this model." in fixed.note and "z (asymptotic) tests instead" in fixed.note
    assert "Wald z tests" in rep.fits[0].paragraph and "no df for this model." in rep.fits[0].paragraph


def test_excel_is_offered_only_where_a_sheet_holds_the_rows():
    from gui.views.augmented_data import EXCEL_MAX_ROWS, formats_for

    assert formats_for(180) == ["CSV", "Excel", "Parquet"]
    assert formats_for(EXCEL_MAX_ROWS + 1) == ["CSV", "Parquet"]


def test_float_group_codes_are_the_engines_level_labels(sleepstudy):
    """A grouping column of floats (subject 1.0, 2.0, ...) is labelled 1, 2, ... by the engine and
    by R (ranef row names); the app's group codes, its augmented data and its Explore charts use
    the same labels, so every row finds its random effect."""
    from gui.figures.charts_data import group_means
    from gui.spec.data_design import group_codes

    d = sleepstudy.assign(subj=sleepstudy["subj"].cat.codes.astype(float) + 1.0,
                          half=(sleepstudy["days"] >= 5).astype(float))
    res = engine.fit("reaction ~ 1 + days + (1 | subj) + (1 | subj:half)", d)
    assert list(res.ranef["subj"].index[:3]) == ["1", "2", "3"]
    assert set(group_codes(d, "subj")) == set(res.ranef["subj"].index)
    assert set(group_codes(d, "subj:half")) == set(res.ranef["subj:half"].index)
    assert "1:0" in res.ranef["subj:half"].index
    out = augmented_data(FitRecord(1, None, res.formula, "sleepstudy", "k", d, res), leverage=False)
    assert out[".ranef_subj_(Intercept)"].notna().all() and out[".ranef_subj:half_(Intercept)"].notna().all()
    first = out[d["subj"] == 1.0]
    assert (first[".ranef_subj_(Intercept)"] == res.ranef["subj"].loc["1", "(Intercept)"]).all()
    assert set(group_means(d, "reaction", "subj").index) == set(res.ranef["subj"].index)
