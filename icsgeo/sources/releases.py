"""Releases of a family: publications icsgeo reads on the day they appear, without a code change.

NHS England republishes the practice -> PCN map monthly and the practice x LSOA registrations
quarterly; ONS the postcode directories quarterly. The catalogue describes each publication once, as a
**family** (``[families.*]`` in ``catalogue.toml``): the file names it comes under, the member inside its
zip, its column roles, what a valid release holds (required columns, code patterns, plausible row
counts) and how to read its release date (from the content, else from the name). A known release keeps
its sha256 in the catalogue as a record. A file of a family that the catalogue does not list (the newest
monthly map) is recognised by its name and columns, **validated**, and its hash recorded in the user's
registry (``<cache>/releases.json``); from then on it is a release like the catalogued ones, usable by
date (``--practice-map 2026-11``) and the newest by default. A file that fails validation is refused,
with what is wrong; a recorded release whose bytes later change is refused too.

This module knows files, not geography: it returns plain release records that the catalogue turns into
datasets (see :func:`icsgeo.sources.catalogue.catalogue`).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import fnmatch
import functools
import io
import json
import logging
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import DataFormatError, UnknownDatasetError
from ..settings import get_settings
from .cache import atomic_write_bytes, sha256_file

__all__ = ["Family", "family_from", "Discovery", "discover", "validate", "registry_path", "record",
           "first_valid", "pins", "use_releases", "PIN_ENV", "release_label"]

log = logging.getLogger("icsgeo")

#: ``ICSGEO_RELEASES="practice-map=2026-11,registrations=2026-10"`` pins releases for a process.
PIN_ENV = "ICSGEO_RELEASES"

_REGISTRY = "releases.json"


@dataclass(frozen=True)
class Family:
    """One publication, republished as releases (see the module docstring)."""

    name: str
    title: str
    folder: str
    #: file names the family comes under (shell patterns, case-insensitive)
    names: tuple[str, ...]
    #: the member inside a zip (shell patterns; the first match is read)
    members: tuple[str, ...] = ()
    headerless: bool = False
    #: canonical role -> source column name (or 1-based position of a headerless file)
    columns: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    #: role -> (regular expression, the share of non-blank values that must match)
    patterns: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    #: role -> the only values it may hold
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rows: tuple[int, int] | None = None
    #: the role holding the release date, and its format (e.g. ``EXTRACT_DATE`` ``01Aug2026``)
    release_role: str | None = None
    release_format: str = "%d%b%Y"
    #: a regular expression finding ``YYYY-MM`` (or ``YYYY-MM-DD``) in the file name, or with
    #: groups ``mon`` (JAN…) and ``year`` (ONSPD_NOV_2025_UK.zip)
    release_name: str = r"(\d{4}-\d{2}(?:-\d{2})?)"
    #: a zip member whose text holds the release date, and the expression finding it there (Code-Point's
    #: Doc/metadata.txt: ``COPYRIGHT DATE: 20251020``), read with ``release_format``
    release_member: str | None = None
    release_pattern: str | None = None
    #: the column names of a headerless file, in order (documented by its publisher)
    header: tuple[str, ...] = ()
    #: per-release fields by date: field -> [[first day, value], …] (the last that began on or
    #: before the release date applies)
    by_date: Mapping[str, tuple[tuple[str, Any], ...]] = field(default_factory=dict)
    #: the name a user pins a release by (``--practice-map 2026-11``)
    option: str | None = None
    #: everything a release inherits (reader, format, kind, publisher, attribution, landing…)
    fields: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, filename: str) -> bool:
        low = filename.lower()
        return any(fnmatch.fnmatchcase(low, p.lower()) for p in self.names)

    def dated(self, day: str) -> dict[str, Any]:
        """The per-release fields in force on ``day``."""
        out: dict[str, Any] = {}
        for name, steps in self.by_date.items():
            for first, value in steps:
                if not first or first <= day:
                    out[name] = value
        return out


_FAMILY_KEYS = {"title", "folder", "names", "members", "headerless", "columns", "required", "patterns", "values",
                "rows", "release", "by_date", "option", "header"}


def family_from(name: str, raw: Mapping[str, Any]) -> Family:
    """A :class:`Family` from its catalogue table."""
    for key in ("title", "folder", "names", "columns"):
        if key not in raw:
            raise UnknownDatasetError(f"catalogue family {name!r} lacks {key!r}")
    patterns = {}
    for role, spec in raw.get("patterns", {}).items():
        regex, share = (spec, 0.99) if isinstance(spec, str) else (spec[0], float(spec[1]))
        patterns[role] = (regex, share)
    release = dict(raw.get("release", {}))
    rows = raw.get("rows")
    return Family(
        name=name, title=raw["title"], folder=raw["folder"], names=tuple(raw["names"]),
        members=tuple(raw.get("members", ())), headerless=bool(raw.get("headerless", False)),
        columns=dict(raw["columns"]), required=tuple(raw.get("required", ())), patterns=patterns,
        values={k: tuple(str(x) for x in v) for k, v in raw.get("values", {}).items()},
        rows=(int(rows[0]), int(rows[1])) if rows else None,
        release_role=release.get("role"), release_format=release.get("format", "%d%b%Y"),
        release_name=release.get("name", r"(\d{4}-\d{2}(?:-\d{2})?)"),
        release_member=release.get("member"), release_pattern=release.get("pattern"),
        header=tuple(raw.get("header", ())),
        by_date={k: tuple((str(a), b) for a, b in v) for k, v in raw.get("by_date", {}).items()},
        option=raw.get("option"),
        fields={k: v for k, v in raw.items() if k not in _FAMILY_KEYS},
    )


def release_label(day: str) -> str:
    """How a release is named: ``YYYY-MM`` of its date."""
    return day[:7]


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

def _member(path: Path, family: Family) -> str | None:
    """The zip member to read (None for a plain file)."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
    for pattern in family.members or ("*.csv",):
        hits = [n for n in names if fnmatch.fnmatchcase((n if "/" in pattern else Path(n).name).lower(), pattern.lower())]
        if hits:
            return hits[0]
    raise DataFormatError(f"{path} is a zip without a {' or '.join(family.members or ('*.csv',))} member "
                          f"({family.title}); it holds {names[:10]}")


