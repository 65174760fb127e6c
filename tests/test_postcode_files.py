"""The publishers' postcode files, in their real layouts, written in code: OS Code-Point Open as
``codepo_gb.zip``, an ONSPD zip, NSPL files of two release layouts (short names such as ``laua``,
then the vintage-suffixed names of later releases such as ``lad25cd``) and a headerless NHSPD; then
the postcode table built from a directory on a toy of three LSOA squares.

Every row here is made up for the test (plausible Sheffield/Leeds grid references, public GSS codes);
nothing comes from the data mirror.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icsgeo import DataFormatError, read
from icsgeo.locate import DIRECTORY_COLUMNS, combine_postcodes, table_status
from icsgeo.sources.read import READERS
from icsgeo.sources.read.postcodes import CODEPOINT_COLUMNS

from .helpers import catalogue_for, write


def _latlon(e: float, n: float, crs: str = "EPSG:27700") -> tuple[float, float]:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(e, n)
    return round(lat, 6), round(lon, 6)


def _bng(lat: float, lon: float) -> tuple[float, float]:
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(lon, lat)


def _zip(path: Path, members: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


# ---------------------------------------------------------------------------------------------
# OS Code-Point Open: codepo_gb.zip
# ---------------------------------------------------------------------------------------------

CODEPOINT_HEADERS = "PC,PQ,EA,NO,CY,RH,LH,CC,DC,WC\n" + ",".join(CODEPOINT_COLUMNS) + "\n"
#: The Parquet entry's roles (boundaries/catalogue.toml), which the zip entry shares.
CODEPOINT_ROLES = {
    "postcode": "Postcode", "quality": "Positional_quality_indicator", "easting": "Eastings", "northing": "Northings",
    "country_code": "Country_code", "county_code": "Admin_county_code", "lad_code": "Admin_district_code",
    "ward_code": "Admin_ward_code",
}  # fmt: skip
#: (postcode, quality, E, N, country, NHS region, NHS HA, county, district, ward) by area file: quoted
#: text, bare numbers, "" where a code does not apply, as OS writes them.
CODEPOINT_AREAS = {
    "s": [
        ("S1 2HE", 10, 435245, 387196, "E92000001", "E19000003", "E18000003", "", "E08000039", "E05010861"),
        ("S10 2TN", 10, 433061, 386514, "E92000001", "E19000003", "E18000003", "", "E08000039", "E05010867"),
        ("S1 9ZZ", 90, 0, 0, "E92000001", "E19000003", "E18000003", "", "E08000039", "E05010861"),
    ],
    "ls": [
        ("LS2 9JT", 10, 429774, 433888, "E92000001", "E19000003", "E18000003", "", "E08000035", "E05011394"),
        ("LS29 9AA", 30, 411234, 447890, "E92000001", "E19000003", "E18000003", "", "E08000032", "E05001348"),
    ],
    "ll": [
        ("LL30 2AA", 10, 278012, 382150, "W92000004", "", "W11000023", "", "W06000003", "W05000115"),
    ],
}


def _codepoint_csv(rows) -> str:
    def cell(v):
        return str(v) if isinstance(v, int) else f'"{v}"'

    return "".join(",".join(cell(v) for v in r) + "\r\n" for r in rows)


def _codepoint_zip(path: Path, *, headers: bool = True, areas=CODEPOINT_AREAS) -> Path:
    members = {f"Data/CSV/{area}.csv": _codepoint_csv(rows) for area, rows in areas.items()}
    if headers:
        members["Doc/Code-Point_Open_Column_Headers.csv"] = CODEPOINT_HEADERS
    counts = "".join(f"{area.upper():>8}\t{len(rows)}\n" for area, rows in sorted(areas.items()))
    members["Doc/metadata.txt"] = ("ORDNANCE SURVEY\nPRODUCT: OS CODE-POINT_03.02\nDATASET VERSION NUMBER: 2099.1.0\n"
                                   "COPYRIGHT DATE: 20990101\nRM UPDATE DATE: 20990101\n" + counts)
    return _zip(path, members)


def _codepoint_entry(file: str, **extra) -> dict:
    return {"kind": "postcodes", "format": "zip", "reader": "codepoint_zip", "file": file,
            "title": "OS Code-Point Open (test)", "no_location_quality": 90, "quality_scale": 10, "columns": CODEPOINT_ROLES,
            **extra}


def _codepoint_parquet(path: Path, rows) -> Path:
    """The rows as the mirror's Parquet extract stores them (same column names and Arrow types)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(zip(*rows))
    types = [pa.large_string(), pa.int8(), pa.int32(), pa.int32()] + [pa.large_string()] * 6
    arrays = [pa.array([None if v == "" else v for v in c] if t == pa.large_string() else list(c), type=t)
              for c, t in zip(cols, types)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(dict(zip(CODEPOINT_COLUMNS, arrays))), path)
    return path


