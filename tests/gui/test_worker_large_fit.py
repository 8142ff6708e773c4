"""A large crossed fit runs in the app's worker process and comes back whole.

The worker sends its result to the server pickled; a fit whose random-effects system holds
CHOLMOD objects used to fail there ("the worker process stopped unexpectedly"). 9,000 rows with
4,000 × 3,000 crossed levels is the size a user met; the tables the results page shows are built
from the returned result.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gui.background.jobs import Job
from gui.views.tables import coeftable_display, varcorr_display


def _crossed(n=9000, la=4000, lb=3000, seed=3):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, la, n), rng.integers(0, lb, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + 0.7 * rng.normal(size=la)[a] + 0.5 * rng.normal(size=lb)[b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": pd.Categorical([f"a{i}" for i in a]),
                         "b": pd.Categorical([f"b{i}" for i in b])})


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [(9000, 4000, 3000), (12_000, 5000, 3500)],
                         ids=["app-case", "cholmod"])
def test_large_crossed_fit_comes_back_from_the_worker(sizes):
    import mm_core
    from gui.background import workers

    df = _crossed(*sizes)
    formula = "y ~ 1 + x + (1 | a) + (1 | b)"
    job = Job(workers.in_process("fit", formula, df, {}), kind="fit", label="fit").start()
    assert job.wait(600) and job.status == "done", job.error_detail
    got = job.result
    here = mm_core.fit(formula, df)
    assert got.objective == pytest.approx(here.objective, abs=1e-6)
    np.testing.assert_allclose(got.theta, here.theta, atol=1e-6)
    assert got.nobs == sizes[0]
    vc = varcorr_display(got.varcorr)
    assert list(vc["Group"]) == ["a", "b", "Residual"]
    ct = coeftable_display(got.coeftable)
    assert list(ct.index) == ["(Intercept)", "x"]
