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

import numpy as np
import pandas as pd

from . import areas
from .answers import practices as practice_answers
from .errors import DataFileMissingError
from .neighbourhoods import neighbourhood_lsoas
from .tiers import Geography, System, geography
from .sources.catalogue import catalogue
from .settings import WORKING_CRS
from .sources.inputs import dataset, unavailable
from .sources.read import read

#: The examples above read the real files (they are skipped without ICSGEO_DATA_DIR).
_DOCTEST_NEEDS_DATA = True

__all__ = ["map_layers", "system_layers", "draw", "explore", "draw_profile", "MapResult"]

log = logging.getLogger("icsgeo")

def _attribution(g: Geography, colour: str | None = None, *, context: bool = False) -> str:
    """The licence notices of every file the map draws on, each said once (OS years merged)."""
    cat = catalogue()
    entries = [dataset(g.spec.role(r)) for r in ("systems", "places", "lsoa_shapes", "postcodes")]
    entries.insert(3, g.members.entry)
    if colour == "imd":
        entries.append(dataset(cat.role("deprivation")))
    if context:
        entries += [dataset(cat.role(r)) for r in ("lad_boundaries", "lsoa_wards") if unavailable(cat.role(r)) is None]
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


# --- what a map names and how: everyday place names, short system names, places' shares ----------

_ORGANISATION = re.compile(
    r"\s*\(?\b(?:Integrated Care (?:Board|System)|ICB|ICS|STP|Partners in Health and Care|"
    r"Health and (?:Social )?Care(?: Partnership| ICS)?)\)?\s*$", re.I)


def short_system_name(name) -> str:
    """A system's name as a map writes it: without "NHS" and the kind of body ("NHS South Yorkshire
    Integrated Care Board" -> "South Yorkshire"; "Frimley Health and Care ICS" -> "Frimley")."""
    text = re.sub(r"^NHS\s+", "", str(name or "").strip())
    short = _ORGANISATION.sub("", text).strip(" ,")
    return short or text


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _coinciding(lsoas: pd.DataFrame, unit: str, share: float = 0.9) -> pd.DataFrame:
    """Pairs (place_code, ``unit``) where ≥ ``share`` of the unit's residents live in the place, with
    ``place_share``: the part of the place's residents the unit holds."""
    l = lsoas[lsoas[unit].notna()]
    both = l.groupby(["place_code", unit], observed=True)["population"].sum().rename("pop").reset_index()
    both["unit_share"] = both["pop"] / both[unit].map(l.groupby(unit)["population"].sum())
    both["place_share"] = both["pop"] / both["place_code"].map(lsoas.groupby("place_code")["population"].sum())
    return both[both["unit_share"] >= share]


