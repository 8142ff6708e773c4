"""The Summary page's advice is chosen by the engine note's code, not by its wording."""
from __future__ import annotations

import dataclasses

from gui.views.report import advice
from mm_core import Note


def test_advice_follows_the_code_not_the_words(lmm_record):
    res = lmm_record.result
    worded = Note("convergence", "The optimizer stopped early.")    # no 'converge' in the text
    misleading = "A plain note that mentions a singular word and missing values."
    items = advice(dataclasses.replace(res, warnings=(worded, misleading)))
    assert "What to do" in items[0][1] and "rescale covariates" in items[0][1]
    assert items[1] == ("warning", misleading)          # no code: shown without advice


def test_singular_advice_once(lmm_record):
    res = dataclasses.replace(lmm_record.result, is_singular=True,
                              warnings=(Note("singular", "The fit is singular."),))
    items = advice(res)
    assert len(items) == 1 and "What to do" in items[0][1]
