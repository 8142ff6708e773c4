"""The bundled example datasets (``sample_data/*.arrow``).

The files are Arrow IPC (Feather v2) tables with categorical columns
dictionary-encoded, as MixedModels.jl ships its datasets; :func:`load` returns
them as pandas DataFrames with ``Categorical`` columns.

Examples
--------
>>> from mm_core import datasets
>>> datasets.load("sleepstudy").shape
(180, 3)
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.feather as feather

from .errors import MixedModelError

DATA_DIR = Path(__file__).resolve().parent.parent / "sample_data"

_DESCRIPTIONS = {
    "dyestuff": "Yield of dyestuff (grams of standard colour) from 5 samples of each of 6 batches "
                "of an intermediate product: the classic one-way random-effects example.",
    "dyestuff2": "Simulated data shaped like dyestuff (6 batches × 5) whose between-batch variance "
                 "is estimated as zero: a singular fit.",
    "sleepstudy": "Average reaction time (ms) of 18 truck drivers on each of 10 days of sleep "
                  "deprivation: random intercepts and slopes by subject.",
    "penicillin": "Diameter (mm) of growth-inhibition zones for 6 penicillin samples on each of "
                  "24 plates: two fully crossed random factors.",
    "pastes": "Strength of a chemical paste, 2 assays of each of 3 casks from each of 10 "
              "delivery batches: casks nested within batches.",
    "insteval": "73,421 course ratings (1-5) of 1,128 lecturers by 2,972 students at ETH Zürich, "
                "with lecturer service and department: large, partially crossed factors.",
    "verbagg": "Verbal aggression: 316 people's yes/no answers to 24 items describing frustrating "
               "situations: a binary response with crossed subject and item effects.",
    "contra": "Contraception use (Y/N) of 1,934 women in 60 districts of Bangladesh, with age, "
              "number of living children and urban residence (1988 fertility survey).",
    "cbpp": "Contagious bovine pleuropneumonia: new serological cases among the cattle of 15 "
            "herds in 4 periods: a binomial response with trials (herd size).",
    "grouseticks": "Number of ticks on 403 red grouse chicks from 118 broods at 63 locations over "
                   "3 years: overdispersed counts with three random factors.",
}


def list_datasets() -> list[str]:
    """Names of the bundled datasets, in alphabetical order.

    Equivalent to ``MixedModels.datasets()`` in Julia.

    Examples
    --------
    >>> "sleepstudy" in list_datasets()
    True
    """
    return sorted(p.stem for p in DATA_DIR.glob("*.arrow"))


def describe(name: str) -> str:
    """One sentence on what the dataset ``name`` is."""
    _check(name)
    return _DESCRIPTIONS.get(name, "")


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a DataFrame with categorical columns.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.

    Returns
    -------
    pandas.DataFrame
        A fresh copy each call; categorical columns keep the level order stored in the file.

    Examples
    --------
    >>> df = load("dyestuff")
    >>> list(df.columns), df["batch"].cat.categories.tolist()[:3]
    (['batch', 'yield'], ['A', 'B', 'C'])
    """
    _check(name)
    return feather.read_table(DATA_DIR / f"{name}.arrow").to_pandas()


def _check(name: str) -> None:
    if name not in list_datasets():
        raise MixedModelError(
            f"no bundled dataset named {name!r}; available: {', '.join(list_datasets())}")
