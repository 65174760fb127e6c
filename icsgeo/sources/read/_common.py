"""Shared steps of the readers: open a (zipped) file, read CSV as text, apply column roles."""

from __future__ import annotations

import io
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..catalogue import Dataset, Table
from ...errors import DataFileCorruptError, DataFormatError

#: What a damaged file raises while it is read: a bad zip (or CRC), a deflate stream that does not
#: decompress, a compressed stream cut short.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError)


def corrupt(entry: Dataset, path: Path, why: object) -> DataFileCorruptError:
    """The error for a damaged data file: the dataset, the file's name (no absolute path), why, and
    what to do (delete it so that it is fetched or copied again)."""
    from ...settings import get_settings

    text = str(why)
    for p in (Path(path), Path(path).parent):  # a reader's message may carry the absolute path
        text = text.replace(str(p), p.name)
    s = get_settings()
    where = "the data folder (ICSGEO_DATA_DIR)"
    try:
        if s.data_dir is None or s.data_dir.resolve() not in Path(path).resolve().parents:
            where = "icsgeo's cache (the data folder inside ICSGEO_CACHE_DIR)"
    except OSError:
        pass
    src = entry.url or entry.landing or entry.publisher
    again = (f"run `icsgeo data fetch {entry.id}` to download it again, or download it from {src}" if entry.url
             else f"download it again from {src}")
    return DataFileCorruptError(
        f"dataset {entry.id!r}: the file {entry.file} is damaged ({text}): its bytes are not those its publisher "
        f"published (a broken download or copy, or a failing disk). Delete {entry.file} from {where}, then "
        f"{again} and save it under the same name."
    )


def check_intact(path: Path, entry: Dataset) -> None:
    """Read a zip's members (the catalogue's ``member``, else all) through their CRC checks, and a
    Parquet file's footer: raises :func:`corrupt` for a damaged file. Used when the hash check is
    ``warn`` or ``off`` (GDAL reads a stored zip member without checking its CRC)."""
    suffix = Path(path).suffix.lower()
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                for name in [entry.member] if entry.member in names else names:
                    with zf.open(name) as f:
                        while f.read(1 << 22):
                            pass
        except DAMAGED as exc:
            raise corrupt(entry, path, exc) from exc
    elif entry.member or entry.format == "zip" or suffix == ".zip":
        raise corrupt(entry, path, "not a readable zip file: cut short or damaged")
    elif entry.format == "parquet" or suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            pq.read_metadata(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a file cut short vary
            raise corrupt(entry, path, f"not a readable Parquet file: {exc}") from exc


@contextmanager
def open_member(path: Path, entry: Dataset) -> Iterator[IO[bytes]]:
    """The file itself, or its catalogue ``member`` inside a zip."""
    if entry.member:
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise corrupt(entry, path, f"not a readable zip file: {exc}") from exc
        with zf:
            if entry.member not in zf.namelist():
                raise DataFormatError(
                    f"{path} (dataset {entry.id!r}) has no member {entry.member!r}; "
                    f"it holds {zf.namelist()[:10]}"
                )
            with zf.open(entry.member) as f:
                yield f
    else:
        with open(path, "rb") as f:
            yield f


def read_csv_text(path: Path, entry: Dataset, *, header: bool = True, encoding: str | None = None) -> pd.DataFrame:
    """Every column as text (no type guessing: codes such as ``02P`` or ``4`` stay strings)."""
    encoding = encoding or entry.get("encoding", "utf8")
    try:
        with open_member(path, entry) as f:
            data = f.read()
        if data[:3] == b"\xef\xbb\xbf":
            data = data[3:]
        read_opts = pacsv.ReadOptions(autogenerate_column_names=not header, encoding=encoding, block_size=1 << 24)
        # The first line gives the column names (or the width of a headerless file), so that
        # every column can be read as a string.
        first = pacsv.read_csv(io.BytesIO(data.split(b"\n", 1)[0] + b"\n"), read_options=read_opts)
        types = {n: pa.string() for n in first.column_names}
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=read_opts,
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}) could not be read as CSV: {exc}. "
            f"Is it the file the catalogue describes ({entry.title})?"
        ) from exc
    return table.to_pandas()


def apply_roles(frame: pd.DataFrame, table: Table, entry: Dataset, path: Path) -> pd.DataFrame:
    """Keep the catalogue's columns, renamed to their canonical roles, in catalogue order."""
    roles: Mapping[str, object] = table.columns
    if frame.columns.dtype != object or not all(isinstance(c, str) for c in frame.columns):
        frame.columns = [str(c) for c in frame.columns]
    cleaned = {" ".join(str(c).split()): c for c in frame.columns}
    missing = [src for src in roles.values() if " ".join(str(src).split()) not in cleaned]
    if missing:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}) lacks the columns {missing}; it has "
            f"{list(cleaned)[:20]}. Is it the file the catalogue describes ({entry.title})?"
        )
    out = pd.DataFrame({role: frame[cleaned[" ".join(str(src).split())]] for role, src in roles.items()})
    for col in table.numeric:
        out[col] = to_number(out[col], col, entry)
    for col in table.boolean:
        out[col] = to_bool(out[col])
    for col in table.dates:
        out[col] = to_date(out[col])
    return out


def to_number(s: pd.Series, name: str, entry: Dataset) -> pd.Series:
    values = pd.to_numeric(s, errors="coerce")
    bad = values.isna() & s.notna() & (s.astype("string").str.strip() != "")
    if bad.any():
        raise DataFormatError(
            f"dataset {entry.id!r}: column {name!r} holds {int(bad.sum())} non-numeric values, "
            f"e.g. {s[bad].iloc[0]!r}"
        )
    return values


def to_bool(s: pd.Series) -> pd.Series:
    text = s.astype("string").str.strip().str.lower()
    return text.isin(["true", "1", "yes", "y", "t"]).astype(bool)


def to_date(s: pd.Series, fmt: str = "%Y%m%d") -> pd.Series:
    """yyyymmdd text or numbers (ODS style) to datetimes; blanks become NaT."""
    text = s.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    return pd.to_datetime(text.where(text != ""), format=fmt, errors="coerce")


def by_position(frame: pd.DataFrame, roles: Mapping[str, int], entry: Dataset, path: Path, width: int) -> pd.DataFrame:
    """Select 1-based column positions of a headerless file, checking its width first."""
    if frame.shape[1] != width:
        raise DataFormatError(
            f"{path} (dataset {entry.id!r}) has {frame.shape[1]} columns; a {entry.reader} file has {width}. "
            f"Is it the file the catalogue describes ({entry.title})?"
        )
    return pd.DataFrame({role: frame.iloc[:, int(pos) - 1] for role, pos in roles.items()})


def strip_text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for c in columns:
        frame[c] = frame[c].astype("string").str.strip().replace("", pd.NA)
    return frame
