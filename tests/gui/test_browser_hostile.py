"""Replays, in a real browser, the ways the app used to fit a model other than the one the user
built: each test clicks as a user does and then reads the model that was actually fitted (the
Summary page's formula and method line), not only the formula box.

1. "Add random effects for" never appends a term twice (contra ``dist``, pastes ``batch:cask``).
2. The family follows the response: a continuous response typed over a Poisson model is fitted
   as an LMM, and the Fit button names the family before the click.
3. "Treat as categorical" survives a visit to another page and the addition of another column.
4. Every upload through the uploader loads or says why not: xlsx, then csv, then parquet.

Screenshots go to ``tests/artifacts/hostile_*.png``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from tests.gui.browser_kit import BROWSER_MARKS, Page, choose, expect, go, page, server, settle, shot, widget  # noqa: F401

pytestmark = BROWSER_MARKS


def formula_box(pg: Page):
    return widget(pg, "w.m.formula").locator("textarea")


def load_dataset(pg: Page, name: str) -> None:
    go(pg, "Data")
    if widget(pg, "w.data.dataset").get_by_text(name, exact=True).count() == 0:
        choose(pg, "w.data.dataset", name)
    button = pg.get_by_role("button", name="Load dataset")
    if button.is_enabled():
        button.click()
        settle(pg)
    expect(pg.get_by_role("heading", name=re.compile(rf"^{name}: "))).to_be_visible()


def type_formula(pg: Page, text: str) -> None:
    box = formula_box(pg)
    box.fill(text)
    box.press("Control+Enter")
    settle(pg)
    expect(box).to_have_value(text)


def fit_and_read_summary(pg: Page, button: str | re.Pattern) -> str:
    """Click the Fit button, wait for the fit, and return the Summary page's caption line."""
    pg.get_by_role("button", name=button).click()
    settle(pg)
    expect(pg.get_by_text(re.compile(r"Fit \d+ done in"))).to_be_visible(timeout=120_000)
    go(pg, "Summary")
    caption = pg.get_by_test_id("stCaptionContainer").filter(has_text=" · data: ").first
    expect(caption).to_be_visible()
    return caption.inner_text()


def upload(pg: Page, path: Path) -> None:
    widget(pg, "w.data.upload").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    settle(pg)


def walk(pg: Page, name: str, steps) -> None:
    try:
        steps(pg)
    except BaseException:
        shot(pg, f"hostile_{name}_failure")
        raise


# ----------------------------------------------------------------------- item 1
def test_add_random_effects_never_duplicates_a_term(page: Page):
    def steps(pg: Page) -> None:
        settle(pg)
        load_dataset(pg, "contra")
        go(pg, "Model")
        pg.get_by_role("button", name="Clear model").click()
        settle(pg)
        box = formula_box(pg)
        expect(box).to_have_value("use ~ 1")
        choose(pg, "w.m.add_group", "dist")
        expect(box).to_have_value("use ~ 1 + (1 | dist)")
        choose(pg, "w.m.re0.slopes", "urban")
        expect(box).to_have_value("use ~ 1 + (1 + urban | dist)")
        # the add box is empty again, and later clicks on other widgets add nothing
        expect(widget(pg, "w.m.add_group")).not_to_contain_text("dist")
        widget(pg, "w.m.fast").locator("label").click()
        settle(pg)
        widget(pg, "w.m.fast").locator("label").click()
        settle(pg)
        choose(pg, "w.m.mains", "age")
        expect(box).to_have_value("use ~ 1 + age + (1 + urban | dist)")
        shot(pg, "hostile_1_contra_model")
        caption = fit_and_read_summary(pg, "Fit binomial GLMM (logit link)")
        assert "`use ~ 1 + age + (1 + urban | dist)`" in caption or "use ~ 1 + age + (1 + urban | dist)" in caption
        assert "binomial family, logit link" in caption
        shot(pg, "hostile_1_contra_summary")

        load_dataset(pg, "pastes")
        go(pg, "Model")
        pg.get_by_role("button", name="Clear model").click()
        settle(pg)
        choose(pg, "w.m.add_group", "batch")
        choose(pg, "w.m.add_group", "batch:cask")
        expect(formula_box(pg)).to_have_value("strength ~ 1 + (1 | batch) + (1 | batch:cask)")
        pg.get_by_role("button", name="Fit Gaussian LMM (REML)").click()
        settle(pg)
        expect(formula_box(pg)).to_have_value("strength ~ 1 + (1 | batch) + (1 | batch:cask)")
        expect(pg.get_by_text(re.compile(r"Fit \d+ done in"))).to_be_visible(timeout=120_000)
        go(pg, "Summary")
        caption = pg.get_by_test_id("stCaptionContainer").filter(has_text=" · data: ").first
        text = caption.inner_text()
        assert "strength ~ 1 + (1 | batch) + (1 | batch:cask)" in text and "REML" in text, text
        shot(pg, "hostile_1_pastes_summary")

    walk(page, "1", steps)


