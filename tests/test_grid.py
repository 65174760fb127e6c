"""The classified grid of the LSOA polygons (icsgeo.grid): every point it answers gets exactly the
polygon test's answer; the points it cannot answer go to that test; the grid is cached by the
polygons' bytes and a damaged cache file is rebuilt.

Toy polygons are built in code: squares sharing edges, a polygon with a hole and an island in it,
a multipolygon, slanted and tiny polygons (several in one cell), two overlapping squares. The
real-data test compares the grid path with the plain polygon path on the real LSOA polygons.
"""

from __future__ import annotations

import logging

import geopandas
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from icsgeo import grid as cells
from icsgeo import locate
from icsgeo.locate import _point_polygon_pairs, lsoa_of_points


def _toy():
    """Codes and shapes (EPSG:27700 metres, around (400000, 300000))."""
    x, y = 400_000.0, 300_000.0
    ring = box(x + 2_000, y, x + 3_000, y + 1_000)
    hole = box(x + 2_300, y + 300, x + 2_700, y + 700)
    return {
        "E01000001": box(x, y, x + 1_000, y + 1_000),  # four squares sharing edges and a corner
        "E01000002": box(x + 1_000, y, x + 2_000, y + 1_000),
        "E01000003": box(x, y + 1_000, x + 1_000, y + 2_000),
        "E01000004": box(x + 1_000, y + 1_000, x + 2_000, y + 2_000),
        "E01000005": Polygon(ring.exterior.coords, [hole.exterior.coords]),  # a square with a hole
        "E01000006": box(x + 2_450, y + 450, x + 2_550, y + 550),  # an island in the hole
        "E01000007": MultiPolygon([box(x + 3_500, y, x + 3_600, y + 100), box(x + 3_800, y + 800, x + 4_000, y + 1_000)]),
        "E01000008": Polygon([(x, y + 2_000), (x + 2_000, y + 2_000), (x + 1_000, y + 2_777.7)]),  # slanted edges
        # five slivers narrower than a cell, side by side
        **{f"E0100001{i}": box(x + 2_000 + 3 * i, y + 1_500, x + 2_003 + 3 * i, y + 1_600) for i in range(5)},
    }


def _frame(shapes):
    return geopandas.GeoDataFrame({"code": list(shapes)}, geometry=list(shapes.values()), crs="EPSG:27700")


def _first_polygon_truth(geoms, x, y):
    """The polygon test, as the plain path does it: the first polygon (by index) intersecting each point."""
    tree = shapely.STRtree(geoms)
    qi, ti = tree.query(shapely.points(x, y), predicate="intersects")
    out = np.full(len(x), -1)
    order = np.lexsort((ti, qi))
    qi, ti = qi[order], ti[order]
    first = np.r_[True, qi[1:] != qi[:-1]] if len(qi) else np.zeros(0, dtype=bool)
    out[qi[first]] = ti[first]
    return out


def _pairs_for(geoms):
    tree = shapely.STRtree(geoms)
    return lambda x, y: _point_polygon_pairs(tree, None, geoms, x, y, prepared_from=0)