def _table(path: Path, member: str | None, family: Family):
    """The member (or file) as text columns: only the columns the family's roles name."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        if member:
            with zipfile.ZipFile(path) as zf, zf.open(member) as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path} could not be read: {exc}") from exc
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    opts = pacsv.ReadOptions(autogenerate_column_names=family.headerless, block_size=1 << 24)
    try:
        first = pacsv.read_csv(io.BytesIO(data.split(b"\n", 1)[0] + b"\n"), read_options=opts)
        names = first.column_names
        if family.headerless and family.header:
            if len(names) != len(family.header):
                raise DataFormatError(f"{path}{f' ({member})' if member else ''} has {len(names)} columns; "
                                      f"{family.title} has {len(family.header)} ({', '.join(family.header)})")
            opts = pacsv.ReadOptions(column_names=list(family.header), block_size=1 << 24)
            names = list(family.header)
        wanted = [n for role in family.columns if (n := _source_name(family, role, names)) is not None]
        types = {n: pa.string() for n in names}
        return pacsv.read_csv(io.BytesIO(data), read_options=opts,
                              convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                                   include_columns=wanted or None))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path} is not a CSV file of {family.title}: {exc}") from exc


def _source_name(family: Family, role: str, names: list[str]) -> str | None:
    """The file's column playing ``role``: by position (headerless), else by name, the first present of
    a list of candidate names (releases rename columns: ``lsoa21`` then ``lsoa21cd``), any case."""
    src = family.columns[role]
    if family.headerless and not family.header:
        i = int(src) - 1
        return names[i] if 0 <= i < len(names) else None
    upper = {" ".join(n.split()).upper(): n for n in names}
    for cand in (src if isinstance(src, (list, tuple)) else [src]):
        hit = upper.get(" ".join(str(cand).split()).upper())
        if hit is not None:
            return hit
    return None


def _label(src: Any) -> str:
    return " or ".join(repr(s) for s in src) if isinstance(src, (list, tuple)) else repr(src)


def validate(path: Path, family: Family) -> dict[str, Any]:
    """Check a file is a release of ``family``; return what a release record holds (``release``,
    ``date``, ``rows``, ``member``, ``columns`` present). Raises :class:`DataFormatError` saying what is
    wrong: the missing column, the column whose codes do not fit, the row count, the date."""
    import pyarrow.compute as pc

    path = Path(path)
    member = _member(path, family)
    table = _table(path, member, family)
    names = table.column_names
    where = f"{path}{f' ({member})' if member else ''}"
    present = {role: n for role in family.columns if (n := _source_name(family, role, names)) is not None}
    missing = [role for role in family.required if role not in present]
    if missing:
        cols = ", ".join(f"{_label(family.columns[r])} ({r})" for r in missing)
        raise DataFormatError(f"{where} is named like {family.title} but lacks the column{'s' if len(missing) > 1 else ''} "
                              f"{cols}; it has {names[:20]}")
    n = table.num_rows
    if family.rows and not family.rows[0] <= n <= family.rows[1]:
        raise DataFormatError(f"{where} has {n:,} rows; a release of {family.title} has {family.rows[0]:,} to "
                              f"{family.rows[1]:,}: is it truncated, or another file?")
    for role, (regex, share) in family.patterns.items():
        if role not in present:
            continue
        col = pc.utf8_trim_whitespace(table.column(present[role]))
        col = col.filter(pc.and_(pc.is_valid(col), pc.not_equal(col, "")))
        if len(col) == 0:
            raise DataFormatError(f"{where}: column {_label(family.columns[role])} ({role}) is empty")
        ok = pc.match_substring_regex(col, regex)
        fit = pc.sum(ok).as_py() / len(col)
        if fit < share:
            bad = col.filter(pc.invert(ok)).slice(0, 3).to_pylist()
            raise DataFormatError(f"{where}: column {_label(family.columns[role])} ({role}) holds codes that do not fit "
                                  f"{regex} ({1 - fit:.1%} of values, e.g. {bad}); a release of {family.title} holds such codes")
    for role, allowed in family.values.items():
        if role not in present:
            continue
        seen = set(pc.unique(pc.utf8_trim_whitespace(table.column(present[role]))).to_pylist()) - {None, ""}
        odd = sorted(seen - set(allowed))
        if odd:
            raise DataFormatError(f"{where}: column {_label(family.columns[role])} ({role}) holds {odd[:5]}; "
                                  f"{family.title} uses only {list(allowed)}")
    day = _release_date(path, family, table, present, where)
    return {"release": release_label(day), "date": day, "rows": n, "member": member,
            "columns": sorted(present)}


def _release_date(path: Path, family: Family, table, present: Mapping[str, str], where: str) -> str:
    import pyarrow.compute as pc

    if family.release_role and family.release_role in present:
        vals = pc.value_counts(table.column(present[family.release_role])).to_pylist()
        vals = [v for v in vals if v["values"]]
        if vals:
            top = max(vals, key=lambda v: v["counts"])["values"].strip()
            try:
                return _dt.datetime.strptime(top, family.release_format).date().isoformat()
            except ValueError:
                raise DataFormatError(f"{where}: {family.columns[family.release_role]!r} holds {top!r}, not a date "
                                      f"like {_dt.date(2026, 8, 1).strftime(family.release_format)}") from None
    if family.release_member and family.release_pattern and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            docs = [n for n in zf.namelist() if fnmatch.fnmatchcase(n.lower(), family.release_member.lower())]
            text = zf.read(docs[0]).decode("utf-8", "replace") if docs else ""
        m = re.search(family.release_pattern, text)
        if m:
            try:
                return _dt.datetime.strptime(m.group(1), family.release_format).date().isoformat()
            except ValueError:
                pass
    m = re.search(family.release_name, path.name)
    if m is None and zipfile.is_zipfile(path):  # the member may carry the date (NHSPD: nhg25feb.csv)
        member = _member(path, family)
        m = re.search(family.release_name, Path(member or "").name)
    if m:
        parts = m.groupdict()
        try:
            year = parts.get("year") or (f"20{parts['yy']}" if parts.get("yy") else None)
            if year and parts.get("mon"):
                return _dt.datetime.strptime(f"01{parts['mon'].title()}{year}", "%d%b%Y").date().isoformat()
            text = m.group(1)
            return _dt.date.fromisoformat(text if len(text) == 10 else f"{text}-01").isoformat()
        except ValueError:
            pass
    raise DataFormatError(f"{where}: icsgeo cannot tell which release of {family.title} this is: name the file "
                          f"with its month (e.g. {path.stem}_2026-11{path.suffix})")


# ---------------------------------------------------------------------------------------------
# The user's registry and discovery
# ---------------------------------------------------------------------------------------------

def registry_path() -> Path:
    """Where the hashes of validated releases are recorded (``<cache>/releases.json``)."""
    return get_settings().cache_dir / _REGISTRY


def _load() -> dict[str, Any]:
    try:
        reg = json.loads(registry_path().read_text())
    except (OSError, ValueError):
        reg = {}
    reg.setdefault("releases", {})
    reg.setdefault("refused", {})
    return reg


def _save(reg: Mapping[str, Any]) -> None:
    try:
        atomic_write_bytes(registry_path(), json.dumps(reg, indent=1, sort_keys=True).encode())
    except OSError as exc:  # a read-only cache only costs a re-validation next time
        log.warning("could not record releases in %s (%s)", registry_path(), exc)


@dataclass
class Discovery:
    """What the data folders hold beyond the catalogue: validated releases and refused files."""

    #: release records (plain dicts: family, file, sha256, release, date, rows, member, columns, recorded)
    releases: list[dict[str, Any]] = field(default_factory=list)
    #: (path, why) of files named like a family that are not used
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: (path, dataset id) of files that are copies of catalogued releases
    duplicates: list[tuple[str, str]] = field(default_factory=list)


def _roots() -> list[Path]:
    s = get_settings()
    return [r for r in (s.data_dir, s.cache_dir / "data") if r is not None]


def stamp(families: Mapping[str, Family]) -> tuple:
    """What discovery depends on: the folders' and registry's modification times, and the pins.
    Cheap (a few ``stat`` calls): the catalogue in force is asked for often."""
    s = get_settings()
    watched = _watched(s, tuple(sorted({f.folder for f in families.values()})))
    parts: list[Any] = [watched]
    for p in watched:
        try:
            parts.append(os.stat(p).st_mtime_ns)
        except OSError:
            parts.append(None)
    parts.append(os.environ.get(PIN_ENV))
    parts.append(tuple(sorted((_PINS.get() or {}).items())))
    return tuple(parts)


@functools.lru_cache(maxsize=16)
def _watched(settings, folders: tuple[str, ...]) -> tuple[str, ...]:
    roots = [r for r in (settings.data_dir, settings.cache_dir / "data") if r is not None]
    return (*(str(r / f) for r in roots for f in folders), str(settings.cache_dir / _REGISTRY))


def _candidates(families: Mapping[str, Family], known_files: set[str]) -> Iterator[tuple[Path, str, list[Family]]]:
    for root in _roots():
        for folder in sorted({f.folder for f in families.values()}):
            d = root / folder
            try:
                files = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
            except OSError:
                continue
            for p in files:
                rel = f"{folder}/{p.name}"
                if rel in known_files:
                    continue
                fams = [f for f in families.values() if f.folder == folder and f.matches(p.name)]
                if fams:
                    yield p, rel, fams


def discover(families: Mapping[str, Family], known_files: set[str], known_hashes: Mapping[str, str]) -> Discovery:
    """Every file in the data folders named like a family and not in the catalogue: recorded releases
    are used as recorded; a new one is validated and recorded (or refused)."""
    out = Discovery()
    reg = _load()
    changed = False
    seen: set[str] = set()
    for path, rel, fams in _candidates(families, known_files):
        try:
            digest = sha256_file(path)
        except OSError as exc:
            out.refused.append((str(path), f"cannot be read: {exc}"))
            continue
        if digest in known_hashes:
            out.duplicates.append((str(path), known_hashes[digest]))
            continue
        if digest in seen:
            out.duplicates.append((str(path), "another copy in the data folders"))
            continue
        rec = reg["releases"].get(digest)
        if rec is None:
            earlier = [h for h, r in reg["releases"].items() if r.get("path") == str(path)]
            if earlier:
                was = reg["releases"][earlier[0]]
                out.refused.append((str(path), f"changed since it was recorded on {was.get('recorded', '?')} as the "
                                               f"{was['release']} release of {was['family']} (sha256 {earlier[0][:12]}… "
                                               f"now {digest[:12]}…): truncated or altered? If the publisher re-issued "
                                               f"it, run `icsgeo data add {path}` to record it again"))
                continue
            if digest in reg["refused"]:
                out.refused.append((str(path), reg["refused"][digest]))
                continue
            rec, why = first_valid(path, fams)
            if rec is None:
                reg["refused"][digest] = why
                changed = True
                out.refused.append((str(path), why))
                continue
            rec.update(file=rel, path=str(path), sha256=digest,
                       recorded=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
            reg["releases"][digest] = rec
            changed = True
            log.info("recorded %s as the %s release of %s", path, rec["release"], rec["family"])
        if rec.get("file") != rel:  # moved between the data folder and the cache: same bytes, same release
            rec = {**rec, "file": rel}
        seen.add(digest)
        out.releases.append(rec)
    if changed:
        _save(reg)
    return out


def first_valid(path: Path, fams: list[Family]) -> tuple[dict[str, Any] | None, str]:
    """The record of the first family ``path`` is a valid release of (with ``family``), else None and
    every family's reason."""
    whys = []
    for fam in fams:
        try:
            rec = validate(path, fam)
        except DataFormatError as exc:
            whys.append(str(exc))
            continue
        rec["family"] = fam.name
        return rec, ""
    return None, " / ".join(whys)


