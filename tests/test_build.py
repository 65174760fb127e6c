"""The bounded index build: chunked answers give exactly the one-shot table, the postcode table is
sorted and located by parts without a row lost or moved, and cached layers read by rows or by parts
are the layer itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from icsgeo import index, locate
from icsgeo.sources import cache

META = {b"icsgeo.vintage": b"toy", b"icsgeo.notes": b"{}", b"icsgeo.made_from": b"toy data"}


def _answers(rows: pd.DataFrame) -> pd.DataFrame:
    """Answers computed from rows the way ``attach`` computes them: column types follow the values,
    so a chunk without a value in a column (``lad_name`` below) types it differently from the whole."""
    names = {"E06000001": "Hartlepool", "E06000002": "Middlesbrough"}
    code = rows["lad_code"].reset_index(drop=True)
    return pd.DataFrame({
        "status": np.where(code.notna(), "ok", "outside_england").astype(object),
        "postcode": rows["postcode"].to_numpy(dtype=object),
        "lsoa_code": code.astype("string"),
        "local_neighbourhood_code": np.full(len(rows), None, dtype=object),  # always empty: a null column
        "neighbourhood_confidence": rows["confidence"].to_numpy(dtype="float64"),
        "lad_name": code.map(names).to_numpy(dtype=object),  # no name in a chunk: a null column there
        "place_name": pd.Series([names.get(c, np.nan) if isinstance(c, str) else np.nan for c in code],
                                dtype=None if len(code) else object),  # no name: float64 there
        "easting": rows["easting"].to_numpy(dtype="float64"),
    })


@pytest.fixture
def toy_rows() -> pd.DataFrame:
    n = 23
    lad = np.array([None] * 8 + ["E06000001", "E06000002", None] * 5, dtype=object)  # 8 rows without a LAD first
    return pd.DataFrame({
        "postcode": [f"TS{i // 10} {i % 10}AA" for i in range(n)],
        "lad_code": lad,
        "confidence": np.where(np.arange(n) < 9, np.nan, np.linspace(0.1, 1.0, n)),
        "easting": np.linspace(440_000.25, 450_000.75, n),
    })


def _one_shot_file(frame: pd.DataFrame, path, row_group: int) -> None:
    """The index as the build wrote it before: one from_pandas of every answer, one write_table."""
    out = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(META)
    pq.write_table(out, path, row_group_size=row_group, use_dictionary=True, compression="zstd",
                   write_statistics=["postcode"])


def _chunked_file(pieces, path, row_group: int, groups: int) -> None:
    schema = pa.schema(index._index_fields(pieces), metadata=META)
    index._write_pieces(path, pieces, schema, row_group=row_group, groups=groups)


def _same_files(a, b) -> None:
    fa, fb = pq.ParquetFile(a), pq.ParquetFile(b)
    ta, tb = fa.read(), fb.read()
    assert ta.schema.equals(tb.schema, check_metadata=True), (ta.schema, tb.schema)
    assert ta.equals(tb)
    assert fa.metadata.num_row_groups == fb.metadata.num_row_groups
    col = ta.schema.get_field_index("postcode")
    for g in range(fa.metadata.num_row_groups):
        ga, gb = fa.metadata.row_group(g), fb.metadata.row_group(g)
        assert ga.num_rows == gb.num_rows
        assert ga.column(col).statistics == gb.column(col).statistics
        assert ga.num_rows == 0 or ga.column(col).statistics.has_min_max


def test_chunked_answers_write_the_one_shot_index(tmp_path, toy_rows):
    whole = _answers(toy_rows)
    _one_shot_file(whole, tmp_path / "one.parquet", row_group=4)
    for chunk in (1, 7, 23, 100):
        pieces = [index._piece(_answers(toy_rows.iloc[s:s + chunk])) for s in range(0, len(toy_rows), chunk)]
        if chunk == 7:  # the first chunk has no LAD name and no confidence: its names are typed otherwise
            assert pieces[0].schema.field("lad_name").type == pa.null()
            assert pieces[0].schema.field("place_name").type == pa.float64()
            assert pieces[1].schema.field("lad_name").type == pieces[1].schema.field("place_name").type == pa.large_string()
        _chunked_file(pieces, tmp_path / f"chunked-{chunk}.parquet", row_group=4, groups=2)
        _same_files(tmp_path / "one.parquet", tmp_path / f"chunked-{chunk}.parquet")
        held = index._whole(pieces, pa.schema(index._index_fields(pieces), metadata=META))
        assert held.equals(pq.read_table(tmp_path / "one.parquet"))


def test_an_empty_table_writes_an_empty_index(tmp_path, toy_rows):
    empty = toy_rows.iloc[:0]
    _one_shot_file(_answers(empty), tmp_path / "one.parquet", row_group=4)
    _chunked_file([index._piece(_answers(empty))], tmp_path / "chunked.parquet", row_group=4, groups=2)
    _same_files(tmp_path / "one.parquet", tmp_path / "chunked.parquet")
    assert pq.read_metadata(tmp_path / "chunked.parquet").num_rows == 0


def test_sorted_rows_are_concat_then_a_stable_sort():
    a = pd.DataFrame({"postcode": pd.array(["S1 2", "A1 1", "S1 2", "M1 1"], dtype="string"),
                      "row": [0, 1, 2, 3], "code": pd.array(["x", None, "y", "z"], dtype="string")})
    b = pd.DataFrame({"postcode": pd.array(["B1 1", "S1 2", "A1 1"], dtype="string"),
                      "row": [4, 5, 6], "code": pd.Series(pd.NA, index=range(3), dtype="string")})
    expected = pd.concat([a, b], ignore_index=True).sort_values("postcode", kind="stable").reset_index(drop=True)
    got = locate._sorted_rows([a.copy(), b.copy()])
    pd.testing.assert_frame_equal(got, expected)
    assert got["row"].tolist() == [1, 6, 4, 3, 0, 2, 5]  # equal postcodes keep their order


def test_points_located_by_parts_are_located_as_one(monkeypatch):
    import geopandas
    import shapely

    polygons = geopandas.GeoDataFrame({"code": ["E01000001", "E01000002"]}, crs="EPSG:27700",
                                      geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)])
    lads = pd.DataFrame({"lsoa21_code": ["E01000001", "E01000002"], "lad_code": ["E06000001", "E06000002"]})
    rows = pd.DataFrame({  # inside, on the shared edge, outside, no location, in the other LAD's square
        "easting": [500.0, 1000.0, 1500.0, 9000.0, np.nan, 1900.0, 100.0],
        "northing": [500.0, 500.0, 500.0, 500.0, np.nan, 900.0, 100.0],
        "lad_code": pd.array(["E06000001", None, "E06000002", None, None, "E06000001", "E06000001"], dtype="string"),
    })
    whole = locate._located(rows, polygons, lads, chunk=len(rows))
    for chunk in (1, 2, 3):
        parts = locate._located(rows, polygons, lads, chunk=chunk)
        pd.testing.assert_frame_equal(parts.astype("string"), whole.astype("string"))
    assert whole["lsoa21_code"].tolist()[:3] == ["E01000001", "E01000001", "E01000002"]


def test_cached_rows_and_parts_are_the_layer(monkeypatch, tmp_path):
    frame = pd.DataFrame({
        "postcode": pd.array([f"P{i:03d}" for i in range(50)], dtype="string"),
        "code": pd.array([None if i % 7 == 0 else f"E0{i % 3}" for i in range(50)], dtype="string"),
        "flag": pd.array([None if i % 5 == 0 else i % 2 == 0 for i in range(50)], dtype="boolean"),
        "value": np.where(np.arange(50) % 4 == 0, np.nan, np.arange(50) * 0.5),
        "located": np.arange(50) % 3 == 0,
    })
    built = []

    def build():
        built.append(1)
        return frame.copy()

    key = {"test": "cached rows", "run": str(tmp_path)}
    wanted = ["P049", "P003", "nope", "P010", "P003"]
    expected = frame[frame["postcode"].isin(wanted)].reset_index(drop=True)
    first = cache.cached_rows("toy-layer", key, build, column="postcode", values=wanted, row_group_size=8)
    again = cache.cached_rows("toy-layer", key, build, column="postcode", values=wanted, row_group_size=8)
    assert len(built) == 1 and cache.derived_path("toy-layer", key).is_file()
    pd.testing.assert_frame_equal(first, expected)
    pd.testing.assert_frame_equal(again, expected)  # from the stored file, a row group at a time
    none = cache.cached_rows("toy-layer", key, build, column="postcode", values=[])
    pd.testing.assert_frame_equal(none, frame.iloc[:0])
    parts = list(cache.cached_parts("toy-layer", key, build, rows=12))
    assert len(parts) > 1 and len(built) == 1
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), frame)

    def unwritable(path, write):
        raise OSError("read-only cache")

    monkeypatch.setattr(cache, "atomic_write", unwritable)
    other = {"test": "unwritable", "run": str(tmp_path)}
    parts = list(cache.cached_parts("toy-layer", other, build, rows=12))
    pd.testing.assert_frame_equal(pd.concat(parts).reset_index(drop=True), frame)
    rows = cache.cached_rows("toy-layer", other, build, column="postcode", values=wanted)
    pd.testing.assert_frame_equal(rows, expected)


@pytest.mark.realdata
def test_chunked_build_gives_the_one_shot_answers_on_real_postcodes(tmp_path):
    from icsgeo.answers import attach
    from icsgeo.tiers import geography

    table = locate.postcode_table()
    pick = (np.arange(len(table)) % 1500 == 0) | table["postcode"].str.startswith("S1 2").fillna(False).to_numpy(dtype=bool)
    rows = table[pick].reset_index(drop=True)
    del table
    geo = geography()
    whole = attach(rows, geo, locate.table_status(rows))[index.STORED]
    assert {"ok", "terminated", "outside_england"} <= set(whole["status"])  # English, terminated, Welsh/Scottish
    _one_shot_file(whole, tmp_path / "one.parquet", row_group=64)
    pieces = index._answered([rows.iloc[s:s + 7] for s in range(0, len(rows), 7)], geo)
    _chunked_file(pieces, tmp_path / "chunked.parquet", row_group=64, groups=3)
    _same_files(tmp_path / "one.parquet", tmp_path / "chunked.parquet")


@pytest.mark.realdata
def test_the_postcode_table_read_by_parts_is_the_table():
    parts = list(locate.postcode_table_parts(index.CHUNK))
    assert len(parts) > 1
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), locate.postcode_table())
