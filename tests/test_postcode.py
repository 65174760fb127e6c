import string

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icsgeo import InvalidPostcodeError, normalise_postcode, normalise_postcodes
from icsgeo.postcode import require_postcode


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("S1 2HE", "S1 2HE"),
        ("s12he", "S1 2HE"),
        ("  s1   2he ", "S1 2HE"),
        ("S1\t2HE", "S1 2HE"),
        ("S1\u00a02HE", "S1 2HE"),  # non-breaking space from a spreadsheet
        ("sw1a1aa", "SW1A 1AA"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
        ("gir 0aa", "GIR 0AA"),
    ],
)
def test_valid_postcodes_come_out_in_pcds_form(raw, expected):
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", " ", "S1", "S1 2H", "S12HEE", "QS1 2HE", "S1 2HC", "1S 2HE", "ZZ99 9ZZZ", "S1-2HE", "S1 2HÉ",
     "x" * 200, "S1 2HE" * 3, None, 12345, 3.5, b"S1 2HE", "VS1 2HE", "XX1 1XX", "S1 2IE"],
)
def test_invalid_postcodes_give_none(raw):
    assert normalise_postcode(raw) is None


def test_require_postcode_raises_a_clear_error():
    with pytest.raises(InvalidPostcodeError, match="not a valid UK postcode"):
        require_postcode("not a postcode")


def test_vectorised_handles_unicode_spaces_and_arrow_strings():
    values = ["S1\u00a02HE", "s1\u20032he", " m1 1ae ", None]
    expected = ["S1 2HE", "S1 2HE", "M1 1AE", None]
    assert normalise_postcodes(values).tolist() == expected
    assert normalise_postcodes(pd.Series(values, dtype="string")).tolist() == expected
    assert normalise_postcodes(pd.Series(values, dtype="str")).tolist() == expected


def test_vectorised_keeps_every_row_in_order_and_the_index():
    s = pd.Series(["s1 2he", None, "junk", "m11ae", 7], index=[10, 11, 12, 13, 14])
    out = normalise_postcodes(s)
    assert out.index.tolist() == [10, 11, 12, 13, 14]
    assert out.tolist() == ["S1 2HE", None, None, "M1 1AE", None]


@st.composite
def postcodes(draw):
    a1 = draw(st.sampled_from("ABCDEFGHIJKLMNOPRSTUWYZ"))
    a2 = draw(st.sampled_from(["", *"ABCDEFGHKLMNOPQRSTUVWXY"]))
    district = str(draw(st.integers(0, 99) if a2 else st.integers(0, 99)))
    inward = str(draw(st.integers(0, 9))) + "".join(draw(st.lists(st.sampled_from("ABDEFGHJLNPQRSTUWXYZ"), min_size=2, max_size=2)))
    return f"{a1}{a2}{district} {inward}"


@given(postcodes(), st.sampled_from(["", " ", "  ", "\t"]), st.booleans())
def test_any_spacing_and_case_normalises_to_the_same_pcds(pc, sep, lower):
    compact = pc.replace(" ", "")
    messy = compact[:-3] + sep + compact[-3:]
    messy = messy.lower() if lower else messy
    assert normalise_postcode(messy) == pc
    assert normalise_postcode(pc) == pc  # idempotent


@settings(max_examples=300)
@given(st.lists(st.one_of(st.text(alphabet=string.printable + "ÅéЖ\u00a0", max_size=20), st.none(), st.integers()), max_size=50))
def test_rows_in_equal_rows_out_in_order(values):
    out = normalise_postcodes(values)
    assert len(out) == len(values)
    assert out.tolist() == [normalise_postcode(v) for v in values]
