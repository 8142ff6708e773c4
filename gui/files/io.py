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

from gui.spec.data_design import normalise_upload

UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "xls", "parquet", "arrow", "feather", "ipc", "sav", "dta"]
MAX_ROWS = 2_000_000
MAX_COLUMNS = 5_000
MAX_BYTES = 200 * 1024 * 1024     # as Streamlit's default upload limit (server.maxUploadSize)
MAX_UNPACKED = 2 * 1024 ** 3       # an Excel workbook's contents once unzipped (a zip bomb stops here)
_BINARY_SIGNATURES = {b"PK\x03\x04": "a ZIP archive or Excel workbook (.xlsx)", b"PAR1": "a Parquet file",
                      b"ARROW1": "an Arrow/Feather file", b"\x80\x04": "a Python pickle",
                      b"\x80\x05": "a Python pickle", b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
                      b"$FL2": "an SPSS .sav file", b"%PDF": "a PDF document", b"\x1f\x8b": "a gzip archive"}


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
    if len(data) > MAX_BYTES:
        raise UploadError(f"'{name}' is {_size(len(data))}; the app reads files up to {_size(MAX_BYTES)}. "
                          "Upload a subset of the rows or columns.")
    try:
        _check_signature(data, ext)
        if ext in ("csv", "tsv", "txt"):
            df = _read_text(data, ext)
        elif ext in ("xlsx", "xls"):
            _check_unpacked(data)
            _check_header(list(pd.read_excel(io.BytesIO(data), header=None, nrows=1).iloc[0])
                          if len(data) else [])
            df = pd.read_excel(io.BytesIO(data))
        elif ext == "parquet":
            _check_parquet_size(data)
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
    except Exception as e:
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
    if df.shape[1] > MAX_COLUMNS:
        raise UploadError(f"'{name}' has {df.shape[1]:,} columns; the app accepts at most {MAX_COLUMNS:,}.")
    if df.shape[0] > MAX_ROWS:
        raise UploadError(f"'{name}' has {df.shape[0]:,} rows; the app accepts at most {MAX_ROWS:,}.")
    cols = [str(c).strip() for c in df.columns]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise UploadError(f"'{name}' has duplicate column names: {', '.join(dup)}.")
    if any(c == "" or c.startswith("Unnamed:") for c in cols):
        raise UploadError(f"'{name}' has a column without a name; give every column a header.")
    odd = [c for c in cols if "`" in c or any(ord(ch) < 32 or ord(ch) == 127 for ch in c)]
    if odd:
        raise UploadError(f"'{name}': the column name {odd[0]!r} contains a backtick or a control character "
                          "(such as a line break), which formulas cannot quote; rename it.")
    return normalise_upload(df)


def _decode(data: bytes) -> str:
    """Text of a delimited file: UTF-8 (with or without BOM), UTF-16 with a BOM, else Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for sig, what in _BINARY_SIGNATURES.items():
        if data.startswith(sig):
            raise UploadError(f"this is {what}, not delimited text; give the file its proper extension.")
    head = data[:4096]
    if b"\x00" in head:
        raise UploadError("this looks like a binary file, not text; check the file type.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    sample = text[:4096]
    odd = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n") or 127 <= ord(ch) < 160)
    if sample and odd / len(sample) > 0.05:
        raise UploadError("this looks like a binary file, not text; check the file type.")
    return text


def _read_text(data: bytes, ext: str) -> pd.DataFrame:
    text = _decode(data)
    if ext == "tsv":
        sep = "\t"
    else:
        try:
            sep = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
    _check_header(next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=sep), []))
    try:
        return pd.read_csv(io.StringIO(text), sep=sep)
    except pd.errors.ParserError as e:
        raise UploadError(f"the rows do not have the same number of fields ({_short(e)})") from None
    except pd.errors.EmptyDataError:
        raise UploadError("the file has no columns.") from None


_EXPECTED = {"xlsx": (b"PK\x03\x04",), "xls": (b"\xd0\xcf\x11\xe0", b"PK\x03\x04"), "parquet": (b"PAR1",),
             "sav": (b"$FL2", b"$FL3")}
_FORMAT_NAMES = {"xlsx": "an Excel workbook", "xls": "an Excel workbook", "parquet": "a Parquet file",
                 "sav": "an SPSS .sav file"}


def _check_signature(data: bytes, ext: str) -> None:
    """A binary format whose first bytes are not its own: say what the file seems to be instead."""
    expected = _EXPECTED.get(ext)
    if not expected or data.startswith(expected):
        return
    seems = next((what for sig, what in _BINARY_SIGNATURES.items() if data.startswith(sig)), None)
    if seems is None:
        try:
            data[:4096].decode("utf-8")
            seems = "text (perhaps CSV: then give it the .csv extension)"
        except UnicodeDecodeError:
            seems = "something else"
    raise UploadError(f"this is not {_FORMAT_NAMES[ext]}: its content looks like {seems}.")


def _check_unpacked(data: bytes) -> None:
    """An .xlsx is a zip archive: refuse one whose contents unpack to more than ``MAX_UNPACKED``."""
    import zipfile

    if not data.startswith(b"PK\x03\x04"):
        return
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        total = sum(i.file_size for i in z.infolist())
    if total > MAX_UNPACKED:
        raise UploadError(f"the workbook unpacks to {_size(total)}, more than the {_size(MAX_UNPACKED)} the app "
                          "reads; save the sheet as CSV or upload fewer rows.")


def _check_parquet_size(data: bytes) -> None:
    """Rows and columns from the Parquet footer, checked before any column is decompressed."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    if meta.num_rows > MAX_ROWS or meta.num_columns > MAX_COLUMNS:
        raise UploadError(f"it has {meta.num_rows:,} rows and {meta.num_columns:,} columns; the app accepts at "
                          f"most {MAX_ROWS:,} rows and {MAX_COLUMNS:,} columns.")


def _check_header(header: list) -> None:
    """Duplicate names in the header row (the readers would rename them silently to ``x.1``)."""
    names = [str(h).strip() for h in header if not (isinstance(h, float) and h != h)]
    dup = sorted({h for h in names if names.count(h) > 1 and h})
    if dup:
        raise UploadError(f"duplicate column names: {', '.join(dup)}.")


def _read_arrow(data: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.feather as feather

    try:
        return feather.read_feather(io.BytesIO(data))
    except Exception:
        return pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pandas()


def _read_stat(data: bytes, ext: str) -> pd.DataFrame:
    import pyreadstat

    with tempfile.NamedTemporaryFile(suffix="." + ext) as tmp:
        tmp.write(data)
        tmp.flush()
        reader = pyreadstat.read_sav if ext == "sav" else pyreadstat.read_dta
        df, _ = reader(tmp.name, apply_value_formats=True, formats_as_category=True)
    return df


def _size(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:,.1f} GB"
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n / 2**10:,.1f} KB"


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:200]
