"""Side-by-side fit times: mm_core, lme4 (R) and mixedlm (Rust core), on this machine, in one run.

``make bench`` runs ``python -m bench.run``; it writes the table to ``bench/README.md``.
Every timing is the median of several complete fits (formula to result), after one warm-up fit.
Options: ``--cases id,id`` to run a subset, ``--reps N`` to override repetitions, ``--no-r``,
``--no-memory`` (skip the peak-memory runs of the scaling suite), ``--max-rows N`` (leave out
scaling cases with more rows), ``--no-effects`` (skip the fixed-effects inference timings of
:mod:`bench.effects`), ``--no-power``, ``--no-workspace``.

Besides the reference battery (the bundled datasets) it times two mlmRev models (``bench/data``,
exported from R's mlmRev package) and a scaling suite on a seeded synthetic crossed design, whose
peak memory is measured for each tool in a fresh process.
"""
from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mm_core  # noqa: E402

REFERENCE = ROOT / "tests" / "reference"
DATA = Path(__file__).resolve().parent / "data"
#: Categorical columns of the CSV files in bench/data (exported from R's mlmRev package).
CSV_FACTORS = {"egsingle": ["schoolid", "childid", "female"],
               "scotssec": ["primary", "second", "sex"]}
SYNTHETIC_SEED = 20240611


def synthetic_crossed(n: int, seed: int = SYNTHETIC_SEED) -> pd.DataFrame:
    """The scaling suite's crossed design with n rows.

    ``n/50`` subjects and ``min(2000, n/200)`` items, assigned at random; covariate x ~ N(0, 1);
    y = 2 + 0.5x + a_subj + b_subj x + c_item + ε with SDs 1, 0.5, 0.7 and 1; ``yb`` a Bernoulli
    response on the logit scale with the same random effects (without the intercept 2).
    """
    rng = np.random.default_rng(seed)
    ns, ni = n // 50, min(2000, n // 200)
    subj, item = rng.integers(0, ns, n), rng.integers(0, ni, n)
    x = rng.normal(size=n)
    a, b, c = rng.normal(0, 1.0, ns), rng.normal(0, 0.5, ns), rng.normal(0, 0.7, ni)
    eta = 0.5 * x + a[subj] + b[subj] * x + c[item]
    y = 2 + eta + rng.normal(0, 1.0, n)
    yb = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "yb": yb, "x": x,
                         "subj": pd.Categorical.from_codes(subj, [f"s{i}" for i in range(ns)]),
                         "item": pd.Categorical.from_codes(item, [f"i{i}" for i in range(ni)])})


def load_data(name: str) -> pd.DataFrame:
    """A bundled dataset, a CSV file of bench/data, or ``synthetic_<rows>``."""
    if name.startswith("synthetic_"):
        return synthetic_crossed(int(name.split("_")[1]))
    if name in CSV_FACTORS:
        df = pd.read_csv(DATA / f"{name}.csv", dtype=dict.fromkeys(CSV_FACTORS[name], str))
        for c in CSV_FACTORS[name]:
            df[c] = df[c].astype("category")
        return df
    return mm_core.datasets.load(name)


@dataclass
class Case:
    id: str
    data: str
    formula: str
    family: str = "gaussian"
    reml: bool = False
    n_agq: int = 1
    fast: bool = False
    reps: int = 7
    mixedlm: dict = field(default_factory=dict)   # formula / columns for mixedlm's grammar
    mixedlm_reps: int | None = None                # fewer repetitions where mixedlm is slow
    rows: int | None = None                        # scaling suite: rows of the synthetic design

    @property
    def scaling(self) -> bool:
        return self.rows is not None


def _prep(df: pd.DataFrame, case: Case) -> pd.DataFrame:
    df = df.copy()
    for name, expr in case.mixedlm.get("columns", {}).items():
        df[name] = expr(df)
    return df


