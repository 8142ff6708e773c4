"""The app in a real browser: Playwright drives Debian's chromium against ``streamlit run``.

Walk: open the app, choose sleepstudy, build ``reaction ~ 1 + days + (1 + days | subj)`` with
the widgets, switch REML off, fit (ML), read σ = 25.59 on Summary, open the caterpillar plot, run 200 bootstrap
replicates, open Diagnostics. A screenshot of each page goes to ``tests/artifacts/``.

Runs in ``make test``; skipped (with the reason) only when chromium or Playwright is absent.
"""
from __future__ import annotations

import re

from tests.gui.browser_kit import ARTIFACTS, BROWSER_MARKS, Page, choose, expect, go, page, server, settle, shot, widget  # noqa: F401

pytestmark = BROWSER_MARKS


def test_walk_through_the_app(page: Page):
    try:
        walk(page)
    except BaseException:
        shot(page, "failure")
        raise


def walk(pg: Page) -> None:
    settle(pg)
    # 1. the first page shows the sample data
    expect(pg.get_by_role("heading", name="Data", exact=True).first).to_be_visible()
    expect(pg.get_by_test_id("stDataFrame").first).to_be_visible()
    # 2. choose sleepstudy (after another dataset, so the choice is real)
    choose(pg, "w.data.dataset", "dyestuff")
    pg.get_by_role("button", name="Load dataset").click()
    settle(pg)
    expect(pg.get_by_text("dyestuff: 30 rows × 2 columns")).to_be_visible()
    choose(pg, "w.data.dataset", "sleepstudy")
    pg.get_by_role("button", name="Load dataset").click()
    settle(pg)
    expect(pg.get_by_text("sleepstudy: 180 rows × 3 columns")).to_be_visible()
    shot(pg, "1_data")

    # 3. build the model with the widgets
    go(pg, "Model")
    pg.get_by_role("button", name="Clear model").click()
    settle(pg)
    formula = widget(pg, "w.m.formula").locator("textarea")
    expect(formula).to_have_value("reaction ~ 1")
    choose(pg, "w.m.mains", "days")
    choose(pg, "w.m.add_group", "subj")
    choose(pg, "w.m.re0.slopes", "days")
    expect(formula).to_have_value("reaction ~ 1 + days + (1 + days | subj)")
    expect(widget(pg, "w.m.reml").locator("input")).to_be_checked()              # REML by default
    widget(pg, "w.m.reml").locator("label").click()                               # ML is one click away
    settle(pg)
    expect(widget(pg, "w.m.reml").locator("input")).not_to_be_checked()
    shot(pg, "2_model")

    # 4. fit by ML
    pg.get_by_role("button", name="Fit Gaussian LMM (ML)").click()
    settle(pg)
    expect(pg.get_by_text(re.compile(r"Fit 1 done in"))).to_be_visible(timeout=120_000)

    # 5. σ on the Summary page
    go(pg, "Summary")
    sigma = pg.get_by_test_id("stMetric").filter(has_text="Residual SD σ").get_by_test_id("stMetricValue")
    expect(sigma).to_have_text("25.59")
    shot(pg, "3_summary")

    # 6. the caterpillar plot: 18 subjects per panel
    go(pg, "Random effects")
    chart = pg.get_by_test_id("stPlotlyChart").first
    expect(chart).to_be_visible()
    pg.wait_for_function("() => document.querySelector('.js-plotly-plot') && "
                         "document.querySelector('.js-plotly-plot').data")
    n_levels = pg.evaluate("() => document.querySelector('.js-plotly-plot').data.map(t => t.y.length)")
    assert n_levels == [18, 18]
    shot(pg, "4_random_effects")

    # 7. 200 bootstrap replicates
    go(pg, "Bootstrap")
    expect(widget(pg, "w.boot.n").locator("input")).to_have_value("200")
    pg.get_by_role("button", name="Run 200 replicates").click()
    expect(pg.get_by_text(re.compile(r"200 replicates in"))).to_be_visible(timeout=300_000)
    settle(pg)
    expect(pg.get_by_test_id("stPlotlyChart").first).to_be_visible()
    expect(pg.get_by_text(re.compile(r"of 200 replicates .* were singular fits"))).to_be_visible()
    shot(pg, "5_bootstrap")

    # 8. diagnostics
    go(pg, "Diagnostics")
    expect(pg.get_by_test_id("stPlotlyChart").first).to_be_visible()
    shot(pg, "6_diagnostics")
