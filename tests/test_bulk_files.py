"""Bulk files as analysts have them: Excel in and out, column names in any case, awkward Parquet, long
headers, outputs that must never clash or overwrite the input. Every row in comes out, in order."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from icsgeo import cli
from icsgeo.answer import ANSWER_COLUMNS
from icsgeo.bulk import _output_names, answer_file

MESSY = ["S1 2HE", "s12he", "  sw1a 1aa ", "", "ZZ99 3VZ", "not a postcode", "BT1 1AA", "CF10 1AA", "EH1 1YZ",
         "SW1A 9ZZ", "M1 1AE"]


def _where(*args: str) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(["where", *args])
    return code, err.getvalue()


# ------------------------------------------------------------------ without the data

def test_answer_columns_never_clash_with_the_inputs_ignoring_case_and_spaces():
    names = _output_names(["Postcode ", "STATUS", "postcode_icsgeo", "lad_code"])
    assert names[ANSWER_COLUMNS.index("postcode")] == "postcode_icsgeo2"  # "postcode_icsgeo" is the input's
    assert names[ANSWER_COLUMNS.index("status")] == "status_icsgeo"
    assert names[ANSWER_COLUMNS.index("lad_code")] == "lad_code_icsgeo"
    every = ["Postcode ", "STATUS", "postcode_icsgeo", "lad_code", *names]
    assert len({n.strip().casefold() for n in every}) == len(every)


@pytest.mark.parametrize("output, says", [("out.json", "writes"), ("out", "writes"), ("out.xls", "writes")])
def test_unknown_output_extensions_are_refused_naming_the_accepted_ones(tmp_path, output, says):
    src = tmp_path / "in.csv"
    src.write_text("postcode\nS1 2HE\n")
    code, err = _where("--input", str(src), "--output", str(tmp_path / output))
    assert code == 2 and f"icsgeo {says}" in err and ".xlsx" in err and ".gpkg" in err and "Traceback" not in err
    assert not (tmp_path / output).exists()


def test_unknown_input_extensions_and_folders_are_refused(tmp_path):
    src = tmp_path / "in.json"
    src.write_text("{}")
    code, err = _where("--input", str(src), "--output", str(tmp_path / "o.csv"))
    assert code == 2 and "icsgeo reads" in err and ".xlsx" in err
    good = tmp_path / "in.csv"
    good.write_text("postcode\nS1 2HE\n")
    (tmp_path / "folder.csv").mkdir()
    code, err = _where("--input", str(good), "--output", str(tmp_path / "folder.csv"))
    assert code == 2 and "is a folder" in err


def test_the_output_may_not_be_the_input(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("postcode\nS1 2HE\n")
    code, err = _where("--input", str(src), "--output", str(src))
    assert code == 2 and "the input file" in err and src.read_text() == "postcode\nS1 2HE\n"


def test_an_ambiguous_column_is_refused(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("Postcode,POSTCODE \nS1 2HE,x\n")
    code, err = _where("--input", str(src), "--output", str(tmp_path / "o.csv"))
    assert code == 2 and "2 columns named like 'postcode'" in err and "--column" in err


# ------------------------------------------------------------------ on the real index

@pytest.mark.realdata
def test_excel_round_trip_keeps_every_row_in_order(tmp_path):
    """The acceptance case: a workbook (made with openpyxl) of messy postcodes in a column named
    ``Postcode `` comes back as .xlsx with every row, in order, status and reason filled, its own text kept."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "Postcode ", "note"])
    for i, pc in enumerate(MESSY):
        sheet.append([f"{i:03d}", pc or None, 12.0 if i == 2 else "=1+1 is text"])
    src, out = tmp_path / "in.xlsx", tmp_path / "answers.xlsx"
    book.save(src)
    code, err = _where("--input", str(src), "--output", str(out))
    assert code == 1 and f"wrote {len(MESSY)} rows" in err, err  # 1: not every row is ok
    got = openpyxl.load_workbook(out, read_only=True).active
    rows = list(got.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[:3] == ("id", "Postcode ", "note") and "postcode_icsgeo" in header and "status" in header
    assert len({h.strip().casefold() for h in header}) == len(header)
    assert [r[0] for r in body] == [f"{i:03d}" for i in range(len(MESSY))]  # text as given: 007 stays 007
    assert [r[1] or "" for r in body] == MESSY
    assert body[2][2] == "12"  # a number cell comes back as the text Excel showed
    status = [r[header.index("status")] for r in body]
    assert status[:3] == ["ok", "ok", "ok"] and all(status)
    assert status[MESSY.index("SW1A 9ZZ")] == "not_found" and status[MESSY.index("EH1 1YZ")] == "outside_england"
    assert status[MESSY.index("")] == status[MESSY.index("not a postcode")] == "invalid"
    reason = dict(zip(MESSY, (r[header.index("reason")] for r in body)))
    assert all(reason.values()), reason  # every row says why, ok rows included
    assert reason[""] == "blank" and reason["not a postcode"] == "malformed" and reason["S1 2HE"] == "live postcode"
    assert reason["ZZ99 3VZ"].startswith("NHS pseudo-postcode") and status[MESSY.index("ZZ99 3VZ")] == "invalid"
    assert status[MESSY.index("BT1 1AA")] == "outside_england" and reason["BT1 1AA"] == "Northern Ireland"
    assert reason["CF10 1AA"] == "Wales" and reason["EH1 1YZ"] == "Scotland"
    assert reason["SW1A 9ZZ"].startswith("not in the postcode files of ")
    place = [r[header.index("place_name")] for r in body]
    assert place[0] == "Sheffield"
    easting = body[0][header.index("easting")]
    assert isinstance(easting, (int, float)) and 430_000 < easting < 440_000  # a number, not text


@pytest.mark.realdata
def test_a_header_past_64_kib_keeps_its_columns_as_text(tmp_path):
    src, out = tmp_path / "wide.csv", tmp_path / "out.csv"
    names = [f"column_{i:05d}" for i in range(8_000)] + ["postcode"]
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerow(["007"] * 8_000 + ["S1 2HE"])
        w.writerow(["0.10"] * 8_000 + ["junk"])
    assert len(",".join(names)) > 64 * 1024
    code, err = _where("--input", str(src), "--output", str(out))
    assert code == 1, err
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:8_001] == names
    assert rows[1][:8_000] == ["007"] * 8_000 and rows[2][:8_000] == ["0.10"] * 8_000
    status = rows[0].index("status")
    assert [rows[1][status], rows[2][status]] == ["ok", "invalid"]


