"""A fit's notes carry codes: programs decide by the code, people read the text."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mm_core
from mm_core import Note, datasets, note_code


def test_note_is_its_text_with_a_code():
    n = Note("singular", "The fit is singular.")
    assert n == "The fit is singular." and str(n) == "The fit is singular." and n.code == "singular"
    assert f"{n}" == "The fit is singular." and "singular" in n
    back = pickle.loads(pickle.dumps(n))
    assert back == n and back.code == "singular" and isinstance(back, Note)
    with pytest.raises(AttributeError):
        n.code = "convergence"
    with pytest.raises(ValueError, match="unknown note code 'other'"):
        Note("other", "text")
    assert note_code("plain text") is None


def test_singular_and_missing_rows_notes_have_codes():
    d = datasets.load("dyestuff2").copy()
    d.loc[[0, 5], "yield"] = np.nan
    m = mm_core.fit("yield ~ 1 + (1 | batch)", d)
    codes = [note_code(w) for w in m.warnings]
    assert codes == ["missing_rows", "singular"]
    assert m.warnings[0].startswith("2 of 30 rows had missing values")
    back = pickle.loads(pickle.dumps(m))
    assert [note_code(w) for w in back.warnings] == codes


def test_redundant_column_and_convergence_notes_have_codes():
    d = datasets.load("sleepstudy").copy()
    d["days2"] = 2 * d["days"]
    m = mm_core.fit("reaction ~ days + days2 + (days | subj)", d, maxeval=5)
    codes = {note_code(w) for w in m.warnings}
    assert "redundant_columns" in codes and "convergence" in codes
    assert all(isinstance(w, Note) for w in m.warnings)


def test_separation_note_has_its_code():
    d = pd.read_csv(Path(__file__).resolve().parent.parent / "reference" / "hostile" / "separation.csv")
    d["f"] = d["f"].astype(str)
    with pytest.warns(mm_core.SeparationWarning):
        m = mm_core.fit("y ~ x + x2 + (1 | f)", d, family="binomial")
    assert "separation" in {note_code(w) for w in m.warnings}


def test_likelihood_ratio_test_notes_have_codes():
    sleep = datasets.load("sleepstudy")
    small = mm_core.fit("reaction ~ days + (1 | subj)", sleep, reml=True)
    big = mm_core.fit("reaction ~ days + (days | subj)", sleep, reml=True)
    assert [note_code(n) for n in mm_core.likelihood_ratio_test(small, big).notes] == [
        "boundary_test", "reml_criterion"]
    ml = mm_core.fit("reaction ~ 1 + (1 | subj)", sleep)
    with pytest.warns(UserWarning, match="refitted by maximum likelihood"):
        lrt = mm_core.likelihood_ratio_test(ml, big)
    assert [note_code(n) for n in lrt.notes] == ["refit_ml", "boundary_test"]
