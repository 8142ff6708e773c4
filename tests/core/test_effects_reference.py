"""Fixed-effects inference against lmerTest 3.1-3, pbkrtest 0.5.2, car 3.1-1 and emmeans 1.8.4.

Every table of every case in ``tests/reference/effects`` (written by
``make_effects_reference.R`` on R 4.2.2, see its README): coefficient t tests with
Satterthwaite and Kenward–Roger df, type III (both methods) and type II ANOVA tables, car's
Wald chi-square table for the GLMM, marginal means with their Tukey-adjusted pairs (both df
methods; link and response scale for the GLMM) and predictions over a covariate grid.

The cases in ``tests/reference/effects/extra`` go beyond those designs: a split plot with factor
and covariate versions of the treatment (``nlme::Oats``), a factor-by-covariate model with a
correlated random intercept and slope, sum-to-zero contrasts, an unbalanced crossed design and a
Poisson GLMM; they add type I tables, Holm and Bonferroni pairs, slopes (``emtrends``) and car's
type II table. Provenance: ``make_effects_extra.R`` in that folder, run here with R 4.2.2,
lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2, car 3.1-1, emmeans 1.8.4-1 (each JSON's
``engine`` field), ``Rscript make_effects_extra.R tests/reference/effects/extra``.

Tolerances: estimates 1e-5 relative; standard errors, df, t/z and F 2e-3 relative; p-values
2e-3 relative or 1e-6 absolute (Tukey-adjusted: 1e-3 relative or 1e-4 absolute); interval
ends 1e-4 relative (to the larger of the end and the standard error, so that an end near zero
is held to 1e-4 standard errors). lmerTest's df carry noise of about 1e-6 relative (its numerical Hessian).
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mm_core import anova, emmeans, emtrends, fit, fixef_tests, pairwise

DIR = Path(__file__).resolve().parent.parent / "reference" / "effects"
PATHS = {p.stem: p for d in (DIR, DIR / "extra") for p in sorted(d.glob("*.json"))}
CASES = list(PATHS)

EST, SE, P_REL, P_ABS, TUKEY_REL, TUKEY_ABS, CI = 1e-5, 2e-3, 2e-3, 1e-6, 1e-3, 1e-4, 1e-4


def vec(x) -> np.ndarray:
    """R's JSON writes length-one vectors as scalars and NA as null."""
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def close(mine, ref, rel, what, abs_=0.0):
    mine, ref = np.asarray(mine, float), vec(ref)
    assert mine.shape == ref.shape, f"{what}: {mine.shape} rows, R has {ref.shape}"
    bad = ~(np.abs(mine - ref) <= rel * np.abs(ref) + abs_)
    bad &= ~(np.isnan(mine) & np.isnan(ref))
    assert not bad.any(), (f"{what}: rows {np.flatnonzero(bad).tolist()} differ: "
                           f"{mine[bad].tolist()} vs R {ref[bad].tolist()}")


@cache
def case(name: str):
    ref = json.loads(PATHS[name].read_text())
    data = pd.read_csv(PATHS[name].parent / "data" / f"{ref['data']}.csv")
    if ref["family"] == "gaussian":
        sum_coded = ref.get("contrasts") and ref["contrasts"][0] == "contr.sum"
        factors = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
        m = fit(ref["formula"], data, reml=True,
                contrasts=dict.fromkeys(factors, "sum") if sum_coded else None)
    else:
        m = fit(ref["formula"], data, family=ref["family"])
    return ref, m


@pytest.mark.parametrize("name", CASES)
def test_objective(name):
    ref, m = case(name)
    assert m.objective == pytest.approx(ref["objective"], rel=1e-8, abs=1e-6)


LMM = [c for c in CASES if json.loads(PATHS[c].read_text())["family"] == "gaussian"]
GLMM = [c for c in CASES if c not in LMM]


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward_roger"])
@pytest.mark.parametrize("name", LMM)
def test_coefficients(name, ddf):
    ref, m = case(name)
    r = ref[f"coef_{ddf}"]
    t = fixef_tests(m, ddf=ddf)
    assert list(t.index) == list(np.atleast_1d(r["rows"]))
    close(t.estimate, r["Estimate"], EST, "estimate")
    close(t.std_error, r["Std. Error"], SE, "std_error")
    close(t.df, r["df"], SE, "df")
    close(t.statistic, r["t value"], SE, "t")
    close(t.p_value, r["Pr(>|t|)"], P_REL, "p", P_ABS)
    # intervals are t intervals with the same df (lmerTest's contest(confint = TRUE))
    from scipy import stats
    q = stats.t.ppf(0.975, vec(r["df"]))
    close(t.lower, vec(r["Estimate"]) - q * vec(r["Std. Error"]), CI, "lower",
          CI * vec(r["Std. Error"]))


ANOVAS = [(c, t) for c in LMM for t in ("anova3_satterthwaite", "anova3_kenward_roger",
                                         "anova2_satterthwaite", "anova1_satterthwaite")
          if t in json.loads(PATHS[c].read_text())]


@pytest.mark.parametrize("name,table", ANOVAS)
def test_anova(name, table):
    ref, m = case(name)
    r = ref[table]
    a = anova(m, type=int(table[5]), ddf=table.split("_", 1)[1])
    assert list(a.index) == list(np.atleast_1d(r["terms"]))
    close(a.num_df, r["num_df"], 0, "num_df")
    close(a.sum_sq, r["sum_sq"], SE, "sum_sq")
    close(a.mean_sq, r["mean_sq"], SE, "mean_sq")
    close(a.den_df, r["den_df"], SE, "den_df")
    close(a.f_value, r["f"], SE, "F")
    close(a.p_value, r["p"], P_REL, "p", P_ABS)


