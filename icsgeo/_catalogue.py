"""The dataset catalogue: every published file icsgeo reads, by id and vintage.

The catalogue is data (``boundaries/catalogue.toml``, shipped inside the wheel). Each entry says where
the file lives, how to check it (sha256) and which source column plays which canonical role, so one
reader serves every vintage.

>>> from icsgeo import catalogue
>>> entry = catalogue().get("icb-2026")
>>> entry.columns["code"], entry.tier, entry.vintage
('ICB26CD', 'system', '2026')
>>> sorted(e.id for e in catalogue().select(kind="boundary", tier="system"))
['icb-2023', 'icb-2026', 'stp-2021']
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from .errors import UnknownDatasetError

__all__ = ["Dataset", "Table", "Catalogue", "catalogue", "boundaries_dir"]

KINDS = (
    "boundary",
    "lookup",
    "practices",
    "pcn-membership",
    "registrations",
    "postcodes",
    "codelist",
    "statistics",
    "documentation",
)


def boundaries_dir() -> Path:
    """The folder holding ``catalogue.toml`` and ``systems/`` (inside the wheel, or the source tree)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "boundaries", here.parent / "boundaries"):
        if (candidate / "catalogue.toml").is_file():
            return candidate
    raise FileNotFoundError(
        f"icsgeo's catalogue is missing: looked in {here / 'boundaries'} and "
        f"{here.parent / 'boundaries'}. Reinstall icsgeo (pip install --force-reinstall icsgeo)."
    )


@dataclass(frozen=True)
class Table:
    """One table inside a dataset file (a sheet of a workbook, or the file itself)."""

    name: str
    columns: Mapping[str, Any]
    sheet: str | None = None
    rows: int | None = None
    dates: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    boolean: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """A catalogue entry: one published file of one vintage."""

    id: str
    title: str
    publisher: str
    kind: str
    vintage: str
    date: str
    file: str
    format: str
    reader: str
    sha256: str
    licence: str
    attribution: str
    tables: Mapping[str, Table]
    default_table: str
    member: str | None = None
    url: str | None = None
    landing: str | None = None
    tier: str | None = None
    rows: int | None = None
    note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> Mapping[str, Any]:
        """Column roles of the default table: canonical role -> source column name or position."""
        return self.tables[self.default_table].columns

    def table(self, name: str | None = None) -> Table:
        name = name or self.default_table
        try:
            return self.tables[name]
        except KeyError:
            raise UnknownDatasetError(
                f"dataset {self.id!r} has no table {name!r}; its tables are: {', '.join(self.tables)}"
            ) from None

    def get(self, key: str, default: Any = None) -> Any:
        """An extra, reader-specific catalogue field (e.g. ``status_values``)."""
        return self.extra.get(key, default)


_CORE = {
    "title", "publisher", "kind", "vintage", "date", "file", "format", "reader", "sha256",
    "licence", "attribution", "member", "url", "landing", "tier", "rows", "note",
    "columns", "tables", "default_table", "licence_url", "dates", "numeric", "boolean", "sheet",
}  # fmt: skip


def _table(name: str, raw: Mapping[str, Any]) -> Table:
    return Table(
        name=name,
        columns=dict(raw.get("columns", {})),
        sheet=raw.get("sheet"),
        rows=raw.get("rows"),
        dates=tuple(raw.get("dates", ())),
        numeric=tuple(raw.get("numeric", ())),
        boolean=tuple(raw.get("boolean", ())),
    )


