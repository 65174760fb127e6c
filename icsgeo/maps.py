"""Maps of a system (or of England) from a geography: the layers, the page and the report figure.

>>> layers = map_layers("South Yorkshire", vintage=2026)
>>> len(layers.places), layers.title
(4, 'NHS South Yorkshire Integrated Care Board')
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import areas
from .answers import practices as practice_answers
from .errors import DataFileMissingError
from .neighbourhoods import neighbourhood_lsoas
from .tiers import Geography, System, geography
from .sources.catalogue import catalogue
from .sources.inputs import dataset, unavailable

#: The examples above read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = ["map_layers", "system_layers", "draw", "draw_profile", "MapResult"]

log = logging.getLogger("icsgeo")

def _attribution(g: Geography, colour: str | None = None) -> str:
    """The licence notices of every file the map draws on, each said once (OS years merged)."""
    cat = catalogue()
    entries = [dataset(g.spec.role(r)) for r in ("systems", "places", "lsoa_shapes", "postcodes")]
    entries.insert(3, g.members.entry)
    if colour == "imd":
        entries.append(dataset(cat.role("deprivation")))
    sentences: list[str] = []
    years: dict[str, set[str]] = {}
    for entry in entries:
        for sentence in re.split(r"(?<=\.)\s+", entry.attribution):
            s = sentence.strip()
            m = re.match(r"^(.*database right) (\d{4})\.$", s)
            if m:
                if m.group(1) not in years:
                    sentences.append(m.group(1))
                years.setdefault(m.group(1), set()).add(m.group(2))
            elif s and s not in sentences:
                sentences.append(s)
    return " ".join(f"{s} {', '.join(sorted(years[s]))}." if s in years else s for s in sentences)


def _day_words(iso) -> str:
    try:
        return pd.Timestamp(iso).strftime("%-d %B %Y")
    except (ValueError, TypeError):
        return str(iso)


def _date_words(iso) -> str:
    try:
        return pd.Timestamp(iso).strftime("%B %Y")
    except (ValueError, TypeError):
        return str(iso)


def _practice_points(g: Geography, system_code: str | None):
    import geopandas

    p = practice_answers(g)
    if system_code is not None:
        p = p[p["system_code"] == system_code]
    p = p[p["easting"].notna() & ~p["is_unallocated"].fillna(False)] if "is_unallocated" in p else p[p["easting"].notna()]
    return geopandas.GeoDataFrame(
        p[["practice_code", "practice_name", "postcode", "pcn_code", "pcn_name"]].rename(columns={"practice_name": "name"}),
        geometry=geopandas.points_from_xy(p["easting"], p["northing"]), crs="EPSG:27700")


#: What a map can be shaded by: ``imd`` (the population-weighted IMD 2025 score).
COLOURS = ("imd",)
_SHADE_LABEL = "IMD 2025 score (population-weighted)"


def _shade(frame, key: str, lsoa_units):
    """``frame`` with a ``shade`` column: the IMD score of each unit (``key``) from its LSOAs."""
    dep = areas.lsoa_deprivation()
    if dep is None:
        raise DataFileMissingError(f"shading by IMD needs the {catalogue().role('deprivation').datasets[0]} file "
                                   f"({unavailable(catalogue().role('deprivation'))})")
    scores = areas.deprivation_of(lsoa_units, dep)["imd_score"]
    return frame.assign(shade=frame[key].map(scores).astype("float64"))


def _check_colour(colour):
    if colour is not None and colour not in COLOURS:
        raise ValueError(f"colour {colour!r} is not known; maps can be shaded by: {', '.join(COLOURS)}")


def map_layers(system: str, vintage: str | int | None = None, *, neighbourhoods: bool = True, practices: bool = True,
               colour: str | None = None, as_at=None):
    """The :class:`icsgeo.render.MapLayers` of a system (a name fragment, GSS/ODS code or custom
    definition id), or of all England with ``system="england"``. ``colour="imd"`` shades the finest
    tier drawn (local neighbourhoods where defined, else PCN neighbourhoods; places for England) by
    its population-weighted IMD 2025 score, in quantile classes."""
    from .render import MapLayers, Shade

    _check_colour(colour)
    if system.strip().lower() == "england":
        g = geography(None if vintage is None else str(vintage), as_at=as_at)
        nb = g.neighbourhoods if neighbourhoods else None
        places_layer = g.places[["code", "name", "geometry"]]
        shade = None
        if colour == "imd":
            units = g.lsoas[["lsoa21_code", "place_code", "population"]].rename(columns={"place_code": "unit"})
            places_layer = _shade(places_layer, "code", units)
            shade = Shade("places", _SHADE_LABEL)
        return MapLayers(
            title=f"England: {len(g.systems)} systems, {len(g.places)} places",
            subtitle=f"{g.spec.label}"
            + (f"; neighbourhoods: {len(nb)} PCNs of the {_date_words(nb['practice_map_date'].iloc[0])} practice map, "
               f"footprints by {g.method}" if nb is not None and len(nb) else "")
            + (f"; places shaded by {_SHADE_LABEL}" if shade is not None else ""),
            system=g.systems[["code", "name", "geometry"]],
            places=places_layer,
            neighbourhoods=nb,
            practices=_practice_points(g, None) if practices else None,
            england=g.systems[["code", "name", "geometry"]],
            attribution=_attribution(g, colour),
            shade=shade,
        )
    chosen = geography(None if vintage is None else str(vintage), as_at=as_at).system(system)
    return system_layers(chosen, neighbourhoods=neighbourhoods, practices=practices, colour=colour)


def system_layers(chosen: System, *, neighbourhoods: bool = True, practices: bool = True, colour: str | None = None):
    """The :class:`icsgeo.render.MapLayers` of one :class:`icsgeo.geography.System`."""
    from .render import MapLayers, Shade

    g, code = chosen.geography, chosen.code
    sys_row = chosen.boundary
    places = chosen.places
    nb = chosen.neighbourhoods if neighbourhoods else None
    national = geography(g.vintage)
    head = f"{len(places)} place{'' if len(places) == 1 else 's'}"
    sub = head
    if nb is not None and len(nb):
        grouped = (f"PCNs as grouped on {_day_words(g.members.as_at)} (the ePCN history)" if g.members.as_at
                   else f"PCNs of the {_date_words(nb['practice_map_date'].iloc[0])} practice map")
        sub += f"; {len(nb)} neighbourhoods: {grouped}, footprints by {nb['method'].mode().iloc[0]}"
        if nb["registrations_date"].notna().any():
            sub += f" ({_date_words(str(nb['registrations_date'].dropna().iloc[0]).split(';')[0])})"
    england = national.systems[["code", "name", "geometry"]]
    if g.definition is not None:  # the custom system drawn over England's systems of its vintage
        england = pd.concat([england, sys_row[["code", "name", "geometry"]]], ignore_index=True)
    local = chosen.local_neighbourhoods if neighbourhoods else None
    _check_colour(colour)
    shade = None
    if colour == "imd":
        if local is not None and len(local):
            units = chosen.lsoas[["lsoa21_code", "local_code", "population"]].rename(columns={"local_code": "unit"})
            local, shade = _shade(local, "code", units), Shade("local", _SHADE_LABEL)
        elif nb is not None and len(nb):
            pcn = neighbourhood_lsoas(g.practice_map, g.method).set_index("lsoa21_code")["pcn_code"]
            units = chosen.lsoas[["lsoa21_code", "population"]].assign(unit=chosen.lsoas["lsoa21_code"].map(pcn))
            nb, shade = _shade(nb, "pcn_code", units), Shade("neighbourhoods", _SHADE_LABEL)
        else:
            units = chosen.lsoas[["lsoa21_code", "place_code", "population"]].rename(columns={"place_code": "unit"})
            places, shade = _shade(places, "code", units), Shade("places", _SHADE_LABEL)
        sub += f"; shaded by {_SHADE_LABEL}"
    if local is not None and len(local):
        sub = f"{head}; {len(local)} local neighbourhoods ({g.definition.id})" + sub[len(head):]
    return MapLayers(
        title=chosen.title,
        subtitle=sub,
        system=sys_row[["code", "name", "geometry"]],
        places=places[[c for c in ("code", "name", "shade", "geometry") if c in places]],
        neighbourhoods=nb,
        local=local,
        practices=_practice_points(g, code) if practices else None,
        england=england,
        attribution=_attribution(g, colour),
        shade=shade,
    )


@dataclass
class MapResult:
    html: Path | None
    png: Path | None
    places: int
    neighbourhoods: int
    practices: int
    html_bytes: int | None
    local: int = 0


def draw(system: str, *, vintage: str | int | None = None, output: str | Path | None = None,
         png: str | Path | None = None, tiles: str | None = None, cdn: bool = False, colour: str | None = None,
         as_at=None) -> MapResult:
    """Write a system's interactive map (``output``, .html) and/or its report figure (``png``).

    The page is self-contained (works with no network) unless ``cdn=True``; ``tiles`` adds a
    background tile layer (which the browser downloads). For ``system="england"`` the neighbourhoods
    are an optional layer, hidden when the page opens, and practices are left out.
    """
    from .render import draw_figure, draw_map, save_map

    england = system.strip().lower() == "england"
    layers = map_layers(system, vintage, practices=not england, colour=colour, as_at=as_at)
    html = None
    if output is not None:
        m = draw_map(layers, tiles=tiles, show=("system", "places") if england else None)
        html = save_map(m, output, self_contained=not cdn)
    if png is not None:
        # all England on one page: neighbourhood lines would be a grey smudge at that scale
        draw_figure(map_layers(system, vintage, neighbourhoods=False, practices=False, colour=colour, as_at=as_at)
                    if england else layers, png)
    count = lambda tier: 0 if layers.layer(tier) is None else len(layers.layer(tier))  # noqa: E731
    return MapResult(html=Path(html) if html else None, png=Path(png) if png else None,
                     places=count("places"), neighbourhoods=count("neighbourhoods"), practices=count("practices"),
                     html_bytes=Path(html).stat().st_size if html else None, local=count("local"))


def draw_profile(system: str, *, vintage: str | int | None = None, output: str | Path | None = None,
                 png: str | Path | None = None, as_at=None):
    """A system's profile (:meth:`icsgeo.System.profile`) as a table (``output``: .csv, .parquet) and
    a chart (``png``). Returns the profile."""
    from .bulk import save
    from .render import draw_profile as _chart

    chosen = geography(None if vintage is None else str(vintage), as_at=as_at).system(system)
    table = chosen.profile()
    if output is not None:
        save(table, output)
    if png is not None:
        _chart(table, png, title=f"{chosen.title}: places and neighbourhoods by size and deprivation")
    return table
