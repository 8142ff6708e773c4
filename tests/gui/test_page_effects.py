"""The Effects page and the Summary page's tests under AppTest: a factor LMM, a covariate LMM and
a binomial GLMM render, every choice reruns without problems, and the numbers shown are
emmeans' and lmerTest's.

References (R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4):

- cbpp: ``m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial,
  control = glmerControl(tolPwrss = 1e-12))`` (the reference case ``cbpp_period`` of
  ``make_effects_reference.R``), ``summary(emmeans(m, ~ period), type = "response")``: prob
  0.198049 (period 1); on the link scale emmean −1.398532; ``pairs()`` on the response scale:
  odds ratio 1 / 2 = 2.697520.
- sleepstudy, ``lmer(reaction ~ factor(days) + (1 | subject), REML = TRUE)``: balanced data, so
  the marginal mean of each day is the day's mean of ``reaction`` (day 0: 256.6518) and the
  Satterthwaite and Kenward–Roger df of the means are both 41.983 (``emmeans(m, ~ days,
  lmer.df = ...)``); ``anova(m, type = 3)``: NumDF 9, DenDF 153.
- sleepstudy, ``lmer(reaction ~ days + (days | subject), REML = FALSE)``: ``emtrends(m, ~ 1,
  var = "days", lmer.df = "satterthwaite")``: slope 10.46729, df 18.0002.
- contra: ``m <- glmer(use ~ age + urban * livch + (1 | dist), contra, binomial)`` (livch levels
  0, 1, 2, 3+; tight control as above): ``summary(emmeans(m, ~ livch | urban), type =
  "response")``: prob 0.1398693 (livch 0, urban N); ``summary(pairs(emmeans(m, ~ livch * urban)),
  type = "response", infer = TRUE)``: "1 N / 2 N" odds ratio 0.7719262, Tukey interval
  [0.4235736, 1.4067685], p 0.8964603.
"""
from __future__ import annotations

from tests.gui.test_pages import n_charts, page_with_fit, primed, problems, visit

EFFECTS = "pages/effects.py"


def table_with(at, column: str):
    hits = [d.value for d in at.dataframe if column in d.value.columns]
    assert hits, f"no table with a '{column}' column"
    return hits[0]


def test_effects_without_a_fit_says_where_to_make_one(sleepstudy):
    at = visit(primed(data=sleepstudy, name="sleepstudy"), EFFECTS)
    assert not problems(at), problems(at)
    assert at.title[0].value == "Effects"
    assert any("No fitted model yet" in i.value for i in at.info)
    assert n_charts(at) == 0


def test_effects_of_a_factor_in_an_lmm(lmm_factor_record, sleepstudy):
    at = page_with_fit(EFFECTS, lmm_factor_record, "sleepstudy")
    means = table_with(at, "Estimate")
    assert list(means["days"]) == [str(d) for d in range(10)]
    day0 = sleepstudy.loc[sleepstudy["days"] == 0, "reaction"].mean()
    assert means.loc[0, "Estimate"] == f"{day0:.2f}"                   # balanced: the cell mean (256.65)
    assert means.loc[0, "df"] == "41.98"                               # emmeans(m, ~ days): df 41.98297
    pairs = table_with(at, "Difference")
    assert len(pairs) == 45 and pairs.loc[0, "contrast"] == "0 - 1"
    assert n_charts(at) == 2                                           # effect plot, comparisons
    # every df method and adjustment renders; Kenward-Roger is offered because the fit is REML
    ddf = at.selectbox(key="w.pref.effects.ddf.lmm")
    assert ddf.options == ["Satterthwaite", "Kenward–Roger", "z (asymptotic)"]
    for choice in ("kenward-roger", "satterthwaite", "asymptotic"):
        at.selectbox(key="w.pref.effects.ddf.lmm").set_value(choice).run()
        assert not problems(at), (choice, problems(at))
        if choice == "kenward-roger":
            assert table_with(at, "Estimate").loc[0, "df"] == "41.98"        # pbkrtest: 41.98297
    assert "df" not in table_with(at, "Estimate").columns                # z: no df column (still asymptotic)
    for adjust in ("holm", "bonferroni", "none", "tukey"):
        at.selectbox(key="w.pref.effects.adjust").set_value(adjust).run()
        assert not problems(at), (adjust, problems(at))
    at.selectbox(key="w.pref.effects.level").set_value(0.9).run()
    assert "90% lower" in table_with(at, "Estimate").columns
    at.toggle(key="w.pref.effects.observed").set_value(False).run()
    assert not problems(at) and n_charts(at) == 2


def test_effects_of_a_covariate_in_an_lmm(lmm_record):
    at = page_with_fit(EFFECTS, lmm_record, "sleepstudy")
    slope = table_with(at, "Slope")
    assert slope.loc[0, "Slope"] == "10.467"                           # emtrends: 10.4673
    assert any("Slopes of days are compared" in i.value for i in at.info)
    assert n_charts(at) == 1                                           # the line with its band
    codes = [c.value for c in at.code]
    assert any('emtrends(m, ~ 1, var = "days", lmer.df = "satterthwaite")' in c for c in codes)
    assert any("at = list(days = seq(0, 9, length.out = 41))" in c for c in codes)
    assert not any("pairs(" in c for c in codes)                         # one slope: nothing to compare