CASES = [
    Case("dyestuff_ml", "dyestuff", "yield ~ 1 + (1|batch)", reps=40),
    Case("dyestuff_reml", "dyestuff", "yield ~ 1 + (1|batch)", reml=True, reps=40),
    Case("dyestuff2_ml", "dyestuff2", "yield ~ 1 + (1|batch)", reps=40),
    Case("sleepstudy_ml", "sleepstudy", "reaction ~ 1 + days + (1 + days|subj)", reps=40),
    Case("sleepstudy_reml", "sleepstudy", "reaction ~ 1 + days + (1 + days|subj)", reml=True, reps=40),
    Case("sleepstudy_zerocorr_ml", "sleepstudy", "reaction ~ 1 + days + (1 + days||subj)", reps=40),
    Case("sleepstudy_catdays_ml", "sleepstudy",
         "reaction ~ 1 + factor(days) + (1 + factor(days)|subj)", reps=3, mixedlm_reps=1,
         mixedlm={"formula": "reaction ~ 1 + fdays + (1 + fdays|subj)",
                  "columns": {"fdays": lambda d: d["days"].astype(str).astype("category")}}),
    Case("penicillin_ml", "penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", reps=40),
    Case("penicillin_reml", "penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", reml=True, reps=40),
    Case("pastes_nested_ml", "pastes", "strength ~ 1 + (1|batch/cask)", reps=40),
    Case("pastes_reml", "pastes", "strength ~ 1 + (1|batch) + (1|batch:cask)", reml=True, reps=40),
    Case("insteval_ml", "insteval", "y ~ 1 + service*dept + (1|s) + (1|d)", reps=3),
    Case("verbagg_laplace", "verbagg",
         "r2 ~ 1 + anger + gender + btype + situ + mode + (1|subj) + (1|item)",
         family="binomial", reps=3),
    Case("verbagg_fast", "verbagg",
         "r2 ~ 1 + anger + gender + btype + situ + mode + (1|subj) + (1|item)",
         family="binomial", n_agq=0, fast=True, reps=5),
    Case("contra_laplace", "contra", "use ~ 1 + age + I(age^2) + livch + urban + (1|dist)",
         family="binomial", reps=7,
         mixedlm={"formula": "use ~ 1 + age + age2 + livch + urban + (1|dist)",
                  "columns": {"age2": lambda d: d["age"] ** 2}}),
    Case("contra_agq9", "contra", "use ~ 1 + age + I(age^2) + livch + urban + (1|dist)",
         family="binomial", n_agq=9, reps=7,
         mixedlm={"formula": "use ~ 1 + age + age2 + livch + urban + (1|dist)",
                  "columns": {"age2": lambda d: d["age"] ** 2}}),
    Case("cbpp_binomial", "cbpp", "cbind(incidence, size - incidence) ~ 1 + factor(period) + (1|herd)",
         family="binomial", reps=7,
         mixedlm={"formula": "prop ~ 1 + period + (1|herd)", "weights": "size",
                  "columns": {"prop": lambda d: d["incidence"] / d["size"]}}),
    Case("grouseticks_poisson", "grouseticks",
         "ticks ~ 1 + factor(year) + cheight + (1|brood) + (1|index) + (1|location)",
         family="poisson", reps=5,
         mixedlm={"formula": "ticks ~ 1 + year + cheight + (1|brood) + (1|index) + (1|location)"}),
    # mlmRev models (R's mlmRev package; bench/data)
    Case("egsingle_ml", "egsingle",
         "math ~ 1 + year + female + (1 + year|childid) + (1 + year|schoolid)", reps=15),
    Case("scotssec_reml", "scotssec",
         "attain ~ 1 + verbal + sex + (1|primary) + (1 + verbal|second)", reml=True, reps=15),
]

#: Scaling suite: the synthetic crossed design at 10⁴, 10⁵ and 10⁶ rows (repetitions shrink
#: with size), a linear model with a correlated subject term and its binary counterpart.
for _rows, _reps in ((10_000, 7), (100_000, 3), (1_000_000, 1)):
    CASES.append(Case(f"crossed_lmm_{_rows:.0e}".replace("+0", ""), f"synthetic_{_rows}",
                      "y ~ 1 + x + (1 + x|subj) + (1|item)", reps=_reps, rows=_rows))
    CASES.append(Case(f"crossed_glmm_{_rows:.0e}".replace("+0", ""), f"synthetic_{_rows}",
                      "yb ~ 1 + x + (1|subj) + (1|item)", family="binomial", reps=_reps,
                      rows=_rows))


def mm_core_runner(case: Case):
    """A function fitting the case with mm_core."""
    data = load_data(case.data)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mm_core.fit(case.formula, data, family=case.family, reml=case.reml,
                               n_agq=case.n_agq, fast=case.fast,
                               allow_more_random_effects="catdays" in case.id)
    return run


