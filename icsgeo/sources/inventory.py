"""What the data folder holds: every catalogue dataset, present, verified, vintage and rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .catalogue import Catalogue, catalogue
from ..errors import IcsgeoError
from .fetch import locate, verify
from ..settings import get_settings

__all__ = ["DatasetStatus", "inventory", "data_dir_label"]


@dataclass
class DatasetStatus:
    id: str
    kind: str
    vintage: str
    file: str
    present: bool
    verified: bool
    rows: int | None
    path: str | None
    title: str
    problem: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def inventory(*, count_rows: bool = True, rehash: bool = True, cat: Catalogue | None = None) -> list[DatasetStatus]:
    """One :class:`DatasetStatus` per catalogue entry.

    Every present file is hashed afresh unless ``rehash=False`` (then a file whose size and
    modification time are unchanged keeps its remembered hash: what a service checking itself often
    wants). ``rows`` is the number of rows icsgeo reads from the file (all tables of a workbook added
    up; lines of a documentation file), or ``None`` when the file is absent or fails verification.
    """
    from .read import read, read_text

    cat = cat or catalogue()
    out = []
    for entry in cat:
        path = locate(entry, catalogue=cat)
        status = DatasetStatus(entry.id, entry.kind, entry.vintage, entry.file, path is not None, False, None,
                               str(path) if path else None, entry.title)
        if path is None:
            status.problem = "missing"
        else:
            status.verified = verify(path, entry, memo=not rehash)
            if not status.verified:
                size = Path(path).stat().st_size
                status.problem = f"sha256 differs from the catalogue ({size:,} bytes): truncated, corrupted or another vintage"
            elif count_rows:
                try:
                    if entry.reader == "text":
                        status.rows = len(read_text(entry, catalogue=cat).splitlines())
                    else:
                        status.rows = sum(len(read(entry, t, catalogue=cat)) for t in entry.tables)
                except IcsgeoError as exc:
                    status.problem = str(exc)
        out.append(status)
    return out


def data_dir_label() -> str:
    s = get_settings()
    return str(s.data_dir) if s.data_dir else "(ICSGEO_DATA_DIR not set)"