def everyday_place_names(g: Geography) -> pd.Series:
    """Each place's name as people say it, by place code, derived from the files (never a list):

    1. the geography's own name where it is a local authority's ("Sheffield", "Surrey");
    2. else the 2021 CCG whose area it (almost) is, both ways ≥ 90% of residents ("North East and
       North Cumbria ICB - 13T" -> "Newcastle Gateshead", "Central East ICB - 06N" -> "Herts Valleys");
       where the places are the CCGs (2021), their own names;
    3. else the one to three authorities that make it up (each ≥ 90% inside, together ≥ 90% of its
       residents; counties and unitaries before districts), largest first ("Hampshire, Southampton
       and Isle of Wight");
    4. else the official name without "NHS", "ICB" and the ODS code ("Black Country ICB - D2P2L" ->
       "Black Country"), with the code kept where two places would read the same.

    A custom definition's places keep the names it gives them.
    """
    places = g.places.set_index("code")
    names = places["name"].astype("string")
    if g.definition is not None or places.empty:
        return names
    l = g.lsoas[g.lsoas["place_code"].notna()]
    counties = _unit_names("counties", "code", "name")
    authorities = set(l["lad_name"].dropna()) | set(counties.values())
    out = names.where(names.isin(authorities))
    ccg_names = _unit_names("ccg_codes", "ccg_code", "ccg_name")
    if g.spec.place_role == "ccg":  # the places are the CCGs: their own names, tidied, are the everyday ones
        out = out.fillna(names)
    elif len(ccg_names) and "ccg_code" in l:
        both = _coinciding(l, "ccg_code")
        both = both[both["place_share"] >= 0.9].drop_duplicates("place_code").set_index("place_code")["ccg_code"]
        tidy = both.map(ccg_names).map(lambda n: re.sub(r"\s+CCG$", "", re.sub(r"^NHS\s+", "", n)) if isinstance(n, str) else None)
        out = out.fillna(tidy.reindex(out.index).astype("string"))
    lad_names = l.drop_duplicates("lad_code").set_index("lad_code")["lad_name"]
    for unit, unit_names in (("ctyua_code", counties), ("lad_code", lad_names)):
        if unit not in l:
            continue
        both = _coinciding(l, unit).sort_values(["place_code", "pop"], ascending=[True, False])
        parts = both.groupby("place_code").agg(cover=("place_share", "sum"), n=(unit, "size"), units=(unit, list))
        parts = parts[(parts["cover"] >= 0.9) & (parts["n"] <= 3)]
        joined = parts["units"].map(lambda us: _joined([str(unit_names.get(u, u)) for u in us]))
        out = out.fillna(joined.reindex(out.index).astype("string"))
    official = places["official_name"].fillna(places["name"]) if "official_name" in places else places["name"]
    ods = places["ods_code"] if "ods_code" in places else pd.Series(None, index=places.index)

    def shortened(code) -> str:
        text = re.sub(r"^NHS\s+", "", str(official[code]))
        if isinstance(ods[code], str) and ods[code]:
            text = re.sub(rf"\s*-\s*{re.escape(ods[code])}$", "", text)
        return re.sub(r"\s+(?:ICB|CCG)$", "", text).strip() or str(official[code])

    rest = out[out.isna()].index
    short = pd.Series({c: shortened(c) for c in rest}, dtype="string")
    out = out.fillna(short)
    clash = out.duplicated(keep=False) & out.index.isin(rest)
    out[clash] = [f"{out[c]} ({ods[c]})" if isinstance(ods[c], str) else f"{out[c]} ({c})" for c in out.index[clash]]
    return out.astype("string")


def _unit_names(role: str, code: str, name: str) -> dict:
    """{code: name} from an optional role's file (empty without it)."""
    if unavailable(catalogue().role(role)) is not None:
        return {}
    frame = read(dataset(catalogue().role(role)))
    return dict(zip(frame[code], frame[name]))


def place_shares(lsoas: pd.DataFrame, unit: str, place_names) -> pd.DataFrame:
    """Each unit's place(s) with its residents' shares, largest first: ``place_shares`` ("Sheffield
    97%, Rotherham 3%"; a share under 0.5% is "<1%") and ``straddles`` (True when its LSOAs lie in
    more than one place). ``lsoas``: LSOA rows with ``unit``, ``place_code`` and ``population``;
    ``place_names``: a mapping of place code to the name to write. Indexed by unit."""
    l = lsoas[lsoas[unit].notna() & lsoas["place_code"].notna()]
    by = l.groupby([unit, "place_code"], observed=True)["population"].sum().rename("pop").reset_index()
    total = by.groupby(unit)["pop"].transform("sum")
    by["share"] = np.where(total > 0, by["pop"] / total.where(total > 0, 1), 0.0)
    by = by.sort_values([unit, "share", "place_code"], ascending=[True, False, True])
    n = by.groupby(unit)["place_code"].transform("size")
    pct = by["share"] * 100
    words = np.where(pct < 0.5, "<1%", np.where((pct.round() >= 100) & (n > 1), ">99%", pct.round().astype(int).astype(str) + "%"))
    name = by["place_code"].map(lambda c: place_names.get(c, c))
    by["text"] = np.where(n > 1, name + " " + words, name)
    out = by.groupby(unit, sort=True).agg(place_shares=("text", ", ".join), places=("place_code", "size"))
    out["straddles"] = out.pop("places") > 1
    return out


# --- the context layer: local authorities and wards around the system ----------------------------------