def test_the_new_readers_are_registered_as_tables():
    assert READERS["codepoint_zip"][1] is False and READERS["postcode_directory"][1] is False


def test_codepoint_zip_reads_to_the_frame_of_the_parquet_extract(tmp_path):
    data = tmp_path / "data"
    _codepoint_zip(data / "codepo_gb.zip")
    english = [r for area in sorted(CODEPOINT_AREAS) for r in CODEPOINT_AREAS[area] if r[4] == "E92000001"]
    _codepoint_parquet(data / "cp.parquet", english)
    cat = catalogue_for(
        data,
        zipped=_codepoint_entry("codepo_gb.zip", countries=["E92000001"]),
        extract={**_codepoint_entry("cp.parquet"), "format": "parquet", "reader": "postcodes"},
    )
    got = read("zipped", catalogue=cat)
    pd.testing.assert_frame_equal(got, read("extract", catalogue=cat))
    # areas in member-name order (ll, ls, s), rows in file order within each
    assert got["postcode"].tolist() == ["LS2 9JT", "LS29 9AA", "S1 2HE", "S10 2TN", "S1 9ZZ"]
    assert list(got.columns) == ["postcode", "postcode_valid", "easting", "northing", "lat", "lon", "has_location",
                                 "quality", "country_code", "county_code", "lad_code", "ward_code"]
    assert got["has_location"].tolist() == [True, True, True, True, False]  # quality 90: no grid reference
    assert np.isnan(got.loc[4, "easting"]) and np.isnan(got.loc[4, "lat"])
    assert got.loc[2, ["easting", "northing"]].tolist() == [435245.0, 387196.0]
    assert (got.loc[2, "lat"], got.loc[2, "lon"]) == _latlon(435245, 387196)
    assert got["quality"].dtype == "int8" and got["quality"].tolist() == [1, 3, 1, 1, 9]  # 10-90 read on ONS's 1-9
    assert got["county_code"].isna().all() and got.loc[0, "lad_code"] == "E08000035"


def test_codepoint_zip_keeps_every_country_unless_the_catalogue_names_some(tmp_path):
    data = tmp_path / "data"
    _codepoint_zip(data / "codepo_gb.zip")
    cat = catalogue_for(data, cp=_codepoint_entry("codepo_gb.zip"))
    got = read("cp", catalogue=cat)
    assert len(got) == 6 and got.loc[0, "postcode"] == "LL30 2AA" and got.loc[0, "country_code"] == "W92000004"


def test_codepoint_zip_without_its_headers_file_uses_the_documented_names(tmp_path):
    data = tmp_path / "data"
    _codepoint_zip(data / "a.zip")
    _codepoint_zip(data / "b.zip", headers=False)
    cat = catalogue_for(data, a=_codepoint_entry("a.zip"), b=_codepoint_entry("b.zip"))
    pd.testing.assert_frame_equal(read("a", catalogue=cat), read("b", catalogue=cat))


def test_codepoint_zip_of_the_wrong_layout_is_a_format_error(tmp_path):
    data = tmp_path / "data"
    renamed = CODEPOINT_HEADERS.replace("Admin_district_code", "District")
    _zip(data / "renamed.zip", {"Data/CSV/s.csv": _codepoint_csv(CODEPOINT_AREAS["s"]),
                                "Doc/Code-Point_Open_Column_Headers.csv": renamed})
    _zip(data / "wide.zip", {"Data/CSV/s.csv": '"S1 2HE",10,435245,387196,"E92000001","","","","E08000039","E05010861","X"\n',
                             "Doc/Code-Point_Open_Column_Headers.csv": CODEPOINT_HEADERS})
    _zip(data / "empty.zip", {"Doc/Code-Point_Open_Column_Headers.csv": CODEPOINT_HEADERS})
    write(data / "notzip.zip", "<html>Service unavailable</html>")
    cat = catalogue_for(data, renamed=_codepoint_entry("renamed.zip"), wide=_codepoint_entry("wide.zip"),
                        empty=_codepoint_entry("empty.zip"), notzip=_codepoint_entry("notzip.zip"))
    with pytest.raises(DataFormatError, match="Admin_district_code") as err:
        read("renamed", catalogue=cat)
    assert "renamed.zip" in str(err.value)
    with pytest.raises(DataFormatError, match=r"wide\.zip!Data/CSV/s\.csv"):
        read("wide", catalogue=cat)
    with pytest.raises(DataFormatError, match="Data/CSV"):
        read("empty", catalogue=cat)
    with pytest.raises(DataFormatError, match="not a readable zip"):
        read("notzip", catalogue=cat)


