"""Keep and share the work, in a real browser: fit two models, bootstrap one, save the workspace,
open it in a new browser context (a new session) and read the same σ, fixed effects and bootstrap
interval; download the report as HTML and Word and find its fixed-effects table and methods
paragraph.

Runs in ``make test``; skipped (with the reason) only when chromium or Playwright is absent.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from tests.gui.browser_kit import ARTIFACTS, BROWSER_MARKS, Page, expect, go, page, server, settle, shot, widget  # noqa: F401
from tests.gui.test_report_document import parse_html

pytestmark = BROWSER_MARKS


def test_save_open_and_report(page: Page, server: str):
    try:
        walk(page, server)
    except BaseException:
        shot(page, "workspace_failure")
        raise


def download(pg: Page, name: str, timeout: float = 180_000) -> bytes:
    """Click the download button with this label and return the file's bytes."""
    with pg.expect_download(timeout=timeout) as info:
        pg.get_by_role("button", name=name).first.click()
    return Path(info.value.path()).read_bytes()


def open_expander(pg: Page, title: str) -> None:
    pg.get_by_test_id("stExpander").filter(has_text=title).locator("summary").first.click()
    settle(pg)


def sigma(pg: Page) -> str:
    return pg.get_by_test_id("stMetric").filter(has_text="Residual SD σ").get_by_test_id("stMetricValue").inner_text()


def fit(pg: Page, formula: str, n: int) -> None:
    go(pg, "Model")
    box = widget(pg, "w.m.formula").locator("textarea")
    box.fill(formula)
    box.press("Control+Enter")
    settle(pg)
    expect(box).to_have_value(formula)
    if widget(pg, "w.m.reml").locator("input").is_checked():           # REML is the default; these fits are ML
        widget(pg, "w.m.reml").locator("label").click()
        settle(pg)
    pg.get_by_role("button", name="Fit Gaussian LMM (ML)").click()
    expect(pg.get_by_text(re.compile(rf"Fit {n} done in"))).to_be_visible(timeout=120_000)
    settle(pg)


def read_results(pg: Page) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """σ and the fixed-effects CSV of Summary, the interval CSV of Bootstrap (the fit shown: fit 2)."""
    go(pg, "Summary")
    expect(pg.get_by_text("Fits: 2 · showing fit 2")).to_be_visible()
    s = sigma(pg)
    fixef = pd.read_csv(io.BytesIO(download_key(pg, "dl.coeftable")), index_col=0)
    go(pg, "Bootstrap")
    intervals = pd.read_csv(io.BytesIO(download_key(pg, "dl.bootint")), index_col=0)
    return s, fixef, intervals


def download_key(pg: Page, key: str) -> bytes:
    with pg.expect_download(timeout=60_000) as info:
        widget(pg, key).get_by_role("button").click()
    return Path(info.value.path()).read_bytes()


def walk(pg: Page, url: str) -> None:
    settle(pg)
    expect(pg.get_by_text("sleepstudy: 180 rows × 3 columns")).to_be_visible()
    fit(pg, "reaction ~ 1 + days + (1 + days | subj)", 1)
    fit(pg, "reaction ~ 1 + days + (1 | subj)", 2)

    go(pg, "Bootstrap")
    n = widget(pg, "w.boot.n").locator("input")
    n.fill("60")
    n.press("Enter")
    settle(pg)
    pg.get_by_role("button", name="Run 60 replicates").click()
    expect(pg.get_by_text(re.compile(r"60 replicates in"))).to_be_visible(timeout=300_000)
    settle(pg)

    before = read_results(pg)
    assert before[0] == "30.90"                      # lme4: sigma(lmer(reaction ~ days + (1 | subj), REML = FALSE))

    go(pg, "Data")
    open_expander(pg, "Workspace: save this session")
    shot(pg, "ws_1_save")
    blob = download(pg, "Save workspace")
    assert blob[:2] == b"PK"
    saved = ARTIFACTS / "walk.mmw"
    saved.write_bytes(blob)

    # a new browser context is a new session: nothing fitted there
    context = pg.context.browser.new_context(viewport={"width": 1400, "height": 1600})
    try:
        fresh = context.new_page()
        fresh.set_default_timeout(60_000)
        fresh.goto(url)
        settle(fresh)
        open_expander(fresh, "Workspace: save this session")
        widget(fresh, "w.ws.open").locator("input[type='file']").set_input_files(str(saved))
        expect(fresh.get_by_text(re.compile(r"Opened 'walk\.mmw': sleepstudy, 2 fits"))).to_be_visible(
            timeout=120_000)
        settle(fresh)
        shot(fresh, "ws_2_opened")
        after = read_results(fresh)
        assert after[0] == before[0]
        pd.testing.assert_frame_equal(after[1], before[1])
        pd.testing.assert_frame_equal(after[2], before[2])
        shot(fresh, "ws_3_bootstrap")
        report(fresh, after[1])
    finally:
        context.close()


def report(pg: Page, summary_fixef: pd.DataFrame) -> None:
    """The report of fit 2 has the Summary page's t tests (its CSV ``summary_fixef``): lmerTest's
    ``summary(lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML = FALSE))`` has df 24.49 and
    162.00, t 26.45 and 13.06 (R 4.2.2, lme4 1.1.31, lmerTest 3.1.3)."""
    go(pg, "Summary")
    open_expander(pg, "Report and results")
    shot(pg, "ws_4_report")
    html = download(pg, "Download report (HTML)").decode("utf-8")
    (ARTIFACTS / "report.html").write_text(html)
    parsed = parse_html(html)
    fixed = next(t for t in parsed.tables if t and t[0][:6] == ["Term", "Estimate", "SE", "df", "t", "p"])
    assert [row[0] for row in fixed[1:]] == ["(Intercept)", "days"]
    assert fixed[2][1] == "10.467"                   # lme4: fixef(...)["days"] 10.4673
    for row in fixed[1:]:                            # the Summary page's numbers, rounded for APA
        page_row = summary_fixef.loc[row[0]]
        assert row[3] == f"{page_row['df']:.1f}" and row[4] == f"{page_row['statistic']:.2f}"
    assert [fixed[1][3], fixed[2][3], fixed[1][4], fixed[2][4]] == ["24.5", "162.0", "26.45", "13.06"]
    methods = [p for p in parsed.paragraphs if p.startswith("Fit 2 is a linear mixed model")]
    assert methods and "maximum likelihood (ML)" in methods[0] and "parametric bootstrap (60 replicates" in methods[0]
    assert "t tests with Satterthwaite denominator degrees of freedom" in methods[0]
    assert parsed.images >= 1                        # the caterpillar plot, drawn by Kaleido

    from docx import Document

    word = download(pg, "Download report (Word)")
    (ARTIFACTS / "report.docx").write_bytes(word)
    doc = Document(io.BytesIO(word))
    grids = [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]
    fixed_docx = next(g for g in grids if g[0][:6] == ["Term", "Estimate", "SE", "df", "t", "p"])
    assert fixed_docx == fixed
    assert any(p.text.startswith("Fit 2 is a linear mixed model") for p in doc.paragraphs)