def test_effects_of_a_glmm_on_the_response_and_link_scales(glmm_record):
    at = page_with_fit(EFFECTS, glmm_record, "cbpp")
    assert at.selectbox(key="w.pref.effects.scale").value == "response"
    means = table_with(at, "Probability")
    assert means.loc[0, "Probability"] == "0.19805"                     # emmeans: prob 0.198049
    assert "df" not in means.columns                                    # asymptotic
    pairs = table_with(at, "Ratio")
    assert pairs.loc[0, "contrast"] == "1 / 2" and pairs.loc[0, "Ratio"] == "2.6975"   # odds ratio 2.69752
    assert any("odds ratios" in c.value for c in at.caption)
    at.selectbox(key="w.pref.effects.scale").set_value("link").run()
    assert not problems(at), problems(at)
    means = table_with(at, "Log odds")
    assert means.loc[0, "Log odds"] == "-1.3985"                        # emmean on the logit scale: -1.398532
    assert table_with(at, "Difference").loc[0, "contrast"] == "1 - 2"
    assert any("response scale only" in c.value for c in at.caption)   # no observed data on the link scale
    codes = [c.value for c in at.code]
    assert any('data[["period"]] <- factor(data[["period"]], levels = c("1", "2", "3", "4"))' in c for c in codes)


def test_summary_shows_t_tests_with_a_df_choice_and_the_anova_table(lmm_factor_record):
    at = page_with_fit("pages/summary.py", lmm_factor_record, "sleepstudy")
    coefs = table_with(at, "t value")
    assert list(coefs.columns[:5]) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    anova = table_with(at, "F value")
    assert list(anova.index) == ["factor(days)"] and anova.loc["factor(days)", "NumDF"] == "9"
    at.radio(key="w.pref.effects.ddf.lmm").set_value("kenward-roger").run()
    assert not problems(at), problems(at)
    assert any("Kenward–Roger df" in c.value for c in at.caption)
    at.radio(key="w.pref.effects.ddf.lmm").set_value("asymptotic").run()
    assert "z value" in table_with(at, "Pr(>|z|)").columns
    at.segmented_control(key="w.pref.effects.anova_type").set_value(2).run()
    assert not problems(at), problems(at)
    codes = [c.value for c in at.code]
    assert any("anova(m, type = 2" in c for c in codes)
    assert any("library(lmerTest)" in c for c in codes)


def test_summary_of_a_glmm_shows_wald_chisquare_tests(glmm_record):
    at = page_with_fit("pages/summary.py", glmm_record, "cbpp")
    anova = table_with(at, "Chisq")
    assert "period" in anova.index
    assert "z value" in table_with(at, "Pr(>|z|)").columns
    assert any("car::Anova(m, type = 3)" in c.value for c in at.code)


def test_effects_within_or_across_the_levels_of_a_second_factor(contra_record):
    at = page_with_fit(EFFECTS, contra_record, "contra")
    at.selectbox(key="w.pref.effects.x.3").set_value("livch").run()
    at.selectbox(key="w.pref.effects.lines.3").set_value("urban").run()
    assert not problems(at), problems(at)
    means = table_with(at, "Probability")
    assert list(means.columns[:2]) == ["livch", "urban"] and means.loc[0, "Probability"] == "0.13987"
    within = table_with(at, "Ratio")
    assert list(within.columns[:2]) == ["contrast", "urban"] and len(within) == 12     # 6 pairs per urban level
    at.selectbox(key="w.pref.effects.compare.3").set_value("all").run()
    every = table_with(at, "Ratio")
    assert len(every) == 28 and "urban" not in every.columns                           # 8 cells, 28 pairs
    row = every[every["contrast"] == "1 N / 2 N"].iloc[0]
    assert (row["Ratio"], row["95% lower"], row["95% upper"], row["p"]) == ("0.77193", "0.42357", "1.4068", "0.8965")
    # the covariate: one line per urban level; age does not interact with urban, so one slope
    at.selectbox(key="w.pref.effects.x.3").set_value("age").run()
    assert not problems(at), problems(at)
    assert len(table_with(at, "Slope")) == 1
    assert any("no interaction of age with urban" in c.value for c in at.caption)


def test_the_report_follows_the_summary_and_effects_pages(contra_record):
    """The choices of the Effects page (kept per fit) and the Summary page's df method reach the
    report: its marginal means are the table the Effects page shows."""
    from gui.shell.state import PREFS
    from gui.views import report_document as rd

    at = page_with_fit(EFFECTS, contra_record, "contra")
    at.selectbox(key=f"w.pref.effects.x.{contra_record.id}").set_value("livch").run()
    at.selectbox(key=f"w.pref.effects.lines.{contra_record.id}").set_value("urban").run()
    assert not problems(at), problems(at)
    prefs = at.session_state[PREFS]
    choice = {k: prefs[f"effects.{k}.{contra_record.id}"] for k in ("x", "lines", "compare")}
    assert choice == {"x": "livch", "lines": "urban", "compare": "within"}
    shown = table_with(at, "Probability")
    rep = rd.build([contra_record], inference=rd.Inference(effects={contra_record.id: dict(
        choice, scale=prefs.get("effects.scale", "response"), level=0.95, adjust="tukey")}))
    means = next(t for t in rep.fits[0].tables if t.title.startswith("Estimated marginal means of livch"))
    assert "within each level of urban" in means.title
    assert list(means.frame["Probability"]) == list(shown["Probability"])     # emmeans: 0.1398693 (livch 0, N)