@pytest.mark.realdata
def test_awkward_parquet_postcode_columns_are_answered_row_by_row(tmp_path):
    out = tmp_path / "out.parquet"
    cases = {
        "binary": pa.array([b"S1 2HE", b"\xff\xfe", None], pa.binary()),
        "list": pa.array([["S1 2HE"], [], None], pa.list_(pa.string())),
        "struct": pa.array([{"a": "S1 2HE"}, {"a": None}, None], pa.struct([("a", pa.string())])),
        "number": pa.array([1, 2, None], pa.int64()),
    }
    for name, column in cases.items():
        src = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"id": ["a", "b", "c"], "postcode": column}), src)
        code, err = _where("--input", str(src), "--output", str(out))
        assert code in (0, 1) and "Traceback" not in err, (name, err)
        got = pq.read_table(out)
        assert got["id"].to_pylist() == ["a", "b", "c"] and got["postcode"].type == column.type
        expected = ["ok", "invalid", "invalid"] if name == "binary" else ["invalid"] * 3
        assert got["status"].to_pylist() == expected, name


@pytest.mark.realdata
def test_a_zero_row_parquet_gives_a_zero_row_output(tmp_path):
    src = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.int32()), "postcode": pa.array([], pa.string())}), src)
    for suffix in (".parquet", ".csv", ".xlsx"):
        out = tmp_path / f"out{suffix}"
        code, err = _where("--input", str(src), "--output", str(out))
        assert code == 0, err
        if suffix == ".parquet":
            got = pq.read_table(out)
            assert got.num_rows == 0 and got.column_names[:2] == ["id", "postcode"] and "status" in got.column_names
        elif suffix == ".csv":
            assert out.read_text().splitlines()[0].startswith('"id","postcode","status"')