def mixedlm_runner(case: Case):
    """A function fitting the case with mixedlm, or None where mixedlm is not installed."""
    try:
        import mixedlm
        from mixedlm.families import Binomial, Poisson
    except ImportError:
        return None
    data = _prep(load_data(case.data), case)
    formula = case.mixedlm.get("formula", case.formula)
    weights = case.mixedlm.get("weights")
    w = data[weights].to_numpy(float) if weights else None

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if case.family == "gaussian":
                return mixedlm.lmer(formula, data, REML=case.reml)
            fam = Binomial() if case.family == "binomial" else Poisson()
            return mixedlm.glmer(formula, data, family=fam, nAGQ=case.n_agq, weights=w)
    return run


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _median_time(fn, reps: int) -> tuple[float, object]:
    out = fn()  # warm-up (imports, caches)
    times = []
    for _ in range(reps):
        t, out = _timed(fn)
        times.append(t)
    return statistics.median(times), out


def time_python_tools(case: Case, reps: int, mixedlm_reps: int):
    """Median times of mm_core and mixedlm, their repetitions interleaved so that a drift of
    the machine's speed during the run falls on both alike.

    Returns (mm_core seconds, mm_core objective, mixedlm seconds or None, note on mixedlm)."""
    ours = mm_core_runner(case)
    theirs = mixedlm_runner(case)
    m = ours()                                    # warm-up
    note = None
    if theirs is not None:
        try:
            theirs()
        except Exception as e:  # a model mixedlm cannot fit is reported, not fatal
            theirs, note = None, f"{type(e).__name__}: {e}"[:80]
    t_ours, t_theirs = [], []
    for i in range(max(reps, mixedlm_reps if theirs else 0)):
        if i < reps:
            t, m = _timed(ours)
            t_ours.append(t)
        if theirs is not None and i < mixedlm_reps:
            t_theirs.append(_timed(theirs)[0])
    return (statistics.median(t_ours), m.objective,
            statistics.median(t_theirs) if t_theirs else None, note)


def time_lme4(cases: list[Case], reps_override: int | None):
    if not shutil.which("Rscript"):
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in {c.data for c in cases}:
            load_data(name).to_csv(tmp / f"{name}.csv", index=False)
        rows = [{"id": c.id, "data": c.data, "formula": c.formula, "family": c.family,
                 "reml": str(c.reml).upper(), "nagq": c.n_agq,
                 "reps": reps_override or c.reps} for c in cases]
        pd.DataFrame(rows).to_csv(tmp / "cases.tsv", sep="\t", index=False)
        subprocess.run(["Rscript", str(ROOT / "bench" / "lme4_times.R"), str(tmp / "cases.tsv"),
                        str(tmp), str(tmp / "out.tsv")], check=True)
        out = pd.read_csv(tmp / "out.tsv", sep="\t")
    return {r.id: (r.seconds, r.objective) for r in out.itertuples()}


BOOTSTRAPS = [("dyestuff_ml", "dyestuff", "yield ~ 1 + (1|batch)", 10_000),
              ("sleepstudy_ml", "sleepstudy", "reaction ~ 1 + days + (1 + days|subj)", 1_000)]


def time_bootstraps(workers: int = 2) -> list[tuple]:
    """Wall time of the parametric bootstrap, and one replicate against a fresh fit."""
    rows = []
    for case, data_name, formula, n in BOOTSTRAPS:
        data = mm_core.datasets.load(data_name)
        t_fit, _ = _median_time(lambda formula=formula, data=data: mm_core.fit(formula, data), 15)
        m = mm_core.fit(formula, data)
        mm_core.parametric_bootstrap(m, 2 * workers, seed=0, workers=workers)  # start the pool
        t0 = time.perf_counter()
        boot = mm_core.parametric_bootstrap(m, n, seed=1, workers=workers)
        wall = time.perf_counter() - t0
        rows.append((case, n, workers, wall, wall / n, t_fit, boot.singular_fraction))
        print(f"bootstrap {case:16s} {n} replicates, {workers} workers: {wall:.2f} s "
              f"({wall / n * 1e3:.3f} ms per replicate; a fresh fit {t_fit * 1e3:.2f} ms)", flush=True)
    return rows


