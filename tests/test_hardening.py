"""Hardening (issue 6): a generated corpus of more than 10,000 bad inputs through the Python API, the
CLI bulk path and the HTTP API: no tracebacks, no 5xx, every row accounted for, in order.

Plus property-based tests (hypothesis) of "rows in = rows out, in order" and a bounded schemathesis
run against the OpenAPI document. Everything is batched (one 10k-row CSV, POSTs of 5,000) so the
module runs in well under a minute once the default vintage is loaded.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import string
import typing
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import icsgeo
from icsgeo import cli
from icsgeo.answer import STATUSES as _WHERE_STATUSES

pytestmark = pytest.mark.realdata

STATUSES = set(_WHERE_STATUSES)
GOOD = ["S1 2HE", "CM1 1AE", "s12he", "M1 1AE", "EH1 1AA", "S1 1AB"]

# ------------------------------------------------------------------ the corpus

INJECTIONS = [
    "' OR '1'='1", "S1 2HE'; DROP TABLE postcodes;--", "1; SELECT * FROM users", "\" OR \"\"=\"", "admin'--",
    "S1 2HE UNION SELECT NULL,NULL--", "$(rm -rf /)", "`id`", "; cat /etc/passwd", "| nc 127.0.0.1 4444", "&& shutdown -h now",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>", "<!--", "]]>",
    "=cmd|' /C calc'!A0", "=HYPERLINK(\"http://127.0.0.1/\",\"x\")", "+SUM(1,1)", "-1+1", "@SUM(A1)", "=1+1", "\t=1+1",
    "../../etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/dev/zero", "file:///etc/passwd",
    "${jndi:ldap://127.0.0.1/a}", "{{7*7}}", "%s%s%s%n", "{0.__class__}", "__import__('os')", "\\x00", "null", "None",
    "NaN", "undefined", "true", "[]", "{}", "{\"postcodes\": []}",
]
UNICODE = [
    "Ѕ1 2НЕ", "Ｓ１ ２ＨＥ", "S1 2HÉ", "ß1 2HE", "S1 2HE\u200b", "\u202eEH2 1S", "S1\u00a02HE\u00a0", "S\u03011 2HE",
    "😀", "S1 😀 2HE", "東京都", "مرحبا", "עברית", "\ufeffS1 2HE", "\ufffd", "S1\u20282HE", "\u0000S1 2HE", "S1 2HE\x00",
    "\x1b[31mS1 2HE", "\x7f", "\r\n", "\r", "\n", "\t", "\x0b\x0c", "ǅ1 2HE", "İ1 2HE",
]
ALPHABET = string.ascii_letters + string.digits + " \t-_.,;:'\"/\\|!?()[]{}<>=+*&^%$#@~`\u00a0é€£😀\u200b"


def _mutations(rng: random.Random, pc: str) -> str:
    s = list(pc)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        i = rng.randrange(len(s) + 1)
        if op == 0 and s:
            del s[min(i, len(s) - 1)]
        elif op == 1:
            s.insert(i, rng.choice(ALPHABET))
        elif op == 2 and s:
            s[min(i, len(s) - 1)] = rng.choice("QVXIJZCKMO0123456789")
        elif op == 3:
            s = s + s[: rng.randint(1, 4)]
        else:
            s = list(rng.choice(INJECTIONS)) + s
    return "".join(s)


def bad_strings(n: int = 10_500, *, seed: int = 6) -> list[str]:
    """At least ``n`` deterministic bad strings, every kind the issue names (no lone surrogates:
    those cannot be written as UTF-8; see :func:`surrogate_strings`)."""
    rng = random.Random(seed)
    out: list[str] = ["", " ", "  \t ", "\u3000", "-", "0", "00000", "S", "S1", "S1 2", "S1 2H", "2HE", "S1 2HE S1 2HE",
                      "ZZ99 9ZZ", "QQ1 1QQ", "S12HEE", "SS1 2HEE", "GIR 0AB", "A1A 1AA1"]
    out += INJECTIONS + UNICODE
    out += ["x" * 1_000_000, "S1 2HE" * 200_000, "é" * 500_000, "9" * 100_000, " " * 65_536]  # huge (1 MB)
    out += [p + junk for p in GOOD for junk in ("<b>", "'--", "\x00", "\r\n", ";ls", "=1", " extra", "😀")]
    out += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40))) for _ in range(3_000)]  # random junk
    real = ["S1 2HE", "SW1A 1AA", "EC1A 1BB", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX", "LS1 4AP", "NE1 7RU"]
    out += [_mutations(rng, rng.choice(real)) for _ in range(5_000)]  # near misses
    out += ["".join(rng.choice(string.printable) for _ in range(rng.randint(17, 300))) for _ in range(1_000)]  # too long
    out += [rng.choice(INJECTIONS + UNICODE) + rng.choice(real) + rng.choice(INJECTIONS + UNICODE) for _ in range(1_000)]
    while len(out) < n:
        out.append(_mutations(rng, rng.choice(out[:200] or ["x"])))
    return out


def surrogate_strings() -> list[str]:
    return ["\ud800", "S1 2HE\udfff", "\udc00S1 2HE", "\ud83d", "a\ud800b\udc00c"]


def wrong_types() -> list[typing.Any]:
    """JSON values that are not strings."""
    return [None, 0, 1, -1, 12345, 2**63, -(2**70), 1.5, 1e308, -0.0, True, False, [], ["S1 2HE"], {}, {"postcode": "S1 2HE"},
            [[["deep"]]], {"a": {"b": {"c": None}}}, [None, 1, "x"]]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    c = bad_strings()
    assert len(c) >= 10_000
    return c


def _missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _same(a, b) -> bool:
    """The same query echoed back (None/NaN/NA are all "missing" in a DataFrame)."""
    if a is b or (_missing(a) and _missing(b)):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------ Python API

def test_python_api_answers_every_bad_input_in_order(corpus):
    items = corpus + wrong_types() + [float("nan"), float("inf"), b"S1 2HE", bytearray(b"x"), object(), ("S1 2HE",), 1j, pd.NA]
    r = icsgeo.where(items)
    assert len(r) == len(items)
    assert all(_same(a, b) for a, b in zip(r["query"].tolist(), items))
    assert set(r["status"]) <= STATUSES
    assert (r["status"].iloc[len(corpus):] == "invalid").all()
    recs = icsgeo.to_records(r.iloc[: len(corpus)])
    assert len(recs) == len(corpus)
    json.dumps(recs, ensure_ascii=False).encode("utf-8")  # every answer is serialisable


def test_python_api_lone_surrogates_are_invalid_not_a_crash():
    """Lone surrogates reach Python strings from JSON escapes; they are not postcodes (the server also
    replaces them before calling where, so its answers never depend on this)."""
    items = surrogate_strings() + ["S1 2HE"]
    r = icsgeo.where(items)
    assert r["status"].tolist() == ["invalid"] * 5 + ["ok"]


# ------------------------------------------------------------------ CLI bulk path

def _run_where(tmp_path, capsys, data: bytes | str, *, suffix=".csv", column="postcode"):
    src = tmp_path / f"in{suffix}"
    if isinstance(data, str):
        src.write_text(data, encoding="utf-8", newline="")
    else:
        src.write_bytes(data)
    out = tmp_path / "out.csv"
    capsys.readouterr()
    code = cli.main(["where", "--input", str(src), "--column", column, "--output", str(out)])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    return code, out, cap.err


def _read_out(out: Path) -> pd.DataFrame:
    return pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8")


def test_cli_bulk_corpus_of_10k_rows_every_row_in_order(tmp_path, capsys, corpus):
    rows = [s for s in corpus if "\x00" not in s and len(s) < 200_000]  # NUL and multi-MB fields are tested on their own below
    rows = rows[:10_000]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["id", "postcode", "status"])  # a clashing column name: the answer's becomes status_icsgeo
    w.writerows([i, s, "mine"] for i, s in enumerate(rows))
    code, out, err = _run_where(tmp_path, capsys, buf.getvalue())
    assert code in (0, 1), err
    got = _read_out(out)
    assert len(got) == len(rows) and got["id"].tolist() == [str(i) for i in range(len(rows))]
    assert got["postcode"].tolist() == rows and (got["status"] == "mine").all()
    assert set(got["status_icsgeo"]) <= STATUSES
    assert f"wrote {len(rows):,} rows" in err


@pytest.mark.parametrize("name, data, expected", [
    ("bom", "\ufeffpostcode\nS1 2HE\nxx\n".encode("utf-8"), ["S1 2HE", "xx"]),
    ("crlf", b"postcode\r\nS1 2HE\r\nxx\r\n", ["S1 2HE", "xx"]),
    ("mixed line endings", b"postcode\r\nS1 2HE\nxx\r\nCM1 1AE\n", ["S1 2HE", "xx", "CM1 1AE"]),
    ("cr only", b"postcode\rS1 2HE\rxx\r", ["S1 2HE", "xx"]),
    ("no final newline", b"postcode\nS1 2HE\nxx", ["S1 2HE", "xx"]),
    ("latin-1", "postcode,name\nS1 2HE,Café\nxx,Zoë\n".encode("latin-1"), ["S1 2HE", "xx"]),
    ("quoted newline", b'postcode,note\n"S1\n2HE",a\n"x,y","multi\r\nline"\n', ["S1\n2HE", "x,y"]),
    ("quotes and formulas", b'postcode\n"=HYPERLINK(""x"")"\n+1\n@A1\n', ['=HYPERLINK("x")', "+1", "@A1"]),
    ("header only", b"postcode\n", []),
    ("header only no newline", b"postcode", []),
    ("blank lines", b"postcode\n\nS1 2HE\n\n", ["S1 2HE"]),
    ("empty values", b"postcode,x\n,1\n,2\n", ["", ""]),
    ("duplicate columns", b"postcode,postcode\nS1 2HE,xx\n", None),
    ("nul byte", b"postcode\nS1\x002HE\nxx\n", None),
    ("one megabyte value", b"postcode\n" + b"x" * 1_000_000 + b"\nS1 2HE\n", ["x" * 1_000_000, "S1 2HE"]),
    ("wide", b"postcode," + b",".join(b"c%d" % i for i in range(2_000)) + b"\nS1 2HE" + b",1" * 2_000 + b"\n", ["S1 2HE"]),
])
def test_cli_bulk_awkward_csvs_keep_every_row(tmp_path, capsys, name, data, expected):
    code, out, err = _run_where(tmp_path, capsys, data)
    if expected is None:  # undefined by CSV: either every row answered or refused clearly, never a traceback
        assert code in (0, 1, 2) and (code != 2 or err.startswith("icsgeo where: error:"))
        if code != 2:
            assert len(_read_out(out)) == 1 + (b"xx" in data)
        return
    assert code in (0, 1), err
    got = _read_out(out)
    assert got["postcode"].tolist() == expected


@pytest.mark.parametrize("name, data, fragment", [
    ("missing column", b"pcd,name\nS1 2HE,a\n", "'postcode'"),
    ("empty file", b"", "in.csv"),
    ("only blank lines", b"\n\n\n", "in.csv"),
    ("ragged rows", b"postcode,a\nS1 2HE,1\nxx,1,2,3\n", "in.csv"),
    ("not a csv", bytes(range(256)) * 10, None),
    ("bad parquet", b"PAR1 not really", "in.parquet"),
])
def test_cli_bulk_unusable_inputs_exit_2_with_a_clear_message(tmp_path, capsys, name, data, fragment):
    code, out, err = _run_where(tmp_path, capsys, data, suffix=".parquet" if name == "bad parquet" else ".csv")
    if fragment is None:  # arbitrary bytes: a clear refusal or every row answered
        assert code in (0, 1, 2) and (code != 2 or err.startswith("icsgeo where: error:"))
        return
    assert code == 2 and err.startswith("icsgeo where: error:") and fragment in err
    assert not out.exists()


def test_cli_bulk_missing_file_and_other_column(tmp_path, capsys):
    capsys.readouterr()
    assert cli.main(["where", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "a.csv").write_text("pc\nS1 2HE\n")
    assert cli.main(["where", "--input", str(tmp_path / "a.csv"), "--column", "pc", "--output", str(tmp_path / "o.csv")]) == 0
    assert _read_out(tmp_path / "o.csv")["status"].tolist() == ["ok"]


# ------------------------------------------------------------------ HTTP API

@pytest.fixture(scope="module")
def client():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from icsgeo.server import create_app

    with TestClient(create_app()) as c:
        yield c


def _check(r, n_items: int | None = None):
    assert r.status_code < 500, r.text[:500]
    body = r.json()
    if r.status_code >= 400:
        assert isinstance(body["detail"], str) and body["detail"] and body["status"]
        assert "Traceback" not in body["detail"]
    elif n_items is not None:
        assert body["count"] == n_items == len(body["results"])
    return body


def test_http_bulk_corpus_in_chunks_of_5000(client, corpus):
    items: list[typing.Any] = [s for s in corpus if len(s) < 100_000] + wrong_types() * 20
    sent = 0
    for start in range(0, len(items), 5_000):
        chunk = items[start:start + 5_000]
        body = _check(client.post("/postcodes", json={"postcodes": chunk}), len(chunk))
        assert [a["query"] for a in body["results"]] == chunk  # every item, in order, echoed as given
        assert {a["status"] for a in body["results"]} <= STATUSES
        assert all(a["status"] == "invalid" for a, q in zip(body["results"], chunk) if not isinstance(q, str))
        sent += len(chunk)
    assert sent >= 10_000
    # the multi-megabyte strings, a few at a time, and JSON-escaped lone surrogates
    huge = [s for s in corpus if len(s) >= 100_000]
    body = _check(client.post("/postcodes", json={"postcodes": huge}), len(huge))
    assert all(a["status"] == "invalid" for a in body["results"])
    raw = json.dumps({"postcodes": surrogate_strings()}).encode()  # ensure_ascii escapes them: \ud800
    body = _check(client.post("/postcodes", content=raw, headers={"content-type": "application/json"}), 5)
    assert [a["status"] for a in body["results"]] == ["invalid"] * 5


def test_http_single_gets_of_bad_postcodes(corpus):
    """A few hundred single GETs, sent concurrently (the server shares one lookup between them):
    each answer is its own request's."""
    import asyncio

    httpx = pytest.importorskip("httpx")
    from icsgeo.server import create_app

    rng = random.Random(66)
    sample = INJECTIONS + UNICODE + rng.sample([s for s in corpus if len(s) < 2_000], 300) + ["x" * 60_000] + GOOD
    app = create_app(warm=False)

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            return await asyncio.gather(*(http.get("/postcodes/" + quote(s, safe="")) for s in sample))

    for s, r in zip(sample, asyncio.run(run())):
        body = _check(r)
        assert r.status_code in (200, 404, 422)
        assert body["status"] in (STATUSES - {"invalid", "not_found"} if r.status_code == 200 else {"invalid", "not_found"})
        if not any(c in s for c in "\t\n\r\x0b\x0c"):  # httpx drops some ASCII whitespace from URLs
            assert body["query"] == s
    assert sum(r.status_code == 200 for r in asyncio.run(run())[-len(GOOD):]) == len(GOOD)


