"""The postcode index as a Parquet product (``icsgeo index export``), the DuckDB example that joins
to it without icsgeo, and the dask engine for postcodes (``where(..., engine="dask")``)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import icsgeo
from icsgeo import verbs
from icsgeo.answer import ANSWER_COLUMNS, GROUPS
from icsgeo.cli import main
from icsgeo.errors import BulkInputError, MissingDependencyError
from icsgeo.postcode import POSTCODE_PATTERN, normalise_postcodes
from icsgeo.product import PRODUCT_COLUMNS, PRODUCT_SCHEMA, SCHEMA_VERSION, columns, export_index, schema_markdown

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "index-product.md"
EXAMPLE = ROOT / "examples" / "duckdb_join.py"
#: Strings that are not postcodes, or postcodes no file knows, for the inputs made from real ones.
JUNK = ["", "not a postcode", "ZZ99 9ZZ", "SW1A 0ZZ", "S1 2HÉ", "x" * 200, "'; DROP TABLE x; --", "gir0aa",
        "S1\u00a02HE", " s1  2he ", "12345"]


def _example():
    spec = importlib.util.spec_from_file_location("duckdb_join", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented() -> list[tuple[str, str]]:
    """(column, type) of the schema table in docs/index-product.md."""
    block = DOC.read_text(encoding="utf-8").split("<!-- schema:begin -->", 1)[1].split("<!-- schema:end -->", 1)[0]
    return re.findall(r"^\| `(\w+)` \| (\w+) \|", block, flags=re.M)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values comparable across engines: missing is None, numbers float, everything else str."""
    out = frame.astype(object).where(frame.notna(), None)
    return out.reset_index(drop=True)


# ------------------------------------------------------------------ the schema, documented

def test_the_schema_is_the_answer_columns_with_postcode_first():
    assert PRODUCT_COLUMNS[0] == "postcode" and sorted(PRODUCT_COLUMNS) == sorted(ANSWER_COLUMNS)
    floats = {f.column for g in GROUPS for f in g.fields if f.type is float}
    ints = {f.column for g in GROUPS for f in g.fields if f.type is int}
    assert floats == {"neighbourhood_confidence", "neighbourhood_runner_up_share", "lat", "lon"}
    assert ints == {"easting", "northing", "positional_quality"}  # whole metres; ONS's scale 1-9
    for field in PRODUCT_SCHEMA:
        want = pa.float64() if field.name in floats else pa.int32() if field.name in ints else pa.string()
        assert field.type == want, field
        assert not pa.types.is_dictionary(field.type)
        assert field.metadata[b"description"]
    assert PRODUCT_SCHEMA.names == PRODUCT_COLUMNS


def test_the_documented_schema_is_the_generated_one():
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- schema:begin -->\n", 1)[1].split("\n<!-- schema:end -->", 1)[0]
    assert block == schema_markdown(), ("docs/index-product.md is out of date: paste the output of "
                                        "python -c \"import icsgeo.product as p; print(p.schema_markdown())\"")
    assert _documented() == [(c, t) for c, t, _ in columns()]
    assert f"Schema (version {SCHEMA_VERSION})" in text


def test_the_example_validates_postcodes_as_icsgeo_does():
    assert _example().PATTERN == POSTCODE_PATTERN