CHISQ = [(c, t) for c in GLMM for t in ("anova3_wald_chisq", "anova2_wald_chisq")
         if t in json.loads(PATHS[c].read_text())]


@pytest.mark.parametrize("name,table", CHISQ)
def test_wald_chisq(name, table):
    ref, m = case(name)
    r = ref[table]
    a = anova(m, type=int(table[5]))
    assert list(a.index) == list(np.atleast_1d(r["terms"]))
    close(a.chisq, r["chisq"], SE, "chisq")
    close(a.df, r["df"], 0, "df")
    close(a.p_value, r["p"], P_REL, "p", P_ABS)


def _means_tables(name):
    ref, _ = case(name)
    out = []
    for e in ref.get("emmeans", []):
        for key in ("satterthwaite", "kenward_roger", "link", "response"):
            if key in e:
                out.append((name, e["spec"], key))
    return out


MEANS = [x for name in CASES for x in _means_tables(name)]


def _estimate_key(r):
    return next(k for k in ("emmean", "prob", "rate", "response", "estimate", "odds.ratio",
                            "ratio", "estimate") if k in r)


def _check_means(table, r, spec_vars):
    for v in spec_vars:
        assert [str(x) for x in table[v]] == [str(x) for x in np.atleast_1d(r[v])]
    close(table.estimate, r[_estimate_key(r)], EST, "estimate")
    close(table.std_error, r["SE"], SE, "SE")
    if vec(r["df"]).size and np.all(np.isfinite(vec(r["df"]))):
        close(table.df, r["df"], SE, "df")
    else:
        assert np.all(np.isinf(table.df))
    close(table.lower, r.get("lower.CL", r.get("asymp.LCL")), CI, "lower", CI * vec(r["SE"]))
    close(table.upper, r.get("upper.CL", r.get("asymp.UCL")), CI, "upper", CI * vec(r["SE"]))
    close(table.statistic, r.get("t.ratio", r.get("z.ratio")), SE, "statistic")


@pytest.mark.parametrize("name,spec,key", MEANS)
def test_emmeans_and_pairs(name, spec, key):
    ref, m = case(name)
    r = next(e for e in ref["emmeans"] if e["spec"] == spec)[key]
    if key in ("link", "response"):
        e = emmeans(m, spec, scale=key)
    else:
        e = emmeans(m, spec, ddf=key)
    _check_means(e.table, r["means"], list(e.specs) + list(e.by))
    close(e.table.p_value, r["means"]["p.value"], P_REL, "p", P_ABS)
    pw = pairwise(e, adjust="tukey")
    rp = r["pairs_tukey"]
    assert list(pw.contrast) == list(np.atleast_1d(rp["contrast"]))
    for v in e.by:
        assert [str(x) for x in pw[v]] == [str(x) for x in np.atleast_1d(rp[v])]
    close(pw.estimate, rp[_estimate_key(rp)], EST, "estimate")
    close(pw.std_error, rp["SE"], SE, "SE")
    close(pw.statistic, rp.get("t.ratio", rp.get("z.ratio")), SE, "statistic")
    close(pw.p_value, rp["p.value"], TUKEY_REL, "Tukey p", TUKEY_ABS)
    close(pw.lower, rp.get("lower.CL", rp.get("asymp.LCL")), CI, "lower", CI * vec(rp["SE"]))
    close(pw.upper, rp.get("upper.CL", rp.get("asymp.UCL")), CI, "upper", CI * vec(rp["SE"]))
    for adjust in ("holm", "bonferroni"):
        if f"pairs_{adjust}" in r:
            rp = r[f"pairs_{adjust}"]
            pw = pairwise(e, adjust=adjust)
            close(pw.p_value, rp["p.value"], P_REL, f"{adjust} p", P_ABS)
            close(pw.lower, rp["lower.CL"], CI, f"{adjust} lower", CI * vec(rp["SE"]))
            close(pw.upper, rp["upper.CL"], CI, f"{adjust} upper", CI * vec(rp["SE"]))


TRENDS = [(c, i) for c in LMM for i, _ in enumerate(json.loads(PATHS[c].read_text()).get("emtrends", []))]


@pytest.mark.parametrize("name,i", TRENDS)
def test_emtrends(name, i):
    ref, m = case(name)
    tr = ref["emtrends"][i]
    e = emtrends(m, tr["spec"], tr["var"], ddf="satterthwaite")
    r = tr["satterthwaite"]["trends"]
    r = dict(r, estimate=r[f"{tr['var']}.trend"])
    _check_means(e.table, r, list(e.specs))
    rp = tr["satterthwaite"]["pairs_tukey"]
    pw = pairwise(e)
    assert list(pw.contrast) == list(np.atleast_1d(rp["contrast"]))
    close(pw.estimate, rp["estimate"], EST, "estimate")
    close(pw.std_error, rp["SE"], SE, "SE")
    close(pw.df, rp["df"], SE, "df")
    close(pw.p_value, rp["p.value"], TUKEY_REL, "Tukey p", TUKEY_ABS)


GRIDS = [c for c in CASES if "prediction_grid" in json.loads(PATHS[c].read_text())]


@pytest.mark.parametrize("name", GRIDS)
def test_prediction_grid(name):
    ref, m = case(name)
    g = ref["prediction_grid"]
    e = emmeans(m, g["spec"], at=g["at"], ddf="satterthwaite")
    r = g["satterthwaite"]
    close(e.table["days"], r["days"], 0, "days")
    _check_means(e.table, r, [])
    close(e.table.p_value, r["p.value"], P_REL, "p", P_ABS)