def test_codepoint_countries_need_a_country_column(tmp_path):
    data = tmp_path / "data"
    _codepoint_zip(data / "codepo_gb.zip")
    roles = {k: v for k, v in CODEPOINT_ROLES.items() if k != "country_code"}
    cat = catalogue_for(data, cp={**_codepoint_entry("codepo_gb.zip", countries=["E92000001"]), "columns": roles})
    with pytest.raises(DataFormatError, match="country_code"):
        read("cp", catalogue=cat)


# ---------------------------------------------------------------------------------------------
# ONS postcode directories: ONSPD, NSPL, NHSPD
# ---------------------------------------------------------------------------------------------

#: ONSPD's header in a short-name release (ICB and 2021 Census columns at the end).
ONSPD_HEADER = (
    "pcd,pcd2,pcds,dointr,doterm,oscty,ced,oslaua,osward,parish,usertype,oseast1m,osnrth1m,osgrdind,oshlthau,"
    "nhser,ctry,rgn,streg,pcon,eer,teclec,ttwa,pct,itl,statsward,oa01,casward,npark,lsoa01,msoa01,ur01ind,oac01,"
    "oa11,lsoa11,msoa11,wz11,sicbl,bua11,buasd11,ru11ind,oac11,lat,long,lep1,lep2,pfa,imd,calncv,icb,oa21,lsoa21,"
    "msoa21"
).split(",")
#: NSPL's header in a short-name release (2025).
NSPL_HEADER = (
    "pcd,pcd2,pcds,dointr,doterm,usertype,oseast1m,osnrth1m,osgrdind,oa21,cty,ced,laua,ward,nhser,ctry,rgn,pcon,"
    "ttwa,itl,npark,lsoa21,msoa21,wz11,sicbl,bua24,ruc21,oac11,lat,long,lep1,lep2,pfa,imd,icb"
).split(",")
#: NSPL's header once its columns carry their vintage (``lad25cd``, ``icb23cd``…).
NSPL_CD_HEADER = (
    "pcd7,pcd8,pcds,dointr,doterm,usrtypind,east1m,north1m,gridind,oa21cd,cty25cd,ced25cd,lad25cd,wd25cd,"
    "nhser24cd,ctry25cd,rgn25cd,pcon24cd,ttwa15cd,itl25cd,npark16cd,lsoa21cd,msoa21cd,wz11cd,sicbl24cd,bua24cd,"
    "ruc21ind,oac11ind,lat,long,lep21cd1,lep21cd2,pfa23cd,imd20ind,icb23cd"
).split(",")
#: NHSPD: headerless; its record specification's 49 columns, in order.
NHSPD_FIELDS = (
    "PCD2,PCDS,DOINTR,DOTERM,OSEAST100M,OSNRTH100M,OSCTY,ODSLAUA,OSLAUA,OSWARD,USERTYPE,OSGRDIND,CTRY,OSHLTHAU,RGN,"
    "OLDHA,NHSER,CCG,PSED,CENED,EDIND,WARD98,OA01,NHSRLO,HRO,LSOA01,UR01IND,MSOA01,CANNET,SCN,OSHAPREV,OLDPCT,"
    "OLDHRO,PCON,CANREG,PCT,OSEAST1M,OSNRTH1M,OA11,LSOA11,MSOA11,CALNCV,ICB,SMHPC_AED,SMHPC_AS,SMHPC_CT4,OA21,"
    "LSOA21,MSOA21"
).split(",")

#: One catalogue entry for every ONSPD/NSPL release: candidate names, first present wins.
DIRECTORY_ROLES = {
    "postcode": ["pcds"],
    "easting": ["oseast1m", "east1m"], "northing": ["osnrth1m", "north1m"], "quality": ["osgrdind", "gridind"],
    "lat": "lat", "lon": "long", "termination_date": "doterm",
    "country_code": ["ctry", "ctry25cd", "ctry26cd"], "lad_code": ["oslaua", "laua", "lad25cd", "lad26cd"],
    "ward_code": ["osward", "ward", "wd25cd", "wd26cd"], "lsoa21_code": ["LSOA21", "LSOA21CD"],
    "sicbl_code": ["sicbl", "sicbl24cd", "sicbl26cd"], "icb_code": ["icb", "icb23cd", "icb26cd"],
}  # fmt: skip
#: NHSPD by 1-based position (its SICBL and ICB columns hold ODS codes: 14L, QOP).
NHSPD_ROLES = {
    "postcode": 1, "termination_date": 4, "lad_code": 9, "ward_code": 10, "quality": 12, "country_code": 13,
    "sicbl_ods_code": 18, "easting": 37, "northing": 38, "icb_ods_code": 43, "lsoa21_code": 48,
}  # fmt: skip

