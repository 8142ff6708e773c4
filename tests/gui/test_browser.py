"""The app in a real browser: Playwright drives Debian's chromium against ``streamlit run``.

Walk: open the app, choose sleepstudy, build ``reaction ~ 1 + days + (1 + days | subj)`` with
the widgets, fit (ML), read σ = 25.59 on Summary, open the caterpillar plot, run 200 bootstrap
replicates, open Diagnostics. A screenshot of each page goes to ``tests/artifacts/``.

Runs in ``make test``; skipped (with the reason) only when chromium or Playwright is absent.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - playwright is in requirements.txt
    sync_playwright = None

if sync_playwright is None:
    pytestmark.append(pytest.mark.skip(reason="the playwright package is not installed"))
elif not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
    pytestmark.append(pytest.mark.skip(reason=f"chromium not found at {CHROMIUM} (apt-get install chromium)"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")
    env = dict(os.environ, MM_APP_PRELOAD="sleepstudy")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"streamlit did not start (exit code {proc.poll()}); see {ARTIFACTS / 'streamlit.log'}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def page(server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1400, "height": 1600})
        pg.set_default_timeout(60_000)
        pg.goto(server)
        yield pg
        browser.close()


def settle(pg: Page, timeout: float = 120_000) -> None:
    """Wait until the app is connected and no script run is in progress (twice, for reruns)."""
    for _ in range(2):
        pg.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout)
        pg.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
        time.sleep(0.3)
    exc = pg.get_by_test_id("stException")
    if exc.count():
        shot(pg, "failure")
        pytest.fail("an exception reached the page: " + exc.first.inner_text()[:2000])


def shot(pg: Page, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def go(pg: Page, title: str) -> None:
    pg.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(pg.get_by_role("heading", name=title, exact=True).first).to_be_visible()
    settle(pg)


def widget(pg: Page, key: str):
    """The element of the widget with this key (Streamlit mirrors keys as ``st-key-<key>`` classes,
    dots turned into dashes)."""
    return pg.locator(f"[class~='st-key-{re.sub(r'[^A-Za-z0-9_-]', '-', key)}']")


def choose(pg: Page, key: str, option: str) -> None:
    """Pick an option of a selectbox or multiselect."""
    w = widget(pg, key)
    w.get_by_role("combobox").first.click()
    pg.get_by_role("option", name=option, exact=True).click()
    if w.get_by_test_id("stMultiSelect").count():
        pg.keyboard.press("Escape")      # a multiselect keeps its list open
    settle(pg)


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
    expect(widget(pg, "w.m.reml").locator("input")).not_to_be_checked()          # ML, not REML
    shot(pg, "2_model")

    # 4. fit by ML
    pg.get_by_role("button", name="Fit (ML)").click()
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
