"""UK postcode normalisation and validation, vectorised.

Any case and spacing in; the ONS ``pcds`` form out (upper case, one space before the inward code),
or missing for a string that is not a well-formed postcode. Validation follows the BS 7666 unit
postcode pattern (letters that never appear in a position are rejected), plus ``GIR 0AA``.

>>> normalise_postcode(" s12he ")
'S1 2HE'
>>> normalise_postcode("sw1a1aa")
'SW1A 1AA'
>>> normalise_postcode("QQ1 1QQ") is None
True
>>> normalise_postcodes(["ec1a 1bb", "", None, "M1  1AE", 12345]).tolist()
['EC1A 1BB', None, None, 'M1 1AE', None]
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

from .errors import InvalidPostcodeError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["normalise_postcode", "normalise_postcodes", "require_postcode", "POSTCODE_PATTERN", "COUNTRIES",
           "AREA_COUNTRIES", "invalid_reason", "invalid_reasons", "area_country", "area_countries"]

#: The countries of a postcode, by GSS code (ONS's pseudo codes for the Crown dependencies).
COUNTRIES = {
    "E92000001": "England", "W92000004": "Wales", "S92000003": "Scotland", "N92000002": "Northern Ireland",
    "L93000001": "Channel Islands", "M83000003": "Isle of Man",
}
#: Postcode areas wholly outside Great Britain: Northern Ireland (BT), Guernsey (GY), Jersey (JE), the
#: Isle of Man (IM). A postcode of these areas is ``outside_england`` whether or not a file knows it.
AREA_COUNTRIES = {"BT": "N92000002", "GY": "L93000001", "JE": "L93000001", "IM": "M83000003"}
#: The NHS pseudo-postcodes: ZZ99 3VZ (no fixed abode), ZZ99 3WZ (not known), ZZ99 ... (abroad).
PSEUDO_POSTCODE_REASON = "NHS pseudo-postcode (ZZ99: no fixed abode, not known or abroad)"

# BS 7666: outward code (area, district, optional sub-district letter) and inward code.
_A1 = "[ABCDEFGHIJKLMNOPRSTUWYZ]"  # never Q V X
_A2 = "[ABCDEFGHKLMNOPQRSTUVWXY]"  # never I J Z
_A3 = "[ABCDEFGHJKPSTUW]"  # third position, in A9A
_A4 = "[ABEHMNPRVWXY]"  # fourth position, in AA9A
_IN = "[0-9][ABDEFGHJLNPQRSTUWXYZ]{2}"  # never C I K M O V
POSTCODE_PATTERN = (
    rf"(?:{_A1}[0-9]{{1,2}}|{_A1}[0-9]{_A3}|{_A1}{_A2}[0-9]{{1,2}}|{_A1}{_A2}[0-9]{_A4}){_IN}|GIR0AA"
)
_COMPACT = re.compile(rf"^(?:{POSTCODE_PATTERN})$")
_SPACES = re.compile(r"\s+")


def normalise_postcode(value: object) -> str | None:
    """Normalise one postcode to the ONS ``pcds`` form, or ``None`` if it is not a well-formed UK postcode.

    Any case and spacing in; upper case with one space before the inward code out. Validation follows
    the BS 7666 unit postcode pattern (letters that never appear in a position are rejected), plus
    ``GIR 0AA``. A value that is not a string, or longer than 16 characters, is ``None``.

    Parameters
    ----------
    value : object
        The postcode as given.

    Returns
    -------
    str or None
        The postcode in ``pcds`` form, or ``None``.

    See Also
    --------
    normalise_postcodes : The same, vectorised.

    Examples
    --------
    >>> import icsgeo
    >>> icsgeo.normalise_postcode(" s12he ")
    'S1 2HE'
    >>> icsgeo.normalise_postcode("sw1a1aa"), icsgeo.normalise_postcode("gir0aa")
    ('SW1A 1AA', 'GIR 0AA')
    >>> icsgeo.normalise_postcode("QQ1 1QQ") is None, icsgeo.normalise_postcode(12345) is None
    (True, True)
    """
    if not isinstance(value, str) or len(value) > 16:
        return None
    compact = _SPACES.sub("", value).upper()
    if not _COMPACT.match(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


def invalid_reason(value: object) -> str:
    """Why a value is not a postcode: ``blank``, ``not text``, ``too long``, the NHS pseudo-postcode
    (``ZZ99``) or ``malformed``.

    >>> invalid_reason("  "), invalid_reason("ZZ99 3VZ"), invalid_reason("S1 2H"), invalid_reason(12345)
    ('blank', 'NHS pseudo-postcode (ZZ99: no fixed abode, not known or abroad)', 'malformed', 'not text')
    """
    if value is None or (isinstance(value, float) and value != value):
        return "blank"
    if not isinstance(value, str):
        return "not text"
    compact = _SPACES.sub("", value).upper()
    if not compact:
        return "blank"
    if compact.startswith("ZZ99"):
        return PSEUDO_POSTCODE_REASON
    return "too long" if len(value) > 16 else "malformed"


def invalid_reasons(raw):
    """:func:`invalid_reason` of an Arrow string array (null: ``blank``), vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    compact = pc.utf8_upper(pc.replace_substring_regex(raw, r"[\s\pZ]+", ""))
    blank = pc.fill_null(pc.equal(compact, ""), True)
    pseudo = pc.fill_null(pc.starts_with(compact, "ZZ99"), False)
    long = pc.fill_null(pc.greater(pc.utf8_length(raw), 16), False)
    return pc.case_when(pc.make_struct(blank, pseudo, long, field_names=["b", "p", "l"]),
                        pa.scalar("blank"), pa.scalar(PSEUDO_POSTCODE_REASON), pa.scalar("too long"), pa.scalar("malformed"))