def _irish_grid(lat: float, lon: float) -> tuple[int, int]:
    from pyproj import Transformer

    e, n = Transformer.from_crs("EPSG:4326", "EPSG:29903", always_xy=True).transform(lon, lat)
    return round(e), round(n)


BELFAST = (54.599803, -5.931046)  # BT1 1DA; the directories give its grid reference on the Irish Grid
BELFAST_IG = _irish_grid(*BELFAST)
#: The logical rows every directory layout below holds: live, terminated, no grid reference
#: (Guernsey), Northern Ireland, Wales, Scotland.
PEOPLE = [
    dict(pcds="S1 2HE", doterm="", e=435245, n=387196, grid="1", lad="E08000039", ward="E05010861", ctry="E92000001",
         lsoa21="E01033264", sicbl="E38000146", icb="E54000061", sicbl_ods="03N", icb_ods="QF7"),
    dict(pcds="S10 2TN", doterm="201907", e=433061, n=386514, grid="1", lad="E08000039", ward="E05010867",
         ctry="E92000001", lsoa21="E01007951", sicbl="E38000146", icb="E54000061", sicbl_ods="03N", icb_ods="QF7"),
    dict(pcds="GY1 1AA", doterm="", e=None, n=None, grid="9", lad="L99999999", ward="L99999999", ctry="L93000001",
         lsoa21="L99999999", sicbl="L99999999", icb="L99999999", sicbl_ods="X98", icb_ods="X98"),
    dict(pcds="BT1 1DA", doterm="", e=BELFAST_IG[0], n=BELFAST_IG[1], grid="1", lad="N09000003", ward="N08000312",
         ctry="N92000002", lsoa21="N99999999", sicbl="N99999999", icb="N99999999", sicbl_ods="ZC1", icb_ods="ZE0"),
    dict(pcds="CF10 1AA", doterm="", e=318340, n=175890, grid="1", lad="W06000015", ward="W05001280",
         ctry="W92000004", lsoa21="W01001939", sicbl="W11000029", icb="W99999999", sicbl_ods="7A4", icb_ods="W92"),
    dict(pcds="AB10 1AL", doterm="", e=394251, n=806376, grid="1", lad="S12000033", ward="S13002842",
         ctry="S92000003", lsoa21="", sicbl="S99999999", icb="S99999999", sicbl_ods="S99", icb_ods="S99"),
]


def _values(p: dict) -> dict[str, str]:
    """A logical row as a directory writes it: the 7-, 8-character and pcds forms, a zero-padded
    northing, lat/long derived from the grid reference (Belfast's given), 99.999999/0 without one."""
    outward, inward = p["pcds"].split()
    if p["e"] is None:
        lat, lon = 99.999999, 0.0
    elif p["pcds"].startswith("BT"):
        lat, lon = BELFAST
    else:
        lat, lon = _latlon(p["e"], p["n"])
    e = "" if p["e"] is None else str(p["e"])
    n = "" if p["n"] is None else f"{p['n']:07d}"
    return {
        "pcd": f"{outward:<4}{inward}", "pcd2": f"{outward:<5}{inward}", "pcds": p["pcds"], "dointr": "198001",
        "doterm": p["doterm"], "usertype": "0", "oseast1m": e, "osnrth1m": n, "osgrdind": p["grid"],
        "oslaua": p["lad"], "osward": p["ward"], "ctry": p["ctry"], "lsoa21": p["lsoa21"], "sicbl": p["sicbl"],
        "icb": p["icb"], "lat": f"{lat:.6f}", "long": f"{lon:.6f}", "imd": "17158",
        "CCG": p["sicbl_ods"], "ICB": p["icb_ods"],
    }


#: the ONSPD name of each column another layout calls differently
_SAME_AS = {"laua": "oslaua", "ward": "osward", "pcd7": "pcd", "pcd8": "pcd2", "usrtypind": "usertype",
            "east1m": "oseast1m", "north1m": "osnrth1m", "gridind": "osgrdind", "lad25cd": "oslaua",
            "wd25cd": "osward", "ctry25cd": "ctry", "lsoa21cd": "lsoa21", "sicbl24cd": "sicbl", "icb23cd": "icb",
            "imd20ind": "imd", "PCD2": "pcd2", "PCDS": "pcds", "DOINTR": "dointr", "DOTERM": "doterm",
            "OSLAUA": "oslaua", "OSWARD": "osward", "USERTYPE": "usertype", "OSGRDIND": "osgrdind", "CTRY": "ctry",
            "OSEAST1M": "oseast1m", "OSNRTH1M": "osnrth1m", "LSOA21": "lsoa21"}  # fmt: skip