def context_layers(bounds, *, wards: bool = True):
    """The frames of a map's context layer for a system with ``bounds`` (EPSG:27700): (``lads``,
    ``wards``). ``lads``: every local authority (UK, May 2024; repaired on read) meeting the extent
    of :func:`icsgeo.render.context_extent`; ``wards``: the English wards (2024) whose centre lies in
    the system's bounds and a narrower margin (``WARD_MARGIN``), each at the population-weighted centre of its LSOAs' population-weighted centroids (the
    best-fit LSOA → ward lookup), with its residents and ``room`` (the square root of its LSOAs'
    area). Either is None when its file is missing (said once)."""
    import geopandas
    import shapely

    from .render._layers import WARD_MARGIN, context_extent
    from .sources.inputs import warn_unavailable

    x0, y0, x1, y1 = context_extent(bounds)
    lads = None
    if warn_unavailable(catalogue().role("lad_boundaries")) is None:
        frame = read(dataset(catalogue().role("lad_boundaries")))
        frame = frame[frame.intersects(shapely.box(x0, y0, x1, y1))]
        lads = frame[["code", "name", "geometry"]].reset_index(drop=True)
    points = None
    if wards and warn_unavailable(catalogue().role("lsoa_wards")) is None:
        base = areas.lsoa_base()[["lsoa21_code", "ward_code", "population", "easting", "northing"]].dropna()
        shapes = areas.lsoa_shapes()
        area = pd.Series(shapes.geometry.area.to_numpy(), index=shapes["code"].to_numpy())
        base = base.assign(area=base["lsoa21_code"].map(area).fillna(0.0),
                           wx=base["easting"] * base["population"], wy=base["northing"] * base["population"])
        by = base.groupby("ward_code")[["population", "area", "wx", "wy"]].sum()
        by = by[by["population"] > 0]
        by["x"], by["y"] = by["wx"] / by["population"], by["wy"] / by["population"]
        wx0, wy0, wx1, wy1 = context_extent(bounds, **WARD_MARGIN)
        by = by[by["x"].between(wx0, wx1) & by["y"].between(wy0, wy1)]
        names = read(dataset(catalogue().role("lsoa_wards"))).drop_duplicates("ward_code").set_index("ward_code")["ward_name"]
        points = geopandas.GeoDataFrame(
            {"code": by.index.to_numpy(), "name": by.index.map(names).to_numpy(), "population": by["population"].to_numpy(),
             "room": np.sqrt(by["area"].to_numpy())},
            geometry=geopandas.points_from_xy(by["x"], by["y"]), crs=WORKING_CRS)
        points = points[points["name"].notna()].reset_index(drop=True)
    return lads, points


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


def _named_places(g: Geography, frame):
    """``frame`` (places) with ``name`` the everyday name and ``official_name`` the official one."""
    names = everyday_place_names(g)
    official = frame["official_name"] if "official_name" in frame else frame["name"]
    out = frame.assign(name=frame["code"].map(names).fillna(frame["name"]).astype(object))
    out["official_name"] = official.where(official != out["name"])
    return out


def _with_shares(nb, lsoas: pd.DataFrame, g: Geography, place_names):
    """PCN footprints with their place(s) and shares (by the residents of their LSOAs in scope)."""
    pcn = neighbourhood_lsoas(g.members, g.method)[["lsoa21_code", "pcn_code"]]
    shares = place_shares(lsoas[["lsoa21_code", "place_code", "population"]].merge(pcn, on="lsoa21_code"), "pcn_code", place_names)
    out = nb.join(shares, on="pcn_code")
    out["straddles"] = out["straddles"].fillna(False).astype(bool)
    out["place_name"] = out["place_code"].map(place_names).fillna(out["place_name"])
    return out