# ----------------------------------------------------------------------- item 2
def _counts_table() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n_sub, n_time = 24, 5
    subject = np.repeat([f"s{i:02d}" for i in range(n_sub)], n_time)
    time_ = np.tile(np.arange(n_time, dtype=float), n_sub)
    condition = np.repeat(np.where(np.arange(n_sub) % 2 == 0, "control", "treated"), n_time)
    u = np.repeat(rng.normal(0, 0.3, n_sub), n_time)
    score = 50 + 2.5 * time_ + 3 * (condition == "treated") + 4 * u + rng.normal(0, 2, len(time_))
    errors = rng.poisson(np.exp(0.5 + 0.1 * time_ + u))
    return pd.DataFrame({"subject": subject, "condition": condition, "time": time_, "score": score.round(3),
                         "errors": errors})


def test_family_follows_the_response(page: Page, tmp_path: Path):
    path = tmp_path / "trial.csv"
    _counts_table().to_csv(path, index=False)

    def steps(pg: Page) -> None:
        settle(pg)
        go(pg, "Data")
        upload(pg, path)
        expect(pg.get_by_role("heading", name=re.compile(r"^trial\.csv: 120 rows"))).to_be_visible()
        go(pg, "Model")
        # the default model of this table is a Poisson GLMM of the counts
        expect(widget(pg, "w.m.family").get_by_role("combobox")).to_have_value("poisson")
        type_formula(pg, "score ~ 1 + condition*time + (1+time|subject)")
        expect(pg.get_by_text(re.compile(r"the family is now gaussian"))).to_be_visible()
        expect(widget(pg, "w.m.family").get_by_role("combobox")).to_have_value("gaussian")
        fit = pg.get_by_role("button", name=re.compile(r"^Fit "))
        expect(fit.first).to_have_text(re.compile(r"Fit Gaussian LMM \(REML\)"))
        shot(pg, "hostile_2_model")
        caption = fit_and_read_summary(pg, "Fit Gaussian LMM (REML)")
        assert "linear mixed model, REML" in caption, caption
        assert "poisson" not in caption.lower()
        shot(pg, "hostile_2_summary")

    walk(page, "2", steps)


# ----------------------------------------------------------------------- item 3
def test_treat_as_categorical_is_remembered(page: Page, tmp_path: Path):
    df = _counts_table()
    df["subject"] = df["subject"].str[1:].astype(int)          # numeric subject codes
    path = tmp_path / "coded.csv"
    df.to_csv(path, index=False)

    def chips(pg: Page) -> list[str]:
        removes = widget(pg, "w.data.categorical").get_by_role("button", name=re.compile(r"^Remove "))
        return [b.get_attribute("aria-label")[len("Remove "):] for b in removes.all()]

    def steps(pg: Page) -> None:
        settle(pg)
        go(pg, "Data")
        upload(pg, path)
        expect(pg.get_by_role("heading", name=re.compile(r"^coded\.csv: "))).to_be_visible()
        assert "subject" not in chips(pg)
        choose(pg, "w.data.categorical", "subject")
        assert set(chips(pg)) == {"condition", "subject"}
        go(pg, "Model")
        type_formula(pg, "score ~ 1 + time + (1 + time | subject)")
        go(pg, "Data")
        assert set(chips(pg)) == {"condition", "subject"}, chips(pg)     # not forgotten
        choose(pg, "w.data.categorical", "errors")
        assert set(chips(pg)) == {"condition", "subject", "errors"}, chips(pg)
        shot(pg, "hostile_3_data")
        go(pg, "Model")
        expect(formula_box(pg)).to_have_value("score ~ 1 + time + (1 + time | subject)")
        caption = fit_and_read_summary(pg, "Fit Gaussian LMM (REML)")
        assert "score ~ 1 + time + (1 + time | subject)" in caption, caption
        go(pg, "Random effects")
        pg.wait_for_function("() => document.querySelector('.js-plotly-plot') && "
                             "document.querySelector('.js-plotly-plot').data")
        n_levels = pg.evaluate("() => document.querySelector('.js-plotly-plot').data.map(t => t.y.length)")
        assert n_levels == [24, 24]                    # 24 subjects: subject grouped as a factor

    walk(page, "3", steps)


# ----------------------------------------------------------------------- item 4
def test_every_upload_loads_or_says_why(page: Page, tmp_path: Path):
    base = _counts_table()
    xlsx, csv, parquet, bad = (tmp_path / "first.xlsx", tmp_path / "second.csv", tmp_path / "third.parquet",
                               tmp_path / "fourth.parquet")
    base.to_excel(xlsx, index=False)
    base.head(100).to_csv(csv, index=False)
    base.head(80).to_parquet(parquet, index=False)
    bad.write_bytes(b"PAR1 this is not parquet at all")

    def steps(pg: Page) -> None:
        settle(pg)
        go(pg, "Data")
        for path, rows in ((xlsx, 120), (csv, 100), (parquet, 80)):
            upload(pg, path)
            expect(pg.get_by_text(f"Loaded '{path.name}'")).to_be_visible()
            expect(pg.get_by_role("heading", name=f"{path.name}: {rows} rows × 5 columns")).to_be_visible()
        shot(pg, "hostile_4_third_upload")
        upload(pg, bad)
        expect(pg.get_by_text(re.compile(r"Upload failed: 'fourth\.parquet'"))).to_be_visible()
        expect(pg.get_by_role("heading", name="third.parquet: 80 rows × 5 columns")).to_be_visible()
        shot(pg, "hostile_4_bad_upload")

    walk(page, "4", steps)