def _dataset(id_: str, raw: dict[str, Any], defaults: Mapping[str, Any]) -> Dataset:
    raw = {**defaults, **raw}
    missing = [k for k in ("title", "kind", "file", "format", "reader", "sha256") if k not in raw]
    if missing:
        raise UnknownDatasetError(f"catalogue entry {id_!r} lacks required fields: {missing}")
    if raw["kind"] not in KINDS:
        raise UnknownDatasetError(f"catalogue entry {id_!r} has kind {raw['kind']!r}; known: {KINDS}")
    if "tables" in raw:
        tables = {name: _table(name, t) for name, t in raw["tables"].items()}
        default_table = raw.get("default_table") or next(iter(tables))
    else:
        default_table = "main"
        tables = {"main": _table("main", raw)}
    return Dataset(
        id=id_,
        title=raw["title"],
        publisher=raw.get("publisher", ""),
        kind=raw["kind"],
        vintage=str(raw.get("vintage", "")),
        date=str(raw.get("date", "")),
        file=raw["file"],
        format=raw["format"],
        reader=raw["reader"],
        sha256=raw["sha256"].lower(),
        licence=raw.get("licence", ""),
        attribution=raw.get("attribution", ""),
        tables=tables,
        default_table=default_table,
        member=raw.get("member"),
        url=raw.get("url"),
        landing=raw.get("landing"),
        tier=raw.get("tier"),
        rows=raw.get("rows"),
        note=raw.get("note"),
        extra={k: v for k, v in raw.items() if k not in _CORE},
    )


class Catalogue:
    """An ordered collection of :class:`Dataset` entries."""

    def __init__(
        self,
        datasets: Mapping[str, Dataset],
        source: str = "<memory>",
        vintages: Mapping[str, Mapping[str, Any]] | None = None,
        code_changes: Mapping[str, Mapping[str, str]] | None = None,
        local_folders: tuple[str, ...] = (),
    ):
        self._datasets = dict(datasets)
        self.source = source
        #: geography vintage -> which datasets make its systems, places and neighbourhoods
        self.vintages: dict[str, dict[str, Any]] = {str(k): dict(v) for k, v in (vintages or {}).items()}
        #: code family -> {newer code: older code} for areas whose code changed but not their extent
        self.code_changes: dict[str, dict[str, str]] = {k: dict(v) for k, v in (code_changes or {}).items()}
        #: folders of a data folder that hold local definitions (a council's neighbourhood layer…):
        #: what users bring, read through system definitions, never catalogued as national data
        self.local_folders: tuple[str, ...] = tuple(local_folders)

    @classmethod
    def from_file(cls, path: str | Path) -> "Catalogue":
        path = Path(path)
        with path.open("rb") as f:
            return cls.from_dict(tomllib.load(f), source=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "<memory>") -> "Catalogue":
        defaults = raw.get("defaults", {})
        return cls(
            {k: _dataset(k, dict(v), defaults) for k, v in raw.get("datasets", {}).items()},
            source,
            vintages=raw.get("vintages"),
            code_changes=raw.get("code_changes"),
            local_folders=tuple(raw.get("local", {}).get("folders", ())),
        )

    def vintage(self, vintage: str | int | None) -> dict[str, Any]:
        """The geography vintage's definition (the latest when ``None``)."""
        key = self.latest_vintage() if vintage is None else str(vintage)
        if key not in self.vintages:
            raise UnknownDatasetError(
                f"vintage {vintage!r} is not known; known vintages: {', '.join(self.vintages)}"
            )
        return {"vintage": key, **self.vintages[key]}

    def latest_vintage(self) -> str:
        return max(self.vintages)

    def get(self, id_: str) -> Dataset:
        try:
            return self._datasets[id_]
        except KeyError:
            close = difflib.get_close_matches(str(id_), self._datasets, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownDatasetError(
                f"dataset {id_!r} is not in the catalogue.{hint} "
                f"Run `icsgeo data` to list the {len(self._datasets)} known datasets."
            ) from None

    def select(self, **criteria: Any) -> list[Dataset]:
        """Entries whose attributes equal every given criterion, e.g. ``select(kind="boundary")``."""
        return [d for d in self if all(getattr(d, k) == v for k, v in criteria.items())]

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self._datasets.values())

    def __len__(self) -> int:
        return len(self._datasets)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._datasets

    def ids(self) -> list[str]:
        return list(self._datasets)


@functools.cache
def catalogue() -> Catalogue:
    """The catalogue shipped with icsgeo."""
    return Catalogue.from_file(boundaries_dir() / "catalogue.toml")