def map_layers(system: str, vintage: str | int | None = None, *, neighbourhoods: bool = True, practices: bool = True,
               colour: str | None = None, as_at=None, context: bool = True):
    """Gather the layers of a system's map (or of all England's): outline, places, neighbourhoods, practices.

    The :class:`icsgeo.render.MapLayers` of a system, or of all England with ``system="england"``.
    Places carry their everyday names (:func:`everyday_place_names`) and neighbourhoods their
    place(s) with shares (:func:`place_shares`). ``colour="imd"`` shades the finest tier drawn (local
    neighbourhoods where defined, else PCN neighbourhoods; places for England) by its
    population-weighted IMD 2025 score, in quantile classes.

    Parameters
    ----------
    system : str
        A name fragment, a GSS or ODS code or a custom definition id; or ``"england"``.
    vintage : str or int, optional
        The geography vintage; default the latest.
    neighbourhoods : bool, default True
        Include the PCN neighbourhoods.
    practices : bool, default True
        Include the practices as points.
    colour : {"imd"}, optional
        Shade the finest tier by deprivation (see above).
    as_at : str or datetime.date, optional
        A day: the geography in force then.
    context : bool, default True
        Add the local authorities around (and, for one system, the ward names in) the map: see
        :func:`context_layers`.

    Returns
    -------
    icsgeo.render.MapLayers
        The frames to draw, with the map's title, subtitle and attribution.

    Raises
    ------
    DefinitionError
        A ``system`` that matches no system, or several.
    ValueError
        A ``colour`` that is not known.

    See Also
    --------
    draw : Write the map as a page and/or a figure.
    explore : The map in a notebook.

    Examples
    --------
    >>> import icsgeo
    >>> layers = icsgeo.map_layers("South Yorkshire")
    >>> layers.title, len(layers.places)
    ('NHS South Yorkshire Integrated Care Board', 4)
    """
    from .render import MapLayers, Shade

    _check_colour(colour)
    if system.strip().lower() == "england":
        g = geography(None if vintage is None else str(vintage), as_at=as_at)
        places_layer = _named_places(g, g.places[["code", "name", "official_name", "population", "geometry"]])
        names = dict(zip(places_layer["code"], places_layer["name"]))
        nb = _with_shares(g.neighbourhoods, g.lsoas, g, names) if neighbourhoods else None
        shade = None
        if colour == "imd":
            units = g.lsoas[["lsoa21_code", "place_code", "population"]].rename(columns={"place_code": "unit"})
            places_layer = _shade(places_layer, "code", units)
            shade = Shade("places", _SHADE_LABEL)
        systems = g.systems[["code", "name", "geometry"]]
        lads, _ = context_layers(systems.total_bounds, wards=False) if context else (None, None)
        return MapLayers(
            title=f"England: {len(g.systems)} systems, {len(g.places)} places",
            subtitle=f"{g.spec.label}"
            + (f"; neighbourhoods: {len(nb)} PCNs of the {_date_words(nb['practice_map_date'].iloc[0])} practice map, "
               f"footprints by {g.method}" if nb is not None and len(nb) else "")
            + (f"; places shaded by {_SHADE_LABEL}" if shade is not None else ""),
            system=systems.assign(label=systems["name"].map(short_system_name)),
            places=places_layer,
            neighbourhoods=nb,
            practices=_practice_points(g, None) if practices else None,
            england=systems,
            lads=lads,
            attribution=_attribution(g, colour, context=lads is not None),
            shade=shade,
        )
    chosen = geography(None if vintage is None else str(vintage), as_at=as_at).system(system)
    return system_layers(chosen, neighbourhoods=neighbourhoods, practices=practices, colour=colour, context=context)


