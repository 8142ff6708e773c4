"""The Effects page in a real browser: Playwright drives Debian's chromium against ``streamlit run``.

Walk: load the bundled grouseticks data, fit its textbook Poisson GLMM
``ticks ~ 1 + year + cheight + (1 | brood) + (1 | location)`` on the Model page, open Effects,
draw the predictions over the covariate ``cheight`` with one line per year, then pick the factor
``year`` and read its marginal mean on the response scale (a rate) and the rate ratios of the
pairwise comparisons. Screenshots go to ``tests/artifacts/effects_*.png``.

Reference numbers: R 4.2.2, lme4 1.1-31, emmeans 1.8.4::

    d <- read.csv("grouseticks.csv", stringsAsFactors = TRUE)   # bundled data, mm_core.datasets
    d$year <- factor(d$year); d$brood <- factor(d$brood); d$location <- factor(d$location)
    m <- glmer(ticks ~ 1 + year + cheight + (1 | brood) + (1 | location), d, family = poisson)
    summary(emmeans(m, ~ year), type = "response")
    #  year  rate    SE  asymp.LCL asymp.UCL
    #  95    1.594985 0.3062677  1.094737  2.323826
    summary(pairs(emmeans(m, ~ year)), type = "response")
    #  year95 / year96  ratio 0.311742
"""
from __future__ import annotations

import re

from tests.gui.browser_kit import BROWSER_MARKS, Page, choose, expect, go, page, server, settle, shot, widget  # noqa: F401

pytestmark = BROWSER_MARKS


def test_effects_walk(page: Page):
    try:
        walk(page)
    except BaseException:
        shot(page, "effects_failure")
        raise


# the traces Plotly has drawn in the page's first chart (the effect plot): [] while none is drawn
TRACES = ("(() => { const el = document.querySelector('.js-plotly-plot');"
          " return el && el._fullData ? el._fullData.map(t => ({name: String(t.name), mode: t.mode, n: t._length}))"
          " : []; })()")


def plot_traces(pg: Page, ready: str) -> list[dict]:
    """The effect plot's traces once the JavaScript condition ``ready`` holds for them (``traces``):
    the chart is replaced after the script run ends and Plotly draws it later, slower under load,
    so this waits for the drawn chart's content rather than for any chart."""
    pg.wait_for_function(f"() => {{ const traces = {TRACES}; return {ready}; }}", timeout=120_000)
    return pg.evaluate(f"() => {TRACES}")


def walk(pg: Page) -> None:
    settle(pg)
    choose(pg, "w.data.dataset", "grouseticks")
    pg.get_by_role("button", name="Load dataset").click()
    settle(pg)
    expect(pg.get_by_text("grouseticks: 403 rows × 7 columns")).to_be_visible()

    go(pg, "Model")
    formula = widget(pg, "w.m.formula").locator("textarea")
    expect(formula).to_have_value("ticks ~ 1 + year + cheight + (1 | brood) + (1 | location)")
    pg.get_by_role("button", name="Fit Poisson GLMM (log link)").click()
    settle(pg)
    expect(pg.get_by_text(re.compile(r"Fit 1 done in"))).to_be_visible(timeout=120_000)

    # Summary: z tests of the coefficients and car's Wald chi-square tests of the terms
    go(pg, "Summary")
    expect(pg.get_by_role("heading", name="Tests of the model's terms")).to_be_visible()
    expect(pg.get_by_test_id("stDataFrame").filter(has_text="Chisq").first).to_contain_text("year")
    shot(pg, "effects_0_summary")

    go(pg, "Effects")
    # the covariate on the x axis: a line with a band for each year, the observed counts underneath
    choose(pg, "w.pref.effects.x.1", "cheight")
    choose(pg, "w.pref.effects.lines.1", "year")
    drawn = plot_traces(pg, "traces.filter(t => t.mode === 'lines' && ['95', '96', '97'].includes(t.name))"
                            ".length === 3")
    lines = [t for t in drawn if t["mode"] == "lines" and t["name"] in ("95", "96", "97")]
    assert [t["name"] for t in lines] == ["95", "96", "97"] and all(t["n"] > 10 for t in lines)
    expect(pg.get_by_role("heading", name="Slope of cheight")).to_be_visible()
    shot(pg, "effects_1_covariate")

    # pick the factor: its marginal means (rates) and rate ratios
    choose(pg, "w.pref.effects.x.1", "year")
    expect(pg.get_by_role("heading", name="Estimated marginal means")).to_be_visible()
    means = pg.get_by_test_id("stDataFrame").first
    expect(means).to_contain_text("Rate")
    expect(means).to_contain_text("1.5950")            # emmeans: rate 1.594985 in 1995
    expect(means).to_contain_text("5.1164")            # 5.116366 in 1996
    pairs = pg.get_by_test_id("stDataFrame").filter(has_text="Ratio").first
    expect(pairs).to_contain_text("0.31174")           # rate ratio 1995 / 1996: 0.311742
    drawn = plot_traces(pg, "traces.length > 0 && !traces.some(t => t.mode === 'lines')"
                            " && traces[traces.length - 1].mode === 'markers'")
    assert [t["mode"] for t in drawn][-1] == "markers"
    shot(pg, "effects_2_factor")
