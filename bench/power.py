"""Power-analysis timings for ``make bench``: curves of simulated refits, per fit against a fresh fit.

``python -m bench.power`` prints them; :func:`report` gives the README section ``bench.run``
writes. Every run uses a process pool of two workers started beforehand.
"""
from __future__ import annotations

import statistics
import time

import mm_core
from mm_core import CoefficientTest, StudyDesign, TrueModel, power

WORKERS = 2


def _fresh_fit_time(formula: str, data, reps: int = 11, **kw) -> float:
    mm_core.fit(formula, data, **kw)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        mm_core.fit(formula, data, **kw)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cases() -> list[tuple]:
    """(label, kind, target, test, run kwargs, fresh-fit formula, fresh-fit data, fit kwargs)."""
    sleep = mm_core.datasets.load("sleepstudy")
    sleep_fit = mm_core.fit("reaction ~ 1 + days + (1 + days | subj)", sleep, reml=True)
    cbpp = mm_core.datasets.load("cbpp")
    cbpp_formula = "cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)"
    cbpp_fit = mm_core.fit(cbpp_formula, cbpp, family="binomial")
    between = StudyDesign(groups={"subj": 8}, n_obs=10, between={"treat": ("subj", ["control", "drug"])})
    b_model = TrueModel("y ~ 1 + treat + (1 | subj)", fixef={"treatdrug": 1.0}, sd={"subj": 1.0}, sigma=2.0)
    b_data = mm_core.simulate_design(between, b_model, seed=1)
    crossed = StudyDesign(groups={"subj": 20, "item": 10}, between={"treat": ("subj", ["a", "b"])})
    g_model = TrueModel("y ~ 1 + treat + (1 | subj) + (1 | item)",
                        fixef={"(Intercept)": -0.5, "treatb": 0.8}, sd={"subj": 1.0, "item": 0.5},
                        family="binomial")
    g_data = mm_core.simulate_design(crossed, g_model, seed=1)
    return [
        ("sleepstudy (1 + days | subj), days by z", "LMM", sleep_fit, CoefficientTest("days", "z"),
         dict(n_sim=200, along="subj", sizes=[18, 20, 22, 24, 26, 28], effect=3.0),
         sleep_fit.formula, sleep, dict(reml=True)),
        ("8 subjects × 10, (1 | subj), Satterthwaite t", "LMM", between, CoefficientTest("treatdrug"),
         dict(n_sim=200, params=b_model, along="subj", sizes=[8, 12, 16, 20, 24, 32]),
         b_model.formula, b_data, dict(reml=True)),
        ("cbpp binomial (1 | herd), period2 by z", "GLMM", cbpp_fit, CoefficientTest("period2", "z"),
         dict(n_sim=100, along="herd", sizes=[15, 20, 30]),
         cbpp_formula, cbpp, dict(family="binomial")),
        ("crossed binomial (1 | subj) + (1 | item), z", "GLMM", crossed, CoefficientTest("treatb", "z"),
         dict(n_sim=100, params=g_model, along="subj", sizes=[20, 30, 40]),
         g_model.formula, g_data, dict(family="binomial")),
    ]


def time_power() -> list[tuple]:
    rows = []
    for label, kind, target, test, kw, formula, data, fit_kw in _cases():
        t_fit = _fresh_fit_time(formula, data, **fit_kw)
        power(target, test, seed=0, workers=WORKERS, **{**kw, "n_sim": WORKERS})   # warm-up
        t0 = time.perf_counter()
        r = power(target, test, seed=1, workers=WORKERS, **kw)
        wall = time.perf_counter() - t0
        n = r.n_done
        rows.append((label, kind, len(r.table), kw["n_sim"], n, wall, wall / n, t_fit,
                     float(r.table["power"].iloc[-1])))
        print(f"power {label:48s} {len(r.table)} sizes × {kw['n_sim']}: {wall:.2f} s "
              f"({wall / n * 1e3:.2f} ms per simulation; fresh fit {t_fit * 1e3:.2f} ms)", flush=True)
    return rows


def report() -> list[str]:
    """Markdown lines of the power section of bench/README.md."""
    rows = time_power()
    lines = ["", "## Power analysis", "",
             f"Wall time of `power(...)` for a whole power curve (`workers={WORKERS}`), including the",
             "pilot fit of each size, and the time per simulated data set (simulate, refit, test)",
             "next to one fresh `fit` of the model at its original size.", "",
             "| curve | model | sizes × simulations | wall time | per simulation | fresh fit | "
             "simulation / fit | power at the largest size |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for label, kind, n_sizes, n_sim, _n, wall, per, t_fit, last in rows:
        cell = label.replace("|", "\\|")                   # a bar inside a Markdown table cell
        lines.append(f"| {cell} | {kind} | {n_sizes} × {n_sim} | {wall:.2f} s | {per * 1e3:.2f} ms | "
                     f"{t_fit * 1e3:.2f} ms | {per / t_fit:.3f} | {last:.2f} |")
    return lines


if __name__ == "__main__":
    print("\n".join(report()))