_UNQUOTED = {"lat", "long", "imd", "imd20ind"}  # ONS writes these as bare numbers


def _directory_csv(header: list[str], rows: list[dict], *, with_header: bool = True) -> str:
    """``rows`` in ``header``'s layout: text quoted, lat/long/imd bare; columns the test does not
    model hold a plausible filler code."""
    lines = [",".join(header)] if with_header else []
    for p in rows:
        v = _values(p)
        cells = []
        for col in header:
            value = v.get(col, v.get(_SAME_AS.get(col, ""), "E99999999"))
            cells.append(value if col in _UNQUOTED else f'"{value}"')
        lines.append(",".join(cells))
    return "\r\n".join(lines) + "\r\n"


def _directory_entry(file: str, columns=None, **extra) -> dict:
    return {"kind": "postcodes", "format": "zip" if file.endswith(".zip") else "csv", "reader": "postcode_directory",
            "file": file, "title": "ONS postcode directory (test)", "no_location_quality": 9,
            "columns": columns or DIRECTORY_ROLES, **extra}


ONSPD_ZIP = "ONSPD_NOV_2025_UK.zip"


def _onspd_zip(path: Path, rows=PEOPLE) -> Path:
    return _zip(path, {
        "Data/ONSPD_NOV_2025_UK.csv": _directory_csv(ONSPD_HEADER, rows),
        # the split copy: ignored while the full file is there
        "Data/multi_csv/ONSPD_NOV_2025_UK_S.csv": _directory_csv(ONSPD_HEADER, rows[:1]),
        "Documents/LA_UA names and codes UK as at 04_25.csv": "LAD25CD,LAD25NM\nE08000039,Sheffield\n",
        "User Guide/ONSPD User Guide Nov 2025.txt": "not read",
    })


@pytest.fixture
def directories(tmp_path):
    """The same six postcodes as an ONSPD zip, an NSPL CSV, an NSPL zip of the ``…cd`` layout split
    into parts, and an NHSPD CSV."""
    data = tmp_path / "data"
    _onspd_zip(data / ONSPD_ZIP)
    write(data / "NSPL_MAY_2025_UK.csv", _directory_csv(NSPL_HEADER, PEOPLE))
    _zip(data / "NSPL_AUG_2025_UK.zip", {
        "Data/multi_csv/NSPL_AUG_2025_UK_AB.csv": _directory_csv(NSPL_CD_HEADER, [PEOPLE[5]]),
        "Data/multi_csv/NSPL_AUG_2025_UK_BT.csv": _directory_csv(NSPL_CD_HEADER, [PEOPLE[3]]),
        "Data/multi_csv/NSPL_AUG_2025_UK_CF.csv": _directory_csv(NSPL_CD_HEADER, [PEOPLE[4]]),
        "Data/multi_csv/NSPL_AUG_2025_UK_GY.csv": _directory_csv(NSPL_CD_HEADER, [PEOPLE[2]]),
        "Data/multi_csv/NSPL_AUG_2025_UK_S.csv": _directory_csv(NSPL_CD_HEADER, PEOPLE[:2]),
        "Documents/Country names and codes UK as at 08_12.csv": "CTRY12CD,CTRY12NM\nE92000001,England\n",
    })
    write(data / "nhg25feb.csv", _directory_csv(NHSPD_FIELDS, PEOPLE, with_header=False))
    return catalogue_for(
        data,
        onspd=_directory_entry(ONSPD_ZIP),
        nspl=_directory_entry("NSPL_MAY_2025_UK.csv"),
        nspl_cd=_directory_entry("NSPL_AUG_2025_UK.zip"),
        nhspd=_directory_entry("nhg25feb.csv", NHSPD_ROLES),
    )


def test_onspd_zip_reads_every_row_in_order_with_its_codes(directories):
    f = read("onspd", catalogue=directories)
    assert f["postcode"].tolist() == [p["pcds"] for p in PEOPLE]  # rows in = rows out, in order
    assert list(f.columns) == [
        "postcode", "postcode_valid", "easting", "northing", "lat", "lon", "has_location", "quality",
        "country_code", "lad_code", "ward_code", "lsoa21_code", "sicbl_code", "icb_code", "terminated",
        "termination_date"]
    assert f["has_location"].tolist() == [True, True, False, True, True, True]  # osgrdind 9: none
    assert f.loc[0, ["easting", "northing"]].tolist() == [435245.0, 387196.0]  # "0387196": zero-padded
    assert (f.loc[0, "lat"], f.loc[0, "lon"]) == _latlon(435245, 387196)
    assert f.loc[5, "northing"] == 806376.0
    assert f.loc[2, ["easting", "northing", "lat", "lon"]].isna().all()  # 99.999999/0 is no location
    assert f["quality"].dtype == "int8" and f["quality"].tolist() == [1, 1, 9, 1, 1, 1]
    assert f["terminated"].tolist() == [False, True, False, False, False, False]
    assert f["termination_date"].tolist()[:2] == [pd.NA, "201907"] and f["termination_date"].isna().sum() == 5