def _awkward_points(geoms, cell, rng, n=20_000):
    """Random points over the extent and beyond, every vertex, points on edges, on cell borders and
    corners, and exactly on the shared corner of four squares."""
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    xy = [rng.uniform([minx - 500, miny - 500], [maxx + 500, maxy + 500], (n, 2))]
    xy.append(shapely.get_coordinates(geoms))  # every vertex
    edges = shapely.get_coordinates(shapely.segmentize(shapely.boundary(geoms), 7.0))
    xy.append(edges)  # on (or within rounding of) every edge
    grid_pts = rng.uniform([minx, miny], [maxx, maxy], (n // 4, 2))
    xy.append(np.floor(grid_pts / cell) * cell)  # cell corners
    xy.append(np.c_[np.floor(grid_pts[:, 0] / cell) * cell, grid_pts[:, 1]])  # cell borders
    xy.append([[401_000.0, 301_000.0], [401_000.0, 300_500.0], [400_000.0, 300_000.0]])
    xy = np.concatenate([np.asarray(a, dtype=float) for a in xy])
    return xy[:, 0], xy[:, 1]


@pytest.mark.parametrize("cell, block", [(1.0, 4), (4.0, 8), (64.0, 8), (0.5, 2)])
def test_every_point_the_grid_answers_gets_the_polygon_tests_answer(cell, block):
    geoms = np.asarray(_frame(_toy()).geometry.values)
    rng = np.random.default_rng(int(cell * 10))
    x, y = _awkward_points(geoms, cell, rng)
    grid = cells.build_grid(geoms, _pairs_for(geoms), cell=cell, block=block)
    got = grid.classify(x, y)
    truth = _first_polygon_truth(geoms, x, y)
    sure = got >= 0
    assert (got[sure] == truth[sure]).all()
    assert (truth[got == cells.OUTSIDE] == -1).all()  # "outside" is in no polygon
    assert set(np.unique(got)) <= set(range(len(geoms))) | {cells.OUTSIDE, cells.TEST}
    # the grid does its job: most random points inside a square or outside everything are answered
    if cell <= 4:
        assert (got[:20_000] != cells.TEST).mean() > 0.9


def test_points_in_a_cell_of_several_polygons_and_on_shared_edges_go_to_the_test():
    geoms = np.asarray(_frame(_toy()).geometry.values)
    grid = cells.build_grid(geoms, _pairs_for(geoms), cell=4.0, block=4)
    slivers = grid.classify(np.array([402_001.0, 402_005.0, 402_010.0]), np.array([301_550.0] * 3))
    assert (slivers == cells.TEST).all()  # five polygons 3 m wide in 4 m cells
    on_edge = grid.classify(np.array([401_000.0, 401_000.0, 400_500.0]), np.array([301_000.0, 300_500.0, 301_000.0]))
    assert (on_edge == cells.TEST).all()
    inside = grid.classify(np.array([400_500.0, 402_500.0, 402_400.0]), np.array([300_500.0, 300_500.0, 300_900.0]))
    assert inside.tolist() == [0, 5, 4]  # a square, the island, the ring around the hole
    hole = grid.classify(np.array([402_350.0]), np.array([300_350.0]))
    assert hole.tolist() == [cells.OUTSIDE]
    assert grid.classify(np.array([np.nan, 1e300, -1e300]), np.array([300_000.0, 1e300, np.nan])).tolist() == [cells.OUTSIDE] * 3


def test_overlapping_polygons_are_left_to_the_polygon_test():
    geoms = np.array([box(0, 0, 100, 100), box(50, 50, 150, 150)], dtype=object)
    grid = cells.build_grid(geoms, _pairs_for(geoms), cell=4.0, block=4)
    got = grid.classify(np.array([10.0, 75.0, 140.0, 200.0]), np.array([10.0, 75.0, 140.0, 200.0]))
    assert got.tolist() == [0, cells.TEST, 1, cells.OUTSIDE]


def test_a_block_of_more_polygons_than_its_palette_leaves_the_others_to_the_test():
    # sixteen 1 m squares tiling one 4 m block of 0.25 m cells: the block names 14, two go to the test
    geoms = np.array([box(i, j, i + 1, j + 1) for i in range(4) for j in range(4)], dtype=object)
    grid = cells.build_grid(geoms, _pairs_for(geoms), cell=0.25, block=16)
    centres = np.array([[i + 0.5, j + 0.5] for i in range(4) for j in range(4)])
    got = grid.classify(centres[:, 0], centres[:, 1])
    answered = got >= 0
    assert answered.sum() == cells.PALETTE and (got[answered] == np.flatnonzero(answered)).all()
    assert (got[~answered] == cells.TEST).all()


def test_cells_must_be_powers_of_two_and_geometries_polygons():
    geoms = np.array([box(0, 0, 10, 10)], dtype=object)
    with pytest.raises(ValueError, match="powers of two"):
        cells.build_grid(geoms, _pairs_for(geoms), cell=3.0)
    assert not cells.suits(np.array([shapely.Point(0, 0)], dtype=object))
    assert not cells.suits(np.array([box(0, 0, 10, 10), box(1e9, 1e9, 1e9 + 1, 1e9 + 1)], dtype=object))
    empty = cells.build_grid(np.array([None, Polygon()], dtype=object), _pairs_for(geoms), cell=4.0)
    assert empty.classify(np.array([1.0]), np.array([1.0])).tolist() == [cells.OUTSIDE]


@pytest.fixture
def fresh_grids(monkeypatch):
    """No grid held in memory from an earlier test."""
    monkeypatch.setattr(cells, "_GRIDS", {})
    monkeypatch.setattr(cells, "_DIGESTS", [])


def test_lsoa_of_points_gives_the_same_answers_with_and_without_the_grid(monkeypatch, fresh_grids):
    polys = _frame(_toy())
    geoms = np.asarray(polys.geometry.values)
    x, y = _awkward_points(geoms, cells.CELL_M, np.random.default_rng(3), n=60_000)
    x[::97] = np.nan
    monkeypatch.setattr(locate, "GRID_FROM", 10**12)
    plain = lsoa_of_points(x, y, polygons=polys, max_distance=300)
    monkeypatch.setattr(locate, "GRID_FROM", 1_000)
    with_grid = lsoa_of_points(x, y, polygons=polys, max_distance=300)
    assert cells._GRIDS, "the grid was used"
    pd.testing.assert_frame_equal(with_grid, plain)
    assert set(plain["lsoa_method"].dropna()) == {"point in polygon", "nearest polygon"}


def test_the_grid_is_cached_by_the_polygons_bytes_and_a_damaged_file_is_rebuilt(monkeypatch, fresh_grids, caplog):
    geoms = np.asarray(_frame(_toy()).geometry.values)
    pairs = _pairs_for(geoms)
    built = cells.grid_for(geoms, pairs, cell=8.0, block=4)
    path = cells.grid_path(built.digest, 8.0, 4)
    assert path.is_file() and built.seconds > 0
    assert not list(path.parent.glob(".*.tmp*")), "no temporary file left"

    monkeypatch.setattr(cells, "_GRIDS", {})
    with monkeypatch.context() as m:
        m.setattr(cells, "build_grid", lambda *a, **k: pytest.fail("read from the cache, not built"))
        again = cells.grid_for(geoms, pairs, cell=8.0, block=4)
    assert again.seconds == 0 and all(np.array_equal(getattr(again, k), getattr(built, k)) for k in ("coarse", "codes", "starts", "palette"))

    for damage in (lambda b: b[: len(b) // 2], lambda b: b[:-200] + bytes(200), lambda b: b"not a grid"):
        path.write_bytes(damage(path.read_bytes()))
        monkeypatch.setattr(cells, "_GRIDS", {})
        with caplog.at_level(logging.WARNING, logger="icsgeo"):
            caplog.clear()
            rebuilt = cells.grid_for(geoms, pairs, cell=8.0, block=4)
        assert "rebuilding" in caplog.text
        assert rebuilt.seconds > 0 and np.array_equal(rebuilt.codes, built.codes)
        assert cells.PolygonGrid.load(path, digest=built.digest, cell=8.0, block=4).polygons == len(geoms)

    moved = geoms.copy()
    moved[0] = shapely.affinity.translate(moved[0], 0.001)  # a millimetre: other bytes, another grid
    other = cells.grid_for(moved, _pairs_for(moved), cell=8.0, block=4)
    assert other.digest != built.digest and cells.grid_path(other.digest, 8.0, 4) != path
    with pytest.raises(ValueError, match="other polygons"):
        cells.PolygonGrid.load(path, digest=other.digest, cell=8.0, block=4)


def test_a_cache_that_cannot_be_written_still_answers(monkeypatch, fresh_grids, tmp_path):
    geoms = np.asarray(_frame(_toy()).geometry.values)
    monkeypatch.setattr(cells.PolygonGrid, "save", lambda self, path: (_ for _ in ()).throw(OSError("read-only")))
    grid = cells.grid_for(geoms, _pairs_for(geoms), cell=8.0, block=4)
    assert grid.classify(np.array([400_500.0]), np.array([300_500.0])).tolist() == [0]


# ---------------------------------------------------------------------------------------------
# Real data: the grid path against the plain polygon path on the LSOA polygons in use
# ---------------------------------------------------------------------------------------------

@pytest.mark.realdata
def test_real_lsoa_polygons_the_grid_changes_no_answer(monkeypatch):
    from icsgeo import areas

    polys = areas.lsoa_polygons()[["code", "geometry"]]
    geoms = np.asarray(polys.geometry.values)
    rng = np.random.default_rng(12)
    base = areas.lsoa_base()
    pick = rng.integers(0, len(base), 30_000)
    near = [base["easting"].to_numpy()[pick] + rng.normal(0, 400, len(pick)),
            base["northing"].to_numpy()[pick] + rng.normal(0, 400, len(pick))]  # around population centres
    vertices = shapely.get_coordinates(geoms)[rng.integers(0, 2_150_000, 20_000) % len(shapely.get_coordinates(geoms))]
    rings = shapely.get_rings(shapely.get_parts(geoms[rng.integers(0, len(geoms), 300)]))
    on_edges = shapely.get_coordinates(shapely.segmentize(rings, 25.0))  # on or within rounding of edges
    on_edges = on_edges[rng.integers(0, len(on_edges), 20_000)]
    anywhere = rng.uniform([0, 0], [700_000, 1_300_000], (20_000, 2))  # sea, Scotland, Wales, England
    corners = np.floor(rng.uniform([100_000, 50_000], [650_000, 650_000], (10_000, 2)) / cells.CELL_M) * cells.CELL_M
    x = np.concatenate([near[0], vertices[:, 0], on_edges[:, 0], anywhere[:, 0], corners[:, 0], [np.nan] * 50])
    y = np.concatenate([near[1], vertices[:, 1], on_edges[:, 1], anywhere[:, 1], corners[:, 1], [np.nan] * 50])

    monkeypatch.setattr(locate, "GRID_FROM", 10**12)
    plain = lsoa_of_points(x, y, polygons=polys)
    monkeypatch.setattr(locate, "GRID_FROM", 1)
    with_grid = lsoa_of_points(x, y, polygons=polys)
    pd.testing.assert_frame_equal(with_grid, plain)
    grid = cells.grid_for(geoms, None)  # held in memory by the call above
    answered = grid.classify(x, y) >= 0
    assert answered[:30_000].mean() > 0.5  # most points near population centres skip the polygon test
    assert (plain["lsoa_method"] == "nearest polygon").any() and plain["lsoa21_code"].isna().any()
