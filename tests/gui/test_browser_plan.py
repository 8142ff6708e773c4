"""The Plan page in a real browser: a small power curve from a study design, the sandbox
(generate, fit, generate again), then a power curve from a fit of sleepstudy. Screenshots go to
``tests/artifacts/plan_*.png``."""
from __future__ import annotations

import re

from tests.gui.browser_kit import BROWSER_MARKS, Page, choose, expect, go, page, server, settle, shot, widget  # noqa: F401

pytestmark = BROWSER_MARKS


def _type(pg: Page, key: str, value: str) -> None:
    box = widget(pg, key).locator("input")
    box.fill(value)
    box.press("Enter")
    settle(pg)


def test_plan_power_curve_and_sandbox(page: Page):
    try:
        walk(page)
    except BaseException:
        shot(page, "plan_failure")
        raise


def walk(pg: Page) -> None:
    settle(pg)
    go(pg, "Plan")
    # 1. a power curve from a study design: 8 subjects × 10 observations, a between-subject effect
    pg.get_by_text("a study design", exact=True).click()
    settle(pg)
    expect(widget(pg, "w.plan.group").locator("input")).to_have_value("subj")
    _type(pg, "w.plan.sizes", "8, 12, 16")
    _type(pg, "w.plan.n_sim", "40")
    pg.get_by_role("button", name="Run power analysis").click()
    expect(pg.get_by_text(re.compile(r"Power run done: 120 simulations"))).to_be_visible(timeout=300_000)
    settle(pg)
    pg.wait_for_function("() => document.querySelector('.js-plotly-plot') && "
                         "document.querySelector('.js-plotly-plot').data")
    xs = pg.evaluate("() => document.querySelector('.js-plotly-plot').data[1].x")
    assert list(xs) == [8, 12, 16]
    expect(pg.get_by_role("button", name=re.compile(r"Download replicate 1 at size 16"))).to_be_visible()
    pg.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed()
    shot(pg, "plan_1_power")

    # 2. bad input: sizes below the design
    _type(pg, "w.plan.sizes", "4, 8")
    pg.get_by_role("button", name="Run power analysis").click()
    settle(pg)
    expect(pg.get_by_text(re.compile(r"must not be below the current design"))).to_be_visible()

    # 3. the sandbox: generate, fit, compare; generate again
    pg.get_by_text("Sandbox", exact=True).click()
    settle(pg)
    pg.get_by_role("button", name="Generate and fit").click()
    settle(pg)
    expect(pg.get_by_text(re.compile(r"Data set 1 · 80 rows"))).to_be_visible()
    expect(pg.get_by_test_id("stPlotlyChart")).to_have_count(2)
    pg.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed()
    shot(pg, "plan_2_sandbox")
    pg.get_by_role("button", name="Generate again").click()
    settle(pg)
    expect(pg.get_by_text(re.compile(r"Data set 2 · 80 rows"))).to_be_visible()
    pg.get_by_test_id("stPlotlyChart").nth(1).scroll_into_view_if_needed()
    shot(pg, "plan_3_sandbox_again")

    # 4. a power curve from a fit: the sleepstudy model, more subjects, the Wald z test of days
    go(pg, "Model")
    pg.get_by_role("button", name="Fit Gaussian LMM (REML)").click()
    expect(pg.get_by_text(re.compile(r"Fit 1 done in"))).to_be_visible(timeout=120_000)
    go(pg, "Plan")
    pg.get_by_text("Power analysis", exact=True).click()
    settle(pg)
    pg.get_by_text("a fitted model", exact=True).click()
    settle(pg)
    choose(pg, "w.plan.test", "Wald z test")
    _type(pg, "w.plan.sizes", "18, 27, 36")
    _type(pg, "w.plan.n_sim", "30")
    pg.get_by_role("button", name="Run power analysis").click()
    expect(pg.get_by_text(re.compile(r"Power run done: 90 simulations"))).to_be_visible(timeout=300_000)
    settle(pg)
    expect(pg.get_by_text(re.compile(r"days: Wald z test, α = 0.05"))).to_be_visible()
    pg.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed()
    shot(pg, "plan_4_power_from_fit")
