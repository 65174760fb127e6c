"""The user's config file: what is in force, where each value came from, and setting it.

:func:`config` is the one verb: with no arguments it reports; with ``set``/``unset`` it rewrites the
file (whole or not at all) and reports what is in force then. The environment still wins over the file
(a report says so), and ``--data-dir`` on the command line over both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import SettingsError
from .files import atomic_write_bytes
from .settings import _VERIFY, KEYS, _flag, config_path, config_text, get_settings, read_config, setting_sources


def _checked(key: str, value: Any) -> Any:
    if key not in KEYS:
        raise SettingsError(f"{key!r} is not an icsgeo setting; the settings are {', '.join(KEYS)}")
    if key == "offline":
        return _flag(value, "offline")
    value = str(value).strip()
    if key == "verify":
        if value.lower() not in _VERIFY:
            raise SettingsError(f"verify={value!r} is not understood; use strict, warn or off")
        return value.lower()
    if not value:
        raise SettingsError(f"{key} needs a folder; to remove the setting, unset it")
    folder = Path(value).expanduser()
    if key == "data_dir" and not folder.is_dir():
        raise SettingsError(f"data_dir: {value} is not a folder here; give the folder that holds the published files "
                            f"(the one with ons/, nhs/, postcodes/ in it)")
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"{key}: {value} is a file, not a folder")
    return str(folder.resolve())


def config(set: Mapping[str, Any] | None = None, unset: Iterable[str] = ()) -> dict:  # noqa: A002 - the verb's word
    """Report the settings in force, after writing ``set`` and removing ``unset`` in the config file.

    Parameters
    ----------
    set : mapping, optional
        Config keys (``data_dir``, ``cache_dir``, ``offline``, ``verify``) to values to write. A
        folder is stored as an absolute path; ``data_dir`` must be an existing folder; ``offline``
        takes a bool or ``1/true/yes/on``/``0/false/no/off``.
    unset : iterable of str, optional
        Config keys to remove from the file.

    Returns
    -------
    dict
        ``{"config_file": path, "exists": bool, "settings": {key: {"value", "source"}}}``, where
        ``source`` is ``"environment (ICSGEO_…)"``, ``"config file"`` or ``"default"``.

    Raises
    ------
    SettingsError
        An unknown key, a value not understood, or a config file that cannot be read.

    Examples
    --------
    >>> import icsgeo
    >>> icsgeo.config()["settings"]["verify"]["value"] in ("strict", "warn", "off")
    True
    """
    path = config_path()
    if set or unset:
        values = read_config()
        for key in unset:
            if key not in KEYS:
                raise SettingsError(f"{key!r} is not an icsgeo setting; the settings are {', '.join(KEYS)}")
            values.pop(key, None)
        for key, value in (set or {}).items():
            values[key] = _checked(key, value)
        atomic_write_bytes(path, config_text(values).encode("utf-8"))
    settings, sources = get_settings(), setting_sources()
    shown = {key: getattr(settings, key) for key in KEYS}
    return {
        "config_file": str(path), "exists": path.is_file(),
        "settings": {key: {"value": None if v is None else (v if isinstance(v, bool) else str(v)), "source": sources[key]}
                     for key, v in shown.items()},
    }
