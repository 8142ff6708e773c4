"""Reading uploaded files into DataFrames, with messages that say what is wrong.

Supported: CSV/TSV/TXT, Excel (.xlsx/.xls), Parquet, Arrow/Feather, SPSS ``.sav``, Stata ``.dta``.
No Streamlit here; :func:`read_table` raises :class:`UploadError` with a plain message.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile

import pandas as pd

from gui.data_design import normalise_upload

UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "xls", "parquet", "arrow", "feather", "ipc", "sav", "dta"]
MAX_ROWS = 2_000_000


class UploadError(ValueError):
    """The uploaded file cannot be used; the message says why."""


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def frame_hash(df: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def read_table(name: str, data: bytes) -> pd.DataFrame:
    """Parse an uploaded file by its extension; text columns become categorical."""
    ext = os.path.splitext(name)[1].lower().lstrip(".")
    if not data:
        raise UploadError(f"'{name}' is empty.")
    try:
        if ext in ("csv", "tsv", "txt"):
            df = _read_text(data, ext)
        elif ext in ("xlsx", "xls"):
            df = pd.read_excel(io.BytesIO(data))
        elif ext == "parquet":
            df = pd.read_parquet(io.BytesIO(data))
        elif ext in ("arrow", "feather", "ipc"):
            df = _read_arrow(data)
        elif ext in ("sav", "dta"):
            df = _read_stat(data, ext)
        else:
            raise UploadError(f"'{name}': files of type .{ext} are not supported; use one of "
                              + ", ".join("." + t for t in UPLOAD_TYPES) + ".")
    except UploadError as e:
        msg = str(e)
        raise UploadError(msg if name in msg else f"'{name}': {msg}") from None
    except UnicodeDecodeError:
        raise UploadError(f"'{name}' is not UTF-8 or Latin-1 text; save it as UTF-8 CSV.") from None
    except Exception as e:  # noqa: BLE001 - any parser failure becomes a plain message
        what = {"xlsx": "an Excel workbook", "xls": "an Excel workbook", "parquet": "a Parquet file",
                "arrow": "an Arrow/Feather file", "feather": "an Arrow/Feather file", "ipc": "an Arrow file",
                "sav": "an SPSS .sav file", "dta": "a Stata .dta file"}.get(ext, "a delimited text file")
        raise UploadError(f"'{name}' could not be read as {what}: {_short(e)}") from None
    return check_table(df, name)


def check_table(df: pd.DataFrame, name: str) -> pd.DataFrame:
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise UploadError(f"'{name}' has no data rows.")
    if df.shape[1] < 2:
        raise UploadError(f"'{name}' has only one column ('{df.columns[0]}'); a mixed model needs a response "
                          "and a grouping factor. Is the delimiter right?")
    if df.shape[0] > MAX_ROWS:
        raise UploadError(f"'{name}' has {df.shape[0]:,} rows; the app accepts at most {MAX_ROWS:,}.")
    cols = [str(c).strip() for c in df.columns]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise UploadError(f"'{name}' has duplicate column names: {', '.join(dup)}.")
    if any(c == "" or c.startswith("Unnamed:") for c in cols):
        raise UploadError(f"'{name}' has a column without a name; give every column a header.")
    return normalise_upload(df)


def _read_text(data: bytes, ext: str) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\x00" in text[:4096]:
        raise UploadError("this looks like a binary file, not text; check the file type.")
    if ext == "tsv":
        sep = "\t"
    else:
        try:
            sep = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=sep), [])
    names = [h.strip() for h in header]
    dup = sorted({h for h in names if names.count(h) > 1 and h})
    if dup:
        raise UploadError(f"duplicate column names: {', '.join(dup)}.")
    try:
        return pd.read_csv(io.StringIO(text), sep=sep)
    except pd.errors.ParserError as e:
        raise UploadError(f"the rows do not have the same number of fields ({_short(e)})") from None
    except pd.errors.EmptyDataError:
        raise UploadError("the file has no columns.") from None


def _read_arrow(data: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.feather as feather

    try:
        return feather.read_feather(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - maybe the IPC stream format
        return pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pandas()


def _read_stat(data: bytes, ext: str) -> pd.DataFrame:
    import pyreadstat

    with tempfile.NamedTemporaryFile(suffix="." + ext) as tmp:
        tmp.write(data)
        tmp.flush()
        reader = pyreadstat.read_sav if ext == "sav" else pyreadstat.read_dta
        df, meta = reader(tmp.name, apply_value_formats=True, formats_as_category=True)
    return df


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:200]
