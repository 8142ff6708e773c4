"""Satterthwaite and Kenward–Roger tables timed against lmerTest and pbkrtest on this machine.

What is timed, on both sides, is the inference after the fit: the coefficient table
(``fixef_tests`` / ``summary(m, ddf = ...)``) and the type III ANOVA table (``anova(m, type = 3,
ddf = ...)``) of an already fitted REML model. For Satterthwaite that includes computing the
derivatives of vcov(β̂) and the Hessian of the deviance (``as_lmerModLmerTest`` in R); each
repetition here starts from a fresh copy of the result, so nothing is reused between them. The
last column compares the df of the last coefficient, a check that both sides computed the same
thing. ``python -m bench.run`` appends the table to ``bench/README.md``; ``python -m
bench.effects`` prints it.
"""
from __future__ import annotations

import dataclasses
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import mm_core  # noqa: E402

EFFECTS_DATA = ROOT / "tests" / "reference" / "effects" / "data"

#: (id, data, formula, methods, repetitions here, repetitions in R)
CASES = [
    ("sleepstudy", "sleepstudy", "reaction ~ 1 + days + (1 + days|subj)",
     ("satterthwaite", "kenward-roger"), 20, 10),
    ("cake", "cake", "angle ~ 1 + recipe * temp + (1|recipe:replicate)",
     ("satterthwaite", "kenward-roger"), 10, 5),
    ("ham", "ham", "liking ~ 1 + product * information + (1|consumer) + (1|consumer:product)",
     ("satterthwaite", "kenward-roger"), 5, 3),
    ("insteval", "insteval", "y ~ 1 + service + (1|s) + (1|d)", ("satterthwaite",), 5, 1),
    ("insteval_dept", "insteval", "y ~ 1 + service * dept + (1|s) + (1|d)",
     ("satterthwaite",), 3, 1),
]


def _data(name: str) -> pd.DataFrame:
    """A bundled dataset, else one of the effects reference tables."""
    if name in mm_core.datasets.list_datasets():
        return mm_core.datasets.load(name)
    return pd.read_csv(EFFECTS_DATA / f"{name}.csv")


def time_ours() -> list[dict]:
    rows = []
    for cid, data, formula, methods, reps, _ in CASES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mm_core.fit(formula, _data(data), reml=True)
        q = sum(t.q for t in m.model.reterms)
        for method in methods:
            def run(m=m, method=method):
                fresh = dataclasses.replace(m)      # a new result: no cached derivatives
                t = mm_core.fixef_tests(fresh, ddf=method)
                mm_core.anova(fresh, type=3, ddf=method)
                return t
            run()
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                table = run()
                times.append(time.perf_counter() - t0)
            rows.append({"id": cid, "method": method, "n": m.nobs, "q": q, "p": len(m.beta),
                         "seconds": statistics.median(times), "df1": float(table["df"].iloc[-1])})
            print(f"mm_core  {cid:14s} {method:14s} {rows[-1]['seconds']:.3f}s", flush=True)
    return rows


def time_r() -> dict:
    if not shutil.which("Rscript"):
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        for cid, data, formula, methods, _, reps in CASES:
            _data(data).to_csv(tmp / f"{data}.csv", index=False)
            rows += [{"id": cid, "data": data, "formula": formula, "method": mth, "reps": reps}
                     for mth in methods]
        pd.DataFrame(rows).to_csv(tmp / "cases.tsv", sep="\t", index=False)
        try:
            subprocess.run(["Rscript", str(ROOT / "bench" / "effects_times.R"),
                            str(tmp / "cases.tsv"), str(tmp), str(tmp / "out.tsv")], check=True)
        except subprocess.CalledProcessError:
            return {}
        out = pd.read_csv(tmp / "out.tsv", sep="\t")
    return {(r.id, r.method): (r.seconds, r.df1) for r in out.itertuples()}


def _fmt(t):
    return "–" if t is None else (f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s")


def report(ours: list[dict], theirs: dict) -> list[str]:
    lines = ["", "## Fixed-effects inference", "",
             "Median time of the coefficient table and the type III ANOVA table of a fitted REML",
             "model (`fixef_tests` + `anova`; in R `summary(m, ddf = ...)` + `anova(m, type = 3,",
             "ddf = ...)`, Satterthwaite timed from `as_lmerModLmerTest`), each repetition from a",
             "fresh result. q is the number of random effects. Kenward–Roger is not offered above",
             "3,000 random effects (insteval has 4,100; pbkrtest would need 73,421² matrices).", "",
             "| model | n | q | df method | mm_core | lmerTest / pbkrtest | mm_core / R | "
             "df of last coefficient, relative difference |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in ours:
        t_r, df_r = theirs.get((r["id"], r["method"]), (None, None))
        ratio = "–" if t_r is None or t_r == 0 else f"{r['seconds'] / t_r:.3f}"
        ddf = "–" if df_r is None else f"{abs(r['df1'] / df_r - 1):.1e}"
        lines.append(f"| {r['id']} | {r['n']:,} | {r['q']:,} | {r['method']} | "
                     f"{_fmt(r['seconds'])} | {_fmt(t_r)} | {ratio} | {ddf} |")
    return lines


def run_effects(readme: Path | None = None, no_r: bool = False) -> list[str]:
    """Time both sides, print the table and append it to ``readme``."""
    ours = time_ours()
    theirs = {} if no_r else time_r()
    lines = report(ours, theirs)
    print("\n".join(lines))
    if readme is not None and readme.exists():
        head, _, tail = readme.read_text().rstrip("\n").partition("\nGenerated by")
        head = head.split("\n## Fixed-effects inference")[0].rstrip("\n")
        readme.write_text(head + "\n" + "\n".join(lines) + "\n\nGenerated by"
                          + (tail or " `python -m bench.run`.") + "\n")
    return lines


if __name__ == "__main__":
    run_effects(no_r="--no-r" in sys.argv)