BAD_BODIES = [
    b"", b" ", b"{", b"}", b"[", b"null", b"true", b"0", b"-1", b"1e999", b'"S1 2HE"', b"[]", b'["S1 2HE"]', b"{}",
    b'{"postcodes": null}', b'{"postcodes": 1}', b'{"postcodes": "S1 2HE"}', b'{"postcodes": {"a": "S1 2HE"}}',
    b'{"postcodes": [}', b'{"postcodes": ["S1 2HE",]}', b"{'postcodes': ['S1 2HE']}", b'{"postcodes": [NaN, Infinity, -Infinity]}',
    b'{"postcodes": ["S1 2HE"], "postcodes": ["xx"]}', b'{"postcodes": ["S1 2HE"], "extra": {"$where": "1"}}',
    b"\xff\xfe\x00\x00", b"\xef\xbb\xbf{\"postcodes\": [\"S1 2HE\"]}", b'{"postcodes": ["\xff\xfe"]}', b"\x00" * 100,
    b'{"postcodes": [' + b"[" * 200 + b"]" * 200 + b"]}", b'{"postcodes": [' + b"[" * 5_000 + b"]" * 5_000 + b"]}",
    b'{"postcodes": [' + b'{"a":' * 3_000 + b"1" + b"}" * 3_000 + b"]}", b'{"postcodes": ["\\u0000", "\\ud800\\udc00"]}',
    b'{"postcodes": [1e400, -1e400, 123456789012345678901234567890]}', b"postcodes=S1+2HE", b"<xml/>",
]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded", None])
def test_http_bad_json_bodies_and_content_types(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    for raw in BAD_BODIES:
        r = client.post("/postcodes", content=raw, headers=headers)
        body = _check(r)
        if r.status_code == 200:
            assert body["count"] == len(body["results"])


def test_http_bad_query_parameters(client):
    junk = INJECTIONS + UNICODE[:10] + ["", "2026 ", " 2026", "2026\x00", "20260", "-1", "1e3", "nan", "x" * 10_000]
    for v in junk:
        for url, params in (("/postcodes/S1%202HE", {"vintage": v}), ("/postcodes/S1%202HE", {"system": v}),
                            ("/points", {"lat": v, "lon": v}), ("/points", {"easting": v, "northing": "1"}),
                            ("/systems", {"vintage": v}), ("/systems", {"system": v})):
            r = client.get(url, params=params)
            _check(r)
            assert r.status_code in (200, 422)
        r = client.get("/systems/" + quote(v, safe="") + "/places")
        _check(r)
        assert r.status_code in (200, 404, 422)
    for lat, lon in ((1e308, -1e308), (-0.0, 0.0), (90, 180), (-90, -180), (49, -9), (61, 3), (53.38, 1e-300)):
        body = _check(client.get("/points", params={"lat": lat, "lon": lon}))
        assert body["status"] in STATUSES


def test_http_wrong_methods_and_paths(client):
    for method, url in (("PUT", "/postcodes"), ("DELETE", "/postcodes/S1 2HE"), ("PATCH", "/systems"), ("GET", "/postcodes"),
                        ("POST", "/health"), ("GET", "/nope"), ("GET", "/systems/QF7"), ("GET", "/../../etc/passwd")):
        r = client.request(method, url)
        _check(r)
        assert 400 <= r.status_code < 500


# ------------------------------------------------------------------ properties (hypothesis)

ITEMS = st.one_of(st.text(max_size=24), st.sampled_from(GOOD + ["SW1A 9ZZ", "S1 9ZZ", "sw1a1aa"]), st.none(),
                  st.integers(), st.floats(allow_nan=True), st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(ITEMS, max_size=25))
def test_property_where_rows_in_equal_rows_out_in_order(items):
    r = icsgeo.where(items)
    assert len(r) == len(items)
    assert all(_same(a, b) for a, b in zip(r["query"].tolist(), items))
    assert set(r["status"]) <= STATUSES
    known = {q: s for q, s in zip(r["query"], r["status"]) if isinstance(q, str)}
    for q, s in zip(items, r["status"]):  # the same query always gets the same answer
        if isinstance(q, str):
            assert known[q] == s


CSV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.one_of(CSV_TEXT, st.sampled_from(GOOD)), max_size=12), st.sampled_from(["\n", "\r\n"]))
def test_property_bulk_cli_rows_in_equal_rows_out_in_order(tmp_path_factory, capsys, values, newline):
    tmp = tmp_path_factory.mktemp("prop")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_ALL)
    w.writerow(["n", "postcode"])
    w.writerows([i, v] for i, v in enumerate(values))
    code, out, err = _run_where(tmp, capsys, buf.getvalue())
    assert code in (0, 1), err
    got = _read_out(out)
    assert got["n"].tolist() == [str(i) for i in range(len(values))]
    # CSV readers fold a quoted field's \r\n to \n only on some platforms; compare what the reader saw
    assert got["postcode"].tolist() == pd.read_csv(tmp / "in.csv", dtype=str, keep_default_na=False)["postcode"].tolist()


