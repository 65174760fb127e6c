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

from ..errors import UnknownDatasetError
from . import releases as _releases
from .releases import Family

__all__ = ["Dataset", "Table", "Role", "Vintage", "Family", "Catalogue", "catalogue", "shipped_catalogue",
           "boundaries_dir", "as_date"]

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
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "boundaries", package.parent / "boundaries"):
        if (candidate / "catalogue.toml").is_file():
            return candidate
    raise FileNotFoundError(
        f"icsgeo's catalogue is missing: looked in {package / 'boundaries'} and "
        f"{package.parent / 'boundaries'}. Reinstall icsgeo (pip install --force-reinstall icsgeo)."
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


def _dataset(id_: str, raw: dict[str, Any], defaults: Mapping[str, Any], families: Mapping[str, Family] | None = None) -> Dataset:
    fam = raw.get("family")
    if fam is not None:
        if fam not in (families or {}):
            raise UnknownDatasetError(f"catalogue entry {id_!r} names an unknown family {fam!r}")
        family = (families or {})[fam]
        inherited = {**family.fields, "columns": dict(family.columns)}
        raw = {**inherited, **family.dated(str(raw.get("date", ""))), **raw}
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


@dataclass(frozen=True)
class Role:
    """A part an input plays (``postcodes``, ``lsoa_polygons``, ``practice_map``…) and the datasets
    that can play it, in order of preference.

    ``without`` says what answers lose when none of the datasets is available; a role without it is
    required by every tier that names it.
    """

    name: str
    datasets: tuple[str, ...]
    without: str | None = None
    #: use every dataset present, in order (a later one replacing what it covers), not just the first
    combine: bool = False
    #: the families whose every release plays the role (in the order listed, each newest first; all
    #: oldest first when combining), dated within ``since``..``until`` (ISO days, None: open)
    families: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    #: why the role cannot be played as asked (a pinned release that does not exist or does not fit)
    refusal: str | None = None

    @property
    def optional(self) -> bool:
        return self.without is not None

    def admits(self, day: str) -> bool:
        """True when a release dated ``day`` falls in the role's window."""
        return (self.since is None or self.since <= day) and (self.until is None or day <= self.until)


def _role(name: str, raw: Any, valid: tuple[str | None, str | None] = (None, None)) -> Role:
    if isinstance(raw, str):
        return Role(name, (raw,))
    if isinstance(raw, list):
        return Role(name, tuple(raw))
    if isinstance(raw, Mapping) and ("datasets" in raw or "family" in raw):
        ids = raw.get("datasets", ())
        fams = raw.get("family", ())
        since, until = raw.get("since"), raw.get("until")
        if raw.get("within") == "vintage":  # the releases dated while the vintage's geography was in force
            since, until = valid
        return Role(name, (ids,) if isinstance(ids, str) else tuple(ids), raw.get("without"), bool(raw.get("combine", False)),
                    (fams,) if isinstance(fams, str) else tuple(fams), since and as_date(since), until and as_date(until))
    raise UnknownDatasetError(f"catalogue role {name!r} must be a dataset id, a list of ids or a table with "
                              f"`datasets` or `family`")


@dataclass(frozen=True)
class Vintage:
    """A geography vintage: its date range, what its places and systems are, and the datasets (by
    role) every tier is built from. Code reads roles through it, never dataset ids."""

    key: str
    label: str
    #: the LSOA parent code family the places are (``ccg``, ``sicbl``) and the systems (``stp``, ``icb``)
    place_role: str
    system_role: str
    #: how a place finds its system: ``lookup`` (an ONS lookup) or ``practice-map`` (the ICB its
    #: practices report in an NHS practice map, where no ONS lookup exists yet)
    system_link: str
    roles: Mapping[str, Role]
    tiers: Mapping[str, tuple[str, ...]]
    #: the first and last day the geography was in force (None: open-ended), ISO dates
    valid_from: str | None = None
    valid_to: str | None = None
    #: whether the vintage's day had Sub-ICB Locations (from 1 July 2022)
    sub_icb_locations: bool = True

    def covers(self, day: str) -> bool:
        """True when the geography was in force on ``day`` (an ISO date)."""
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)

    def role(self, name: str) -> Role:
        try:
            return self.roles[name]
        except KeyError:
            raise UnknownDatasetError(
                f"vintage {self.key!r} declares no input role {name!r}; its roles: {', '.join(self.roles)}"
            ) from None

    def ids(self, role: str) -> tuple[str, ...]:
        """Every dataset that can play ``role``, in order of preference."""
        return self.role(role).datasets

    def id(self, role: str) -> str:
        """The dataset of a single-dataset role (the first one listed)."""
        return self.ids(role)[0]

    def inputs(self, *tiers: str) -> dict[str, Role]:
        """The roles the given answer tiers are built from (every tier when none is named), in order."""
        names = tiers or tuple(self.tiers)
        unknown = [t for t in names if t not in self.tiers]
        if unknown:
            raise UnknownDatasetError(f"no answer tier {unknown[0]!r}; the tiers are: {', '.join(self.tiers)}")
        return {r: self.role(r) for t in names for r in self.tiers[t]}