def system_layers(chosen: System, *, neighbourhoods: bool = True, practices: bool = True, colour: str | None = None,
                  context: bool = True):
    """The :class:`icsgeo.render.MapLayers` of one :class:`icsgeo.geography.System`."""
    from .render import MapLayers, Shade

    g, code = chosen.geography, chosen.code
    sys_row = chosen.boundary
    places = _named_places(g, chosen.places)
    names = dict(zip(places["code"], places["name"]))
    nb = _with_shares(chosen.neighbourhoods, chosen.lsoas, g, names) if neighbourhoods else None
    national = geography(g.vintage)
    head = f"{len(places)} place{'' if len(places) == 1 else 's'}"
    sub = head
    if nb is not None and len(nb):
        grouped = (f"PCNs as grouped on {_day_words(g.members.as_at)} (the ePCN history)" if g.members.as_at
                   else f"PCNs of the {_date_words(nb['practice_map_date'].iloc[0])} practice map")
        sub += f"; {len(nb)} neighbourhoods: {grouped}, footprints by {nb['method'].mode().iloc[0]}"
        if nb["registrations_date"].notna().any():
            sub += f" ({_date_words(str(nb['registrations_date'].dropna().iloc[0]).split(';')[0])})"
        crossing = int(nb["straddles"].sum())
        if crossing:
            sub += f"; {crossing} cross{'es' if crossing == 1 else ''} a place boundary"
    england = national.systems[["code", "name", "geometry"]].assign(overlay=False)
    if g.definition is not None:  # the custom system drawn over England's systems of its vintage
        england = pd.concat([england, sys_row[["code", "name", "geometry"]].assign(overlay=True)], ignore_index=True)
    local = chosen.local_neighbourhoods if neighbourhoods else None
    if local is not None and len(local):
        shares = place_shares(chosen.lsoas[["local_code", "place_code", "population"]], "local_code", names)
        local = local.drop(columns=["straddles"]).join(shares, on="code")
        local["straddles"] = local["straddles"].fillna(False).astype(bool)
        local["place_name"] = local["place_code"].map(names).fillna(local["place_name"])
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
    lads, wards = context_layers(sys_row.total_bounds) if context else (None, None)
    return MapLayers(
        title=chosen.title,
        subtitle=sub,
        system=sys_row[["code", "name", "geometry"]],
        places=places[[c for c in ("code", "name", "official_name", "population", "shade", "geometry") if c in places]],
        neighbourhoods=nb,
        local=local,
        practices=_practice_points(g, code) if practices else None,
        england=england,
        lads=lads,
        wards=wards,
        attribution=_attribution(g, colour, context=lads is not None or wards is not None),
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
         as_at=None, context: bool = True) -> MapResult:
    """Write a system's interactive map (.html) and/or its report figure (.png).

    The page is self-contained (works with no network) unless ``cdn=True``; ``tiles`` adds a
    background tile layer (which the browser downloads). Without tiles the page orients by its
    context layer (``context``: local authority borders and names, and ward names for one system;
    :func:`context_layers`). For ``system="england"`` the neighbourhoods are an optional layer,
    hidden when the page opens, and practices are left out (and the figure has no neighbourhood
    lines). A folder or a read-only file given as a target is said before the map is made.

    Parameters
    ----------
    system : str
        A name fragment, a GSS or ODS code or a custom definition id; or ``"england"``.
    vintage : str or int, optional
        The geography vintage; default the latest.
    output : str or pathlib.Path, optional
        The page to write (.html).
    png : str or pathlib.Path, optional
        The figure to write (.png).
    tiles : str, optional
        A background tile layer for the page.
    cdn : bool, default False
        Load the page's scripts from their CDNs instead of embedding them.
    colour : {"imd"}, optional
        Shade the finest tier by its IMD 2025 score (see :func:`map_layers`).
    as_at : str or datetime.date, optional
        A day: the geography in force then.
    context : bool, default True
        Draw the context layer.

    Returns
    -------
    MapResult
        ``html`` and ``png`` (the paths written, or ``None``), the counts of ``places``,
        ``neighbourhoods``, ``practices`` and ``local`` neighbourhoods drawn, and ``html_bytes``.

    Raises
    ------
    DefinitionError
        A ``system`` that matches no system, or several.
    icsgeo.errors.OutputWriteError
        A target that cannot be written.

    See Also
    --------
    map_layers : The layers alone.
    explore : The same page in a notebook.

    Examples
    --------
    >>> import icsgeo
    >>> result = icsgeo.draw("South Yorkshire", output="syb.html", png="syb.png")   # doctest: +SKIP
    >>> result.places, result.html.name                                             # doctest: +SKIP
    (4, 'syb.html')
    """
    from .render import draw_figure, draw_map, save_map
    from .sources.cache import check_output

    for target in (output, png):  # a folder or a read-only file is said before the map is made
        if target is not None:
            check_output(target)
    england = system.strip().lower() == "england"
    layers = map_layers(system, vintage, practices=not england, colour=colour, as_at=as_at, context=context)
    html = None
    if output is not None:
        m = draw_map(layers, tiles=tiles, show=("system", "places", "context") if england else None)
        html = save_map(m, output, self_contained=not cdn)
    if png is not None:
        # all England on one page: neighbourhood lines would be a grey smudge at that scale
        draw_figure(map_layers(system, vintage, neighbourhoods=False, practices=False, colour=colour, as_at=as_at,
                               context=False) if england else layers, png)
    count = lambda tier: 0 if layers.layer(tier) is None else len(layers.layer(tier))  # noqa: E731
    return MapResult(html=Path(html) if html else None, png=Path(png) if png else None,
                     places=count("places"), neighbourhoods=count("neighbourhoods"), practices=count("practices"),
                     html_bytes=Path(html).stat().st_size if html else None, local=count("local"))


