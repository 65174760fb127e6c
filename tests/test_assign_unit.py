"""Assignment semantics on a toy of four square LSOAs (in code): a point on a shared edge, a point
outside every polygon, a coastal point near one, a point whose polygon disagrees with its official LAD."""

import geopandas
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from icsgeo.answer import ANSWER_COLUMNS, to_records
from icsgeo.cli import join_split_postcodes
from icsgeo.locate import lsoa_of_points, lsoa_of_points_dask

#   LSOA A (LAD L1) | LSOA B (LAD L2)       each square 1 km, south-west corner at (400000, 300000)
#   ----------------+----------------
#   LSOA C (LAD L1) | LSOA D (LAD L2)
SQUARES = {
    "E01000001": box(400_000, 301_000, 401_000, 302_000),
    "E01000002": box(401_000, 301_000, 402_000, 302_000),
    "E01000003": box(400_000, 300_000, 401_000, 301_000),
    "E01000004": box(401_000, 300_000, 402_000, 301_000),
}
LADS = {"E01000001": "E06000001", "E01000002": "E06000002", "E01000003": "E06000001", "E01000004": "E06000002"}


@pytest.fixture
def toy():
    polys = geopandas.GeoDataFrame({"code": list(SQUARES)}, geometry=list(SQUARES.values()), crs="EPSG:27700")
    lads = pd.DataFrame({"lsoa21_code": list(LADS), "lad_code": list(LADS.values())})
    return {"polygons": polys, "lsoa_lads": lads}


def test_points_inside_on_an_edge_outside_and_missing(toy):
    e = np.array([400_500, 401_000, 402_300, 409_000, np.nan, 401_500])
    n = np.array([301_500, 301_500, 300_500, 309_000, 300_000, 300_500])
    r = lsoa_of_points(e, n, polygons=toy["polygons"], max_distance=1_000)
    assert len(r) == 6  # every row out, in order
    assert r.loc[0, "lsoa21_code"] == "E01000001" and r.loc[0, "lsoa_method"] == "point in polygon"
    assert r.loc[1, "lsoa21_code"] in ("E01000001", "E01000002")  # on the shared edge: one answer, not two rows
    assert r.loc[2, "lsoa21_code"] == "E01000004" and r.loc[2, "lsoa_method"] == "nearest polygon"  # 300 m offshore
    assert pd.isna(r.loc[3, "lsoa21_code"]) and pd.isna(r.loc[3, "lsoa_method"])  # 7 km away: outside
    assert pd.isna(r.loc[4, "lsoa21_code"])  # no coordinates
    assert r.loc[5, "lsoa21_code"] == "E01000004"


def test_edge_answer_is_deterministic(toy):
    e, n = np.full(100, 401_000.0), np.full(100, 301_500.0)
    assert lsoa_of_points(e, n, polygons=toy["polygons"])["lsoa21_code"].nunique() == 1


def test_many_points_take_the_same_polygons_on_prepared_polygons_in_chunks(toy):
    """Past one chunk, candidates come by bounding box and the test runs on the prepared polygons: the
    pairs are the tree's own ``intersects`` pairs (an edge in two squares, the middle corner in all
    four, a point outside in none), and the polygons are left unprepared."""
    import shapely

    from icsgeo.locate import _point_polygon_pairs

    rng = np.random.default_rng(1)
    e = np.r_[rng.uniform(399_500, 402_500, 500), 401_000, 401_000, 400_000, 399_000]
    n = np.r_[rng.uniform(299_500, 302_500, 500), 301_500, 301_000, 300_000, 299_000]
    pts = shapely.points(e, n)
    tree = toy["polygons"].sindex
    want = tree.query(pts, predicate="intersects")
    geoms = np.asarray(toy["polygons"].geometry.values)
    got = _point_polygon_pairs(tree, pts, geoms, e, n, chunk=64)
    assert not shapely.is_prepared(geoms).any()
    pairs = sorted(zip(got[0].tolist(), got[1].tolist()))
    assert pairs == sorted(zip(want[0].tolist(), want[1].tolist()))
    per_point = np.bincount(got[0], minlength=len(pts))
    assert per_point[-4:].tolist() == [2, 4, 1, 0]  # edge, middle corner, outer corner, outside


def test_official_lad_moves_a_point_to_the_nearest_lsoa_of_that_lad(toy):
    # 50 m inside B (LAD E06000002) but officially in LAD E06000001: the generalised edge is wrong
    r = lsoa_of_points(np.array([401_050.0, 401_050.0]), np.array([301_500.0, 301_500.0]), polygons=toy["polygons"],
                       lsoa_lads=toy["lsoa_lads"], lad_hint=["E06000001", "E06000002"])
    assert r.loc[0, "lsoa21_code"] == "E01000001" and r.loc[0, "lsoa_method"] == "nearest in official LAD"
    assert r.loc[0, "spatial_lsoa21_code"] == "E01000002"
    assert r.loc[1, "lsoa21_code"] == "E01000002" and r.loc[1, "lsoa_method"] == "point in polygon"


def test_split_postcodes_on_the_command_line_are_joined():
    assert join_split_postcodes(["S1", "2HE"]) == ["S1 2HE"]
    assert join_split_postcodes(["S1 2HE", "S80", "1AA", "2HE"]) == ["S1 2HE", "S80 1AA", "2HE"]
    assert join_split_postcodes(["M11AE", "1AA"]) == ["M11AE", "1AA"]  # a whole postcode is not extended


def test_records_nest_and_null_unknown_parts():
    frame = pd.DataFrame([{c: None for c in ANSWER_COLUMNS} | {"query": "x", "status": "invalid", "vintage": "2026"}])
    rec = to_records(frame)[0]
    assert rec["status"] == "invalid" and rec["query"] == "x"
    for part in ("lsoa", "neighbourhood", "place", "system", "sicbl", "lad", "location"):
        assert rec[part] is None


def test_dask_engine_gives_the_local_answers(toy):
    pytest.importorskip("dask_geopandas")
    e = np.array([400_500, 401_000, 402_300, 409_000, np.nan, 401_500] * 50, dtype=float)
    n = np.array([301_500, 301_500, 300_500, 309_000, 300_000, 300_500] * 50, dtype=float)
    local = lsoa_of_points(e, n, polygons=toy["polygons"])
    dask = lsoa_of_points_dask(e, n, polygons=toy["polygons"], npartitions=4)
    assert len(dask) == len(e)
    pd.testing.assert_series_equal(dask["lsoa21_code"].fillna("-"), local["lsoa21_code"].fillna("-"), check_names=False)


def test_a_lad_hint_without_the_lsoa_lad_table_is_a_clear_error(toy):
    with pytest.raises(ValueError, match="lsoa_lads"):
        lsoa_of_points(np.array([401_050.0]), np.array([301_500.0]), polygons=toy["polygons"], lad_hint=["E06000001"])