def as_date(day) -> str:
    """An ISO date (``YYYY-MM-DD``) from a date, a datetime or a string; anything else is a clear error."""
    import datetime as _dt

    if isinstance(day, _dt.datetime):
        return day.date().isoformat()
    if isinstance(day, _dt.date):
        return day.isoformat()
    if hasattr(day, "date") and callable(day.date):  # pandas Timestamp
        return day.date().isoformat()
    try:
        return _dt.date.fromisoformat(str(day).strip()).isoformat()
    except ValueError:
        raise UnknownDatasetError(f"{day!r} is not a date: give YYYY-MM-DD, e.g. 2022-06-30") from None


def _iso(value, key: str) -> str | None:
    if value in ("", None):
        return None
    try:
        return as_date(value)
    except UnknownDatasetError:
        raise UnknownDatasetError(f"catalogue vintage {key!r}: {value!r} in valid is not a date") from None


class Catalogue:
    """An ordered collection of :class:`Dataset` entries, the input roles and the geography vintages."""

    def __init__(
        self,
        datasets: Mapping[str, Dataset],
        source: str = "<memory>",
        vintages: Mapping[str, Mapping[str, Any]] | None = None,
        code_changes: Mapping[str, Mapping[str, str]] | None = None,
        local_folders: tuple[str, ...] = (),
        code_changes_since: Mapping[str, str] | None = None,
        roles: Mapping[str, Any] | None = None,
        tiers: Mapping[str, Any] | None = None,
        sizes: Mapping[str, Any] | None = None,
        families: Mapping[str, Family] | None = None,
        pins: Mapping[str, str] | None = None,
        discovery: "_releases.Discovery | None" = None,
    ):
        self._datasets = dict(datasets)
        self.source = source
        #: publication name -> its :class:`Family` (the releases of each are datasets with ``family``)
        self.families: dict[str, Family] = dict(families or {})
        #: family option -> the release chosen instead of the newest (``{"practice-map": "2026-11"}``)
        self.pins: dict[str, str] = dict(pins or {})
        #: files of the data folders beyond the catalogue: refused ones and copies (see ``icsgeo data``)
        self.discovery = discovery or _releases.Discovery()
        unknown_pins = [k for k in self.pins if k not in {f.option for f in self.families.values()}]
        if unknown_pins:
            options = ", ".join(sorted(f.option for f in self.families.values() if f.option))
            raise UnknownDatasetError(f"no family is chosen by {unknown_pins[0]!r}; releases are chosen by: {options}")
        #: role -> the datasets that play it (shared by every vintage unless a vintage says otherwise)
        self.roles: dict[str, Role] = {k: self._resolve(_role(k, v)) for k, v in (roles or {}).items()}
        #: tier -> (smallest, largest) residents of its policy band
        self.sizes: dict[str, tuple[int, int]] = {k: (int(v[0]), int(v[1])) for k, v in (sizes or {}).items()}
        #: answer tier -> the roles it is built from
        self.tiers: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (tiers or {}).items()}
        self._vintages: dict[str, Vintage] = {str(k): self._vintage(str(k), v) for k, v in (vintages or {}).items()}
        #: code family -> {newer code: older code} for areas whose code changed but not their extent
        self.code_changes: dict[str, dict[str, str]] = {k: dict(v) for k, v in (code_changes or {}).items()}
        #: code family -> the day its newer codes took effect (a vintage that ended earlier uses the older)
        self.code_changes_since: dict[str, str] = {k: as_date(v) for k, v in (code_changes_since or {}).items()}
        #: folders of a data folder that hold local definitions (a council's neighbourhood layer…):
        #: what users bring, read through system definitions, never catalogued as national data
        self.local_folders: tuple[str, ...] = tuple(local_folders)

    def releases(self, family: str) -> list[Dataset]:
        """Every release of a family the catalogue knows (recorded or catalogued), oldest first."""
        return sorted((d for d in self if d.get("family") == family), key=lambda d: (d.date, d.id))

    def _resolve(self, role: Role) -> Role:
        """A role naming families: its datasets are the families' releases in its window (newest first,
        or oldest first when combining), then the datasets it names; a pinned release replaces the
        newest (when combining: the releases after it are left out)."""
        if not role.families:
            return role
        from dataclasses import replace

        for fam in role.families:
            if fam not in self.families:
                raise UnknownDatasetError(f"catalogue role {role.name!r} names an unknown family {fam!r}")
        found = [d for fam in role.families for d in self.releases(fam)]
        chosen = [d for d in found if role.admits(d.date)]
        refusal = None
        for fam in role.families:
            family = self.families[fam]
            pin = self.pins.get(family.option or "")
            if pin is None:
                continue
            hit = [d for d in self.releases(fam) if pin in (d.vintage, d.date, d.id)]
            if not hit:
                have = ", ".join(d.vintage for d in self.releases(fam)) or "none"
                refusal = (f"there is no {pin!r} release of {family.title} (releases known: {have}); "
                           f"`icsgeo data add FILE` records a new one")
                chosen = []
                break
            pick = hit[-1]
            if not role.admits(pick.date):
                window = f"{role.since or '…'} to {role.until or 'today'}"
                refusal = (f"the {pick.vintage} release of {family.title} is not of the geography asked for "
                           f"({role.name}: releases dated {window}); choose another vintage or date (--vintage, --as-at)")
                chosen = []
                break
            chosen = [d for d in chosen if d.date <= pick.date] if role.combine else [pick]
        pinned = any(self.families[f].option in self.pins for f in role.families)
        # the datasets the role names besides its families: fallbacks, unless a release was pinned
        extra = [self._datasets[i] for i in role.datasets
                 if i in self._datasets and self._datasets[i].get("family") not in role.families]
        if role.combine:
            ordered = sorted([*chosen, *(d for d in extra if not pinned or d.date <= max(c.date for c in chosen or extra))],
                             key=lambda d: d.date)
        else:  # the families in the order listed (the preferred publication first), newest release first
            rank = {f: i for i, f in enumerate(role.families)}
            newest = sorted(chosen, key=lambda d: (d.date, d.id), reverse=True)
            ordered = sorted(newest, key=lambda d: rank[d.get("family")]) + ([] if pinned else extra)
        ids = tuple(dict.fromkeys(d.id for d in ordered))
        return replace(role, datasets=() if refusal else ids, refusal=refusal)

    def _vintage(self, key: str, raw: Mapping[str, Any]) -> Vintage:
        missing = [k for k in ("place_role", "system_role", "system_link") if k not in raw]
        if missing:
            raise UnknownDatasetError(f"catalogue vintage {key!r} lacks {missing}")
        valid = list(raw.get("valid", ["", ""]))
        if len(valid) != 2:
            raise UnknownDatasetError(f"catalogue vintage {key!r}: valid must be [first day, last day]")
        valid_from, valid_to = (_iso(v, key) for v in valid)
        roles = {**self.roles, **{k: self._resolve(_role(k, v, (valid_from, valid_to))) for k, v in raw.get("roles", {}).items()}}
        for role in roles.values():
            unknown = [i for i in role.datasets if i not in self._datasets]
            if not role.datasets and not role.refusal:
                raise UnknownDatasetError(f"catalogue vintage {key!r}: role {role.name!r} has no dataset")
            if unknown:
                raise UnknownDatasetError(f"catalogue vintage {key!r}: role {role.name!r} names unknown datasets {unknown}")
        for tier, names in self.tiers.items():
            undeclared = [r for r in names if r not in roles]
            if undeclared:
                raise UnknownDatasetError(f"catalogue vintage {key!r}: tier {tier!r} reads undeclared roles {undeclared}")
        return Vintage(key=key, label=str(raw.get("label", key)), place_role=raw["place_role"],
                       system_role=raw["system_role"], system_link=raw["system_link"], roles=roles, tiers=self.tiers,
                       valid_from=valid_from, valid_to=valid_to, sub_icb_locations=bool(raw.get("sub_icb_locations", True)))

    @classmethod
    def from_file(cls, path: str | Path) -> "Catalogue":
        path = Path(path)
        with path.open("rb") as f:
            return cls.from_dict(tomllib.load(f), source=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "<memory>", *, found: "_releases.Discovery | None" = None,
                  pins: Mapping[str, str] | None = None) -> "Catalogue":
        """A catalogue from its TOML tables; ``found``: releases recorded beyond it (see
        :mod:`icsgeo.sources.releases`), added as datasets of their families."""
        defaults = raw.get("defaults", {})
        families = {k: _releases.family_from(k, v) for k, v in raw.get("families", {}).items()}
        entries = {k: _dataset(k, dict(v), defaults, families) for k, v in raw.get("datasets", {}).items()}
        for rec in (found.releases if found else ()):
            if rec["family"] not in families:
                continue
            id_ = f"{rec['family']}-{rec['release']}"
            if id_ in entries:
                id_ = f"{id_}-{rec['sha256'][:8]}"
            entries[id_] = _dataset(id_, _release_entry(rec, families[rec["family"]]), defaults, families)
        return cls(
            entries,
            source,
            vintages=raw.get("vintages"),
            code_changes=raw.get("code_changes"),
            local_folders=tuple(raw.get("local", {}).get("folders", ())),
            code_changes_since=raw.get("code_changes_since"),
            roles=raw.get("roles"),
            tiers=raw.get("tiers"),
            sizes=raw.get("sizes"),
            families=families,
            pins=pins,
            discovery=found,
        )

    @property
    def vintages(self) -> dict[str, Vintage]:
        """Every geography vintage, by key (``"2021"``, ``"2023"``, ``"2026"``)."""
        return dict(self._vintages)

    def vintage(self, vintage: "str | int | Vintage | None" = None) -> Vintage:
        """A geography vintage (the latest when ``None``)."""
        if isinstance(vintage, Vintage):
            return vintage
        key = self.latest_vintage() if vintage is None else str(vintage)
        if key not in self._vintages:
            raise UnknownDatasetError(
                f"vintage {vintage!r} is not known; known vintages: {', '.join(self._vintages)}"
            )
        return self._vintages[key]

    def vintage_at(self, day) -> Vintage:
        """The vintage whose geography was in force on ``day`` (a date or an ISO date string)."""
        iso = as_date(day)
        for v in self._vintages.values():
            if v.covers(iso):
                return v
        spans = "; ".join(f"{v.key}: {v.valid_from or '…'} to {v.valid_to or 'today'}" for v in self._vintages.values())
        raise UnknownDatasetError(f"no vintage covers {iso}: icsgeo knows {spans}")

    def latest_vintage(self) -> str:
        if not self._vintages:
            raise UnknownDatasetError(f"the catalogue {self.source} declares no geography vintage")
        return max(self._vintages)

    def role(self, name: str) -> Role:
        """A shared input role (see :class:`Role`)."""
        try:
            return self.roles[name]
        except KeyError:
            raise UnknownDatasetError(f"the catalogue declares no input role {name!r}; roles: {', '.join(self.roles)}") from None

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