def test_directory_pseudo_codes_and_blanks_are_missing(directories):
    f = read("onspd", catalogue=directories)
    assert f["lsoa21_code"].tolist() == ["E01033264", "E01007951", pd.NA, pd.NA, "W01001939", pd.NA]
    assert f["icb_code"].tolist() == ["E54000061", "E54000061", pd.NA, pd.NA, pd.NA, pd.NA]
    assert f["sicbl_code"].tolist()[4] == "W11000029" and pd.isna(f.loc[2, "lad_code"])
    assert f.loc[2, "country_code"] == "L93000001"  # a real code (the Channel Islands), not a pseudo one
    for col in ("lsoa21_code", "sicbl_code", "icb_code", "lad_code", "ward_code", "country_code", "termination_date"):
        assert f[col].dtype == "string", col


def test_northern_ireland_irish_grid_references_are_put_on_the_british_grid(directories):
    f = read("onspd", catalogue=directories).set_index("postcode")
    e, n = _bng(*BELFAST)
    assert f.loc["BT1 1DA", "easting"] == pytest.approx(e, abs=0.1)
    assert f.loc["BT1 1DA", "northing"] == pytest.approx(n, abs=0.1)
    assert 146_000 < e < 146_400 and 529_600 < n < 530_000  # Belfast, not Derbyshire
    assert (f.loc["BT1 1DA", "lat"], f.loc["BT1 1DA", "lon"]) == pytest.approx(BELFAST, abs=1e-5)
    # an NHSPD has no lat/long: its Irish Grid reference is converted instead (within a few metres)
    h = read("nhspd", catalogue=directories).set_index("postcode")
    assert h.loc["BT1 1DA", "easting"] == pytest.approx(e, abs=5)
    assert h.loc["BT1 1DA", "northing"] == pytest.approx(n, abs=5)


def test_one_entry_reads_the_releases_that_renamed_their_columns(directories):
    """ONSPD (oslaua, osward), NSPL (laua, ward) and NSPL with vintage names (lad25cd, east1m,
    gridind, lsoa21cd, icb23cd…, split into area parts) give the same frame for the same postcodes."""
    onspd = read("onspd", catalogue=directories).set_index("postcode")
    for other in ("nspl", "nspl_cd"):
        f = read(other.replace("_", "-"), catalogue=directories)
        if other == "nspl_cd":  # parts read in name order: AB, BT, CF, GY, S
            assert f["postcode"].tolist() == ["AB10 1AL", "BT1 1DA", "CF10 1AA", "GY1 1AA", "S1 2HE", "S10 2TN"]
        pd.testing.assert_frame_equal(f.set_index("postcode").loc[onspd.index], onspd)


def test_onspd_zip_prefers_the_full_csv_to_its_parts(directories):
    assert len(read("onspd", catalogue=directories)) == len(PEOPLE)  # not the one-row multi_csv part


def test_nhspd_headerless_release_reads_by_position(directories):
    f = read("nhspd", catalogue=directories)
    onspd = read("onspd", catalogue=directories)
    # PCD2, the 8-character form ("S1   2HE"), normalised
    assert f["postcode"].tolist() == onspd["postcode"].tolist()
    assert f["sicbl_ods_code"].tolist()[:2] == ["03N", "03N"] and f.loc[0, "icb_ods_code"] == "QF7"
    pd.testing.assert_series_equal(f["lsoa21_code"], onspd["lsoa21_code"])
    pd.testing.assert_series_equal(f["terminated"], onspd["terminated"])
    assert f["has_location"].tolist() == onspd["has_location"].tolist()
    assert f.loc[0, ["easting", "northing"]].tolist() == [435245.0, 387196.0]


def test_directory_countries_narrow_only_when_asked(tmp_path):
    data = tmp_path / "data"
    write(data / "nspl.csv", _directory_csv(NSPL_HEADER, PEOPLE))
    cat = catalogue_for(data, nspl=_directory_entry("nspl.csv", countries=["E92000001", "W92000004"]))
    assert read("nspl", catalogue=cat)["postcode"].tolist() == ["S1 2HE", "S10 2TN", "CF10 1AA"]


