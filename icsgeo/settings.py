"""Tiny typed settings, read from the environment each time they are asked for.

=====================  ===========================================================  ==============
variable               meaning                                                      default
=====================  ===========================================================  ==============
``ICSGEO_DATA_DIR``    an offline mirror of the publishers' files (same file names)  unset
``ICSGEO_CACHE_DIR``   downloads and derived layers (Parquet/GeoParquet)             user cache dir
``ICSGEO_OFFLINE``     ``1`` never downloads; a missing file is an error              ``0``
``ICSGEO_VERIFY``      ``strict``: a file whose sha256 differs from the catalogue   ``strict``
                       is an error; ``warn``: read it anyway with a warning (a new
                       ONS export of the same vintage); ``off``: skip the check
=====================  ===========================================================  ==============
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Settings", "get_settings", "WORKING_CRS", "DISPLAY_CRS"]

#: Every geometry icsgeo computes with is in British National Grid.
WORKING_CRS = "EPSG:27700"
#: Only maps and lat/lon outputs use WGS84.
DISPLAY_CRS = "EPSG:4326"

Verify = Literal["strict", "warn", "off"]
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path | None
    cache_dir: Path
    offline: bool = False
    verify: Verify = "strict"


def _default_cache_dir() -> Path:
    # the folder pooch.os_cache("icsgeo") gives, without importing pooch (and requests) to find it
    import platformdirs

    return Path(platformdirs.user_cache_dir("icsgeo"))


_VARIABLES = ("ICSGEO_DATA_DIR", "ICSGEO_CACHE_DIR", "ICSGEO_VERIFY", "ICSGEO_OFFLINE")


def get_settings() -> Settings:
    """The settings in force now (environment variables are read on every call)."""
    return _settings(tuple(os.environ.get(v) for v in _VARIABLES), os.getcwd())


@functools.lru_cache(maxsize=32)
def _settings(values: tuple, cwd: str) -> Settings:
    data_dir, cache_dir, verify, offline = values
    data_dir = data_dir or None
    cache_dir = cache_dir or None
    verify = (verify or "strict").strip().lower()
    if verify not in ("strict", "warn", "off"):
        from .errors import IcsgeoError

        raise IcsgeoError(f"ICSGEO_VERIFY={verify!r} is not understood; use strict, warn or off")
    return Settings(
        data_dir=Path(data_dir).expanduser().resolve() if data_dir else None,
        cache_dir=Path(cache_dir).expanduser().resolve() if cache_dir else _default_cache_dir(),
        offline=(offline or "").strip().lower() in _TRUE,
        verify=verify,  # type: ignore[arg-type]
    )
