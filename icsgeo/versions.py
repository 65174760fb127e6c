"""Versions of icsgeo and the geospatial stack it stands on (for bug reports and the pytest header)."""

from __future__ import annotations

import importlib.metadata as md
import platform
import sys

__all__ = ["versions", "show_versions"]

_PACKAGES = ("geopandas", "shapely", "pyproj", "pyogrio", "pandas", "numpy", "pyarrow", "pooch",
             "folium", "matplotlib", "fastapi")


def versions() -> dict[str, str | None]:
    from ._version import __version__

    out: dict[str, str | None] = {"icsgeo": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    try:
        import shapely

        out["GEOS"] = shapely.geos_version_string
    except Exception:  # pragma: no cover
        out["GEOS"] = None
    try:
        import pyogrio

        out["GDAL"] = pyogrio.__gdal_version_string__
    except Exception:  # pragma: no cover
        out["GDAL"] = None
    try:
        import pyproj
        from pyproj.transformer import TransformerGroup

        out["PROJ"] = pyproj.proj_version_str
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            group = TransformerGroup("EPSG:27700", "EPSG:4326")
        out["OSTN15 grid"] = "present" if group.best_available and any("OSTN15" in t.description for t in group.transformers) else "absent (Helmert fallback, about 3.5 m)"
    except Exception:  # pragma: no cover
        out["PROJ"] = None
    return out


def show_versions() -> None:
    """Print icsgeo's version and those of its dependencies (what a bug report should include).

    Returns
    -------
    None
        One ``name: version`` line each is printed.

    Examples
    --------
    >>> import icsgeo
    >>> icsgeo.show_versions()  # doctest: +ELLIPSIS
          icsgeo: ...
    ...
    """
    for k, v in versions().items():
        print(f"{k:>12}: {v}")