# ------------------------------------------------------------------ schemathesis against /openapi.json

try:  # collected only where schemathesis and FastAPI are installed (the test extra)
    import schemathesis
    from schemathesis import checks as _checks

    from icsgeo.server import create_app as _create_app

    CHECKS = [_checks.not_a_server_error, _checks.status_code_conformance, _checks.content_type_conformance,
              _checks.response_schema_conformance]
    # Bounded: the fuzzing phase only (positive and negative data), a few examples per operation.
    _CONFIG = schemathesis.Config.from_dict({"phases": {"examples": {"enabled": False}, "coverage": {"enabled": False},
                                                        "stateful": {"enabled": False}}})
    SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", _create_app(warm=False), config=_CONFIG)
except ImportError:  # pragma: no cover
    SCHEMA = None

#: Valid but costly values are swapped for the default vintage and one definition: the run then needs
#: no other vintage's index (those answers are tested in test_server.py).
_CHEAP = {"vintage": {"2021": "2026", "2023": "2026"},
          "system": {"leicester-leicestershire-and-rutland": "south-yorkshire-and-bassetlaw-2021",
                     "suffolk-and-north-east-essex-2021": "south-yorkshire-and-bassetlaw-2021"}}

if SCHEMA is not None:

    @SCHEMA.parametrize()
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    def test_schemathesis_no_5xx_and_responses_match_the_schema(case):
        if isinstance(case.query, dict):
            for name, swap in _CHEAP.items():
                if isinstance(case.query.get(name), str) and case.query[name] in swap:
                    case.query[name] = swap[case.query[name]]
        case.call_and_validate(checks=CHECKS, timeout=120)
