"""Tiny typed settings: the environment first, then the user's config file, then the defaults.

=====================  ===========================================================  ==============
variable / key         meaning                                                      default
=====================  ===========================================================  ==============
``ICSGEO_DATA_DIR``    an offline mirror of the publishers' files (same file names)  unset
``data_dir``
``ICSGEO_CACHE_DIR``   downloads and derived layers (Parquet/GeoParquet)             user cache dir
``cache_dir``
``ICSGEO_OFFLINE``     ``1``/``true``/``yes``/``on``: never download (a missing       off
``offline``            file is an error); ``0``/``false``/``no``/``off``: download
                       what is missing, hash-checked; anything else is refused
``ICSGEO_VERIFY``      ``strict``: a file whose sha256 differs from the catalogue   ``strict``
``verify``             is an error; ``warn``: read it anyway with a warning (a new
                       ONS export of the same vintage); ``off``: skip the check
=====================  ===========================================================  ==============

The config file is TOML, ``config.toml`` in the user's config folder (:func:`config_path`: on Windows
``%LOCALAPPDATA%\\icsgeo\\config.toml``, on Linux ``~/.config/icsgeo/config.toml``, on macOS
``~/Library/Application Support/icsgeo/config.toml``), or the file ``ICSGEO_CONFIG`` names::

    data_dir = 'D:\\nhs-data'   # single quotes: a Windows path as typed
    offline = true

``icsgeo config`` shows what is in force and where each value came from; ``icsgeo config --set
data_dir=D:\\nhs-data`` writes the file. A relative ``data_dir`` or ``cache_dir`` in the file is taken
from the file's folder. Settings are read on every call (a changed file or variable is seen at once).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Settings", "get_settings", "setting_sources", "config_path", "WORKING_CRS", "DISPLAY_CRS", "KEYS"]

#: Every geometry icsgeo computes with is in British National Grid.
WORKING_CRS = "EPSG:27700"
#: Only maps and lat/lon outputs use WGS84.
DISPLAY_CRS = "EPSG:4326"

Verify = Literal["strict", "warn", "off"]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_VERIFY = ("strict", "warn", "off")

#: config-file key -> environment variable
KEYS = {"data_dir": "ICSGEO_DATA_DIR", "cache_dir": "ICSGEO_CACHE_DIR", "offline": "ICSGEO_OFFLINE", "verify": "ICSGEO_VERIFY"}
#: Config files larger than this are refused unread (a settings file is a few lines).
MAX_CONFIG_BYTES = 64 * 1024


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


def config_path() -> Path:
    """The user's config file: ``ICSGEO_CONFIG`` when set, else ``config.toml`` in the platform's
    user config folder (it need not exist)."""
    named = os.environ.get("ICSGEO_CONFIG")
    if named:
        return Path(named).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_config_dir("icsgeo", appauthor=False)) / "config.toml"


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, getattr(st, "st_ctime_ns", 0), st.st_ino)


_VARIABLES = tuple(KEYS.values())


def get_settings() -> Settings:
    """The settings in force now: each from its ``ICSGEO_*`` variable when set, else the config file,
    else the default (read on every call; parsed once per change)."""
    return _resolved()[0]


def setting_sources() -> dict[str, str]:
    """Where each setting in force came from: ``"environment (ICSGEO_DATA_DIR)"``, ``"config file"``
    or ``"default"``, by config key."""
    return dict(_resolved()[1])


def _resolved() -> tuple[Settings, tuple]:
    path = config_path()
    return _settings(tuple(os.environ.get(v) for v in _VARIABLES), os.getcwd(), str(path), _stamp(path))


def _error(message: str):
    from .errors import SettingsError

    return SettingsError(message)


def _read_config(path: Path) -> dict:
    """The config file's settings (raw, validated below), or {} when there is none."""
    import tomllib

    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise _error(f"the config file {path} is over {MAX_CONFIG_BYTES // 1024} KiB: it is not an icsgeo config "
                         f"file (a few lines: {', '.join(KEYS)}); fix or remove it")
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise _error(f"cannot read the config file {path}: {exc.strerror or exc}; fix its permissions, or point "
                     f"ICSGEO_CONFIG at another file") from exc
    try:
        table = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _error(f"the config file {path} is not UTF-8 text: save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _error(f"the config file {path} is not valid TOML ({exc}); a Windows path needs single quotes: "
                     f"data_dir = 'D:\\nhs-data'") from exc
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise _error(f"the config file {path} has unknown key(s) {', '.join(map(repr, unknown))}; icsgeo reads "
                     f"{', '.join(KEYS)}")
    for key in ("data_dir", "cache_dir", "verify"):
        if key in table and not isinstance(table[key], str):
            raise _error(f"{key} in the config file {path} must be text in quotes, not {table[key]!r}")
    if "offline" in table and not isinstance(table["offline"], (bool, str)):
        raise _error(f"offline in the config file {path} must be true or false, not {table['offline']!r}")
    return table


def _flag(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _error(f"{where}={value!r} is not understood; use 1, true, yes or on (never download) or 0, false, no "
                 f"or off (download what is missing)")


@functools.lru_cache(maxsize=32)
def _settings(values: tuple, cwd: str, config: str, stamp: tuple | None) -> tuple[Settings, tuple]:
    env = {key: value for key, value in zip(KEYS, values) if value is not None}
    path = Path(config)
    table = _read_config(path) if stamp is not None else {}
    chosen, sources = {}, {}
    for key, variable in KEYS.items():
        if key in env:
            chosen[key], sources[key] = env[key], f"environment ({variable})"
        elif key in table:
            chosen[key], sources[key] = table[key], "config file"
        else:
            chosen[key], sources[key] = None, "default"

    def where(key):
        return KEYS[key] if sources[key].startswith("environment") else f"{key} in {path}"

    def folder(key):
        value = chosen[key]
        if not value:
            return None
        p = Path(value).expanduser()
        if sources[key] == "config file" and not p.is_absolute():
            p = path.parent / p
        return p.resolve()

    verify = str(chosen["verify"] or "strict").strip().lower()
    if verify not in _VERIFY:
        raise _error(f"{where('verify')}={chosen['verify']!r} is not understood; use strict, warn or off")
    settings = Settings(
        data_dir=folder("data_dir"),
        cache_dir=folder("cache_dir") or _default_cache_dir(),
        offline=False if chosen["offline"] is None else _flag(chosen["offline"], where("offline")),
        verify=verify,  # type: ignore[arg-type]
    )
    return settings, tuple(sources.items())


def config_text(values: dict) -> str:
    """TOML for ``values`` (config keys to str/bool): what ``icsgeo config --set`` writes.

    >>> print(config_text({"data_dir": "D:\\\\nhs-data", "offline": True}), end="")
    # icsgeo settings (icsgeo config shows them, with where each came from)
    data_dir = 'D:\\nhs-data'
    offline = true
    """
    import json

    lines = ["# icsgeo settings (icsgeo config shows them, with where each came from)"]
    for key in KEYS:
        if key not in values:
            continue
        value = values[key]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif "'" in value or "\n" in value:
            text = json.dumps(value)  # a TOML basic string
        else:
            text = f"'{value}'"  # a literal string: backslashes as typed
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def read_config() -> dict:
    """The config file's settings as written (validated), or {} when there is none."""
    return _read_config(config_path())
