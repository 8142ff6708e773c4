"""Save and open a workspace holding the InstEval fit, as the app does, and time both.

Saving writes the data (73,421 rows) as Parquet with a hashed manifest; opening checks every
hash, reads the tables back and refits the model (its objective checked against the saved
one). ``python -m bench.workspace`` prints the times; ``make bench`` adds them to
``bench/README.md``.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATASET = "insteval"
FORMULA = "y ~ 1 + service*dept + (1|s) + (1|d)"
TARGET_SECONDS = 10.0


def workspace_times(reps: int = 3) -> dict:
    """Median seconds to save and to open a workspace with the InstEval fit, and its size."""
    from gui import engine
    from gui.files import workspace
    from gui.files.io import frame_hash
    from gui.shell.state import FitRecord
    from gui.spec.model_spec import ModelSpec
    from mm_core import datasets

    data = datasets.load(DATASET)
    spec = ModelSpec.from_formula(engine.parse_formula(FORMULA))
    t0 = time.perf_counter()
    res = engine.fit(spec.to_formula(), data, **spec.fit_kwargs())
    fit_seconds = time.perf_counter() - t0
    rec = FitRecord(id=1, spec=spec, formula=spec.to_formula(), data_name=DATASET, data_key=frame_hash(data),
                    data=data, result=res, seconds=fit_seconds)
    ws = workspace.Workspace(data_raw=data, data=data, data_name=DATASET, data_source="bundled", spec=spec,
                             formula_text=rec.formula, fits=[rec], current_fit=1, next_fit_id=2)
    save, open_ = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        blob = workspace.write(ws)
        save.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        opened = workspace.read(blob)
        open_.append(time.perf_counter() - t0)
    assert abs(opened.fits[0]["result"].objective - res.objective) <= workspace.OBJECTIVE_TOLERANCE
    return {"save": statistics.median(save), "open": statistics.median(open_), "fit": fit_seconds,
            "bytes": len(blob), "rows": len(data), "reps": reps, "load": os.getloadavg()[0]}


def report_lines(t: dict) -> list[str]:
    total = t["save"] + t["open"]
    return ["", "## Workspace", "",
            f"A workspace holding the InstEval data ({t['rows']:,} rows) and the fit `{FORMULA}`,",
            "saved and opened as the Data page does (median of "
            f"{t['reps']}): opening verifies every SHA-256 hash, reads the Parquet tables and refits the model",
            f"(load average {t['load']:.1f} on {os.cpu_count()} cores while measuring).",
            "", "| file size | save | open (with refit) | save + open | target |", "|---:|---:|---:|---:|---:|",
            f"| {t['bytes'] / 2**20:.1f} MB | {t['save']:.2f} s | {t['open']:.2f} s | {total:.2f} s | "
            f"< {TARGET_SECONDS:.0f} s |"]


def append_report(path: Path) -> dict:
    """Time the workspace and append its section to the benchmark README."""
    t = workspace_times()
    print(f"workspace {DATASET}: save {t['save']:.2f} s, open {t['open']:.2f} s "
          f"({t['bytes'] / 2**20:.1f} MB)", flush=True)
    text = path.read_text() if path.exists() else ""
    text = text.split("\n## Workspace\n")[0]
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(report_lines(t)) + "\n")
    return t


if __name__ == "__main__":
    times = workspace_times()
    print("\n".join(report_lines(times)))
