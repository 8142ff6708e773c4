"""The workspace file: a saved session opens with the same data, fits, bootstrap and settings;
every damaged, truncated, tampered, foreign, oversized or newer file is refused with a message
and the session keeps its data and fits (AppTest on the Data page)."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from gui import engine
from gui.files import workspace
from gui.shell import state as gstate
from gui.spec.data_design import apply_column_types
from gui.spec.model_spec import ModelSpec
from tests.gui.test_layers import _imports

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")   # opens on the Data page


@pytest.fixture(scope="module")
def boot_record(lmm_record):
    res = engine.parametric_bootstrap(lmm_record.result, 40, seed=7)
    return gstate.BootRecord(fit_id=lmm_record.id, n=40, seed=7, result=res, seconds=0.5)


@pytest.fixture(scope="module")
def glmm2(glmm_record):
    """The cbpp GLMM as fit 2 of the session (the LMM is fit 1)."""
    return gstate.FitRecord(**{**glmm_record.__dict__, "id": 2})


@pytest.fixture(scope="module")
def saved(lmm_record, glmm2, boot_record) -> bytes:
    raw = lmm_record.data
    types = {"days": "categorical"}
    work = apply_column_types(raw, types, {"days": "3"})
    ws = workspace.Workspace(data_raw=raw, data=work, data_name="sleepstudy", data_source="bundled",
                             col_types=types, ref_levels={"days": "3"}, spec=glmm2.spec,
                             formula_text=glmm2.formula, fits=[lmm_record, glmm2], boots=[boot_record],
                             current_fit=1, next_fit_id=3,
                             prefs={"boot.level": 0.9, "re.group": "subj", "report.figures": ["Caterpillar plots"]})
    return workspace.write(ws)


def members(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return {i.filename: zf.read(i.filename) for i in zf.infolist()}


def repack(blob: bytes, *, change: dict[str, bytes] | None = None, manifest: dict | None = None,
           rehash: bool = True) -> bytes:
    """The archive with members replaced, the manifest edited and (``rehash``) its hashes renewed."""
    m = members(blob)
    man = json.loads(m.pop(workspace.MANIFEST))
    m.update(change or {})
    if rehash:
        man["files"] = {n: {"bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in m.items()}
    man.update(manifest or {})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(workspace.MANIFEST, json.dumps(man))
        for n, b in m.items():
            zf.writestr(n, b)
    return out.getvalue()


# ------------------------------------------------------------------------------- round trip


def test_the_archive_is_json_and_parquet_with_a_hashed_manifest(saved):
    m = members(saved)
    man = json.loads(m[workspace.MANIFEST])
    assert man["format"] == workspace.FORMAT and man["format_version"] == workspace.FORMAT_VERSION
    assert man["engine_version"] and man["app_version"] and man["software"]["numpy"]
    assert set(man["files"]) == set(m) - {workspace.MANIFEST}
    for name, blob in m.items():
        assert name.endswith((".json", ".parquet")), name
        if name != workspace.MANIFEST:
            assert hashlib.sha256(blob).hexdigest() == man["files"][name]["sha256"]
            assert b"pickle" not in blob.lower() or name.endswith(".parquet")


def test_read_gives_back_data_fits_bootstrap_and_settings(saved, lmm_record, glmm2, boot_record):
    ws = workspace.read(saved)
    assert ws.data_name == "sleepstudy" and ws.col_types == {"days": "categorical"}
    assert ws.ref_levels == {"days": "3"} and next(iter(ws.data["days"].cat.categories)) == "3"
    pd.testing.assert_frame_equal(ws.data_raw, lmm_record.data)
    assert [f["id"] for f in ws.fits] == [1, 2] and ws.current_fit == 1 and ws.next_fit_id == 3
    for f, rec in zip(ws.fits, [lmm_record, glmm2]):
        assert f["data_key"] == rec.data_key
        assert f["result"].objective == pytest.approx(rec.result.objective, abs=1e-8)
        pd.testing.assert_series_equal(f["result"].fixef, rec.result.fixef, rtol=1e-10)
    assert ws.fits[0]["result"].sigma == pytest.approx(lmm_record.result.sigma, rel=1e-10)
    b = ws.boots[0]["result"]
    pd.testing.assert_frame_equal(b.confint(0.95), boot_record.result.confint(0.95))
    pd.testing.assert_frame_equal(b.fits, boot_record.result.fits)
    assert ws.prefs == {"boot.level": 0.9, "re.group": "subj", "report.figures": ["Caterpillar plots"]}
    assert ws.spec.family == "binomial" and ws.formula_text == glmm2.formula


def test_an_empty_session_round_trips():
    ws = workspace.read(workspace.write(workspace.Workspace()))
    assert ws.data is None and ws.fits == [] and ws.boots == []


def test_workspace_modules_stay_free_of_streamlit():
    for name in ("files/workspace", "files/versions", "views/report_document", "views/report_figures",
                 "views/augmented_data"):
        assert not any(m.split(".")[0] == "streamlit" for m in _imports(ROOT / "gui" / f"{name}.py")), name


# ------------------------------------------------------------------------------- refusals


def damaged(blob):
    return blob[:30] + b"\x00" * 200 + blob[230:]


def truncated(blob):
    return blob[: len(blob) // 2]


def tampered(blob):
    session = json.loads(members(blob)[workspace.SESSION])
    session["fits"][0]["formula"] = "reaction ~ 1 + (1 | subj)"
    return repack(blob, change={workspace.SESSION: json.dumps(session).encode()}, rehash=False)


def tampered_data(blob):
    name = next(n for n in members(blob) if n.startswith("data/"))
    return repack(blob, change={name: members(blob)[name][:-9] + b"123456789"}, rehash=False)


def foreign_zip(blob):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def foreign_manifest(blob):
    return repack(blob, manifest={"format": "some-other-app"})


def not_a_zip(blob):
    return b"subj,days,reaction\nS1,0,250\n"


def newer(blob):
    return repack(blob, manifest={"format_version": workspace.FORMAT_VERSION + 1})


def unlisted_member(blob):
    m = members(blob)
    man = json.loads(m[workspace.MANIFEST])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(workspace.MANIFEST, json.dumps(man))
        for n, b in m.items():
            if n != workspace.MANIFEST:
                zf.writestr(n, b)
        zf.writestr("extra/run_me.py", "print('hi')")
    return out.getvalue()


def objective_moved(blob):
    session = json.loads(members(blob)[workspace.SESSION])
    session["fits"][1]["objective"] += 0.5
    return repack(blob, change={workspace.SESSION: json.dumps(session).encode()})


def malformed_session(blob):
    return repack(blob, change={workspace.SESSION: b'{"data": [1, 2], "fits": "many"}'})


def zip_bomb(blob):
    """A member that unpacks 1,000 times larger than it is stored (declared honestly)."""
    return repack(blob, change={"data/padding.parquet": b"\x00" * (3 * 2**20)})


def lying_size(blob):
    """The manifest claims a member is smaller than it unpacks to."""
    m = members(blob)
    man = json.loads(m[workspace.MANIFEST])
    man["files"][workspace.SESSION]["bytes"] = 10
    return repack(blob, manifest={"files": man["files"]}, rehash=False)


REFUSALS = {
    "damaged": (damaged, "damaged"),
    "truncated": (truncated, "damaged or truncated"),
    "tampered session": (tampered, "SHA-256"),
    "tampered data": (tampered_data, "SHA-256"),
    "foreign zip": (foreign_zip, "no manifest"),
    "foreign manifest": (foreign_manifest, "another format"),
    "not a zip": (not_a_zip, "not a zip archive"),
    "newer format": (newer, "newer version of the app"),
    "unlisted member": (unlisted_member, "does not list"),
    "objective moved": (objective_moved, "not the saved"),
    "malformed session": (malformed_session, "malformed"),
    "zip bomb": (zip_bomb, "would unpack to"),
    "lying size": (lying_size, "larger than the manifest says"),
}


@pytest.fixture
def small_limits(monkeypatch):
    """Limits small enough to test with megabytes instead of gigabytes."""
    monkeypatch.setattr(workspace, "MAX_UNCOMPRESSED_BYTES", 2 * 2**20)


@pytest.mark.parametrize("case", REFUSALS)
def test_read_refuses_with_a_reason(case, saved, small_limits):
    make, words = REFUSALS[case]
    with pytest.raises(workspace.WorkspaceError) as e:
        workspace.read(make(saved))
    assert words in str(e.value), str(e.value)
    assert "current data and fits are kept" in str(e.value)


def test_an_oversized_upload_is_refused_before_it_is_read(saved, monkeypatch):
    monkeypatch.setattr(workspace, "MAX_FILE_BYTES", len(saved) - 1)
    with pytest.raises(workspace.WorkspaceError, match="are accepted"):
        workspace.read(saved)


def session_with_fits(lmm_record, boot_record) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    gstate.prime(at.session_state, data=lmm_record.data, name="sleepstudy", spec=lmm_record.spec,
                 fits=[lmm_record], boots={lmm_record.id: boot_record})
    return at.run()


def upload(at: AppTest, name: str, blob: bytes) -> AppTest:
    return at.file_uploader(key="w.ws.open").set_value((name, blob, "application/zip")).run()


def assert_session_kept(at: AppTest, lmm_record, boot_record) -> None:
    assert at.session_state[gstate.DATA_NAME] == "sleepstudy"
    pd.testing.assert_frame_equal(at.session_state[gstate.DATA], lmm_record.data)
    fits = at.session_state[gstate.FITS]
    assert [f.id for f in fits] == [1] and fits[0].result is lmm_record.result
    assert at.session_state[gstate.BOOTS][1].result is boot_record.result
    assert at.session_state[gstate.SPEC].to_formula() == lmm_record.spec.to_formula()


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_file_leaves_the_session_as_it_was(case, saved, lmm_record, boot_record, small_limits):
    make, words = REFUSALS[case]
    at = upload(session_with_fits(lmm_record, boot_record), f"{case}.mmw", make(saved))
    assert not at.exception
    assert at.error and words in at.error[0].value and f"'{case}.mmw'" in at.error[0].value, \
        [e.value for e in at.error]
    assert_session_kept(at, lmm_record, boot_record)


def test_opening_replaces_the_session_and_pages_show_it(saved, lmm_record, boot_record, glmm2):
    at = AppTest.from_file(APP, default_timeout=120).run()          # a new session: sleepstudy preloaded
    assert at.session_state[gstate.FITS] == []
    at = upload(at, "mine.mmw", saved)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Opened 'mine.mmw'" in at.success[0].value and "2 fits" in at.success[0].value
    ss = at.session_state
    assert [f.id for f in ss[gstate.FITS]] == [1, 2] and ss[gstate.NEXT_FIT_ID] == 3
    assert ss[gstate.FITS][0].result.sigma == pytest.approx(lmm_record.result.sigma, rel=1e-10)
    assert ss[gstate.COL_TYPES] == {"days": "categorical"} and ss[gstate.REF_LEVELS] == {"days": "3"}
    assert ss[gstate.SPEC].family == "binomial"
    assert ss[gstate.PREFS]["boot.level"] == 0.9
    pd.testing.assert_frame_equal(ss[gstate.BOOTS][1].result.values, boot_record.result.values)
    # the result pages show the restored fits
    at.switch_page("pages/summary.py").run()
    assert not at.exception and not at.error
    metric = {m.label: m.value for m in at.metric}
    assert metric["Residual SD σ"] == "25.59"
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"Download report (HTML)", "Download report (Word)", "Download data with results (CSV)"} <= labels
    assert at.multiselect(key="w.pref.report.figures").value == ["Caterpillar plots"]      # the saved choice
    at.switch_page("pages/bootstrap.py").run()
    at.selectbox(key="w.fit_picker").set_value(1).run()
    assert not at.exception and not at.error
    assert at.slider(key="w.boot.level").value == pytest.approx(0.9)
    shown = [c.value for c in at.caption] + [i.value for i in at.info]
    assert any("40 replicates, seed 7" in c.value for c in at.caption), shown


def test_opening_is_refused_while_a_job_runs(saved, lmm_record, boot_record):
    at = session_with_fits(lmm_record, boot_record)

    class Running:
        running = True
        label = "Fitting something"
        kind = "fit"
        cancel_requested = False

        def describe(self):
            return self.label

        def fraction(self):
            return None

    at.session_state[gstate.JOB] = Running()
    at = upload(at, "later.mmw", saved)
    assert at.error and "still running" in at.error[0].value
    assert_session_kept(at, lmm_record, boot_record)
    at.session_state[gstate.JOB] = None


def test_refit_objective_is_stored(saved, lmm_record):
    session = json.loads(members(saved)[workspace.SESSION])
    assert session["fits"][0]["objective"] == pytest.approx(lmm_record.result.objective, abs=0)
    assert np.isfinite(session["fits"][0]["sigma"])


def test_a_file_from_another_engine_version_opens_with_a_note(saved):
    ws = workspace.read(repack(saved, manifest={"engine_version": "0.9"}))
    assert [f["id"] for f in ws.fits] == [1, 2]
    assert any("engine version 0.9" in n for n in ws.notes)


def test_a_file_with_the_old_family_spellings_opens_under_the_engines_names(lmm_record):
    """Files saved when the app wrote "gamma" and "inverse_gaussian" open, and the model and the
    fit then carry the engine's (R's) names "Gamma" and "inverse.gaussian"."""
    spec = ModelSpec.from_text("reaction ~ days + (1 | subj)", ModelSpec(family="Gamma", link="log"))
    res = engine.fit(spec.to_formula(), lmm_record.data, **spec.fit_kwargs())
    rec = gstate.FitRecord(id=1, spec=spec, formula=spec.to_formula(), data_name="sleepstudy",
                           data_key=lmm_record.data_key, data=lmm_record.data, result=res, seconds=0.1)
    ws = workspace.Workspace(data_raw=lmm_record.data, data=lmm_record.data, data_name="sleepstudy",
                             data_source="bundled", spec=spec.with_(family="inverse.gaussian"),
                             formula_text=rec.formula, fits=[rec], current_fit=1, next_fit_id=2)
    blob = workspace.write(ws)
    session = json.loads(members(blob)[workspace.SESSION])
    assert session["fits"][0]["spec"]["family"] == "Gamma"
    assert session["model"]["spec"]["family"] == "inverse.gaussian"
    session["fits"][0]["spec"]["family"] = "gamma"
    session["model"]["spec"]["family"] = "inverse_gaussian"
    old = workspace.read(repack(blob, change={workspace.SESSION: json.dumps(session).encode()}))
    assert old.spec.family == "inverse.gaussian" and old.spec.link == "log"
    assert old.fits[0]["spec"].family == "Gamma" and old.fits[0]["result"].family == "Gamma"
    assert old.fits[0]["result"].objective == pytest.approx(res.objective, abs=1e-6)
