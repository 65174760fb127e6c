"""Find a catalogue file: the data folder first, then the user cache, then a hash-checked download.

>>> fetch("icb-2026").name
'Integrated_Care_Boards_April_2026_EN_BSC.geojson'
"""

from __future__ import annotations

import logging
import shutil
import sys
import warnings
from pathlib import Path

from .cache import sha256_file
from .catalogue import Catalogue, Dataset, catalogue
from ..errors import DataFileHashError, DataFileMissingError
from ..settings import get_settings

#: The example above reads the real files (it is skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = ["fetch", "locate", "verify"]

log = logging.getLogger("icsgeo")


def _entry(dataset: str | Dataset, cat: Catalogue | None) -> Dataset:
    if isinstance(dataset, Dataset):
        return dataset
    return (cat or catalogue()).get(dataset)


def locate(dataset: str | Dataset, *, catalogue: Catalogue | None = None) -> Path | None:
    """Where the file is on disk now (data folder, then cache), or ``None``. Never downloads."""
    entry = _entry(dataset, catalogue)
    s = get_settings()
    for root in (s.data_dir, s.cache_dir / "data"):
        if root is not None and (root / entry.file).is_file():
            return root / entry.file
    return None


def verify(path: Path, entry: Dataset, *, memo: bool = True, rehash: bool = False) -> bool:
    """True when the file's sha256 is the catalogue's. ``rehash=True`` hashes it afresh (and corrects
    the hash memo: see :func:`icsgeo.sources.cache.sha256_file`); ``memo=False`` leaves the memo alone."""
    return sha256_file(path, memo=memo, rehash=rehash) == entry.sha256


def _how_to_get(entry: Dataset) -> str:
    s = get_settings()
    where = f"{s.data_dir}/{entry.file}" if s.data_dir else f"<data folder>/{entry.file}"
    src = entry.url or entry.landing or entry.publisher
    return (
        f"download it from {src} and save it as {where} "
        f"(ICSGEO_DATA_DIR names the folder holding your copies of the published files)"
    )


def fetch(dataset: str | Dataset, *, catalogue: Catalogue | None = None) -> Path:
    """Path to a verified local copy of a catalogue file, downloading it if allowed and needed.

    Order: ``$ICSGEO_DATA_DIR/<file>``, then ``<cache>/data/<file>``, then the publisher's URL (with
    pooch, hash-checked) unless ``ICSGEO_OFFLINE=1``. Raises :class:`DataFileMissingError` naming the
    dataset, the file and how to get it, or :class:`DataFileHashError` for a file whose hash differs.
    """
    entry = _entry(dataset, catalogue)
    s = get_settings()
    path = locate(entry)
    if path is None:
        path = _download(entry)
    if s.verify != "off":
        actual = sha256_file(path)
        if actual != entry.sha256:
            msg = (
                f"{path} (dataset {entry.id!r}) has sha256 {actual[:12]}…, but the catalogue expects "
                f"{entry.sha256[:12]}…: the file is truncated, corrupted or a different vintage. "
                f"To fix: {_how_to_get(entry)}; or, if it is a newer export you trust, set ICSGEO_VERIFY=warn."
            )
            if s.verify == "strict":
                raise DataFileHashError(msg)
            warnings.warn(msg, stacklevel=2)
    return path


def _download(entry: Dataset) -> Path:
    s = get_settings()
    searched = [str(p / entry.file) for p in (s.data_dir, s.cache_dir / "data") if p is not None]
    if not entry.url:
        raise DataFileMissingError(
            f"dataset {entry.id!r} ({entry.title}) needs the file {entry.file!r}; not found in "
            f"{' or '.join(searched)}, and it has no direct download URL: {_how_to_get(entry)}."
        )
    if s.offline:
        raise DataFileMissingError(
            f"dataset {entry.id!r} needs the file {entry.file!r}; not found in {' or '.join(searched)}, "
            f"and ICSGEO_OFFLINE is set so it was not downloaded from {entry.url}. "
            f"Unset ICSGEO_OFFLINE, or {_how_to_get(entry)}."
        )
    import pooch

    target = s.cache_dir / "data" / entry.file
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s from %s", entry.id, entry.url)
    try:
        got = pooch.retrieve(
            entry.url,
            known_hash=f"sha256:{entry.sha256}",
            fname=target.name,
            path=target.parent,
            progressbar=sys.stderr.isatty(),
        )
    except ValueError as exc:  # pooch: hash mismatch (the bad download is already deleted)
        raise DataFileHashError(
            f"the download of dataset {entry.id!r} from {entry.url} does not match the catalogue's "
            f"sha256 ({exc}). The publisher may have re-issued the file; {_how_to_get(entry)}."
        ) from exc
    except Exception as exc:  # network errors of every kind
        raise DataFileMissingError(
            f"could not download dataset {entry.id!r} from {entry.url}: {exc}. Or {_how_to_get(entry)}."
        ) from exc
    got = Path(got)
    if got != target:
        shutil.move(got, target)
    return target