def test_directory_of_the_wrong_layout_is_a_format_error(tmp_path):
    data = tmp_path / "data"
    old = [c if c != "lsoa21" else "lsoa11" for c in NSPL_HEADER]  # a release before LSOA 2021
    write(data / "old.csv", _directory_csv(old, PEOPLE))
    write(data / "short.csv", _directory_csv(NHSPD_FIELDS[:40], PEOPLE, with_header=False))
    write(data / "letters.csv", _directory_csv(NSPL_HEADER, PEOPLE).replace('"435245"', '"4352X5"'))
    _zip(data / "nodata.zip", {"Documents/readme.txt": "nothing here"})
    _zip(data / "two.zip", {"Data/a.csv": _directory_csv(NSPL_HEADER, PEOPLE), "Data/b.csv": "x\n"})
    cat = catalogue_for(
        data,
        old=_directory_entry("old.csv"), short=_directory_entry("short.csv", NHSPD_ROLES),
        letters=_directory_entry("letters.csv"), nodata=_directory_entry("nodata.zip"),
        two=_directory_entry("two.zip"), two_member={**_directory_entry("two.zip"), "member": "Data/a.csv"},
        mixed=_directory_entry("old.csv", {**DIRECTORY_ROLES, "lsoa21_code": 22}),
        nowhere=_directory_entry("old.csv", {"postcode": "pcds", "lad_code": "laua"}),
    )
    with pytest.raises(DataFormatError, match="lsoa21_code") as err:
        read("old", catalogue=cat)
    assert "old.csv" in str(err.value) and "LSOA21CD" in str(err.value)
    with pytest.raises(DataFormatError, match="has 40 columns") as err:
        read("short", catalogue=cat)
    assert "lsoa21_code" in str(err.value)
    with pytest.raises(DataFormatError, match="4352X5"):
        read("letters", catalogue=cat)
    with pytest.raises(DataFormatError, match="Data/multi_csv"):
        read("nodata", catalogue=cat)
    with pytest.raises(DataFormatError, match="member"):
        read("two", catalogue=cat)
    assert len(read("two-member", catalogue=cat)) == len(PEOPLE)
    with pytest.raises(DataFormatError, match="mix positions and names"):
        read("mixed", catalogue=cat)
    with pytest.raises(DataFormatError, match="easting and northing"):
        read("nowhere", catalogue=cat)


# ---------------------------------------------------------------------------------------------
# The postcode table from a directory: three LSOA squares
# ---------------------------------------------------------------------------------------------

LAD = "E06099001"  # a made-up LAD holding the toy's three LSOAs
LSOA_A, LSOA_B, LSOA_C = "E01099001", "E01099002", "E01099003"


@pytest.fixture
def squares():
    """LSOAs A, B, C: 1 km squares side by side (west to east) from (430000, 380000)."""
    import geopandas
    import shapely

    x0, y0 = 430_000, 380_000
    polygons = geopandas.GeoDataFrame(
        {"code": [LSOA_A, LSOA_B, LSOA_C]},
        geometry=[shapely.box(x0 + i * 1000, y0, x0 + (i + 1) * 1000, y0 + 1000) for i in range(3)],
        crs="EPSG:27700",
    )
    lsoas = pd.DataFrame({"lsoa21_code": [LSOA_A, LSOA_B, LSOA_C], "lad_code": [LAD] * 3})
    return polygons, lsoas


def _toy_directory(tmp_path) -> pd.DataFrame:
    """Six postcodes: in A but B by the directory; pseudo LSOA; unknown LSOA; terminated; a Welsh
    LSOA; no grid reference but a directory LSOA."""
    rows = [
        ("S1 1AA", 430500, 380500, LSOA_B, ""),         # the directory says B, its point is in A
        ("S1 1AB", 432500, 380500, "E99999999", ""),    # pseudo: placed by its point (C)
        ("S1 1AD", 431500, 380500, "E01999998", ""),    # not a known English LSOA: placed by point (B)
        ("S1 1AE", 431500, 380500, LSOA_B, "202403"),   # terminated
        ("S1 1AF", 430500, 380500, "W01001939", ""),    # Welsh: placed by point (A)
        ("S1 1AG", None, None, LSOA_C, ""),             # no grid reference: the directory's LSOA, no location
    ]
    people = [dict(pcds=pc, doterm=term, e=e, n=n, grid="9" if e is None else "1", lad=LAD, ward="E05099001",
                   ctry="E92000001", lsoa21=lsoa, sicbl="E38000146", icb="E54000061", sicbl_ods="03N", icb_ods="QF7")
              for pc, e, n, lsoa, term in rows]
    data = tmp_path / "data"
    write(data / "nspl.csv", _directory_csv(NSPL_HEADER, people))
    return read("nspl", catalogue=catalogue_for(data, nspl=_directory_entry("nspl.csv")))