def explore(system: str, *, vintage: str | int | None = None, tiles: str | None = None, colour: str | None = None,
            as_at=None, neighbourhoods: bool = True, practices: bool | None = None, context: bool = True):
    """Show a system's interactive map in a notebook, as a ``folium.Map``.

    Jupyter shows it inline, as the self-contained page :func:`draw` writes (it needs no network),
    and it can be extended or saved like any folium map.

    Parameters
    ----------
    system : str
        As in :func:`draw` (``"england"`` draws every system; its neighbourhoods are a layer hidden
        when the map opens and its practices are left out unless ``practices=True``).
    vintage : str or int, optional
        The geography vintage; default the latest.
    tiles : str, optional
        A background tile layer (which the browser downloads).
    colour : {"imd"}, optional
        Shade the finest tier by its IMD 2025 score (see :func:`map_layers`).
    as_at : str or datetime.date, optional
        A day: the geography in force then.
    neighbourhoods : bool, default True
        Include the PCN neighbourhoods.
    practices : bool, optional
        Include the practices; default yes, except for ``"england"``.
    context : bool, default True
        Draw the context layer (local authorities and ward names).

    Returns
    -------
    folium.Map
        The map.

    Raises
    ------
    DefinitionError
        A ``system`` that matches no system, or several.
    MissingDependencyError
        A map dependency is not installed (``pip install "icsgeo[map]"``).

    See Also
    --------
    draw : Write the page to a file.

    Examples
    --------
    >>> import icsgeo
    >>> m = icsgeo.explore("South Yorkshire")                    # doctest: +SKIP
    >>> m                                                        # doctest: +SKIP
    """
    from .render import draw_map

    england = system.strip().lower() == "england"
    layers = map_layers(system, vintage, neighbourhoods=neighbourhoods,
                        practices=(not england) if practices is None else practices, colour=colour, as_at=as_at,
                        context=context)
    return draw_map(layers, tiles=tiles, show=("system", "places", "context") if england else None)


def draw_profile(system: str, *, vintage: str | int | None = None, output: str | Path | None = None,
                 png: str | Path | None = None, as_at=None):
    """Write a system's profile as a table and/or a chart, and return it.

    The profile is :meth:`icsgeo.System.profile` (see :func:`profile`). A folder or a read-only file
    given as a target is said before the profile is made.

    Parameters
    ----------
    system : str
        A system as :meth:`icsgeo.Geography.system` takes it.
    vintage : str or int, optional
        The geography vintage; default the latest.
    output : str or pathlib.Path, optional
        The table to write (.csv, .parquet; see :func:`save`).
    png : str or pathlib.Path, optional
        The chart to write (.png): places and neighbourhoods by size and deprivation.
    as_at : str or datetime.date, optional
        A day: the geography in force then.

    Returns
    -------
    pandas.DataFrame
        The profile, one row per unit (:data:`icsgeo.tiers.PROFILE_COLUMNS`).

    Raises
    ------
    DefinitionError
        A ``system`` that matches no system, or several.
    BulkInputError
        An ``output`` extension a table cannot be written as.
    icsgeo.errors.OutputWriteError
        A target that cannot be written.

    See Also
    --------
    profile : The profile alone.

    Examples
    --------
    >>> import icsgeo
    >>> table = icsgeo.draw_profile("South Yorkshire")           # no file: the profile only
    >>> table.loc[table["tier"] == "system", "name"].tolist()
    ['NHS South Yorkshire Integrated Care Board']
    >>> icsgeo.draw_profile("South Yorkshire", output="sy.csv", png="sy.png")    # doctest: +SKIP
    """
    from .bulk import save
    from .render import draw_profile as _chart

    from .sources.cache import check_output

    for target in (output, png):
        if target is not None:
            check_output(target)
    chosen = geography(None if vintage is None else str(vintage), as_at=as_at).system(system)
    table = chosen.profile()
    if output is not None:
        save(table, output)
    if png is not None:
        _chart(table, png, title=f"{chosen.title}: places and neighbourhoods by size and deprivation")
    return table