def _peak_line() -> str:
    """This process's peak resident memory as /proc reports it (``VmHWM``, reset at exec)."""
    with open("/proc/self/status") as fh:
        return next(line for line in fh if line.startswith("VmHWM")).strip()


def _child_peak_mb(cmd: list[str]) -> float | None:
    """Peak resident memory (MB) of a child that prints its ``VmHWM`` line last.

    ``ru_maxrss`` of a child counts the memory of the forked parent before ``exec``, so the
    child reports its own high-water mark instead."""
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if "VmHWM" in ln]
    if out.returncode != 0 or not lines:
        return None
    return float(lines[-1].split()[-2]) / 1024


def peak_memory(case: Case, tool: str) -> float | None:
    """Peak memory of a fresh process that builds the case's data and fits it once."""
    if tool == "lme4":
        if not shutil.which("Rscript"):
            return None
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            load_data(case.data).to_csv(tmp / f"{case.data}.csv", index=False)
            pd.DataFrame([{"id": case.id, "data": case.data, "formula": case.formula,
                           "family": case.family, "reml": str(case.reml).upper(),
                           "nagq": case.n_agq, "reps": 1}]).to_csv(tmp / "cases.tsv", sep="\t",
                                                                  index=False)
            script = str(ROOT / "bench" / "lme4_times.R")
            return _child_peak_mb(["Rscript", "-e", f"source('{script}'); cat(grep('VmHWM', "
                                   "readLines('/proc/self/status'), value = TRUE), '\\n')",
                                   str(tmp / "cases.tsv"), str(tmp), str(tmp / "out.tsv")])
    return _child_peak_mb([sys.executable, "-m", "bench.run", "--fit-once", case.id, "--tool", tool])


def fit_once(case_id: str, tool: str) -> int:
    """Fit one case once (the body of a peak-memory run)."""
    case = next(c for c in CASES if c.id == case_id)
    runner = mm_core_runner(case) if tool == "mm_core" else mixedlm_runner(case)
    if runner is None:
        return 1
    runner()
    print(_peak_line(), flush=True)
    return 0