def test_export_refuses_other_files_and_folders(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(BulkInputError, match=r"\.parquet file, not '\.csv'"):
        export_index(out / "postcodes.csv")
    with pytest.raises(BulkInputError, match="no extension"):
        export_index(out / "postcodes")
    folder = out / "postcodes.parquet"
    folder.mkdir(parents=True)
    with pytest.raises(BulkInputError, match="is a folder"):
        export_index(folder)
    assert list(out.iterdir()) == [folder] and not any(folder.iterdir())  # nothing written


def test_cli_export_usage_errors_exit_2(tmp_path, capsys):
    assert main(["index", "export", "--output", str(tmp_path / "p.csv")]) == 2
    assert ".parquet file" in capsys.readouterr().err
    assert main(["index", "export", "--output", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["index", "export"]) == 2  # --output is required


# ------------------------------------------------------------------ the dask engine, on a toy answer

def _toy_local(calls: list):
    """A stand-in for the local engine: ok where the postcode is well-formed, in a made-up system."""

    def answer(postcodes, vintage, system, as_at):
        queries = postcodes if isinstance(postcodes, pd.Series) else pd.Series(list(postcodes), dtype=object)
        queries = queries.reset_index(drop=True)
        calls.append(len(queries))
        pcs = normalise_postcodes(queries)
        out = pd.DataFrame({"query": pd.Series(queries.to_numpy(dtype=object), dtype=object)})
        for c in ANSWER_COLUMNS:
            out[c] = None
        out["status"] = np.where(pcs.notna(), "ok", "invalid")
        out["postcode"] = pcs.to_numpy()
        out["system_code"] = np.where(pcs.notna(), "E54" + pcs.str[:2].fillna(""), None)
        out["easting"] = np.where(pcs.notna(), pcs.str.len().fillna(0) * 1000.0, np.nan)
        out["vintage"] = vintage or "2026"
        return out

    return answer


def test_dask_engine_is_lazy_and_answers_every_row_in_order(monkeypatch):
    dd = pytest.importorskip("dask.dataframe")
    calls: list = []
    monkeypatch.setattr(verbs, "_where_local", _toy_local(calls))
    rows = (["S1 2HE", "s80 1aa", "junk", None, "CM11AE", ""] * 50)[:293]
    series = dd.from_pandas(pd.Series(rows, name="postcode", index=pd.RangeIndex(100, 100 + len(rows))), npartitions=5)
    lazy = icsgeo.where(series, engine="dask")
    assert isinstance(lazy, dd.DataFrame) and calls == []  # nothing answered yet
    assert list(lazy.columns) == ["query", *ANSWER_COLUMNS] and lazy.npartitions == 5
    assert lazy.dtypes["easting"] == "Int32" and lazy.dtypes["lat"] == np.float64 and lazy.dtypes["query"] == series.dtype
    got = lazy.compute()
    assert len(calls) == 5 and sum(calls) == len(rows)  # once per partition
    assert got.index.tolist() == list(range(100, 100 + len(rows)))  # the input's own index, every row
    want = _toy_local([])(rows, None, None, None)
    assert _plain(got).drop(columns="query").equals(_plain(want).drop(columns="query"))
    assert got.dtypes.to_dict() == lazy.dtypes.to_dict()  # the meta says what the partitions are
    assert icsgeo.where(series, engine="dask", npartitions=2).npartitions == 2


def test_dask_engine_on_a_list_gives_a_pandas_frame_like_the_local_one(monkeypatch):
    pytest.importorskip("dask.dataframe")
    monkeypatch.setattr(verbs, "_where_local", _toy_local([]))
    rows = ["S1 2HE", 12345, None, "sw1a1aa", "junk"] * 41
    got = icsgeo.where(rows, engine="dask", npartitions=7)
    want = _toy_local([])(rows, None, None, None)
    assert isinstance(got, pd.DataFrame) and got.index.tolist() == list(range(len(rows)))
    assert got["query"].tolist() == rows  # the queries exactly as given, as the local engine keeps them
    assert _plain(got).equals(_plain(want))


def test_dask_engine_errors(monkeypatch):
    dd = pytest.importorskip("dask.dataframe")
    frame = dd.from_pandas(pd.DataFrame({"postcode": ["S1 2HE"]}), npartitions=1)
    with pytest.raises(ValueError, match=r"frame\['postcode'\]"):
        icsgeo.where(frame, engine="dask")
    with pytest.raises(ValueError, match="engine must be 'local' or 'dask'"):
        icsgeo.where(["S1 2HE"], engine="spark")
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)  # dask not installed
    with pytest.raises(MissingDependencyError, match=r"icsgeo\[dask\]"):
        icsgeo.where(["S1 2HE"], engine="dask")


# ------------------------------------------------------------------ real data: the export and its joins

@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("product") / "postcodes.parquet"
    result = export_index(path)
    assert result["rows"] == pq.read_metadata(path).num_rows > 2_000_000
    return path


def _messy(postcodes: np.ndarray, rows: int, seed: int) -> list:
    """Real postcodes in random case and spacing, with 2% junk, as records hold them."""
    rng = np.random.default_rng(seed)
    pcs = postcodes[rng.integers(0, len(postcodes), rows)].astype(object)
    r = rng.random(rows)
    pcs = np.where(r < 0.1, np.char.lower(pcs.astype(str)).astype(object), pcs)
    pcs = np.where((r >= 0.1) & (r < 0.15), np.char.replace(pcs.astype(str), " ", "").astype(object), pcs)
    pcs = np.where((r >= 0.15) & (r < 0.17), np.char.add(" ", pcs.astype(str)).astype(object), pcs)
    junk = rng.random(rows) < 0.02
    pcs[junk] = np.array(JUNK, dtype=object)[rng.integers(0, len(JUNK), int(junk.sum()))]
    return pcs.tolist()


@pytest.mark.realdata
def test_export_has_the_documented_schema_metadata_and_layout(product):
    pf = pq.ParquetFile(product)
    schema = pf.schema_arrow
    assert [(f.name, {pa.string(): "string", pa.float64(): "double", pa.int32(): "int32"}[f.type]) for f in schema] == _documented()
    assert schema.remove_metadata().equals(PRODUCT_SCHEMA.remove_metadata(), check_metadata=False)
    meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    assert meta["icsgeo.product_schema"] == SCHEMA_VERSION and meta["icsgeo.version"] == icsgeo.__version__
    assert meta["icsgeo.vintage"] == icsgeo.catalogue().vintage(None).key
    assert "Open Government Licence" in meta["icsgeo.licence"] and "Royal Mail" in meta["icsgeo.licence"]
    assert json.loads(meta["icsgeo.notes"]) == {} and meta["icsgeo.postcode_pattern"] == POSTCODE_PATTERN
    assert [c["column"] for c in json.loads(meta["icsgeo.columns"])] == PRODUCT_COLUMNS
    md = pf.metadata
    assert md.num_row_groups > 10
    col = schema.get_field_index("postcode")
    stats = [(md.row_group(i).column(col).statistics.min, md.row_group(i).column(col).statistics.max)
             for i in range(md.num_row_groups)]
    assert all(a <= b for a, b in stats) and all(stats[i][1] < stats[i + 1][0] for i in range(len(stats) - 1))
    assert md.row_group(0).sorting_columns[0].column_index == col
    table = pf.read(columns=["postcode", "status", "vintage", "made_from"])
    pcs = table.column("postcode").to_pylist()
    assert pcs == sorted(pcs) and len(set(pcs)) == len(pcs)  # one row per postcode, sorted
    assert set(table.column("status").to_pylist()) <= {"ok", "terminated", "outside_england", "not_found"}
    assert table.column("vintage").null_count == 0 and len(set(table.column("made_from").to_pylist())) == 1


@pytest.mark.realdata
def test_export_rows_answer_exactly_like_where(product):
    table = pq.read_table(product)
    rng = np.random.default_rng(12)
    rows = np.sort(rng.choice(table.num_rows, 5_000, replace=False))
    sample = table.take(pa.array(rows)).to_pandas()
    answered = icsgeo.where(sample["postcode"].tolist())
    assert _plain(sample[PRODUCT_COLUMNS]).equals(_plain(answered[PRODUCT_COLUMNS]))
    for pc, status in [("S1 2HE", "ok"), ("EH1 1YZ", "outside_england")]:
        assert pq.read_table(product, filters=[("postcode", "=", pc)]).column("status").to_pylist() == [status]


@pytest.mark.realdata
def test_duckdb_example_answers_every_row_like_where(product, tmp_path):
    pytest.importorskip("duckdb")
    pcs = _messy(pq.read_table(product, columns=["postcode"]).column("postcode").to_numpy(zero_copy_only=False),
                 200_000, seed=3)
    # and what no product row holds: Northern Ireland, Jersey, blanks, too long, a pseudo-postcode, unknown
    pcs += ["BT1 1AA", "je2 3aa", "", "   ", None, "A" * 20, " " * 20, "ZZ99 3VZ", "zz993wz", "S9 9ZZ", "S1 2H"]
    src, out = tmp_path / "patients.parquet", tmp_path / "answered.parquet"
    pq.write_table(pa.table({"id": np.arange(len(pcs)), "postcode": pa.array(pcs, pa.string())}), src, row_group_size=30_000)
    assert _example().join(src, product, out) == len(pcs)
    got = pd.read_parquet(out)
    assert got["id"].tolist() == list(range(len(pcs)))  # every row, in order
    assert got["postcode"].astype(object).where(got["postcode"].notna(), None).tolist() == pcs  # untouched
    want = icsgeo.where(pcs)
    mine = got.drop(columns=["id", "postcode"]).rename(columns={"postcode_icsgeo": "postcode"})[ANSWER_COLUMNS]
    assert _plain(mine).equals(_plain(want[ANSWER_COLUMNS]))
    assert set(want["status"]) >= {"ok", "invalid", "not_found", "terminated", "outside_england"}
    assert _example().join(src, product, tmp_path / "any.parquet", ordered=False) == len(pcs)  # no sort back
    any_order = pd.read_parquet(tmp_path / "any.parquet").sort_values("id", kind="stable")
    assert _plain(any_order).equals(_plain(got))


@pytest.mark.realdata
def test_the_documented_sql_runs_and_agrees_with_where(product, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    pcs = _messy(np.array(["S1 2HE", "CM1 1AE", "EH1 1YZ", "S80 1AA", "TR21 0HE"], dtype=object), 2_000, seed=5)
    src = tmp_path / "patients.parquet"
    pq.write_table(pa.table({"postcode": pa.array(pcs, pa.string())}), src)
    sql = DOC.read_text(encoding="utf-8").split("```sql\n", 1)[1].split("```", 1)[0]
    sql = (sql.replace("'patients.parquet'", f"'{src}'").replace("'postcodes-2026.parquet'", f"'{product}'")
           .replace("<icsgeo.postcode_pattern>", POSTCODE_PATTERN))
    got = duckdb.connect().execute(sql).fetchdf()
    want = icsgeo.where(pcs)
    assert got["postcode"].tolist() == pcs
    for c in ("status", "lsoa_code", "neighbourhood_code", "place_code", "system_code"):
        assert _plain(got[[c]]).equals(_plain(want[[c]])), c


@pytest.mark.realdata
def test_dask_engine_gives_the_local_answers(product, tmp_path):
    dd = pytest.importorskip("dask.dataframe")
    pcs = _messy(pq.read_table(product, columns=["postcode"]).column("postcode").to_numpy(zero_copy_only=False),
                 60_000, seed=8)
    local = icsgeo.where(pcs)
    assert _plain(icsgeo.where(pcs, engine="dask", npartitions=3)).equals(_plain(local))
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"postcode": pa.array(pcs, pa.string())}), src, row_group_size=10_000)
    ddf = dd.read_parquet(src, split_row_groups=True)
    answered = icsgeo.where(ddf["postcode"], engine="dask")
    answered.to_parquet(tmp_path / "out", write_index=False)
    back = pd.read_parquet(tmp_path / "out")
    assert _plain(back.drop(columns="query")).equals(_plain(local.drop(columns="query")))
    assert back["query"].tolist() == pcs
    sy = icsgeo.where(pcs[:3_000], system="South Yorkshire", engine="dask", npartitions=2)  # the full path too
    assert _plain(sy).equals(_plain(icsgeo.where(pcs[:3_000], system="South Yorkshire")))
    assert "outside_system" in set(sy["status"])
