"""Datasets by role: which file plays each part now, and the key of everything derived from them.

A role (see :class:`icsgeo.sources.catalogue.Role`) lists the datasets that can play it, in order of
preference. The first one present is used (a present file that fails its hash check is an error, not
skipped: a user who put it there expects it used); a combining role (registrations) uses every one
present. An optional role (one with ``without``) that no file can play costs only what it says.
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping

from ..errors import DataFileError, DataFileMissingError, UnknownDatasetError
from .cache import sha256_file
from .catalogue import Dataset, Role, Vintage, catalogue
from .fetch import fetch, locate
from ..settings import get_settings

__all__ = ["datasets", "dataset", "unavailable", "warn_unavailable", "warn_once", "input_key", "read_role", "describe"]

log = logging.getLogger("icsgeo")


def datasets(role: Role) -> list[Dataset]:
    """The verified datasets playing ``role`` now (the first present, or every present one of a
    combining role). Raises :class:`DataFileMissingError` naming the preferred file and where to get
    it when none is present, or the fetch error of a present file that is refused."""
    cat = catalogue()
    if role.refusal:
        raise UnknownDatasetError(f"input {role.name!r}: {role.refusal}")
    found: list[Dataset] = []
    first_missing: DataFileMissingError | None = None
    for id_ in role.datasets:
        entry = cat.get(id_)
        try:
            fetch(entry)
        except DataFileMissingError as exc:
            first_missing = first_missing or exc
            continue
        found.append(entry)
        if not role.combine:
            break
    if not found:
        others = f" (nor any of {', '.join(cat.get(i).file for i in role.datasets[1:])})" if len(role.datasets) > 1 else ""
        raise DataFileMissingError(f"input {role.name!r}{others}: {first_missing}") from first_missing
    return found


def dataset(role: Role) -> Dataset:
    """The dataset playing a single-dataset role now."""
    return datasets(role)[0]


def unavailable(role: Role) -> str | None:
    """Why ``role`` cannot be played now (the file missing, with where to get it, or refused), or ``None``."""
    if role.refusal:  # a release asked for by name that cannot be had: an error, never a quiet degrade
        raise UnknownDatasetError(f"input {role.name!r}: {role.refusal}")
    try:
        datasets(role)
    except DataFileMissingError:
        entry = catalogue().get(role.datasets[0])
        s = get_settings()
        folder = s.data_dir or "<data folder>"
        others = f" (nor {', '.join(catalogue().get(i).file for i in role.datasets[1:])})" if len(role.datasets) > 1 else ""
        return (f"{entry.file}{others} is missing: get it from {entry.url or entry.landing or entry.publisher} "
                f"and save it as {folder}/{entry.file}")
    except DataFileError as exc:
        return str(exc)
    return None


_WARNED: set[str] = set()


def warn_unavailable(role: Role) -> str | None:
    """:func:`unavailable`, logging the reason and what answers lose once per process."""
    why = unavailable(role)
    if why is not None:
        warn_once(f"{role.name} unavailable: {why}" + (f". Without it, {role.without}" if role.without else ""))
    return why


def warn_once(message: str) -> None:
    """Log a warning once per process (a degraded input is said once, however often it is asked for)."""
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning("%s", message)


def input_key(roles: Mapping[str, Role] | Iterable[Role], *, strict: bool = True) -> dict[str, object]:
    """The key of a layer derived from ``roles``: the sha256 of each file used, by role and dataset.

    An optional role that no file can play is keyed ``"unavailable"``, so what is built without it is
    stored as what it is, never as the complete layer; a required one raises its error (with
    ``strict=False`` it is keyed ``"unavailable"`` too: for a layer whose tiers degrade one by one).
    """
    items = roles.values() if isinstance(roles, Mapping) else roles
    key: dict[str, object] = {}
    for role in items:
        try:
            used = datasets(role)
        except DataFileError:
            if strict and not role.optional:
                raise
            key[role.name] = "unavailable"
            continue
        key[role.name] = {e.id: sha256_file(fetch(e)) for e in used}
    return key


def read_role(vintage: Vintage, role: str, table: str | None = None):
    """The frame of the dataset playing ``role`` in ``vintage`` (see :func:`icsgeo.read`)."""
    from .read import read

    return read(dataset(vintage.role(role)), table)


def describe(role: Role) -> str:
    """``role 'x': dataset-id (file)`` of the preferred dataset, for messages."""
    entry = catalogue().get(role.datasets[0])
    where = locate(entry)
    return f"{role.name} ({entry.id}: {entry.file}{'' if where else ', not present'})"