def _latlong_extract(postcodes: list[str], points: list[tuple[float, float]]) -> pd.DataFrame:
    """An NSPL lat/long frame (the ``postcodes_extra`` role): postcode and location only."""
    lat, lon = zip(*[_latlon(e, n) for e, n in points])
    e, n = zip(*points)
    return pd.DataFrame({"postcode": pd.array(postcodes, dtype="string"), "postcode_valid": True,
                         "easting": list(e), "northing": list(n), "lat": list(lat), "lon": list(lon),
                         "has_location": True})


def test_combine_postcodes_takes_known_directory_lsoas(tmp_path, squares):
    polygons, lsoas = squares
    extra = _latlong_extract(["S1 1AA", "S1 9ZZ"], [(432_200, 380_200), (432_200, 380_200)])
    t = combine_postcodes(_toy_directory(tmp_path), extra, polygons=polygons, lsoas=lsoas).set_index("postcode")
    assert t.index.tolist() == ["S1 1AA", "S1 1AB", "S1 1AD", "S1 1AE", "S1 1AF", "S1 1AG", "S1 9ZZ"]
    assert t.loc["S1 1AA", ["lsoa21_code", "lsoa_method", "spatial_lsoa21_code"]].tolist() == [LSOA_B, "directory", LSOA_A]
    assert t.loc["S1 1AB", ["lsoa21_code", "lsoa_method"]].tolist() == [LSOA_C, "point in polygon"]
    assert t.loc["S1 1AD", ["lsoa21_code", "lsoa_method"]].tolist() == [LSOA_B, "point in polygon"]
    assert t.loc["S1 1AE", ["lsoa21_code", "lsoa_method"]].tolist() == [LSOA_B, "directory"]
    assert t.loc["S1 1AF", ["lsoa21_code", "lsoa_method"]].tolist() == [LSOA_A, "point in polygon"]
    assert t.loc["S1 1AG", ["lsoa21_code", "lsoa_method"]].tolist() == [LSOA_C, "directory"]
    assert pd.isna(t.loc["S1 1AG", "spatial_lsoa21_code"])
    # the extra file adds only what the directory lacks, by point
    assert t.loc["S1 9ZZ", ["source", "lsoa21_code", "lsoa_method"]].tolist() == ["postcodes_extra", LSOA_C, "point in polygon"]
    assert (t["source"] == "postcodes").sum() == 6
    assert t.loc["S1 1AA", ["directory_sicbl_code", "directory_icb_code"]].tolist() == ["E38000146", "E54000061"]
    assert t.loc["S1 9ZZ", list(DIRECTORY_COLUMNS)].isna().all()
    assert t.loc["S1 1AE", "termination_date"] == "202403"


def test_directory_terminated_postcodes_have_the_terminated_status(tmp_path, squares):
    polygons, lsoas = squares
    extra = _latlong_extract(["S1 9ZZ"], [(432_200, 380_200)])
    t = combine_postcodes(_toy_directory(tmp_path), extra, polygons=polygons, lsoas=lsoas)
    status = dict(zip(t["postcode"], table_status(t)))
    assert status == {"S1 1AA": "ok", "S1 1AB": "ok", "S1 1AD": "ok", "S1 1AE": "terminated", "S1 1AF": "ok",
                      "S1 1AG": "not_found", "S1 9ZZ": "terminated"}
    assert t["terminated"].dtype == "boolean" and t["terminated"].tolist()[:4] == [False, False, False, True]


def test_combine_postcodes_without_a_directory_leaves_the_new_columns_null(tmp_path, squares):
    polygons, lsoas = squares
    data = tmp_path / "data"
    _codepoint_zip(data / "codepo_gb.zip", areas={"s": [
        ("S1 1AA", 10, 430500, 380500, "E92000001", "", "", "", LAD, "E05099001"),
        ("S1 1AB", 90, 0, 0, "E92000001", "", "", "", LAD, "E05099001"),
    ]})
    cp = read("cp", catalogue=catalogue_for(data, cp=_codepoint_entry("codepo_gb.zip")))
    t = combine_postcodes(cp, None, polygons=polygons, lsoas=lsoas)
    assert list(t.columns) == ["postcode", "source", "easting", "northing", "lat", "lon", "has_location", "lad_code",
                               "ward_code", "country_code", "quality", "lsoa21_code", "lsoa_method", "spatial_lsoa21_code",
                               *DIRECTORY_COLUMNS]
    assert t["quality"].tolist() == [1, 9]  # Code-Point's 10-90 on ONS's scale 1-9
    assert t["lsoa21_code"].tolist() == [LSOA_A, pd.NA] and t.loc[0, "lsoa_method"] == "point in polygon"
    assert t[list(DIRECTORY_COLUMNS)].isna().all().all()
    assert table_status(t).tolist() == ["ok", "not_found"]