def record(path: Path, family: Family, checked: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate ``path`` as a release of ``family`` and record its hash (replacing an earlier record
    of the same path: the publisher re-issued it). Raises :class:`DataFormatError` when invalid.
    ``checked``: what :func:`validate` already said of these bytes (a copy of a validated file), so
    they are not read twice."""
    path = Path(path).resolve()
    rec = dict(checked) if checked is not None else validate(path, family)
    digest = sha256_file(path, memo=False)
    reg = _load()
    for h in [h for h, r in reg["releases"].items() if r.get("path") == str(path) and h != digest]:
        del reg["releases"][h]
    reg["refused"].pop(digest, None)
    rec.update(family=family.name, file=f"{family.folder}/{path.name}", path=str(path), sha256=digest,
               recorded=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    reg["releases"][digest] = rec
    _save(reg)
    return rec


# ---------------------------------------------------------------------------------------------
# Pins: a release chosen by date instead of the newest
# ---------------------------------------------------------------------------------------------

_PINS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("icsgeo_release_pins", default=None)


def pins() -> dict[str, str]:
    """Family option -> release (``{"practice-map": "2026-11"}``): ``ICSGEO_RELEASES``, then
    :func:`use_releases`."""
    out: dict[str, str] = {}
    for part in (os.environ.get(PIN_ENV) or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().replace("_", "-")] = v.strip()
    out.update(_PINS.get() or {})
    return out


@contextlib.contextmanager
def use_releases(**chosen: str | None) -> Iterator[None]:
    """Answer from chosen releases inside the block, e.g. ``use_releases(practice_map="2026-11")``:
    the practice map of November 2026 instead of the newest (``registrations="2025-10"``: the
    registrations as they stood in that release). ``None`` leaves a family at its default."""
    merged = {**(_PINS.get() or {}), **{k.replace("_", "-"): str(v) for k, v in chosen.items() if v is not None}}
    token = _PINS.set(merged)
    try:
        yield
    finally:
        _PINS.reset(token)
