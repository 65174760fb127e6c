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
    """Check what the data folder holds: one DatasetStatus per catalogue entry.

    Every present file is hashed afresh unless ``rehash=False`` (then a file whose stamp — inode,
    change time, size, modification time — is unchanged keeps its remembered hash: what a service
    checking itself often wants). A rehash corrects the hash memo, and a remembered hash found wrong
    removes every derived layer (see :func:`icsgeo.sources.cache.sha256_file`). A file that cannot
    be read is reported in its status's ``problem``, not raised.

    Parameters
    ----------
    count_rows : bool, default True
        Read every verified file to count its rows (the first run parses them all).
    rehash : bool, default True
        Hash every present file afresh (see above).
    cat : Catalogue, optional
        The catalogue to check; default :func:`icsgeo.catalogue`.

    Returns
    -------
    list of DatasetStatus
        One per catalogue entry, in catalogue order: ``id, kind, vintage, file, present, verified,
        rows, path, title, problem``. ``rows`` is the number of rows icsgeo reads from the file (all
        tables of a workbook added up; lines of a documentation file), or ``None`` when the file is
        absent, fails verification or is not counted; ``problem`` is ``"missing"``, the hash mismatch
        or the reading error (``None`` when all is well).

    See Also
    --------
    add_data : Put published files into the data folder.
    fetch_data : Download catalogue files from their publishers.

    Examples
    --------
    >>> import icsgeo
    >>> statuses = icsgeo.inventory(count_rows=False, rehash=False)
    >>> [s.id for s in statuses] == icsgeo.catalogue().ids()
    True
    >>> list(statuses[0].to_dict())
    ['id', 'kind', 'vintage', 'file', 'present', 'verified', 'rows', 'path', 'title', 'problem']
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
            status.verified = verify(path, entry, rehash=rehash)
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
    """The data folder in force, as ``icsgeo data`` prints it.

    Returns
    -------
    str
        Its absolute path, or ``"(ICSGEO_DATA_DIR not set)"`` when neither ``ICSGEO_DATA_DIR``,
        ``--data-dir`` nor the config file names one.

    Examples
    --------
    >>> import icsgeo
    >>> isinstance(icsgeo.data_dir_label(), str)
    True
    """
    s = get_settings()
    return str(s.data_dir) if s.data_dir else "(ICSGEO_DATA_DIR not set)"


# ---------------------------------------------------------------------------------------------
# Families: the releases present, the default of each, and adding or fetching files
# ---------------------------------------------------------------------------------------------

def families(cat: Catalogue | None = None) -> list[dict]:
    """One summary per family: its releases (catalogued or recorded, oldest first) with whether each
    is present, the release answers use by default (the newest verified one, or the pinned one), and
    the files named like it that were refused (with why)."""
    from .inputs import datasets
    from ..errors import DataFileError

    cat = cat or catalogue()
    refused = cat.discovery.refused
    out = []
    for fam in cat.families.values():
        # the default: what the latest vintage reads (a combining role: every release it combines)
        latest = cat.vintage(None)
        roles = [r for r in latest.roles.values() if fam.name in r.families]
        roles.sort(key=lambda r: r.combine)
        default = None
        for r in roles:
            try:
                used = datasets(r)
            except DataFileError:
                continue
            default = used[0].id if not r.combine else "+".join(d.id for d in used)
            break
        rels = []
        for d in cat.releases(fam.name):
            path = locate(d, catalogue=cat)
            rels.append({"id": d.id, "release": d.vintage, "date": d.date, "present": path is not None,
                         "recorded": d.get("recorded"), "file": d.file})
        out.append({"family": fam.name, "title": fam.title, "option": fam.option, "cadence": fam.fields.get("cadence"),
                    "releases": rels, "default": default or (rels[-1]["id"] if rels and rels[-1]["present"] else None),
                    "pinned": cat.pins.get(fam.option or ""),
                    "refused": [{"path": p, "why": w} for p, w in refused
                                if fam.matches(Path(p).name) and Path(p).parent.name == fam.folder]})
    return out


def tiers_missing(vintage=None, cat: Catalogue | None = None) -> dict[str, list[str]]:
    """Answer tier -> what is missing for it in a vintage (the file and where to get it): empty lists
    when every input is there."""
    from .inputs import unavailable

    cat = cat or catalogue()
    v = cat.vintage(vintage)
    out: dict[str, list[str]] = {}
    for tier in v.tiers:
        out[tier] = [f"{name}: {why}" + (f" (without it, {role.without})" if role.without else "")
                     for name, role in v.inputs(tier).items() if (why := unavailable(role)) is not None]
    return out


def _destination() -> Path:
    s = get_settings()
    return s.data_dir if s.data_dir is not None else s.cache_dir / "data"


def _place(src: Path, dest: Path, link: bool) -> None:
    """Copy (or link) ``src`` to ``dest`` in one step: never a half-copied file at ``dest``."""
    import os
    import shutil

    from .cache import atomic_write

    if dest.exists() and dest.resolve() == src.resolve():
        return
    if link:
        target = src.resolve()
        atomic_write(dest, lambda tmp: os.symlink(target, tmp))
    else:
        atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp))


def add_data(paths, *, link: bool = False) -> list[dict]:
    """Put published files into the data folder, and say what each is.

    The data folder is ``ICSGEO_DATA_DIR`` (else the cache). Each file is a catalogued release
    (verified by its hash, saved under the catalogue's name), a new release of a family (validated,
    saved as ``<folder>/<name>_<YYYY-MM>``, its hash recorded), or refused (with why). Nothing is
    copied for a refused file, and a file is never half-copied at its destination.

    Parameters
    ----------
    paths : iterable of str or pathlib.Path
        The files to add.
    link : bool, default False
        Link each file (a symbolic link) instead of copying it.

    Returns
    -------
    list of dict
        One per path, in order: ``path, status, id, family, release, file, why``; ``status`` is
        ``known``, ``recorded`` or ``refused``.

    See Also
    --------
    inventory : What the data folder holds.
    fetch_data : Download the files instead.

    Examples
    --------
    >>> import icsgeo
    >>> [rec] = icsgeo.add_data(["no-such-file.csv"])
    >>> rec["status"], rec["why"]
    ('refused', 'no such file')
    >>> icsgeo.add_data(["Downloads/epcn.xlsx"])                   # doctest: +SKIP
    """
    from . import releases
    from .cache import sha256_file

    cat = catalogue()
    by_hash = {d.sha256: d for d in cat}
    out = []
    for p in paths:
        src = Path(p).expanduser()
        rec = {"path": str(p), "status": "refused", "id": None, "family": None, "release": None, "file": None, "why": None}
        out.append(rec)
        if not src.is_file():
            rec["why"] = "no such file"
            continue
        digest = sha256_file(src, memo=False)
        known = by_hash.get(digest)
        if known is not None:
            dest = _destination() / known.file
            dest.parent.mkdir(parents=True, exist_ok=True)
            _place(src, dest, link)
            rec.update(status="known", id=known.id, family=known.get("family"), release=known.vintage, file=str(dest))
            continue
        fams = [f for f in cat.families.values() if f.matches(src.name)]
        if not fams:
            names = "; ".join(f"{f.title}: {', '.join(f.names)}" for f in cat.families.values())
            rec["why"] = (f"neither a catalogued file (no sha256 match) nor named like a family icsgeo reads as it is "
                          f"republished ({names})")
            continue
        info, why = releases.first_valid(src, fams)
        if info is None:
            rec["why"] = why
            continue
        fam = cat.families[info["family"]]
        name = src.name if info["release"] in src.name else f"{src.stem}_{info['release']}{src.suffix}"
        dest = _destination() / fam.folder / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() and not dest.resolve() == src.resolve() and sha256_file(dest, memo=False) != digest:
            rec["why"] = f"{dest} already holds another file: move it away first"
            continue
        _place(src, dest, link)
        releases.record(dest, fam, checked=info)
        rec.update(status="recorded", family=fam.name, release=info["release"], file=str(dest),
                   id=next((d.id for d in catalogue().releases(fam.name) if d.sha256 == digest), None))
    return out


def fetch_data(targets=(), cat: Catalogue | None = None) -> list[dict]:
    """Download catalogue files from their publishers' own URLs (hash-checked, with pooch).

    The datasets or families named, or every missing dataset with a URL when none is. A family whose
    publisher gives the address of its newest release downloads that release, validates it and
    records its sha256 (nothing is downloaded when ``ICSGEO_OFFLINE`` is set). A file already present
    is not downloaded again.

    Parameters
    ----------
    targets : iterable of str, optional
        Dataset ids or family names; default every missing dataset with a URL.
    cat : Catalogue, optional
        The catalogue to fetch from; default :func:`icsgeo.catalogue`.

    Returns
    -------
    list of dict
        One per dataset: ``id``, ``status`` (``present``, ``downloaded``, ``no_url``, ``failed``) and
        ``why``.

    Raises
    ------
    UnknownDatasetError
        A target that is neither a dataset id nor a family name.

    See Also
    --------
    add_data : Add files downloaded by hand.
    inventory : What the data folder holds.

    Examples
    --------
    >>> import icsgeo
    >>> [(r["id"], r["status"]) for r in icsgeo.fetch_data(["icb-2026"])]    # doctest: +SKIP
    [('icb-2026', 'downloaded')]
    """
    from .fetch import fetch
    from ..errors import DataFileError

    cat = cat or catalogue()
    chosen = []
    out = []
    for t in targets:
        if t in cat.families:
            fam = cat.families[t]
            if fam.fields.get("url"):  # the publisher's address of its newest release
                out.append(_fetch_newest(fam))
                continue
            chosen += cat.releases(t)
            if not cat.releases(t):
                out.append({"id": t, "status": "no_url", "why": fam.fields.get("url_note") or "no download URL"})
        else:
            chosen.append(cat.get(t))
    if not targets:
        chosen = [d for d in cat if d.url and locate(d, catalogue=cat) is None]
    for d in chosen:
        row = {"id": d.id, "status": "present", "why": None}
        out.append(row)
        if locate(d, catalogue=cat) is not None:
            continue
        if not d.url:
            row.update(status="no_url", why=d.get("url_note") or f"no download URL; get it from {d.landing or d.publisher}")
            continue
        try:
            fetch(d, catalogue=cat)
            row["status"] = "downloaded"
        except DataFileError as exc:
            row.update(status="failed", why=str(exc))
    return out


def _fetch_newest(fam) -> dict:
    """Download a family's newest release from the publisher's own address (pooch; the hash is not
    known beforehand, so it is validated as a release and its sha256 recorded), into the data folder."""
    import sys
    import tempfile

    from ..errors import DataFileError

    url = fam.fields["url"]
    s = get_settings()
    row = {"id": fam.name, "status": "failed", "why": None}
    if s.offline:
        row["why"] = f"ICSGEO_OFFLINE is set, so {url} was not downloaded"
        return row
    import pooch

    with tempfile.TemporaryDirectory(dir=s.cache_dir if s.cache_dir.is_dir() else None) as tmp:
        name = fam.names[0].replace("*", "")
        try:
            got = pooch.retrieve(url, known_hash=None, fname=name, path=tmp, progressbar=sys.stderr.isatty())
        except Exception as exc:  # network errors of every kind
            row["why"] = f"could not download {url}: {exc}"
            return row
        try:
            [done] = add_data([got])
        except DataFileError as exc:
            row["why"] = str(exc)
            return row
    row.update(status="downloaded" if done["status"] != "refused" else "failed", why=done["why"], file=done["file"])
    if done.get("id"):
        row["id"] = done["id"]
    return row
