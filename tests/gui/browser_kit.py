"""Shared pieces of the real-browser tests: a ``streamlit run`` server, a Playwright page driving
Debian's chromium, and the waits and clicks every walk uses.

A browser test module imports what it needs::

    from tests.gui.browser_kit import BROWSER_MARKS, page, server, settle, go, choose, shot
    pytestmark = BROWSER_MARKS

Each module gets its own server and page (module-scoped fixtures); screenshots go to
``tests/artifacts/``.
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

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - playwright is in requirements.txt
    sync_playwright = None
    Page = object

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

BROWSER_MARKS = [pytest.mark.browser, pytest.mark.slow]

if sync_playwright is None:
    BROWSER_MARKS.append(pytest.mark.skip(reason="the playwright package is not installed"))
elif not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
    BROWSER_MARKS.append(pytest.mark.skip(reason=f"chromium not found at {CHROMIUM} (apt-get install chromium)"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"streamlit-{port}.log"
    with open(log_path, "w") as log:
        env = dict(os.environ, MM_APP_PRELOAD="sleepstudy")
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
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
                    pytest.fail(f"streamlit did not start (exit code {proc.poll()}); see {log_path}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


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