def _release_entry(rec: Mapping[str, Any], family: Family) -> dict[str, Any]:
    """The catalogue entry of a recorded release (its family gives the rest)."""
    month = as_date(rec["date"])
    import datetime as _dt

    label = _dt.date.fromisoformat(month).strftime("%B %Y")
    entry = {"family": family.name, "title": f"{family.title}, {label} (recorded release)", "vintage": rec["release"],
             "date": rec["date"], "file": rec["file"], "sha256": rec["sha256"], "rows": rec.get("rows"),
             "recorded": rec.get("recorded"),
             "columns": {k: v for k, v in family.columns.items() if k in set(rec.get("columns", family.columns))}}
    if rec.get("member"):
        entry["member"] = rec["member"]
    return entry


@functools.cache
def _shipped_raw() -> tuple[dict[str, Any], str]:
    path = boundaries_dir() / "catalogue.toml"
    with path.open("rb") as f:
        return tomllib.load(f), str(path)


@functools.cache
def shipped_catalogue() -> Catalogue:
    """The catalogue shipped with icsgeo, alone (no recorded release, no pin)."""
    raw, source = _shipped_raw()
    return Catalogue.from_dict(raw, source)


def catalogue() -> Catalogue:
    """Give the catalogue in force: every published file icsgeo reads, by id and vintage.

    The shipped catalogue (``boundaries/catalogue.toml``), plus the releases recorded from the data
    folders (:mod:`icsgeo.sources.releases`), with any release pinned (``--practice-map 2026-11``).
    It is rebuilt only when what is recorded changes.

    Returns
    -------
    Catalogue
        ``get(id)`` (a :class:`Dataset`), ``select(**criteria)``, ``vintage(key)``,
        ``vintage_at(day)``, ``ids()``; iterating gives every dataset.

    Raises
    ------
    UnknownDatasetError
        From ``get``, ``vintage`` or ``vintage_at``: a dataset id, vintage or day the catalogue does not
        know (the message suggests close ids).

    See Also
    --------
    read : A catalogue dataset as a frame.
    inventory : Which catalogue files the data folder holds.

    Examples
    --------
    >>> import icsgeo
    >>> cat = icsgeo.catalogue()
    >>> cat.vintage(None).key, sorted(cat.vintages)
    ('2026', ['2021', '2023', '2026'])
    >>> entry = cat.get("icb-2026")
    >>> entry.tier, entry.vintage, entry.columns["code"]
    ('system', '2026', 'ICB26CD')
    >>> cat.get("icb-2099")                                      # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    icsgeo.errors.UnknownDatasetError: dataset 'icb-2099' is not in the catalogue. Did you mean 'icb-2026', ...
    """
    shipped = shipped_catalogue()
    if not shipped.families:
        return shipped
    return _current(_releases.stamp(shipped.families))


@functools.lru_cache(maxsize=8)
def _current(stamp: tuple) -> Catalogue:
    shipped = shipped_catalogue()
    raw, source = _shipped_raw()
    found = _releases.discover(shipped.families, {d.file for d in shipped}, {d.sha256: d.id for d in shipped})
    pins = _releases.pins()
    if not found.releases and not pins:
        shipped.discovery = found
        return shipped
    return Catalogue.from_dict(raw, source, found=found, pins=pins)