def _fmt(t):
    return "–" if t is None else (f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s")


def _ratio(a, b):
    return "–" if a is None or b is None or b == 0 else f"{a / b:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-bootstrap", action="store_true")
    ap.add_argument("--no-workspace", action="store_true")
    ap.add_argument("--no-power", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--max-rows", type=int, default=None)
    ap.add_argument("--no-effects", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "README.md"))
    ap.add_argument("--fit-once", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tool", default="mm_core", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.fit_once:
        return fit_once(args.fit_once, args.tool)
    cases = [c for c in CASES if (not args.cases or c.id in args.cases.split(","))
             and not (c.scaling and args.max_rows and c.rows > args.max_rows)]
    lme4 = {} if args.no_r else time_lme4(cases, args.reps)
    rows = []
    for c in cases:
        reps = args.reps or c.reps
        t_mm, obj, t_ml, ml_note = time_python_tools(c, reps, c.mixedlm_reps or reps)
        t_r, obj_r = lme4.get(c.id, (None, None))
        memory = {}
        if c.scaling and not args.no_memory:
            memory = {tool: peak_memory(c, tool) for tool in ("mm_core", "mixedlm")
                      + (() if args.no_r else ("lme4",))}
        rows.append((c, t_mm, obj, t_r, obj_r, t_ml, ml_note, memory))
        print(f"{c.id:26s} mm_core {_fmt(t_mm):>10s}  lme4 {_fmt(t_r):>10s}  mixedlm {_fmt(t_ml):>10s}"
              f"  ratio/lme4 {_ratio(t_mm, t_r)}  ratio/mixedlm {_ratio(t_mm, t_ml)}  "
              + "  ".join(f"{k} {_mb(v)}" for k, v in memory.items()), flush=True)
    boots = [] if args.no_bootstrap else time_bootstraps()
    from bench import power as power_bench
    write_report(rows, Path(args.out), boots, [] if args.no_power else power_bench.report())
    if not args.no_workspace:
        from bench.workspace import append_report
        append_report(Path(args.out))
    if not args.no_effects:  # Satterthwaite / Kenward–Roger tables against lmerTest / pbkrtest
        from bench.effects import run_effects
        run_effects(Path(args.out), no_r=args.no_r)
    return 0


def _mb(v):
    return "–" if v is None else f"{v:,.0f} MB"


def write_report(rows, path: Path, boots=(), extra=()) -> None:
    import nlopt
    lines = [
        "# Benchmarks",
        "",
        "Median wall time of a complete fit (formula and data in, result out) of each reference",
        "model, measured side by side in one run of `make bench` on this machine:",
        f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, nlopt {nlopt.__version__}.",
        "lme4 is timed inside one R process (`system.time` of `lmer`/`glmer`), mixedlm and",
        "mm_core inside this Python process, each after one warm-up fit, their repetitions",
        "interleaved (one fit of each in turn) so that a drift of the machine falls on both alike.",
        "The ratio columns are",
        "mm_core's time divided by the other's: below 1 means mm_core is faster. The objective",
        "column is mm_core's minus lme4's (−2 log-likelihood or REML criterion): 0 or negative",
        "is right; lme4 did not converge on catdays, verbagg and contra Laplace.",
        "mixedlm's grammar has no `factor()`, `I()` or `cbind()`: it is given the same model",
        "through precomputed columns (and a proportion with weights for cbpp).",
        "",
        "The mlmRev models (egsingle, ScotsSec) come from R's mlmRev package (bench/data).",
        "",
        "| case | mm_core | lme4 | mixedlm | mm_core / lme4 | mm_core / mixedlm | objective − lme4 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def line(c, t_mm, obj, t_r, obj_r, t_ml, ml_note):
        dobj = "–" if obj_r is None else f"{obj - obj_r:+.2e}"
        ml = _fmt(t_ml) if t_ml is not None else (f"fails ({ml_note})" if ml_note else "–")
        return (f"| {c.id} | {_fmt(t_mm)} | {_fmt(t_r)} | {ml} | {_ratio(t_mm, t_r)} | "
                f"{_ratio(t_mm, t_ml)} | {dobj} |")

    for c, *numbers, _memory in rows:
        if not c.scaling:
            lines.append(line(c, *numbers))
    scaling = [(c, numbers, memory) for c, *numbers, memory in rows if c.scaling]
    if scaling:
        lines += ["", "## Scaling suite", "",
                  "A seeded synthetic crossed design (`bench.run.synthetic_crossed`): n rows, n/50",
                  "subjects, min(2000, n/200) items; `y ~ 1 + x + (1 + x|subj) + (1|item)` (ML)",
                  "and the binary `yb ~ 1 + x + (1|subj) + (1|item)` (Laplace). Times as above;",
                  "peak memory is the maximum resident size of a fresh process (interpreter, data",
                  "and one fit) for each tool.", "",
                  "| case | mm_core | lme4 | mixedlm | mm_core / lme4 | mm_core / mixedlm | "
                  "objective − lme4 | peak memory mm_core | lme4 | mixedlm |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c, numbers, memory in scaling:
            lines.append(line(c, *numbers) + f" {_mb(memory.get('mm_core'))} | "
                         f"{_mb(memory.get('lme4'))} | {_mb(memory.get('mixedlm'))} |")
    by_id = {c.id: (numbers[0], numbers[2]) for c, *numbers, _ in rows}
    if "verbagg_fast" in by_id and by_id.get("verbagg_laplace", (None, None))[1]:
        lines += ["", f"verbagg_fast (`fast=True`, lme4's nAGQ = 0) is timed against lme4's nAGQ = 0 "
                  f"above; against lme4's Laplace fit of the same model it takes "
                  f"{_ratio(by_id['verbagg_fast'][0], by_id['verbagg_laplace'][1])} of the time."]
    if boots:
        lines += ["", "## Parametric bootstrap", "",
                  "Wall time of `parametric_bootstrap(fit, n, seed=1, workers=2)` (process pool,",
                  "started beforehand), and the time of one replicate next to one fresh `fit` of",
                  "the same model: a replicate reuses everything that does not depend on the response.",
                  "", "| model | replicates | workers | wall time | per replicate | fresh fit | "
                  "replicate / fit | singular fraction |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for case, n, workers, wall, per, t_fit, sing in boots:
            lines.append(f"| {case} | {n:,} | {workers} | {wall:.2f} s | {per * 1e3:.3f} ms | "
                         f"{t_fit * 1e3:.2f} ms | {per / t_fit:.3f} | {sing:.4f} |")
    lines += list(extra)
    lines.append("")
    lines.append(f"Generated by `python -m bench.run` on {time.strftime('%Y-%m-%d')}.")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