@pytest.mark.realdata
def test_points_whose_first_batches_have_no_answer_write_one_schema(tmp_path, monkeypatch):
    """The writer's schema is fixed by the answer columns, not by the first batch: a first batch with
    no answers at all (every point invalid) and a later one with every tier write one file."""
    monkeypatch.setattr("icsgeo.bulk.BATCH_ROWS", 50)
    src, out = tmp_path / "points.parquet", tmp_path / "out.parquet"
    e = np.r_[np.full(120, np.nan), np.full(30, 435_000.0)]
    n = np.r_[np.full(120, np.nan), np.full(30, 387_000.0)]
    pq.write_table(pa.table({"e": e, "n": n}), src)
    code, err = _where("--input", str(src), "--easting-column", "E", "--northing-column", "N", "--output", str(out))
    assert code == 1, err
    got = pq.read_table(out)
    assert got.num_rows == 150 and got["status"].to_pylist() == ["invalid"] * 120 + ["ok"] * 30
    assert got["place_name"].to_pylist()[-1] == "Sheffield"


@pytest.mark.realdata
def test_an_answered_file_answered_again_reads_back(tmp_path):
    src, once, twice = tmp_path / "in.csv", tmp_path / "once.parquet", tmp_path / "twice.parquet"
    src.write_text("postcode\nS1 2HE\nM1 1AE\n")
    assert _where("--input", str(src), "--output", str(once))[0] == 0
    assert _where("--input", str(once), "--output", str(twice))[0] == 0
    got = pq.read_table(twice)
    names = got.column_names
    assert len(set(names)) == len(names) and "postcode_icsgeo2" in names
    assert got["status_icsgeo"].to_pylist() == ["ok", "ok"]


@pytest.mark.realdata
@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_spatial_outputs_carry_each_answer_as_a_point(tmp_path, suffix):
    import pyogrio

    src, out = tmp_path / "in.csv", tmp_path / f"answers{suffix}"
    src.write_text("postcode\nS1 2HE\njunk\nM1 1AE\n")
    code, err = _where("--input", str(src), "--output", str(out))
    assert code == 1, err
    info = pyogrio.read_info(out)
    assert info["features"] == 3 and info["geometry_type"] == "Point"
    assert pyogrio.list_layers(out)[0][0] == ("answers" if suffix == ".gpkg" else "answers")
    frame = pyogrio.read_dataframe(out)
    assert frame["status"].tolist() == ["ok", "invalid", "ok"] and frame.geometry.iloc[1] is None
    x = frame.geometry.iloc[0].x
    assert (430_000 < x < 440_000) if suffix == ".gpkg" else (-1.6 < x < -1.4)


def test_a_missing_data_file_is_named_as_such_not_as_an_unwritable_output(tmp_path, monkeypatch):
    """Without the data (this test's data folder is empty, offline) a bulk run says which file is
    missing and where to get it, not "cannot write <output>"; nothing is left at the output."""
    from icsgeo import DataFileMissingError

    monkeypatch.setenv("ICSGEO_OFFLINE", "1")
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("postcode\nS1 2HE\n")
    with pytest.raises(DataFileMissingError) as err:
        answer_file(src, out)
    assert "cannot write" not in str(err.value) and "postcodes" in str(err.value)
    assert not out.exists()
    code, text = _where("--input", str(src), "--output", str(out))
    assert code == 1 and "cannot write" not in text and "Traceback" not in text and "needs the file" in text
