"""Single lookups from the index in memory (:class:`icsgeo.index.PostcodeIndex`): the answer objects read
straight from Arrow buffers must be exactly what nesting the table's rows gives, on deliberately awkward
tables (nulls, sliced arrays, plain and dictionary strings), and on the real index."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

import icsgeo
from icsgeo.answer import ANSWER_TYPES, nest
from icsgeo.index import STORED, PostcodeIndex, _packed, _packed_keys


def _toy_table(dictionary: bool) -> pa.Table:
    postcodes = ["S1 2HE", "S10 2TN", "M1 1AE", "SW1A 1AA", "CF10 1AA", "EC1A 1BB"]
    n = len(postcodes)
    cols = {}
    for c in STORED:
        if ANSWER_TYPES[c] is float:
            cols[c] = pa.array([0.123456789 * (i + 1) if i % 3 else None for i in range(n)], pa.float64())
        elif ANSWER_TYPES[c] is int:  # whole metres, positional quality: int32 with nulls
            cols[c] = pa.array([400_000 + 7 * i if i % 3 else None for i in range(n)], pa.int32())
        elif c == "postcode":
            cols[c] = pa.array(postcodes, pa.large_string())
        elif c == "status":
            cols[c] = pa.array(["ok", "ok", "terminated", "ok", "outside_england", "ok"], pa.large_string())
        elif c.startswith("local_neighbourhood"):
            cols[c] = pa.nulls(n)
        else:  # repeated values and nulls (an outside-England row has no tiers)
            cols[c] = pa.array([None if i == 4 else f"{c}-{i % 2}" for i in range(n)], pa.large_string())
    table = pa.table(cols)
    if dictionary:
        table = pa.table({c: table[c].dictionary_encode() if pa.types.is_large_string(table[c].type) and c != "postcode"
                          else table[c] for c in table.column_names})
    return table


@pytest.mark.parametrize("dictionary", [False, True])
@pytest.mark.parametrize("offset", [0, 2])
def test_answers_are_the_nested_rows(dictionary, offset):
    table = _toy_table(dictionary).slice(offset)  # a slice: every buffer read must honour the offset
    index = PostcodeIndex(table, "2026", "postcodes 2025-10")
    rows = table.to_pylist()
    for row in rows:
        for query in (row["postcode"], row["postcode"].lower().replace(" ", ""), f"  {row['postcode']} "):
            expected = nest({**row, "query": query, "vintage": "2026", "made_from": "postcodes 2025-10"})
            assert index.answer(query) == expected
    got = index.answer(rows[0]["postcode"])
    assert got["local_neighbourhood"] is None and isinstance(got["postcode"], str)


def test_unknown_and_malformed_queries():
    index = PostcodeIndex(_toy_table(True), "2026", None)
    answers = index.answers(["SW1A 9ZZ", "not a postcode", None, 12345, "", "Ｓ１ ２ＨＥ", "S1 2HE" * 3])
    assert [a["status"] for a in answers] == ["not_found", "invalid", "invalid", "invalid", "invalid", "invalid", "invalid"]
    assert answers[0]["postcode"] == "SW1A 9ZZ" and answers[0]["lsoa"] is None and answers[3]["query"] == 12345
    assert all(a["vintage"] == "2026" for a in answers)


def test_packed_keys_match_the_arrow_packing():
    strings = pa.array(["S1 2HE", None, "ÄB1 1AA", "TOOLONG99", "", "EC1A 1BB"], pa.large_string())
    for arr in (strings, strings.slice(1), strings.cast(pa.string()).slice(2)):
        assert _packed_keys(arr).tolist() == _packed(arr.cast(pa.string())).tolist()


@pytest.mark.realdata
def test_the_index_in_memory_answers_as_where_does():
    """Every answer object of the in-memory index equals ``to_records(where(...))`` on a sample of real
    postcodes (each tier, status and float), and the fresh-process path (row groups) agrees."""
    import pyarrow.parquet as pq

    from icsgeo import index as ix

    path = ix.ensure_index()
    known = pq.read_table(path, columns=["postcode"]).column("postcode").to_pylist()
    rng = random.Random(12)
    sample = rng.sample(known, 1500) + ["s12he", "junk", None, 5, "SW1A 9ZZ", "  m1 1ae ", "EH1 1YZ"]
    held = icsgeo.postcode_index().answers(sample)
    assert held == icsgeo.to_records(icsgeo.where(sample))
    ix._LOADED.clear()  # as a fresh process: only the row groups that hold the sample are read
    assert ix.records(sample) == held