def area_country(pcds: str | None) -> str | None:
    """The country code of a postcode (``pcds`` form) whose area lies outside Great Britain, else None.

    >>> area_country("BT1 1AA"), area_country("S1 2HE")
    ('N92000002', None)
    """
    return AREA_COUNTRIES.get(pcds[:2]) if pcds else None


def area_countries(pcds):
    """:func:`area_country` of an Arrow string array (``pcds`` or null), vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    areas = pc.utf8_slice_codeunits(pcds, 0, 2)
    keys = pa.array(list(AREA_COUNTRIES), pa.string())
    return pc.take(pa.array(list(AREA_COUNTRIES.values()), pa.string()), pc.index_in(areas, value_set=keys))


def require_postcode(value: object) -> str:
    """Like :func:`normalise_postcode`, but raises :class:`InvalidPostcodeError` for a bad one."""
    pc = normalise_postcode(value)
    if pc is None:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        raise InvalidPostcodeError(
            f"{shown!r} is not a valid UK postcode; expected a form such as 'S1 2HE' or 'SW1A 1AA'"
        )
    return pc


def normalise_postcodes(values: Iterable[object] | "pd.Series") -> "pd.Series":
    """Normalise many postcodes at once: :func:`normalise_postcode`, vectorised.

    Every input comes out, in order (the index of a Series input is kept). Runs in Arrow compute
    (about 0.3 s per million strings); values that are not strings are invalid.

    Parameters
    ----------
    values : iterable of object or pandas.Series
        The postcodes as given.

    Returns
    -------
    pandas.Series
        ``pcds`` strings (object dtype), ``None`` where a value is not a well-formed postcode.

    See Also
    --------
    normalise_postcode : One postcode.

    Examples
    --------
    >>> import icsgeo
    >>> icsgeo.normalise_postcodes(["ec1a 1bb", "", None, "M1  1AE", 12345]).tolist()
    ['EC1A 1BB', None, None, 'M1 1AE', None]
    >>> import pandas as pd
    >>> icsgeo.normalise_postcodes(pd.Series(["s1 2he", "junk"], index=[10, 20])).to_dict()
    {10: 'S1 2HE', 20: None}
    """
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    out = normalise_arrow(_as_arrow_strings(s))
    return pd.Series(out.to_numpy(zero_copy_only=False), index=s.index, dtype=object)


def normalise_arrow(arr):
    """The Arrow core of :func:`normalise_postcodes`: a string array in, ``pcds`` or null out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pc.if_else(pc.less_equal(pc.utf8_length(arr), 16), arr, pa.scalar(None, pa.string()))
    compact = pc.utf8_upper(pc.replace_substring_regex(arr, r"[\s\pZ]+", ""))
    ok = pc.fill_null(pc.match_substring_regex(compact, f"^(?:{POSTCODE_PATTERN})$"), False)
    body = pc.binary_join_element_wise(pc.utf8_slice_codeunits(compact, 0, -3), pc.utf8_slice_codeunits(compact, -3), " ")
    return pc.if_else(ok, body, pa.scalar(None, pa.string()))


def _as_arrow_strings(s: "pd.Series"):
    """An Arrow string array of ``s``; every non-string value (number, bytes, None) becomes null."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(s.dtype, pd.StringDtype) or str(s.dtype).startswith("large_string"):
        arr = pa.array(s.array)
        return arr.combine_chunks().cast(pa.string()) if isinstance(arr, pa.ChunkedArray) else arr.cast(pa.string())
    raw = s.to_numpy(dtype=object)
    try:  # fast path: strings and missing values only
        return pa.array(raw, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        # numbers, bytes, or strings with lone surrogates (not UTF-8): none of them is a postcode
        return pa.array([v if isinstance(v, str) and _utf8(v) else None for v in raw], type=pa.string())


def _utf8(v: str) -> bool:
    try:
        v.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
